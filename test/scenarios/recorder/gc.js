// The flight recorder's GC source: three forced major collections, and garbage for scavenges, once the
// recorder runs (200 ms after start). 'ready' after two samples have passed.
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
  setTimeout(() => console.log('ready'), 2000);
}, 600);
