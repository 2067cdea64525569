/**
 * The graph around a parsed snapshot: the reverse (retainer) index, DevTools' per-node class names,
 * GC roots and distances from the root. Everything is typed arrays indexed by node/edge ordinal;
 * strings are decoded once per distinct string index and cached by index.
 *
 * DevTools reference: front_end/entrypoints/heap_snapshot_worker/HeapSnapshot.ts (see docs/heap-engine.md).
 */
import type { ScratchPool } from './scratch';
import type { HeapSnapshot } from './types';

/** DevTools' "no distance" marker (HeapSnapshot.#noDistance). */
export const NO_DISTANCE = -5;
/** Distances of nodes reached only from system roots start here (HeapSnapshotModel.baseSystemDistance). */
export const BASE_SYSTEM_DISTANCE = 100_000_000;

/** DOM link state per node, as V8 writes it in the `detachedness` field. */
export const DETACHED_UNKNOWN = 0;
export const ATTACHED = 1;
export const DETACHED = 2;

/** Indices into s.nodeTypes / s.edgeTypes, -1 when the snapshot does not declare the type. */
export interface TypeIds {
  hidden: number; array: number; string: number; object: number; code: number; closure: number;
  regexp: number; number: number; native: number; synthetic: number;
  consString: number; slicedString: number;
  eContext: number; eElement: number; eProperty: number; eInternal: number; eHidden: number;
  eShortcut: number; eWeak: number;
}

export function typeIds(s: HeapSnapshot): TypeIds {
  const n = (t: string): number => s.nodeTypes.indexOf(t);
  const e = (t: string): number => s.edgeTypes.indexOf(t);
  return {
    hidden: n('hidden'), array: n('array'), string: n('string'), object: n('object'), code: n('code'),
    closure: n('closure'), regexp: n('regexp'), number: n('number'), native: n('native'),
    synthetic: n('synthetic'), consString: n('concatenated string'), slicedString: n('sliced string'),
    eContext: e('context'), eElement: e('element'), eProperty: e('property'), eInternal: e('internal'),
    eHidden: e('hidden'), eShortcut: e('shortcut'), eWeak: e('weak'),
  };
}

/** True when the edge's name field is a string index (not an element/hidden index). */
export function edgeHasStringName(s: HeapSnapshot, t: TypeIds, edge: number): boolean {
  const type = s.edgeType[edge];
  return type !== t.eElement && type !== t.eHidden;
}

/** The edge's name as DevTools' JSHeapSnapshotEdge.name() gives it. */
export function edgeName(s: HeapSnapshot, t: TypeIds, edge: number): string {
  return edgeHasStringName(s, t, edge) ? s.strings.get(s.edgeName[edge]) : String(s.edgeName[edge]);
}

// ---------------------------------------------------------------------------------------------
// Retainers

/** Reverse edges in CSR form: the retainers of node i are slots firstRetainer[i] .. firstRetainer[i+1]-1. */
export interface Retainers {
  /** Length nodeCount + 1. */
  firstRetainer: Uint32Array;
  /** Per slot: the edge ordinal. Within a node, slots follow edge order. */
  retainingEdges: Uint32Array;
  /** Per slot: the ordinal of the retaining (source) node. */
  retainingNodes: Uint32Array;
}

/** The forward edges alone: what the retainer index and the dominator pass need (also on a worker). */
export type EdgeGraph = Pick<HeapSnapshot, 'nodeCount' | 'edgeCount' | 'firstEdge' | 'edgeTo'>;

export function buildRetainers(s: EdgeGraph): Retainers {
  const { nodeCount, edgeCount, firstEdge, edgeTo } = s;
  const firstRetainer = new Uint32Array(nodeCount + 1);
  const retainingEdges = new Uint32Array(edgeCount);
  const retainingNodes = new Uint32Array(edgeCount);
  for (let e = 0; e < edgeCount; e++) firstRetainer[edgeTo[e] + 1]++;
  for (let i = 0; i < nodeCount; i++) firstRetainer[i + 1] += firstRetainer[i];
  // Fill using firstRetainer[to] as a cursor, then shift it back by one node.
  for (let from = 0; from < nodeCount; from++) {
    const end = firstEdge[from + 1];
    for (let e = firstEdge[from]; e < end; e++) {
      const slot = firstRetainer[edgeTo[e]]++;
      retainingEdges[slot] = e;
      retainingNodes[slot] = from;
    }
  }
  for (let i = nodeCount; i > 0; i--) firstRetainer[i] = firstRetainer[i - 1];
  firstRetainer[0] = 0;
  return { firstRetainer, retainingEdges, retainingNodes };
}

