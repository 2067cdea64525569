// process.abort(): SIGABRT raised from C++ called by JS.
function giveUpOnCorruptState() {
  process.abort();
}
setTimeout(function checkInvariants() {
  console.log('aborting');
  giveUpOnCorruptState();
}, Number(process.env.DELAY_MS || 300));
