// A service whose nightly job blocks the main thread in a named JS function, started by the same
// signal that `autopsy-ts dump PID --core` sends: the hook's listener asks the addon for a core (the
// fork comes some 50-100 ms later, from the addon's own thread), this one starts the job on the next
// turn, so the core is taken during the block.
// JOB=atomics: runNightlyJob -> waitForLockSync -> Atomics.wait (a futex: c_entry_fp).
// JOB=busy:    runNightlyJob -> reconcileLedger, a busy loop (interrupted JS: the registers).
// Prints "ready <pid>"; each job prints "job start" / "job end". Ends on SIGTERM or after argv[2] ms.
const BLOCK_MS = Number(process.env.BLOCK_MS || 2500);
const job = process.env.JOB || 'atomics';
const ledger = [];
for (let i = 0; i < 1000; i++) ledger.push({ id: i, amount: i * 3 });

function waitForLockSync(ms) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}

function reconcileLedger(ms) {
  const until = Date.now() + ms;
  let sum = 0;
  while (Date.now() < until) for (const e of ledger) sum = (sum + e.amount) % 1000003;
  return sum;
}

function runNightlyJob() {
  console.log('job start');
  if (job === 'busy') reconcileLedger(BLOCK_MS);
  else waitForLockSync(BLOCK_MS);
  console.log('job end');
}

process.on(process.env.AUTOPSY_SIGNAL || 'SIGUSR2', () => setImmediate(runNightlyJob));
process.on('SIGTERM', () => process.exit(0));
const keep = setInterval(() => {}, 1000);
setTimeout(() => clearInterval(keep), Number(process.argv[2] || 60000));
setTimeout(() => console.log(`ready ${process.pid}`), 200);