/**
 * The same index, built on first use: the dominators do not need it, only retainer paths do, so
 * analyze() does not pay its time and 4 + 8 B per edge up front.
 */
export function lazyRetainers(s: EdgeGraph): Retainers {
  let built: Retainers | undefined;
  const get = (): Retainers => (built ??= buildRetainers(s));
  return {
    get firstRetainer() { return get().firstRetainer; },
    get retainingEdges() { return get().retainingEdges; },
    get retainingNodes() { return get().retainingNodes; },
  };
}

// ---------------------------------------------------------------------------------------------
// Detachedness (HeapSnapshot.propagateDOMState)

/**
 * The DOM link state of every node after DevTools' propagation: attached spreads from attached
 * native nodes to native children (not over hidden/weak edges), then detached spreads the same way
 * to what is left. JS nodes keep their own state. All zero when the snapshot has no detachedness.
 */
export function propagateDetachedness(s: HeapSnapshot, t: TypeIds = typeIds(s), scratch?: ScratchPool): Uint8Array {
  const n = s.nodeCount;
  const src = s.nodeDetachedness;
  // Without a known state there is nothing to spread (V8 writes 0 for every JS object): zeros that
  // are never written take no memory.
  let known = false;
  if (src) for (let i = 0; i < n && !known; i++) known = src[i] !== DETACHED_UNKNOWN;
  if (!src || !known) return new Uint8Array(n);
  const state = scratch ? scratch.u8(n) : new Uint8Array(n);
  state.set(src.subarray(0, n));
  const visited = scratch ? scratch.u8(n) : new Uint8Array(n);
  const attached: number[] = [];
  const detached: number[] = [];
  const process = (node: number, newState: number): void => {
    if (visited[node]) return;
    visited[node] = 1;
    if (s.nodeType[node] !== t.native) return;
    state[node] = newState;
    if (newState === ATTACHED) attached.push(node);
    else if (newState === DETACHED) detached.push(node);
  };
  const spread = (from: number, newState: number): void => {
    for (let e = s.firstEdge[from], end = s.firstEdge[from + 1]; e < end; e++) {
      const type = s.edgeType[e];
      if (type === t.eHidden || type === t.eWeak) continue;
      process(s.edgeTo[e], newState);
    }
  };
  for (let i = 0; i < n; i++) if (src[i] !== DETACHED_UNKNOWN) process(i, src[i] & 3);
  while (attached.length) spread(attached.pop()!, ATTACHED);
  while (detached.length) {
    const node = detached.pop()!;
    if (state[node] !== ATTACHED) spread(node, DETACHED);
  }
  scratch?.give(visited);
  return state;
}

// ---------------------------------------------------------------------------------------------
// Class names (HeapSnapshot.calculateObjectNames)

/**
 * DevTools' class name of one node, before interface inference for plain `Object`s (that needs the
 * whole heap: see `classify` in summary.ts, which this function defers to when given its result).
 *  hidden → '(system)'; object, native → the node name ('<div id=…>' → '<div>'; native nodes whose
 *  propagated state is detached get a 'Detached ' prefix); code → '(compiled code)';
 *  closure → 'Function'; regexp → 'RegExp'; any other type T → '(T)': '(string)',
 *  '(concatenated string)', '(sliced string)', '(array)', '(number)', '(symbol)', '(object shape)', …
 */
export function className(
  s: HeapSnapshot, node: number, opts?: { detached?: Uint8Array; classes?: { classOf: Uint16Array | Uint32Array; names: string[] } },
): string {
  if (opts?.classes) return opts.classes.names[opts.classes.classOf[node]];
  const t = typeIds(s);
  const detached = opts?.detached ? opts.detached[node] === DETACHED : s.nodeDetachedness?.[node] === DETACHED;
  return baseClassName(s, t, node, detached).name;
}

/** Namespaces of class keys: DevTools keys classes by string index, and its synthesized names are
 *  added strings, distinct from equal strings already in the snapshot. */
export const NS_RAW = 0;
export const NS_SYNTH = 1;
export const NS_DETACHED = 2;
export const NS_INTERFACE = 3;

export function baseClassName(
  s: HeapSnapshot, t: TypeIds, node: number, detached: boolean,
): { name: string; ns: number } {
  const type = s.nodeType[node];
  switch (type) {
    case t.hidden: return { name: '(system)', ns: NS_SYNTH };
    case t.object:
    case t.native: {
      const raw = s.strings.get(s.nodeName[node]);
      const isDetached = type === t.native && detached;
      return objectClassName(isDetached ? 'Detached ' + raw : raw, isDetached ? NS_DETACHED : NS_RAW);
    }
    case t.code: return { name: '(compiled code)', ns: NS_SYNTH };
    case t.closure: return { name: 'Function', ns: NS_SYNTH };
    case t.regexp: return { name: 'RegExp', ns: NS_SYNTH };
    default: return { name: '(' + s.nodeTypes[type] + ')', ns: NS_SYNTH };
  }
}

