import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { writeSyntheticSnapshot } from '../src/heap/generate';
import { nativeScanner, parseSnapshot, SnapshotParser, type RecordScanner } from '../src/heap/parser';
import type { HeapSnapshot } from '../src/heap/types';

// The parser with the addon's record scanner (native/src/heap-numbers.cc) must give what its
// JavaScript loop gives, bit for bit, and the same errors.
const ROOT = [join(__dirname, '..'), join(__dirname, '..', '..')].find((d) => existsSync(join(d, 'package.json'))) ?? '.';
const scanner = nativeScanner();
const noAddon = scanner ? false : 'the addon is not built here (or has no scanHeapRecords)';
let dir = '';
let real: Buffer;
let synth: Buffer;
let synthPath = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'autopsy-heap-native-'));
  synthPath = join(dir, 'synth.heapsnapshot');
  await writeSyntheticSnapshot(synthPath, { nodes: 30_000, seed: 5, leak: 50 });
  synth = readFileSync(synthPath);
  real = readFileSync(v8.writeHeapSnapshot(join(dir, 'self.heapsnapshot')));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every array of a parsed snapshot, and its strings, as one digest (types included). */
function digest(s: HeapSnapshot & { locations?: Uint32Array }): string {
  const h = createHash('sha256');
  for (const k of ['nodeType', 'nodeName', 'nodeId', 'nodeSelfSize', 'nodeDetachedness', 'firstEdge', 'edgeType', 'edgeName', 'edgeTo', 'locations'] as const) {
    const a = s[k];
    h.update(`${k}:${a ? `${a.constructor.name}/${a.length}` : 'none'};`);
    if (a) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  }
  for (let i = 0; i < s.strings.count; i++) h.update(`${s.strings.get(i)}\0`);
  return h.digest('hex');
}

