// The flight recorder's GC source: three forced major collections, and garbage for scavenges, once the
// recorder runs (200 ms after start); then a burst of 80 major collections in one synchronous stretch,
// more than the addon keeps one by one between two drains (64). 'ready' after two samples have passed.
require('node:v8').setFlagsFromString('--expose-gc');
const gc = require('node:vm').runInNewContext('gc');
const garbage = [];
setInterval(() => {
  for (let i = 0; i < 20000; i++) garbage.push({ i, s: 'x' + i });
  garbage.length = 0;
}, 20);
setTimeout(() => {
  gc();
  gc();
  gc();
  setTimeout(() => {
    for (let i = 0; i < 80; i++) gc();
  }, 100);
  setTimeout(() => console.log('ready'), 2000);
}, 600);
