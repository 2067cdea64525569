/**
 * DevTools' interface inference for plain JS objects (HeapSnapshot.ts inferInterfaceDefinitions,
 * applyInterfaceDefinitions): a plain `Object` is named by its property names ('{a, b}') when enough
 * objects share them.
 *
 * Both steps depend only on an object's sequence of property-edge names, and most objects share
 * theirs with many others (objects of one literal or constructor), so the sequences are interned
 * first (PropertyShapes) and the names, counts and matches computed once per distinct sequence.
 */
import { typeIds, type TypeIds } from './graph';
import type { HeapSnapshot } from './types';
import type { ScratchPool } from './scratch';

export interface InterfaceDefinition {
  /** '{a, b, c}' */
  name: string;
  properties: string[];
}

// DevTools' limits for interface inference.
const MIN_INTERFACE_PROPERTY_COUNT = 1;
const MAX_INTERFACE_NAME_LENGTH = 120;
const MIN_OBJECT_COUNT_PER_INTERFACE = 2;
const MIN_OBJECT_PROPORTION_PER_INTERFACE = 1000;

function formatPropertyName(name: string): string {
  if (/[,'"{}]/.test(name)) {
    const json = JSON.stringify({ [name]: 0 });
    return json.substring(1, json.length - 3);
  }
  return name;
}

/**
 * Plain objects (type 'object' named 'Object'), each mapped to the id of its sequence of
 * property-edge name indices; ids are dense and numbered in order of first appearance.
 */
export class PropertyShapes {
  /** Per string index: 1 the name is 'Object', -1 it is not, 0 unknown. */
  private readonly objectName: Int8Array;
  private pool = new Uint32Array(1 << 16);
  private poolLen = 0;
  /** Per shape: where its sequence starts in pool; start[k + 1] is where it ends. */
  private start: number[] = [0];
  private table = new Int32Array(1 << 12).fill(-1);
  private seq = new Uint32Array(64);
  readonly t: TypeIds;

  /** `scratch`: where to take the per-string table from (see ScratchPool). */
  constructor(private readonly s: HeapSnapshot, scratch?: ScratchPool) {
    this.t = typeIds(s);
    this.objectName = scratch ? scratch.i8(s.strings.count) : new Int8Array(s.strings.count);
  }

  get count(): number {
    return this.start.length - 1;
  }

  /** The property-edge name indices of shape k. */
  names(k: number): Uint32Array {
    return this.pool.subarray(this.start[k], this.start[k + 1]);
  }

  /** Is string `idx` 'Object', the name of plain objects? Decoded once per string. */
  isObjectName(idx: number): boolean {
    let plain = this.objectName[idx];
    if (plain === 0) this.objectName[idx] = plain = this.s.strings.get(idx) === 'Object' ? 1 : -1;
    return plain > 0;
  }

  /** The node's shape id, or -1 when it is not a plain object. */
  of(node: number): number {
    const s = this.s;
    if (s.nodeType[node] !== this.t.object || !this.isObjectName(s.nodeName[node])) return -1;
    const { firstEdge, edgeType, edgeName } = s;
    const eProperty = this.t.eProperty;
    let seq = this.seq;
    let m = 0;
    let h = 0x811c9dc5;
    for (let e = firstEdge[node], end = firstEdge[node + 1]; e < end; e++) {
      if (edgeType[e] !== eProperty) continue;
      const name = edgeName[e];
      if (m === seq.length) {
        const grown = new Uint32Array(m * 2);
        grown.set(seq);
        this.seq = seq = grown;
      }
      seq[m++] = name;
      h = Math.imul(h ^ name, 0x01000193);
    }
    h = Math.imul(h ^ m, 0x85ebca6b);
    h ^= h >>> 13;
    const table = this.table;
    const mask = table.length - 1;
    const pool = this.pool;
    const start = this.start;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const k = table[slot];
      if (k === -1) {
        table[slot] = this.add(seq, m);
        return table[slot];
      }
      const from = start[k];
      if (start[k + 1] - from !== m) continue;
      let same = true;
      for (let j = 0; j < m; j++) {
        if (pool[from + j] !== seq[j]) {
          same = false;
          break;
        }
      }
      if (same) return k;
    }
  }

  private add(seq: Uint32Array, m: number): number {
    const k = this.count;
    if (this.poolLen + m > this.pool.length) {
      const grown = new Uint32Array(Math.max(this.pool.length * 2, this.poolLen + m));
      grown.set(this.pool.subarray(0, this.poolLen));
      this.pool = grown;
    }
    this.pool.set(seq.subarray(0, m), this.poolLen);
    this.poolLen += m;
    this.start.push(this.poolLen);
    if ((k + 1) * 2 > this.table.length) this.rehash();
    return k;
  }

  private rehash(): void {
    const table = new Int32Array(this.table.length * 2).fill(-1);
    const mask = table.length - 1;
    for (let k = 0; k < this.count; k++) {
      const names = this.names(k);
      let h = 0x811c9dc5;
      for (let j = 0; j < names.length; j++) h = Math.imul(h ^ names[j], 0x01000193);
      h = Math.imul(h ^ names.length, 0x85ebca6b);
      h ^= h >>> 13;
      let slot = h & mask;
      while (table[slot] !== -1) slot = (slot + 1) & mask;
      table[slot] = k;
    }
    this.table = table;
  }
}

