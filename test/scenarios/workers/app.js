// worker_threads keep working under the hook: a worker computes, posts back, and exits.
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
if (isMainThread) {
  const w = new Worker(__filename, { workerData: 20 });
  w.on('message', (m) => console.log('fib', m));
  w.on('exit', (code) => console.log('worker exit', code));
  if (process.argv[2] === 'crash') {
    const bad = new Worker('throw new Error("worker blew up")', { eval: true });
    bad.on('error', (e) => console.log('main saw worker error:', e.message));
  }
} else {
  const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));
  parentPort.postMessage(fib(workerData));
}
