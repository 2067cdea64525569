// The main thread blocked outside JS for BLOCK_MS: Atomics.wait (futex) or execSync (a child process).
const { execSync } = require('node:child_process');
function waitForLockSync(ms) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}
function shellOut(seconds) {
  execSync(`sleep ${seconds}`);
}
const ms = Number(process.env.BLOCK_MS || 4000);
setTimeout(function runNightlyJob() {
  console.log('blocking');
  if (process.argv[2] === 'atomics') waitForLockSync(ms);
  else shellOut(ms / 1000);
  console.log('unblocked');
  setTimeout(() => {}, 600); // time for the watchdog to write the episode's end back
}, 300);