/**
 * DevTools' interface inference: name each plain object by its first property names ('{a, b}', at
 * most 120 characters, __proto__ left out); names shared by at least max(2, objects / 1000) objects
 * become definitions, most popular first. With `shapeOf`, each node's shape id (-1: not a plain
 * object; stored as 0xffff in a Uint16Array, where ids from 0xffff on are cut) is written there, for the matcher: classify() saves the second walk over every object's edges.
 */
export function inferInterfaces(
  s: HeapSnapshot, shapes: PropertyShapes = new PropertyShapes(s), shapeOf?: Int32Array | Uint16Array,
): InterfaceDefinition[] {
  // Objects per shape, in order of first appearance (the order DevTools' Map of candidates keeps).
  const perShape: number[] = [];
  let total = 0;
  for (let node = 0; node < s.nodeCount; node++) {
    const k = shapes.of(node);
    if (shapeOf) shapeOf[node] = k;
    if (k < 0) continue;
    total++;
    perShape[k] = (perShape[k] ?? 0) + 1;
  }
  const formatted = new Map<number, string | null>(); // null: __proto__
  const candidates = new Map<string, { name: string; properties: string[]; count: number }>();
  for (let k = 0; k < shapes.count; k++) {
    let name = '{';
    const props: number[] = [];
    const names = shapes.names(k);
    for (let j = 0; j < names.length; j++) {
      const idx = names[j];
      let f = formatted.get(idx);
      if (f === undefined) {
        const raw = s.strings.get(idx);
        f = raw === '__proto__' ? null : formatPropertyName(raw);
        formatted.set(idx, f);
      }
      if (f === null) continue;
      if (name.length > MIN_INTERFACE_PROPERTY_COUNT && name.length + f.length > MAX_INTERFACE_NAME_LENGTH) break;
      if (name.length !== 1) name += ', ';
      name += f;
      props.push(idx);
    }
    if (props.length === 0) continue;
    name += '}';
    const c = candidates.get(name);
    if (c) c.count += perShape[k];
    else candidates.set(name, { name, properties: props.map((i) => s.strings.get(i)), count: perShape[k] });
  }
  const sorted = [...candidates.values()].sort((a, b) => b.count - a.count);
  const min = Math.max(MIN_OBJECT_COUNT_PER_INTERFACE, total / MIN_OBJECT_PROPORTION_PER_INTERFACE);
  const out: InterfaceDefinition[] = [];
  for (const c of sorted) {
    if (c.count < min) break;
    out.push({ name: c.name, properties: c.properties });
  }
  return out;
}

