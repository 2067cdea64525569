// A main thread that blocks after start-up, for `autopsy-ts dump PID` during the block.
// argv[2]: busy (a synchronous CSV export in JS) or atomics (waiting on a lock: a futex).
// Prints "ready" as the block starts, "unblocked <epoch ms>" after BLOCK_MS, then waits for SIGTERM
// (at most a minute) and exits 0.
const BLOCK_MS = Number(process.env.BLOCK_MS || 6000);
const kind = process.argv[2] || 'busy';

function buildCsvExport(ms) {
  const until = Date.now() + ms;
  let rows = 0;
  while (Date.now() < until) rows += `${rows},order-${rows},${rows * 3}\n`.length > 0 ? 1 : 0;
  return rows;
}

function waitForDatabaseLock(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

let stopped = false;
process.once('SIGTERM', () => (stopped = true));
setTimeout(function nightlyExport() {
  console.log('ready');
  if (kind === 'atomics') waitForDatabaseLock(BLOCK_MS);
  else buildCsvExport(BLOCK_MS);
  console.log(`unblocked ${Date.now()}`);
  const keep = setTimeout(() => {}, 60_000);
  if (stopped) clearTimeout(keep);
  else process.on('SIGTERM', () => clearTimeout(keep));
}, 300);
