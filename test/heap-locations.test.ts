// Where the variable holding leaked objects is declared: the scanner on its own, then real
// snapshots of a spawned Node process (a CommonJS app, an ES module), asserting file and line.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { analyze, type Analysis } from '../src/heap/analysis';
import { declarationLine, declarationLineFrom, lineAt, offsetOf } from '../src/heap/declarations';
import { diffSnapshots } from '../src/heap/diff';
import { leakSuspects } from '../src/heap/leaks';
import { holdingVariable, scriptPath, VariableLocator } from '../src/heap/locations';
import { parseSnapshot } from '../src/heap/parser';
import { classRetainers } from '../src/heap/retainer-paths';
import { deathLine, holderLocation } from '../src/bundle/summary';
import { findings } from '../src/tui/findings';
import type { UiModel } from '../src/tui/model';
import { cleanup, runNode, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));

describe('declarationLine', () => {
  const src = [
    '// const cache = "in a comment"', // 1
    'const s = "let cache = 1";', // 2
    'function outer(a, { cache: other }) {', // 3
    '  function inner() { let cache = 2; }', // 4
    '  const cache = new Map();', // 5
    '  return () => cache;', // 6
    '}', // 7
    'const { x, cache } = require("y");', // 8
    'const re = /\\{ let cache/;', // 9
    'const late = (cache) => cache;', // 10
  ].join('\n');

  test('top level: the declaration at depth 0, not in comments, strings, regexes or nested functions', () => {
    assert.equal(declarationLine(src, 'cache', 0, true), 8);
    assert.equal(declarationLine(src, 're', 0, true), 9);
    assert.equal(declarationLine(src, 'outer', 0, true), 3);
    assert.equal(declarationLine(src, 'missing', 0, true), undefined);
  });

  test('a function scope: its own declaration beats a nested function\'s; parameters count', () => {
    const at = offsetOf(src, 3, 15); // V8's location of `outer`: its "("
    assert.equal(src[at], '(');
    assert.equal(declarationLine(src, 'cache', at, false), 5);
    assert.equal(declarationLine(src, 'a', at, false), 3);
    assert.equal(declarationLine(src, 'other', at, false), 3);
    assert.equal(declarationLine(src, 'cache', offsetOf(src, 10, 14), false), 10);
    assert.equal(declarationLine(src, 'x', offsetOf(src, 6, 10), false), undefined, 'an expression body declares nothing');
  });

  test('lineAt and offsetOf are inverse on line starts', () => {
    for (let line = 1; line <= 10; line++) assert.equal(lineAt(src, offsetOf(src, line)), line);
    assert.equal(offsetOf('a\nb', 9), 3);
  });

  test('scriptPath turns file:// URLs into paths and leaves other names', () => {
    assert.equal(scriptPath(pathToFileURL('/srv/app/orders.js').href), '/srv/app/orders.js');
    assert.equal(scriptPath('/srv/app/orders.js'), '/srv/app/orders.js');
    assert.equal(scriptPath('node:internal/timers'), 'node:internal/timers');
  });

  test('declarationLineFrom: lexical lookup from a function defined in the scope', () => {
    assert.equal(declarationLineFrom(src, 'cache', offsetOf(src, 6, 10)), 5, 'from the arrow inside outer');
    assert.equal(declarationLineFrom(src, 'a', offsetOf(src, 6, 10)), 3, 'a parameter of outer');
    assert.equal(declarationLineFrom(src, 'late', offsetOf(src, 6, 10)), 10, 'the top level');
    assert.equal(declarationLineFrom(src, 'nope', offsetOf(src, 6, 10)), undefined);
  });

  test('holdingVariable: the first context edge from the object outwards', () => {
    const step = (edge: string, edgeType: string, node: number) => ({ node, id: node, className: 'x', edge, edgeType });
    const p = { node: 1, id: 1, className: 'Order', steps: [step('0', 'element', 2), step('items', 'context', 3), step('q', 'context', 4)] };
    assert.deepEqual(holdingVariable(p), { context: 3, name: 'items' });
    assert.equal(holdingVariable({ ...p, steps: [step('orders', 'property', 5)] }), undefined);
  });
});

