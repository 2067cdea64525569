/**
 * Heap-engine fixtures: a builder that links nodes in code (as DevTools' HeapSnapshot.test.ts does),
 * an adapter from a small snapshot's JSON to the typed-array HeapSnapshot, snapshot writers that run
 * a scenario in a child process, and the DevTools oracle: Chrome DevTools' own heap snapshot worker
 * (npm chrome-devtools-frontend, TypeScript sources) run in Node through tsx.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StringTable } from '../src/heap/types';
import type { SnapshotWithLocations } from '../src/heap/summary';

export const NODE_TYPES = ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native',
  'synthetic', 'concatenated string', 'sliced string', 'symbol', 'bigint', 'object shape'];
export const EDGE_TYPES = ['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'];

function stringTable(strings: string[]): StringTable {
  return { count: strings.length, get: (i) => strings[i], byteLength: strings.reduce((n, s) => n + s.length * 2, 0) };
}

// ---------------------------------------------------------------------------------------------
// Builder

export interface BuiltNode { type: string; name: string; size: number; id: number; detachedness: number }

/** Links nodes in code. Node 0 is the synthetic root, created up front. */
export class SnapshotBuilder {
  readonly nodes: BuiltNode[] = [];
  readonly edges: { from: number; to: number; type: string; name: string | number }[][] = [];
  private readonly strings: string[] = [''];
  private readonly stringIndex = new Map<string, number>([['', 0]]);
  locations: number[] = [];

  constructor() {
    this.node('synthetic', '', 0);
  }

  /** Adds a node and returns its ordinal. */
  node(type: string, name: string, size: number, opts: { id?: number; detachedness?: number } = {}): number {
    if (!NODE_TYPES.includes(type)) throw new Error(`unknown node type ${type}`);
    this.nodes.push({ type, name, size, id: opts.id ?? this.nodes.length * 2 + 1, detachedness: opts.detachedness ?? 0 });
    this.edges.push([]);
    return this.nodes.length - 1;
  }

  /** Adds an edge; `name` is a string for named edges, a number for element/hidden edges. */
  edge(from: number, to: number, type = 'property', name: string | number = `e${to}`): this {
    if (!EDGE_TYPES.includes(type)) throw new Error(`unknown edge type ${type}`);
    this.edges[from].push({ from, to, type, name });
    return this;
  }

  /** Records a constructor location for a node (DevTools splits located object classes by it). */
  location(node: number, scriptId: number, line: number, column: number): this {
    this.locations.push(node, scriptId, line, column);
    return this;
  }

  private str(s: string): number {
    let i = this.stringIndex.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.stringIndex.set(s, i);
    }
    return i;
  }

  build(source = 'builder'): SnapshotWithLocations {
    const n = this.nodes.length;
    const all = this.edges.flat();
    const s: SnapshotWithLocations = {
      nodeCount: n, edgeCount: all.length, nodeTypes: NODE_TYPES.slice(), edgeTypes: EDGE_TYPES.slice(),
      nodeType: new Uint8Array(n), nodeName: new Uint32Array(n), nodeId: new Float64Array(n),
      nodeSelfSize: new Float64Array(n), nodeDetachedness: new Uint8Array(n), firstEdge: new Uint32Array(n + 1),
      edgeType: new Uint8Array(all.length), edgeName: new Uint32Array(all.length), edgeTo: new Uint32Array(all.length),
      strings: stringTable(this.strings), source,
      locations: this.locations.length ? Uint32Array.from(this.locations) : undefined,
    };
    this.nodes.forEach((nd, i) => {
      s.nodeType[i] = NODE_TYPES.indexOf(nd.type);
      s.nodeName[i] = this.str(nd.name);
      s.nodeId[i] = nd.id;
      s.nodeSelfSize[i] = nd.size;
      s.nodeDetachedness![i] = nd.detachedness;
      s.firstEdge[i + 1] = s.firstEdge[i] + this.edges[i].length;
    });
    all.forEach((e, k) => {
      s.edgeType[k] = EDGE_TYPES.indexOf(e.type);
      s.edgeName[k] = typeof e.name === 'number' ? e.name : this.str(e.name);
      s.edgeTo[k] = e.to;
    });
    (s.strings as { count: number }).count = this.strings.length;
    return s;
  }

  /** The same graph as V8's JSON (for the DevTools oracle). */
  toJSON(): unknown {
    const s = this.build();
    const nodes: number[] = [];
    for (let i = 0; i < s.nodeCount; i++) {
      nodes.push(s.nodeType[i], s.nodeName[i], s.nodeId[i], s.nodeSelfSize[i], s.firstEdge[i + 1] - s.firstEdge[i], 0,
        s.nodeDetachedness![i]);
    }
    const edges: number[] = [];
    for (let e = 0; e < s.edgeCount; e++) edges.push(s.edgeType[e], s.edgeName[e], s.edgeTo[e] * 7);
    const locations: number[] = [];
    for (let i = 0; i < this.locations.length; i += 4) {
      locations.push(this.locations[i] * 7, this.locations[i + 1], this.locations[i + 2], this.locations[i + 3]);
    }
    return {
      snapshot: {
        meta: {
          node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
          node_types: [NODE_TYPES, 'string', 'number', 'number', 'number', 'number', 'number'],
          edge_fields: ['type', 'name_or_index', 'to_node'],
          edge_types: [EDGE_TYPES, 'string_or_number', 'node'],
          location_fields: ['object_index', 'script_id', 'line', 'column'],
        },
        node_count: s.nodeCount, edge_count: s.edgeCount, trace_function_count: 0,
      },
      nodes, edges, trace_function_infos: [], trace_tree: [], samples: [], locations,
      strings: Array.from({ length: s.strings.count }, (_, i) => s.strings.get(i)),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// JSON adapter (small snapshots only: JSON.parse stops near 512 MB)

interface SnapshotJSON {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[];
    edge_types: [string[], ...unknown[]]; location_fields?: string[] } };
  nodes: number[]; edges: number[]; strings: string[]; locations?: number[];
}

