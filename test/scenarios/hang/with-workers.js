// The main thread blocks while a worker thread computes; both must carry on.
const { Worker } = require('node:worker_threads');
const w = new Worker('const { parentPort } = require("node:worker_threads"); let n = 0; for (let i = 0; i < 3e7; i++) n += i; parentPort.postMessage(n);', { eval: true });
w.on('message', (n) => console.log('worker result', n > 0));
setTimeout(function mainBusy() {
  const end = Date.now() + 2000;
  while (Date.now() < end);
  console.log('main free');
}, 100);
