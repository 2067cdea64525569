// Busy for 50 ms of every 100 for 4 s (past the hook's 3 s capture warm-up), then reports which of the
// built-in modules a hello-world never needs were loaded by then, and waits to be dumped.
const WATCH = ['worker_threads', 'perf_hooks', 'v8', 'crypto', 'zlib'];
const stopAt = Date.now() + 4000;
const t = setInterval(() => {
  const end = Date.now() + 50;
  while (Date.now() < end);
  if (Date.now() < stopAt) return;
  clearInterval(t);
  const loaded = WATCH.filter((m) => process.moduleLoadList.includes(`NativeModule ${m}`));
  console.log(`loaded: ${loaded.join(',') || 'none'}`);
  console.log('ready');
  setInterval(() => {}, 1000);
}, 100);