interface Trie {
  next: Map<number, Trie>;
  greatestNext: number;
  match: { name: string; count: number; index: number } | null;
}

/**
 * Matches plain objects against interface definitions as DevTools' applyInterfaceDefinitions: the
 * best definition whose properties the object all has (most properties, then earliest). Property
 * names are mapped to dense ids; any consistent order gives the same matches as DevTools' string
 * order. Returns, per plain object, the matched definition's name or null; computed once per shape.
 * The returned function takes the node's shape id when the caller has it (inferInterfaces' shapeOf).
 */
export function interfaceMatcher(
  s: HeapSnapshot, defs: InterfaceDefinition[], shapes: PropertyShapes = new PropertyShapes(s),
): (node: number, shape?: number) => string | null {
  const ids = new Map<string, number>();
  const root: Trie = { next: new Map(), greatestNext: -1, match: null };
  defs.forEach((def, index) => {
    const props = def.properties.map((p) => {
      let id = ids.get(p);
      if (id === undefined) ids.set(p, (id = ids.size));
      return id;
    }).sort((a, b) => a - b);
    let cur = root;
    for (const p of props) {
      let nx = cur.next.get(p);
      if (!nx) {
        nx = { next: new Map(), greatestNext: -1, match: null };
        cur.next.set(p, nx);
        if (cur.greatestNext < p) cur.greatestNext = p;
      }
      cur = nx;
    }
    cur.match ??= { name: def.name, count: props.length, index };
  });
  const better = (a: Trie['match'], b: Trie['match']): Trie['match'] => {
    if (!b) return a;
    if (!a) return b;
    if (a.count !== b.count) return a.count > b.count ? a : b;
    return a.index <= b.index ? a : b;
  };
  // Per property-name string index: its id + 1, or -1 in no definition. A Map: only the names of
  // shapes are looked up (a per-string array was 4 B per string, all touched by its fill).
  const propId = new Map<number, number>();
  // Reused between calls: a new array per property (as DevTools' code has it) made garbage enough
  // to grow V8's young generation by ~5 MB on a 2.2M-node heap.
  let props = new Int32Array(64);
  let states: Trie[] = [];
  let spare: Trie[] = [];
  const added: Trie[] = [];
  const match = (names: Uint32Array): string | null => {
    let m = 0;
    for (let j = 0; j < names.length; j++) {
      const idx = names[j];
      let id = propId.get(idx);
      if (id === undefined) propId.set(idx, (id = (ids.get(s.strings.get(idx)) ?? -2) + 1));
      if (id <= 0) continue;
      if (m === props.length) {
        const grown = new Int32Array(m * 2);
        grown.set(props);
        props = grown;
      }
      props[m++] = id - 1;
    }
    props.subarray(0, m).sort(); // numeric ascending: a typed array's default order
    states.length = 0;
    states.push(root);
    let best = root.match;
    for (let i = 0; i < m; i++) {
      const p = props[i];
      // The states that can still advance past p, then the ones p leads to.
      const next = spare;
      next.length = 0;
      added.length = 0;
      for (let j = 0; j < states.length; j++) {
        const st = states[j];
        if (st.greatestNext >= 0 && p < st.greatestNext) next.push(st);
        const nx = st.next.get(p);
        if (nx) {
          added.push(nx);
          best = better(best, nx.match);
        }
      }
      for (let j = 0; j < added.length; j++) next.push(added[j]);
      spare = states;
      states = next;
      if (states.length === 0) break;
    }
    return best ? best.name : null;
  };
  const memo: (string | null | undefined)[] = [];
  return (node, k = shapes.of(node)) => {
    if (k < 0) return null;
    let m = memo[k];
    if (m === undefined) memo[k] = m = match(shapes.names(k));
    return m;
  };
}