function objectClassName(name: string, ns: number): { name: string; ns: number } {
  if (name.startsWith('<')) {
    const sp = name.indexOf(' ');
    return { name: sp === -1 ? name : name.substring(0, sp) + '>', ns: NS_SYNTH };
  }
  if (name.startsWith('Detached <')) {
    const sp = name.indexOf(' ', 10);
    return { name: sp === -1 ? name : name.substring(0, sp) + '>', ns: NS_SYNTH };
  }
  return { name, ns };
}

// ---------------------------------------------------------------------------------------------
// WeakMap ephemeron edges (HeapSnapshot.tryParseWeakMapEdgeName)

const EPHEMERON =
  /^\d+(?<dup> \/ part of key \(.*? @\d+\) -> value \(.*? @\d+\) pair in WeakMap \(table @(?<table>\d+)\))$/;

/**
 * V8 names both edges to a WeakMap value "<n> / part of key (K @k) -> value (V @v) pair in WeakMap
 * (table @t)": one from the table, one from the key. This classifies edge-name strings once each.
 */
export class EphemeronNames {
  /** Per string index: 0 unknown, -1 not an ephemeron name, p > 0: pair id p. Read it directly in
   *  hot loops and call pairOf() only on 0. */
  readonly pairOfString: Int32Array;
  private readonly pairIds = new Map<string, number>();
  /** Per pair id: the table's node id. */
  readonly tableId: number[] = [0];

  constructor(private readonly s: HeapSnapshot) {
    this.pairOfString = new Int32Array(s.strings.count);
  }

  /** Pair id of an internal edge's name (the part shared by the table's and the key's edge), or 0. */
  pairOf(nameIndex: number): number {
    const known = this.pairOfString[nameIndex];
    if (known !== 0) return known > 0 ? known : 0;
    const m = EPHEMERON.exec(this.s.strings.get(nameIndex));
    if (!m) {
      this.pairOfString[nameIndex] = -1;
      return 0;
    }
    const dup = m.groups!.dup;
    let id = this.pairIds.get(dup);
    if (id === undefined) {
      id = this.tableId.length;
      this.pairIds.set(dup, id);
      this.tableId.push(parseInt(m.groups!.table, 10));
    }
    this.pairOfString[nameIndex] = id;
    return id;
  }
}

// ---------------------------------------------------------------------------------------------
// Roots and distances (JSHeapSnapshot.calculateDistances)

/** DevTools' user roots: the root's targets that are not synthetic, plus '(Document DOM trees)'. */
export function isUserRoot(s: HeapSnapshot, t: TypeIds, node: number): boolean {
  return s.nodeType[node] !== t.synthetic || s.strings.get(s.nodeName[node]) === '(Document DOM trees)';
}

export interface Roots {
  /** The root's edge targets that are user roots (in Node: the global object(s)), in edge order. */
  user: Uint32Array;
  /** The root's synthetic edge targets: '(GC roots)', 'C++ roots', … */
  system: Uint32Array;
  /** Children of '(GC roots)': '(Strong roots)', '(Handle scope)', … */
  gcSubroots: Uint32Array;
}

export function gcRoots(s: HeapSnapshot): Roots {
  const t = typeIds(s);
  const user: number[] = [];
  const system: number[] = [];
  const sub: number[] = [];
  for (let e = s.firstEdge[0]; e < s.firstEdge[1]; e++) {
    const to = s.edgeTo[e];
    if (isUserRoot(s, t, to)) user.push(to);
    else {
      system.push(to);
      if (s.strings.get(s.nodeName[to]) === '(GC roots)') {
        for (let f = s.firstEdge[to]; f < s.firstEdge[to + 1]; f++) sub.push(s.edgeTo[f]);
      }
    }
  }
  return { user: Uint32Array.from(user), system: Uint32Array.from(system), gcSubroots: Uint32Array.from(sub) };
}

/**
 * Distance of every node from the root, as DevTools' Summary shows it: BFS over non-weak edges
 * from the user roots (distance 1); what that does not reach gets BASE_SYSTEM_DISTANCE + BFS depth
 * from the root; unreachable nodes keep NO_DISTANCE. Edges skipped as DevTools does: the
 * NativeContext's sloppy_function_map, the descriptor links of '(map descriptors)' arrays, and the
 * first-seen of the two edges to a WeakMap value (so the value's distance is max(table, key) + 1).
 */