export function snapshotFromJSON(j: SnapshotJSON, source = 'json'): SnapshotWithLocations {
  const meta = j.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [oType, oName, oId, oSize, oEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f));
  const oDet = meta.node_fields.indexOf('detachedness');
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f));
  const n = j.nodes.length / nf;
  const m = j.edges.length / ef;
  const s: SnapshotWithLocations = {
    nodeCount: n, edgeCount: m, nodeTypes: meta.node_types[0].slice(), edgeTypes: meta.edge_types[0].slice(),
    nodeType: new Uint8Array(n), nodeName: new Uint32Array(n), nodeId: new Float64Array(n),
    nodeSelfSize: new Float64Array(n), nodeDetachedness: oDet >= 0 ? new Uint8Array(n) : undefined,
    firstEdge: new Uint32Array(n + 1), edgeType: new Uint8Array(m), edgeName: new Uint32Array(m),
    edgeTo: new Uint32Array(m), strings: stringTable(j.strings), source,
  };
  for (let i = 0, p = 0; i < n; i++, p += nf) {
    s.nodeType[i] = j.nodes[p + oType];
    s.nodeName[i] = j.nodes[p + oName];
    s.nodeId[i] = j.nodes[p + oId];
    s.nodeSelfSize[i] = j.nodes[p + oSize];
    if (oDet >= 0) s.nodeDetachedness![i] = j.nodes[p + oDet];
    s.firstEdge[i + 1] = s.firstEdge[i] + j.nodes[p + oEdges];
  }
  for (let e = 0, p = 0; e < m; e++, p += ef) {
    s.edgeType[e] = j.edges[p + eType];
    s.edgeName[e] = j.edges[p + eName];
    s.edgeTo[e] = j.edges[p + eTo] / nf;
  }
  const lf = meta.location_fields?.length ?? 0;
  if (j.locations?.length && lf) {
    const loc = new Uint32Array((j.locations.length / lf) * 4);
    const [lo, ls, ll, lc] = ['object_index', 'script_id', 'line', 'column'].map((f) => meta.location_fields!.indexOf(f));
    for (let i = 0, k = 0; i < j.locations.length; i += lf, k += 4) {
      loc[k] = j.locations[i + lo] / nf;
      loc[k + 1] = j.locations[i + ls];
      loc[k + 2] = j.locations[i + ll];
      loc[k + 3] = j.locations[i + lc];
    }
    s.locations = loc;
  }
  return s;
}

export function readSnapshotJSON(file: string): SnapshotWithLocations {
  return snapshotFromJSON(JSON.parse(fs.readFileSync(file, 'utf8')) as SnapshotJSON, file);
}

// ---------------------------------------------------------------------------------------------
// Real snapshots, written by a child process

// The repository root, from test/ (tsx) or dist/test/ (compiled).
const ROOT = [path.join(__dirname, '..'), path.join(__dirname, '..', '..')]
  .find((d) => fs.existsSync(path.join(d, 'package.json'))) ?? path.join(__dirname, '..');

