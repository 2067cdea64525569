// A service that spends nearly all its time blocked in one named JS function, with many instances of
// a named class and a named constructor function alive: a core taken now shows both to llnode (`v8 bt`, `v8 findjsobjects`).
// `dump --core` is answered by a JS signal handler, which runs in the short gaps between two blocks;
// the addon's writer forks ~10-100 ms later, from its own thread, while the next block is under way.
// argv[2]: 'wait' (Atomics.wait) or 'busy' (a JS loop). Prints "ready <pid>"; ends after RUN_MS (+ LINGER_MS).
'use strict';
class InvoiceLine {
  constructor(i) {
    this.sku = 'SKU-' + i;
    this.quantity = i % 7;
    this.cents = i * 13;
  }
}
// llnode 4 names the instances of constructor functions; on V8 11 it counts class instances as Object.
function LedgerEntry(i) {
  this.id = i;
  this.memo = 'entry ' + i;
}
const lines = [];
for (let i = 0; i < 4321; i++) lines.push(new InvoiceLine(i));
const ledger = [];
for (let i = 0; i < 1234; i++) ledger.push(new LedgerEntry(i));
globalThis.keep = [lines, ledger];

const mode = process.argv[2] || 'wait';
const blockMs = Number(process.env.BLOCK_MS || 1500);
const until = Date.now() + Number(process.env.RUN_MS || 60000);
const cell = new Int32Array(new SharedArrayBuffer(4));

function computeInvoiceTotals(all) {
  if (mode === 'busy') {
    // Plain arithmetic between two clock reads: a sample that lands in a frameless builtin
    // (Date.now, an iterator's next) would unwind past this frame.
    const end = Date.now() + blockMs;
    let sum = 0;
    do for (let i = 0; i < all.length; i++) sum += all[i].quantity * all[i].cents;
    while (Date.now() < end);
    return sum;
  }
  Atomics.wait(cell, 0, 0, blockMs);
  return all.length;
}

function again() {
  computeInvoiceTotals(lines);
  if (Date.now() < until) setImmediate(again);
  // The addon never keeps a process alive: LINGER_MS lets a core started during the last block finish.
  else if (process.env.LINGER_MS) setTimeout(() => {}, Number(process.env.LINGER_MS));
}
setTimeout(() => {
  console.log(`ready ${process.pid}`);
  again();
}, 50);
