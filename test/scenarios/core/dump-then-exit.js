// The loop ends right after the dump settles: the process must exit 0 (test/core-stress.test.ts).
// Before the fix the dump thread could release the thread-safe function after Node had freed it at
// teardown, and the process ended in SIGABRT from uv_mutex_lock. argv: <addon loader module> <core path>
const [loader, path] = process.argv.slice(2);
const native = require(loader).loadNative();
if (!native.loaded || !native.addon.writeCore) process.exit(0);
const keep = setInterval(() => {}, 1000);
native.addon.writeCore({ path }).then((r) => {
  console.log(JSON.stringify({ ok: r.ok, error: r.error }));
  clearInterval(keep);
});
