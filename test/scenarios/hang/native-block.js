// Blocked outside JS: Atomics.wait or execSync; then 'exit': exit at once, 'exit-next': a turn later.
const { execSync } = require('node:child_process');
function waitForLockSync(ms) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}
function shellOut(seconds) {
  execSync(`sleep ${seconds}`);
}
const kind = process.argv[2];
setTimeout(function runNightlyJob() {
  console.log('blocking');
  if (kind === 'atomics') waitForLockSync(Number(process.env.BLOCK_MS || 3000));
  else shellOut(Number(process.env.BLOCK_MS || 3000) / 1000);
  console.log('unblocked');
  if (process.argv[3] === 'exit') process.exit(0);
  if (process.argv[3] === 'exit-next') setTimeout(() => process.exit(0), 5);
}, 50);
setTimeout(() => {}, Number(process.env.BLOCK_MS || 3000) + 600);
