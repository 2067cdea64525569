// A nightly job that blocks the loop, then ends the process from inside the block: the event loop never
// turns again, so no heartbeat marks the end of the hang. argv: 'exit' (process.exit at the end of the
// block) or 'throw' (the block ends in an uncaught exception).
const how = process.argv[2] || 'exit';
function reconcileLedger(ms) {
  const until = Date.now() + ms;
  let n = 0;
  while (Date.now() < until) n++;
  return n;
}
setTimeout(() => {
  console.log('blocking');
  reconcileLedger(Number(process.env.BLOCK_MS || 2500));
  if (how === 'exit') process.exit(0);
  throw new Error('ledger out of balance after reconciling');
}, 300);