// More than 1,024 characters before the declarations, so V8's copy of the source stops short of them.
const PAD = Array.from({ length: 30 }, (_, i) => `// padding ${i} ${'.'.repeat(40)}`).join('\n');
const LINES = PAD.split('\n').length;
const APP = `${PAD}
const v8 = require('node:v8');
class Order { constructor(id) { this.id = id; this.lines = [{ sku: 'w', qty: 1 }]; } }
class Job { constructor(n) { this.n = n; } }

const pendingOrders = new Map();
function addOrder() { pendingOrders.set(pendingOrders.size, new Order(pendingOrders.size)); }

function makeQueue(limit) {
  let dropped = 0;
  const items = [];
  return function enqueue(job) {
    if (items.length > limit) dropped++;
    items.push(job);
  };
}
const enqueueJob = makeQueue(1e9);
function work(n) { for (let i = 0; i < n; i++) { addOrder(); enqueueJob(new Job(i)); } }
// Exported, so the function that created \`items\`' context is still alive in the snapshot.
module.exports = { makeQueue };
work(100);
setTimeout(() => {
  v8.writeHeapSnapshot(process.argv[2]);
  work(3000);
  v8.writeHeapSnapshot(process.argv[3]);
}, 1);
`;
const line = (text: string) => APP.split('\n').findIndex((l) => l.includes(text)) + 1;

const ESM = `import v8 from 'node:v8';
class Order { constructor(id) { this.id = id; } }
const pendingOrders = [];
export function addOrder(id) { pendingOrders.push(new Order(id)); }
for (let i = 0; i < 2000; i++) addOrder(i);
setTimeout(() => v8.writeHeapSnapshot(process.argv[2]), 1);
`;

const readSource = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

describe('locations in real snapshots', () => {
  const app = join(dir, 'orders.js');
  const esm = join(dir, 'cart.mjs');
  let a: Analysis;
  let b: Analysis;
  let m: Analysis;

  before(async () => {
    writeFileSync(app, APP);
    writeFileSync(esm, ESM);
    const snaps = ['a', 'b', 'm'].map((x) => join(dir, `${x}.heapsnapshot`));
    const r = await runNode(app, { args: [snaps[0], snaps[1]] });
    assert.equal(r.code, 0, r.stderr);
    const e = await runNode(esm, { args: [snaps[2]] });
    assert.equal(e.code, 0, e.stderr);
    [a, b, m] = await Promise.all(snaps.map(async (p) => analyze(await parseSnapshot(p))));
  });

  test('a module-level Map: the line of its declaration in the CommonJS module', () => {
    const loc = new VariableLocator(b, { readSource });
    const [g] = classRetainers(b, 'Order', 50, undefined, (p) => loc.ofPath(p));
    assert.match(g.chain, /pendingOrders \(closure variable\)/);
    assert.equal(g.count, 50, 'the Map table slots group as one chain');
    assert.deepEqual(g.location, { variable: 'pendingOrders', file: app, line: line('const pendingOrders'), of: 'declaration', function: '' });
    assert.ok(line('const pendingOrders') > LINES);
  });

  test('a closure-held array: the declaration inside the function that created the context', () => {
    const loc = new VariableLocator(b, { readSource });
    const [g] = classRetainers(b, 'Job', 50, undefined, (p) => loc.ofPath(p));
    assert.match(g.chain, /items \(closure variable\)/);
    assert.deepEqual(g.location, { variable: 'items', file: app, line: line('const items'), of: 'declaration', function: 'makeQueue' });
  });

  test('without the file, past the snapshot\'s copy of the source: the function\'s line, or line 1 for the module', () => {
    const loc = new VariableLocator(b);
    const [jobs] = classRetainers(b, 'Job', 10, undefined, (p) => loc.ofPath(p));
    const fnLine = line('function makeQueue(');
    assert.deepEqual(jobs.location, { variable: 'items', file: app, line: fnLine, column: 'function makeQueue'.length + 1, of: 'function', function: 'makeQueue' });
    const [orders] = classRetainers(b, 'Order', 10, undefined, (p) => loc.ofPath(p));
    assert.deepEqual(orders.location, { variable: 'pendingOrders', file: app, line: 1, column: 1, of: 'function', function: '' });
  });

  test('leakSuspects puts the location on heldBy', () => {
    const suspects = leakSuspects(diffSnapshots(a, b), b, { readSource });
    const order = suspects.find((x) => x.name === 'Order');
    const job = suspects.find((x) => x.name === 'Job');
    assert.ok(order && job, JSON.stringify(suspects));
    assert.equal(order.countDelta, 3000);
    assert.deepEqual(order.heldBy[0].location, { variable: 'pendingOrders', file: app, line: line('const pendingOrders'), of: 'declaration', function: '' });
    assert.deepEqual(job.heldBy[0].location, { variable: 'items', file: app, line: line('const items'), of: 'declaration', function: 'makeQueue' });
  });

  test('an ES module: a path (not a file:// URL) and the line of its declaration', () => {
    const loc = new VariableLocator(m);
    const [g] = classRetainers(m, 'Order', 10, undefined, (p) => loc.ofPath(p));
    assert.match(g.chain, /pendingOrders/);
    assert.deepEqual(g.location, { variable: 'pendingOrders', file: esm, line: 3, of: 'declaration', function: '' });
  });
});

