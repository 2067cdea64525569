// A "bundled" production app: one 1 MB single-line script with 30,000 closures (what esbuild/webpack
// output looks like). On Node 20 a heap snapshot of it is O(n^2) unless line ends are prepared.
const { mkdtempSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');
let src = 'const o={};';
for (let i = 0; i < 30000; i++) src += `o.f${i}=function(a){return a+${i}};`;
src += 'module.exports=o;';
const file = join(mkdtempSync(join(tmpdir(), 'bundled-')), 'bundle.js');
writeFileSync(file, src);
const app = require(file);
global.retainedOrders = Array.from({ length: 500 }, (_, i) => ({ id: i, total: app.f1(i) }));
console.log('ready');
setTimeout(() => {}, Number(process.argv[2] || 20000));