/** Parses `text` cut into `size`-byte chunks: a digest, or the error's message. */
function parse(text: Buffer, size: number, scan?: RecordScanner): string {
  const p = new SnapshotParser('t', undefined, scan);
  try {
    for (let i = 0; i < text.length; i += size) p.push(text.subarray(i, i + size));
    return digest(p.finish());
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

function sameBothWays(text: Buffer, sizes: number[]): string {
  const want = parse(text, text.length);
  for (const size of sizes) {
    assert.equal(parse(text, size), want, `JavaScript, chunks of ${size}`);
    assert.equal(parse(text, size, scanner), want, `native, chunks of ${size}`);
  }
  return want;
}

const META = {
  node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
  node_types: [['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic'], 'string', 'number', 'number', 'number', 'number', 'number'],
  edge_fields: ['type', 'name_or_index', 'to_node'],
  edge_types: [['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'], 'string_or_number', 'node'],
};

/** n nodes in a chain (node k -> k+1), written with `sep` between numbers; `node(k)` may replace a node's numbers. */
function chain(n: number, opts: { sep?: string; node?: (k: number) => (number | string)[]; edge?: (k: number) => (number | string)[]; meta?: object } = {}): Buffer {
  const sep = opts.sep ?? ',';
  const nodes: string[] = [];
  const edges: string[] = [];
  for (let k = 0; k < n; k++) {
    const last = k === n - 1;
    nodes.push((opts.node?.(k) ?? [k === 0 ? 9 : 3, k % 3, 2 * k + 1, 16 + k, last ? 0 : 1, 0, k % 2]).join(sep));
    if (!last) edges.push((opts.edge?.(k) ?? [2, 1 + (k % 2), 7 * (k + 1)]).join(sep));
  }
  const snapshot = { meta: opts.meta ?? META, node_count: n, edge_count: n - 1 };
  return Buffer.from(`{"snapshot":${JSON.stringify(snapshot)},\n"nodes":[${nodes.join(`\n${sep}`)}],\n"edges":[${edges.join(`\n${sep}`)}],\n"strings":["","a","b","c"]}`);
}

describe('native record scanner', { skip: noAddon }, () => {
  it('gives the JavaScript loop\'s arrays on a real and a synthetic snapshot, however they are cut', () => {
    for (const text of [real, synth]) sameBothWays(text, [997, 65_536, 1 << 20]);
    assert.doesNotMatch(sameBothWays(chain(5000), [1, 2, 7, 64, 255, 4096]), /^error/);
  });

  it('hands values over 2^32 - 1 to the JavaScript loop, which widens ids and self sizes', () => {
    const wide = (at: number, field: number, value: number | string) => (k: number) => {
      const rec: (number | string)[] = [k === 0 ? 9 : 3, 0, 2 * k + 1, 16, k === 2999 ? 0 : 1, 0, 0];
      if (k === at) rec[field] = value;
      return rec;
    };
    for (const [at, field, value] of [
      [1500, 2, 2 ** 33 + 1], // an id: nodeId becomes a Float64Array mid-section
      [2990, 3, 2 ** 40 + 3], // a self size
      [10, 2, 2 ** 53 + 2], // an id too large even for a double: an error
      [10, 2, '00000000000000000042'], // leading zeros: 20 digits, value 42
      [10, 1, 2 ** 32], // a name: too large
      [10, 6, 300], // detachedness: kept as 255
    ] as const) {
      const got = sameBothWays(chain(3000, { node: wide(at, field, value) }), [333, 8192, 1 << 20]);
      if (field === 2 && value === 2 ** 53 + 2) assert.match(got, /^error: t: number \d+ too large in "nodes" at byte \d+$/);
      else if (field === 1) assert.match(got, /too large/);
      else assert.doesNotMatch(got, /^error/);
    }
  });

  it('reads what V8 does not write but JSON allows (spaces, tabs, CRLF) the same way', () => {
    for (const sep of [' , ', '\t,\r\n', ',\n ', ' ,']) sameBothWays(chain(2000, { sep }), [5, 100, 1 << 20]);
  });

  it('works with another field order, and with a field named twice (then the JavaScript loop alone)', () => {
    const order = { ...META, node_fields: ['edge_count', 'name', 'id', 'type', 'self_size'], edge_fields: ['to_node', 'name_or_index', 'type'] };
    const reordered = chain(1000, { meta: order, node: (k) => [k === 999 ? 0 : 1, 1, k, 3, 10], edge: (k) => [5 * (k + 1), 1, 2] });
    assert.doesNotMatch(sameBothWays(reordered, [77, 1 << 20]), /^error/);
    const twice = { ...META, node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'type', 'detachedness'] };
    assert.doesNotMatch(sameBothWays(chain(1000, { meta: twice }), [77, 1 << 20]), /^error/);
  });

  it('gives the same errors, at the same byte', () => {
    const base = chain(2000);
    const text = base.toString();
    const mid = text.indexOf('\n,3,1,2001,');
    const edgesAt = text.indexOf('"edges":[') + 9;
    const cases = [
      text.slice(0, mid) + '\n,3,1,20-01,' + text.slice(mid + 11), // a '-'
      text.slice(0, mid) + '\n,3,1,2001.5,' + text.slice(mid + 11),
      text.slice(0, mid) + '\n,11,1,2001,' + text.slice(mid + 11), // node type out of range
      text.slice(0, mid) + '\n,3,,1,2001,' + text.slice(mid + 11),
      text.slice(0, edgesAt) + '2,1,8' + text.slice(edgesAt + 5), // to_node not a multiple of 7
      text.slice(0, edgesAt) + '7,1,7' + text.slice(edgesAt + 5), // edge type out of range
      text.slice(0, edgesAt) + '2,1,700000' + text.slice(edgesAt + 5), // past the last node
      text.replace('"node_count":2000', '"node_count":1999'),
      text.replace('"edge_count":1999', '"edge_count":1998'),
      text.slice(0, text.indexOf('"strings"') - 3) + ',1' + text.slice(text.indexOf('"strings"') - 3), // one number too many
    ];
    for (const c of cases) assert.match(sameBothWays(Buffer.from(c), [3, 64, 4096, 1 << 20]), /^error: /);
  });

  it('reads the locations section as the JavaScript loop does: field order, negatives, growth, errors', () => {
    const withLocations = (fields: string[], entries: (number | string)[][], sep = ',') => {
      const text = chain(3000, { meta: { ...META, location_fields: fields } }).toString();
      const at = text.indexOf('"strings"');
      return Buffer.from(`${text.slice(0, at)}"locations":[${entries.map((e) => e.join(sep)).join(`\n${sep}`)}],\n${text.slice(at)}`);
    };
    const standard = ['object_index', 'script_id', 'line', 'column'];
    // 3000 entries: the array doubles on the way (its first size is smaller).
    const many = Array.from({ length: 3000 }, (_, k) => [7 * k, k % 5, k + 1, 4_000_000_000 - k]);
    assert.doesNotMatch(sameBothWays(withLocations(standard, many), [5, 333, 8192, 1 << 20]), /^error/);
    // Another field order, an extra field, a field named twice.
    const odd = ['line', 'object_index', 'column', 'script_id', 'extra', 'line'];
    assert.doesNotMatch(sameBothWays(withLocations(odd, many.map(([o, s, l, c]) => [l, o, c, s, 9, l + 1])), [77, 1 << 20]), /^error/);
    // V8's -1 for an unknown line or column, and spaces.
    const negatives = many.map(([o, s, l, c], k) => (k % 100 === 50 ? [o, s, -1, -1] : [o, s, l, c]));
    assert.doesNotMatch(sameBothWays(withLocations(standard, negatives), [64, 1 << 20]), /^error/);
    assert.doesNotMatch(sameBothWays(withLocations(standard, many, ' , '), [64, 1 << 20]), /^error/);
    const bad = (k: number, entry: (number | string)[]) => withLocations(standard, many.map((e, j) => (j === k ? entry : e)));
    for (const text of [
      bad(1500, [7 * 1500 + 1, 0, 1, 1]), // not a multiple of node_fields
      bad(1500, [7 * 3000, 0, 1, 1]), // past the last node
      bad(1500, [-7, 0, 1, 1]),
      bad(1500, [7, 2 ** 32, 1, 1]), // too large
      bad(1500, [7, 0, 1, '1.5']),
      withLocations(standard, [...many, [7, 1, 2]]), // a short last entry
    ]) {
      assert.match(sameBothWays(text, [3, 4096, 1 << 20]), /^error: /);
    }
  });

  it('is used by parseSnapshot unless native: false, with the same result', async () => {
    const a = digest(await parseSnapshot(synthPath));
    const b = digest(await parseSnapshot(synthPath, { native: false }));
    assert.equal(a, b);
  });

  it('works in a worker thread that loads the addon after this thread: the same arrays', async () => {
    const want = digest(await parseSnapshot(synthPath));
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { nativeScanner, parseSnapshot } = require(workerData.parser);
      parseSnapshot(workerData.file).then((s) => parentPort.postMessage({ scanner: typeof nativeScanner(), nodes: s.nodeCount, edgeTo: s.edgeTo, nodeId: s.nodeId }));`;
    const parser = join(ROOT, 'dist', 'src', 'heap', 'parser.js');
    const got = await new Promise<{ scanner: string; nodes: number; edgeTo: Uint32Array; nodeId: Uint32Array }>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { parser, file: synthPath } });
      w.once('message', (m) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
    });
    const s = await parseSnapshot(synthPath, { native: false });
    assert.equal(got.nodes, s.nodeCount);
    assert.deepEqual(got.edgeTo, s.edgeTo);
    assert.deepEqual(got.nodeId, s.nodeId);
    // Registered by the addon's Init, so every load has it (heap-numbers.cc).
    assert.equal(got.scanner, 'function');
    assert.ok(want);
  });
});

describe('without the addon (AUTOPSY_NATIVE=0)', () => {
  it('parses in JavaScript to the same arrays', async () => {
    const script = `
      const { createHash } = require('node:crypto');
      const { nativeScanner, parseSnapshot } = require(${JSON.stringify(join(ROOT, 'dist', 'src', 'heap', 'parser.js'))});
      parseSnapshot(process.argv[1]).then((s) => {
        const h = createHash('sha256');
        for (const a of [s.nodeType, s.nodeName, s.nodeId, s.nodeSelfSize, s.firstEdge, s.edgeType, s.edgeName, s.edgeTo]) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
        console.log(typeof nativeScanner(), h.digest('hex'));
      });`;
    const run = (env: Record<string, string>) => execFileSync(process.execPath, ['-e', script, synthPath], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
    const off = run({ AUTOPSY_NATIVE: '0' });
    assert.match(off, /^undefined [0-9a-f]{64}$/);
    if (scanner) {
      const on = run({});
      assert.match(on, /^function /);
      assert.equal(on.split(' ')[1], off.split(' ')[1]);
    }
  });
});