/** The distance queue's first size, a power of 2 (it doubles as needed): 4 MB. From 64K entries, the
 * doublings (copies, page faults on released regions) cost ~50 ms of CPU on the real 144 MB snapshot. */
const RING_FIRST = 1 << 20;

export function computeDistances(
  s: HeapSnapshot, ephemerons: EphemeronNames = new EphemeronNames(s), scratch?: ScratchPool,
): Int32Array {
  const t = typeIds(s);
  const n = s.nodeCount;
  const { firstEdge, edgeTo, edgeType, edgeName: eName, nodeType, nodeName } = s;
  const dist = (scratch ? scratch.i32(n) : new Int32Array(n)).fill(NO_DISTANCE);
  const seen = scratch ? scratch.u8(n) : new Uint8Array(n); // the hot test, a quarter of dist's cache footprint
  // Which source nodes need the per-edge filters: per name index, 1 other, 2 NativeContext, 3 map descriptors.
  const nameKind = scratch ? scratch.u8(s.strings.count) : new Uint8Array(s.strings.count);
  const sourceKind = (node: number): number => {
    const type = nodeType[node];
    if (type !== t.hidden && type !== t.array) return 1;
    const idx = nodeName[node];
    let k = nameKind[idx];
    if (k === 0) {
      const name = s.strings.get(idx);
      k = name === 'system / NativeContext' ? 2 : name === '(map descriptors)' ? 3 : 1;
      nameKind[idx] = k;
    }
    return (k === 2 && type === t.hidden) || (k === 3 && type === t.array) ? k : 1;
  };
  const pending = new Set<number>();
  const pairOfString = ephemerons.pairOfString;

  // The queue is a ring that doubles when full: it holds the frontier, not every node (the largest
  // frontier was 35-45 % of the nodes on the heaps measured). `head` and `len` count on; an entry
  // is at (index & mask).
  let queue = scratch ? scratch.u32(RING_FIRST) : new Uint32Array(RING_FIRST);
  const grow = (head: number, len: number): void => {
    const mask = queue.length - 1;
    const bigger = scratch ? scratch.u32(2 * queue.length) : new Uint32Array(2 * queue.length);
    const biggerMask = bigger.length - 1;
    for (let i = head; i < len; i++) bigger[i & biggerMask] = queue[i & mask];
    scratch?.give(queue);
    queue = bigger;
  };
  const bfs = (len: number): void => {
    let ring = queue;
    let mask = ring.length - 1;
    for (let head = 0; head < len; head++) {
      const node = ring[head & mask];
      const d = dist[node] + 1;
      const nt = nodeType[node];
      const kind = nt === t.hidden || nt === t.array ? sourceKind(node) : 1;
      for (let e = firstEdge[node], end = firstEdge[node + 1]; e < end; e++) {
        const type = edgeType[e];
        if (type === t.eWeak) continue;
        const child = edgeTo[e];
        if (seen[child] !== 0) continue;
        if (kind !== 1) {
          if (kind === 2) {
            if (edgeName(s, t, e) === 'sloppy_function_map') continue;
          } else {
            const index = parseInt(edgeName(s, t, e), 10);
            if (!(index < 2 || index % 3 !== 1)) continue;
          }
        }
        if (type === t.eInternal) {
          let pair = pairOfString[eName[e]];
          if (pair === 0) pair = ephemerons.pairOf(eName[e]);
          if (pair > 0) {
            if (!pending.delete(pair)) {
              pending.add(pair);
              continue;
            }
          }
        }
        dist[child] = d;
        seen[child] = 1;
        if (len - head >= ring.length) {
          grow(head, len);
          ring = queue;
          mask = ring.length - 1;
        }
        ring[len++ & mask] = child;
      }
    }
  };
  let len = 0;
  for (let e = firstEdge[0]; e < firstEdge[1]; e++) {
    const to = edgeTo[e];
    if (isUserRoot(s, t, to)) {
      dist[to] = 1;
      seen[to] = 1;
      if (len >= queue.length) grow(0, len);
      queue[len++ & (queue.length - 1)] = to;
    }
  }
  bfs(len);
  dist[0] = len > 0 ? BASE_SYSTEM_DISTANCE : 0;
  seen[0] = 1;
  queue[0] = 0;
  bfs(1);
  scratch?.give(seen);
  scratch?.give(queue);
  scratch?.give(nameKind);
  return dist;
}
