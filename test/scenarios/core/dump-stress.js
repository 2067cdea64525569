// Stress for the live core writer (test/core-stress.test.ts): back-to-back rounds of two concurrent
// writeCore calls while the main thread allocates, and workers terminated while their dump is written.
// Prints one JSON line: each round's results, whether each core is an ELF core of the right size.
// argv: <addon loader module> <out dir> <rounds>
const { closeSync, openSync, readSync, statSync, unlinkSync } = require('node:fs');
const { join } = require('node:path');
const { Worker } = require('node:worker_threads');

const [loader, out, roundsArg] = process.argv.slice(2);
const native = require(loader).loadNative();
if (!native.loaded || !native.addon.writeCore) {
  console.log(JSON.stringify({ skipped: native.loaded ? 'no writeCore' : native.reason }));
  process.exit(0);
}
const addon = native.addon;
const keep = setInterval(() => {}, 1000);
let junk = [];
const churn = setInterval(() => {
  junk.push(new Array(4000).fill({ n: Math.random() }));
  if (junk.length > 300) junk = [];
}, 1);

function coreCheck(r) {
  if (!r.ok) return { ok: false, error: r.error };
  const head = Buffer.alloc(64);
  const fd = openSync(r.path, 'r');
  try {
    readSync(fd, head, 0, 64, 0);
  } finally {
    closeSync(fd);
  }
  const valid = head.readUInt32BE(0) === 0x7f454c46 && head.readUInt16LE(16) === 4 && statSync(r.path).size === r.size;
  unlinkSync(r.path);
  return { ok: true, valid };
}

// A worker whose environment ends while its dump is written (the thread-safe function is freed then).
function terminatedWorker(i, afterMs) {
  return new Promise((resolve) => {
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const a = require(workerData.loader).loadNative().addon;
       a.writeCore({ path: workerData.path }).then(() => {});
       parentPort.postMessage('started');`,
      { eval: true, workerData: { loader, path: join(out, `worker-${i}.core`) } },
    );
    w.on('message', () => setTimeout(() => w.terminate(), afterMs));
    w.on('exit', resolve);
    w.on('error', resolve);
  });
}

(async () => {
  const rounds = [];
  for (let i = 0; i < Number(roundsArg || 4); i++) {
    const path = join(out, `round-${i}`);
    // Two at once: one writes, the other is refused ("already being written"), unless the first was
    // already done when the second thread started.
    const [a, b] = await Promise.all([addon.writeCore({ path: `${path}-a.core` }), addon.writeCore({ path: `${path}-b.core` })]);
    const refused = [a, b].filter((r) => !r.ok && /already being written/.test(r.error ?? '')).length;
    rounds.push({ a: coreCheck(a), b: coreCheck(b), refused });
  }
  // Workers terminated before, during and after their dump's fork; each dump outlives its worker.
  for (const [i, ms] of [0, 40, 120].entries()) await terminatedWorker(i, ms);
  // A dump after them must work (it waits for theirs: one at a time per process).
  let last;
  for (let tries = 0; tries < 40; tries++) {
    last = await addon.writeCore({ path: join(out, 'after-workers.core') });
    if (last.ok || !/already being written/.test(last.error ?? '')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  clearInterval(churn);
  clearInterval(keep);
  console.log(JSON.stringify({ rounds, afterWorkers: coreCheck(last) }));
})();