describe('showing a location', () => {
  const loc = { variable: 'pendingOrders', file: '/srv/shop/src/orders.js', line: 31, of: 'declaration', function: '' };
  const chain = '[] in Array ← pendingOrders (closure variable) in system / Context';

  test('holderLocation: relative to the cwd when under it; the variable named when the chain stops before it', () => {
    assert.equal(holderLocation(loc, '/srv/shop', chain), 'src/orders.js:31');
    assert.equal(holderLocation(loc, '/srv/other', chain), '/srv/shop/src/orders.js:31');
    assert.equal(holderLocation(loc, '/srv/shop/src/orders.js', chain), '/srv/shop/src/orders.js:31');
    assert.equal(holderLocation(loc, '/srv/shop', 'lines in Order ← [] in (array)'), 'pendingOrders at src/orders.js:31');
    for (const bad of [undefined, null, 'x', { file: 3, line: 1 }, { file: 'a.js', line: 0 }, { file: 'a.js' }]) assert.equal(holderLocation(bad), undefined);
  });

  test('the memory-leak headline ends with the location', () => {
    const leak = { suspects: [{ name: 'Order', countDelta: 12000, sizeDelta: 3 * 1024 * 1024, heldBy: [{ chain, count: 100, location: loc }] }] };
    const line = deathLine('memory-leak', { floorA: 10 * 1048576, floorB: 58 * 1048576 }, [], leak, '/srv/shop');
    assert.equal(line, `memory leak: heap after GC 10.0 → 58.0 MB; Order +12,000 (3.0 MB), held by ${chain} (src/orders.js:31)`);
    assert.match(line!, /^memory leak: heap after GC [\d.]+ → [\d.]+ MB; \S+ \+[\d,]+ \([\d.]+ MB\)/);
    const without = deathLine('memory-leak', {}, [], { suspects: [{ ...leak.suspects[0], heldBy: [{ chain, count: 1 }] }] }, '/srv/shop');
    assert.ok(without!.endsWith(chain), without);
  });

  test('the Overview finding, when the heap worker passes heldAt', () => {
    const m = { title: 't', kind: 'bundle', events: [], heaps: [], summary: { cwd: '/srv/shop', reason: 'on-demand', headline: 'h' } } as unknown as UiModel;
    const suspect = { name: 'Order', countDelta: 12000, sizeDelta: 1, heldBy: 'pendingOrders (closure variable) in system / Context', heldAt: loc };
    const f = findings(m, { nodes: 1, totalSize: 1, diff: { sizeDelta: 48 * 1024 * 1024, suspects: [suspect] } });
    assert.ok(f.includes('heap +48.0 MB between snapshots: Order +12,000, held by pendingOrders (closure variable) in system / Context (src/orders.js:31)'), f.join('\n'));
  });

  test('a memory-leak bundle: its headline is the first finding at once, and the worker\'s diff does not repeat it', () => {
    const headline = 'memory leak: heap after GC 10.0 → 58.0 MB; Order +12,000 (3.0 MB), held by pendingOrders (src/orders.js:31)';
    const m = { title: 't', kind: 'bundle', events: [{ time: 1, kind: 'warning', name: 'MaxListenersExceededWarning' }], heaps: [], summary: { cwd: '/srv/shop', reason: 'memory-leak', headline } } as unknown as UiModel;
    assert.equal(findings(m)[0], headline);
    const suspect = { name: 'Order', countDelta: 12000, sizeDelta: 1, heldBy: 'pendingOrders', heldAt: loc };
    const f = findings(m, { nodes: 1, totalSize: 1, diff: { sizeDelta: 48 * 1024 * 1024, suspects: [suspect] } });
    assert.equal(f.filter((l) => /Order \+12,000/.test(l)).length, 1, f.join('\n'));
  });
});