/** An HTTP server that served a few requests and keeps some state: class instances, WeakMaps, closures. */
export const HTTP_SERVER_SCENARIO = `
const http = require('node:http');
const v8 = require('node:v8');
class Session { constructor(id) { this.id = id; this.history = []; this.tags = new Set(['a' + id]); } }
class Cache { constructor() { this.entries = new Map(); this.meta = new WeakMap(); } }
const cache = new Cache();
const sessions = [];
const listeners = [];
const server = http.createServer((req, res) => {
  const s = new Session(sessions.length);
  s.history.push({ url: req.url, at: Date.now(), headers: { ...req.headers } });
  sessions.push(s);
  const key = { url: req.url };
  cache.entries.set(req.url, Buffer.alloc(64, sessions.length));
  cache.meta.set(key, { session: s, payload: new Array(50).fill(sessions.length) });
  globalThis.lastKey = key;
  listeners.push(() => s.id);
  res.end('ok ' + s.id);
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1', path: '/p' + i }, (r) => { r.resume(); r.on('end', resolve); }).on('error', reject));
  }
  globalThis.keep = { sessions, listeners, cache };
  v8.writeHeapSnapshot(process.argv[2]);
  server.close();
});
`;

/** The TypeScript compiler's heap after type-checking a few of this repository's files (ES2022
 *  lib only, no @types/node: a ~100 MB snapshot; with them it is twice that). */
export const TSC_SCENARIO = `
const ts = require(${JSON.stringify(path.join(ROOT, 'node_modules/typescript'))});
const v8 = require('node:v8');
const files = ${JSON.stringify(['src/heap/graph.ts', 'src/heap/dominators.ts', 'src/heap/summary.ts'].map((f) => path.join(ROOT, f)))};
const program = ts.createProgram(files, { strict: true, target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts'], module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, noEmit: true, types: [] });
const diagnostics = ts.getPreEmitDiagnostics(program);
globalThis.keep = { program, diagnostics };
// Node 20's V8 locates every function in its script without cached line ends: typescript.js (9 MB)
// makes the snapshot take minutes. Debugger.enable computes line ends for all scripts (33 s → 1 s).
const session = new (require('node:inspector').Session)();
session.connect();
session.post('Debugger.enable', () => session.post('Debugger.disable', () => {
  session.disconnect();
  v8.writeHeapSnapshot(process.argv[2]);
}));
`;

/** Runs a scenario script in a fresh Node process; it writes a snapshot to the path it gets. */
export function writeSnapshot(script: string, file: string): string {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const js = path.join(dir, path.basename(file) + '.scenario.js');
  fs.writeFileSync(js, script);
  execFileSync(process.execPath, [js, file], { stdio: 'inherit', timeout: 300_000, env: { ...process.env, NODE_OPTIONS: '' } });
  return file;
}

// ---------------------------------------------------------------------------------------------
// DevTools oracle

export const DEVTOOLS_VERSION = '1.0.1705227';
export const DEVTOOLS_DIR = path.join(ROOT, '.cache', 'devtools');
const PKG = path.join(DEVTOOLS_DIR, 'node_modules', 'chrome-devtools-frontend');
const WORKER = path.join(PKG, 'front_end', 'entrypoints', 'heap_snapshot_worker');

/**
 * Installs chrome-devtools-frontend (~20 MB download, 80 MB unpacked: too big for the project's
 * devDependencies) under .cache/devtools and adds what its build would generate. Returns why not
 * if that fails (no registry), else null.
 */
