// Busy blocks of the lengths given in argv (ms), separated by 400 ms of free loop; then exit.
const blocks = process.argv.slice(2).map(Number);
function spin(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end);
}
let i = 0;
function next() {
  if (i >= blocks.length) return console.log('done');
  const ms = blocks[i++];
  setTimeout(function blockFor() { spin(ms); next(); }, 400);
}
next();