export function ensureDevTools(): string | null {
  try {
    const pkgJson = path.join(PKG, 'package.json');
    const have = fs.existsSync(pkgJson) && (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
    if (have !== DEVTOOLS_VERSION) {
      fs.mkdirSync(DEVTOOLS_DIR, { recursive: true });
      execFileSync('npm', ['install', '--prefix', DEVTOOLS_DIR, '--no-save', '--ignore-scripts', '--no-audit', '--no-fund',
        '--loglevel=error', `chrome-devtools-frontend@${DEVTOOLS_VERSION}`], { stdio: 'pipe', timeout: 300_000 });
    }
    // i18n imports a module the DevTools build generates (locales.js).
    const locales = path.join(PKG, 'front_end', 'core', 'i18n', 'locales.js');
    if (!fs.existsSync(locales)) {
      fs.writeFileSync(locales, "export const LOCALES = ['en-US'];\nexport const BUNDLED_LOCALES = ['en-US'];\n" +
        "export const DEFAULT_LOCALE = 'en-US';\nexport const REMOTE_FETCH_PATTERN = '';\nexport const LOCAL_FETCH_PATTERN = '';\n");
    }
    fs.writeFileSync(path.join(DEVTOOLS_DIR, 'oracle.mts'), ORACLE);
    return null;
  } catch (err) {
    return `chrome-devtools-frontend@${DEVTOOLS_VERSION} unavailable: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Runs in a child process under tsx: DevTools' JSHeapSnapshot on a file, results written beside `out`. */
const ORACLE = `
import * as fs from 'node:fs';
// Node 20 lacks Promise.withResolvers, which the worker uses.
(Promise as any).withResolvers ??= () => { let resolve: any, reject: any; const promise = new Promise((a, b) => { resolve = a; reject = b; }); return { promise, resolve, reject }; };
const worker = ${JSON.stringify(WORKER + '/')};
const { HeapSnapshotLoader } = await import(worker + 'HeapSnapshotLoader.ts');
const { SecondaryInitManager } = await import(worker + 'HeapSnapshot.ts');
const [file, out] = process.argv.slice(2);
const loader = new HeapSnapshotLoader({ sendEvent() {} } as any);
for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 22 })) loader.write(chunk);
loader.close();
const channel = new MessageChannel();
new SecondaryInitManager(channel.port2 as any);
const warn = console.warn; console.warn = () => {};
const t0 = performance.now();
const snap: any = await loader.buildSnapshot(channel.port1 as any);
const initMs = performance.now() - t0;
const aggregates = snap.aggregatesWithFilter({});
console.warn = warn;
const n = snap.nodeCount;
const self = new Float64Array(n), cls = new Uint32Array(n);
const classNames: string[] = [], classIds = new Map<string, number>();
const node = snap.createNode(0);
for (let i = 0; i < n; i++) {
  node.nodeIndex = i * snap.nodeFieldCount;
  self[i] = node.selfSize();
  const name = node.className();
  let id = classIds.get(name);
  if (id === undefined) { id = classNames.length; classIds.set(name, id); classNames.push(name); }
  cls[i] = id;
}
const w = (suffix: string, a: ArrayBufferView) => fs.writeFileSync(out + suffix, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
w('.idom', snap.dominatorsTree); w('.retained', snap.retainedSizes); w('.distance', snap.nodeDistances);
w('.self', self); w('.class', cls);
fs.writeFileSync(out + '.json', JSON.stringify({
  nodeCount: n, initMs, classNames, interfaces: JSON.parse(snap.interfaceDefinitions()),
  aggregates: Object.entries(aggregates).map(([key, a]: [string, any]) => ({ key, name: a.name, count: a.count, self: a.self, maxRet: a.maxRet, distance: a.distance })),
}));
channel.port1.close(); channel.port2.close();
`;

export interface OracleResult {
  nodeCount: number;
  initMs: number;
  idom: Uint32Array;
  retained: Float64Array;
  distance: Int32Array;
  selfSize: Float64Array;
  /** Per node: index into classNames (DevTools' node.className()). */
  classOf: Uint32Array;
  classNames: string[];
  interfaces: { name: string; properties: string[] }[];
  aggregates: { key: string; name: string; count: number; self: number; maxRet: number; distance: number }[];
}

/** DevTools' results for a snapshot file (ensureDevTools() first). */
export function runDevTools(snapshotFile: string): OracleResult {
  const out = snapshotFile + '.devtools';
  execFileSync(process.execPath, ['--import', 'tsx', path.join(DEVTOOLS_DIR, 'oracle.mts'), snapshotFile, out],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000, env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' } });
  const buf = (suffix: string): ArrayBuffer => {
    const b = fs.readFileSync(out + suffix);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  };
  const meta = JSON.parse(fs.readFileSync(out + '.json', 'utf8')) as Omit<OracleResult, 'idom' | 'retained' | 'distance' | 'selfSize' | 'classOf'>;
  return {
    ...meta, idom: new Uint32Array(buf('.idom')), retained: new Float64Array(buf('.retained')),
    distance: new Int32Array(buf('.distance')), selfSize: new Float64Array(buf('.self')), classOf: new Uint32Array(buf('.class')),
  };
}

/** Writes a builder's graph as a snapshot file (for the oracle). */
export function writeBuilderSnapshot(b: SnapshotBuilder, file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(b.toJSON()));
  return file;
}

