/**
 * Pure analyses over a snapshot and its dominator tree: DevTools' class of every node (with its
 * interface inference for plain objects and its location-split class keys), the Summary view's
 * per-class rows, instances of a class and dominator-tree children.
 *
 * DevTools reference: HeapSnapshot.ts calculateObjectNames, inferInterfaceDefinitions,
 * applyInterfaceDefinitions, classKeyInternal, buildAggregates, calculateClassesRetainedSize.
 */
import { baseClassName, computeDistances, NO_DISTANCE, NS_INTERFACE, NS_RAW, propagateDetachedness, typeIds } from './graph';
import { retainedSizes, type Dominators } from './dominators';
import { inferInterfaces, interfaceMatcher, PropertyShapes, type InterfaceDefinition } from './interfaces';
import type { HeapSnapshot, NumberArray } from './types';
import type { ScratchPool } from './scratch';

export { inferInterfaces, type InterfaceDefinition };

/**
 * The snapshot's optional "locations" section with node ORDINALS: [ordinal, scriptId, line, column]
 * repeated. DevTools splits 'object' classes by the location of their constructor.
 */
export type SnapshotWithLocations = HeapSnapshot & { locations?: Uint32Array };

/** In the shape ids classify() keeps in a Uint16Array: not a plain object (inferInterfaces' -1). */
const NO_SHAPE = 0xffff;
/** Past any node ordinal (they are below 2^32 - 1). */
const MAX_NODE = 2 ** 32;
/** In classify()'s 16-bit class ids by name: not known yet. Class ids reaching it widen classOf. */
const UNKNOWN_ID = 0xffff;

export interface Classes {
  /** Per node: class id; a Uint16Array while there are fewer than 65535 classes, else Uint32Array. */
  classOf: Uint16Array | Uint32Array;
  /** Per class id: the name DevTools shows ('Foo', '(array)', '{a, b}', '(system)', …). */
  names: string[];
  /** Per class id: DevTools' public class key: ',Name', or 'scriptId,line,column,Name' for located objects. */
  keys: string[];
  /** The interface definitions applied to plain objects. */
  interfaces: InterfaceDefinition[];
}

/**
 * DevTools' class of every node. Class ids follow DevTools' internal class keys: the name string
 * (DevTools' own names such as '(system)' or 'Function' are separate from equal names found in the
 * snapshot), or, for 'object' nodes with a location, 'scriptId,line,column,Name'.
 */
export function classify(
  s: SnapshotWithLocations, opts: { interfaces?: InterfaceDefinition[]; scratch?: ScratchPool } = {},
): Classes {
  const t = typeIds(s);
  const n = s.nodeCount;
  const pool = opts.scratch;
  const detached = propagateDetachedness(s, t, pool);
  const shapes = new PropertyShapes(s, pool);
  // Class ids in 16 bits while there are fewer than 65535 classes (see widen below); every entry is
  // written in the loop below.
  let classOf: Uint16Array | Uint32Array = pool ? pool.u16(n) : new Uint16Array(n);
  // Until the loop below overwrites it, classOf holds each node's shape id (NO_SHAPE: none) when
  // inferInterfaces ran here: the matcher then needs no second walk over every object's edges. With
  // 65535 shapes or more the ids do not fit, and the matcher finds each object's shape again.
  const shapes16 = classOf;
  const interfaces = opts.interfaces ?? inferInterfaces(s, shapes, shapes16);
  const shapeOf = opts.interfaces || shapes.count >= NO_SHAPE ? undefined : shapes16;
  const matchInterface = interfaces.length ? interfaceMatcher(s, interfaces, shapes) : () => null;

  const names: string[] = [];
  const keys: string[] = [];
  const byKey = new Map<string, number>();
  // From the 65535th class on, class ids take 32 bits: the ids so far are copied over (the shape
  // ids still to be read stay in shapes16), and so are the ids by name.
  const widen = (): void => {
    const wide = pool ? pool.u32(n) : new Uint32Array(n);
    wide.set(classOf);
    classOf = wide;
    const names32 = new Int32Array(byNameIndex.length);
    for (let i = 0; i < names32.length; i++) names32[i] = byNameIndex[i] === UNKNOWN_ID ? -1 : byNameIndex[i];
    pool?.give(byNameIndex);
    byNameIndex = names32;
    unknownId = -1;
  };
  const idFor = (key: string, name: string, publicKey: string): number => {
    let id = byKey.get(key);
    if (id === undefined) {
      id = names.length;
      if (id === UNKNOWN_ID && classOf instanceof Uint16Array) widen();
      byKey.set(key, id);
      names.push(name);
      keys.push(publicKey);
    }
    return id;
  };
  // Object/native classes by name index (the common case), -1 unknown.
  // 16 bits while class ids are (UNKNOWN_ID: not yet known), widened with classOf.
  let byNameIndex: Uint16Array | Int32Array = (pool ? pool.u16(s.strings.count) : new Uint16Array(s.strings.count)).fill(UNKNOWN_ID);
  let unknownId = UNKNOWN_ID;
  const byType = new Int32Array(s.nodeTypes.length).fill(-1);
  const interfaceIds = new Map<string, number>();
  const loc = s.locations;
  // The entries of s.locations in node order (V8 does not write them so), walked by a cursor along
  // with the nodes: a per-node index would take 4 B per node, touched on most pages of a real heap.
  const byNode = loc ? locationsByNode(loc, pool) : new Uint32Array(0);
  let locPos = 0;
  // The node of the entry at locPos (past the last node when none is left): most nodes have no
  // entry, and then one comparison with it says so.
  let locNode = byNode.length > 0 ? loc![byNode[0]] : MAX_NODE;
  // Located classes: an open-addressing table over (scriptId, line, column, class id), so the key
  // string is built once per distinct class, not once per node.
  let cap = 1024;
  let keysTab = new Uint32Array(cap * 4);
  let idsTab = new Int32Array(cap).fill(-1);
  let used = 0;
  const slotOf = (a: number, b: number, c: number, d: number): number => {
    let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
    h = Math.imul(h ^ c ^ (h >>> 15), 0x27d4eb2f) ^ Math.imul(d + 0x165667b1, 0x9e3779b1);
    let slot = (h ^ (h >>> 13)) & (cap - 1);
    while (idsTab[slot] !== -1) {
      const k = slot * 4;
      if (keysTab[k] === a && keysTab[k + 1] === b && keysTab[k + 2] === c && keysTab[k + 3] === d) return slot;
      slot = (slot + 1) & (cap - 1);
    }
    return slot;
  };
  const locatedId = (i: number, id: number): number => {
    const a = loc![i + 1], b = loc![i + 2], c = loc![i + 3];
    let slot = slotOf(a, b, c, id);
    if (idsTab[slot] !== -1) return idsTab[slot];
    const key = `${a},${b},${c},${names[id]}`;
    const lid = idFor(key, names[id], key);
    if (++used * 2 > cap) {
      const oldKeys = keysTab, oldIds = idsTab;
      cap *= 2;
      keysTab = new Uint32Array(cap * 4);
      idsTab = new Int32Array(cap).fill(-1);
      for (let j = 0; j < oldIds.length; j++) {
        if (oldIds[j] === -1) continue;
        const k = j * 4;
        const to = slotOf(oldKeys[k], oldKeys[k + 1], oldKeys[k + 2], oldKeys[k + 3]);
        keysTab.set(oldKeys.subarray(k, k + 4), to * 4);
        idsTab[to] = oldIds[j];
      }
      slot = slotOf(a, b, c, id);
    }
    keysTab.set([a, b, c, id], slot * 4);
    idsTab[slot] = lid;
    return lid;
  };
  const { nodeType, nodeName } = s;
  const objectType = t.object;
  const nativeType = t.native;

  for (let node = 0; node < n; node++) {
    const type = nodeType[node];
    let id: number;
    if (type === objectType || type === nativeType) {
      const idx = nodeName[node];
      const isDetached = type === nativeType && detached[node] === 2;
      id = isDetached ? unknownId : byNameIndex[idx];
      if (id === unknownId) {
        const c = baseClassName(s, t, node, isDetached);
        id = idFor(`${c.ns}:${c.ns === NS_RAW ? idx : c.name}`, c.name, ',' + c.name);
        if (!isDetached) byNameIndex[idx] = id;
      }
      if (type === objectType) {
        if (shapes.isObjectName(idx)) {
          let iface: string | null;
          if (shapeOf) {
            const k = shapeOf[node];
            iface = matchInterface(node, k === NO_SHAPE ? -1 : k);
          } else iface = matchInterface(node);
          if (iface !== null) {
            // Looked up by the name itself: building the key per object made garbage enough to
            // grow V8's young generation by ~5 MB on a 2.2M-node heap.
            let iid = interfaceIds.get(iface);
            if (iid === undefined) interfaceIds.set(iface, (iid = idFor(`${NS_INTERFACE}:${iface}`, iface, ',' + iface)));
            id = iid;
          }
        }
        if (loc) {
          // Of several entries for one node, the last counts.
          let at = -1;
          if (locNode <= node) {
            while (locNode < node) locNode = ++locPos < byNode.length ? loc[byNode[locPos]] : MAX_NODE;
            while (locNode === node) {
              at = byNode[locPos];
              locNode = ++locPos < byNode.length ? loc[byNode[locPos]] : MAX_NODE;
            }
          }
          if (at >= 0) id = locatedId(at, id);
        }
      }
    } else {
      id = byType[type];
      if (id < 0) {
        const c = baseClassName(s, t, node, false);
        byType[type] = id = idFor(`${c.ns}:${c.name}`, c.name, ',' + c.name);
      }
    }
    classOf[node] = id;
  }
  pool?.give(detached);
  pool?.give(byNode);
  pool?.give(byNameIndex);
  if (classOf !== shapes16) pool?.give(shapes16);
  return { classOf, names, keys, interfaces };
}

/**
 * The offsets of the entries of `loc` (4 numbers each, the node ordinal first) ordered by node, and
 * for one node in their order in `loc`: a stable radix sort on the ordinal's two 16-bit halves.
 */
function locationsByNode(loc: Uint32Array, pool?: ScratchPool): Uint32Array {
  const count = loc.length >>> 2;
  const u32 = (size: number): Uint32Array => (pool ? pool.u32(size) : new Uint32Array(size));
  let a = u32(count);
  let b = u32(count);
  for (let k = 0; k < count; k++) a[k] = 4 * k;
  const starts = new Uint32Array(65537);
  for (let shift = 0; shift < 32; shift += 16) {
    starts.fill(0);
    for (let k = 0; k < count; k++) starts[((loc[a[k]] >>> shift) & 0xffff) + 1]++;
    for (let d = 1; d <= 65536; d++) starts[d] += starts[d - 1];
    for (let k = 0; k < count; k++) b[starts[(loc[a[k]] >>> shift) & 0xffff]++] = a[k];
    const t = a;
    a = b;
    b = t;
  }
  pool?.give(b);
  return a;
}

export interface ClassRow {
  /** DevTools' class key (see Classes.keys). */
  key: string;
  name: string;
  count: number;
  selfSize: number;
  retainedSize: number;
  /** Smallest distance from the root among the instances (NO_DISTANCE if none is reachable). */
  distance: number;
}

export interface SummaryOptions {
  /** V8's raw self sizes instead of DevTools' (no owned arrays/hidden nodes moved into their owner). */
  raw?: boolean;
  classes?: Classes;
  distances?: Int32Array;
}

/**
 * The Summary view: per class, the instances with a non-zero self size, their summed self size, and
 * as retained size the sum over instances not dominated by another counted instance of the same
 * class. Self sizes are dom.selfSize (DevTools' owned-size transfer), or V8's with `raw: true`, in
 * which case retained sizes are recomputed from the raw sizes on the same dominator tree.
 * Sorted by retained size, largest first.
 */
export function classSummary(s: SnapshotWithLocations, dom: Dominators, opts: SummaryOptions = {}): ClassRow[] {
  const classes = opts.classes ?? classify(s);
  const dist = opts.distances ?? computeDistances(s);
  const size = opts.raw ? s.nodeSelfSize : dom.selfSize;
  const retained = opts.raw ? retainedSizes(dom, s.nodeSelfSize) : dom.retainedSize;
  const { classOf } = classes;
  const k = classes.names.length;
  const count = new Float64Array(k);
  const self = new Float64Array(k);
  const ret = new Float64Array(k);
  const minDist = new Int32Array(k).fill(0x7fffffff);
  const n = s.nodeCount;
  for (let i = 0; i < n; i++) {
    const sz = size[i];
    if (sz === 0) continue;
    const c = classOf[i];
    count[c]++;
    self[c] += sz;
    if (dist[i] < minDist[c]) minDist[c] = dist[i];
  }

  // Walk the dominator tree; an instance counts unless an ancestor of its class counted.
  const active = new Uint32Array(k);
  // Per level of the walk: the node, the next of its children and whether it counted. It grows as
  // the tree goes deep (16 levels on a 2.2M-node heap) instead of taking 9 B per node up front.
  let stack = new Uint32Array(3 * 4096);
  const { firstDominated, dominated } = dom;
  let top = 0;
  stack[0] = 0;
  stack[1] = firstDominated[0];
  stack[2] = 0;
  if (size[0] !== 0) { // never in V8 snapshots: the root is synthetic and empty
    ret[classOf[0]] += retained[0];
    active[classOf[0]]++;
  }
  while (top >= 0) {
    const at = 3 * top;
    const v = stack[at];
    const pos = stack[at + 1];
    if (pos < firstDominated[v + 1]) {
      stack[at + 1] = pos + 1;
      const w = dominated[pos];
      const c = classOf[w];
      const counted = size[w] !== 0 && active[c] === 0;
      if (counted) {
        ret[c] += retained[w];
        active[c]++;
      }
      if (at + 5 >= stack.length) {
        const bigger = new Uint32Array(2 * stack.length);
        bigger.set(stack);
        stack = bigger;
      }
      top++;
      stack[at + 3] = w;
      stack[at + 4] = firstDominated[w];
      stack[at + 5] = counted ? 1 : 0;
    } else {
      if (stack[at + 2] !== 0) active[classOf[v]]--;
      top--;
    }
  }

  const rows: ClassRow[] = [];
  for (let c = 0; c < k; c++) {
    if (count[c] === 0) continue;
    rows.push({
      key: classes.keys[c], name: classes.names[c], count: count[c], selfSize: self[c], retainedSize: ret[c],
      distance: minDist[c] === 0x7fffffff ? NO_DISTANCE : minDist[c],
    });
  }
  return rows.sort((a, b) => b.retainedSize - a.retainedSize || b.selfSize - a.selfSize || (a.name < b.name ? -1 : 1));
}

/**
 * The instances of a class (by the name DevTools shows), in ordinal order. With `selfSize` (e.g.
 * dom.selfSize), only those with a non-zero size: the rows the Summary view expands to.
 */
export function instancesOf(
  s: SnapshotWithLocations, name: string, opts: { classes?: Classes; selfSize?: NumberArray } = {},
): Uint32Array {
  const classes = opts.classes ?? classify(s);
  const wanted = new Uint8Array(classes.names.length);
  classes.names.forEach((nm, c) => { if (nm === name) wanted[c] = 1; });
  const out: number[] = [];
  const size = opts.selfSize;
  for (let i = 0; i < s.nodeCount; i++) {
    if (wanted[classes.classOf[i]] && (!size || size[i] !== 0)) out.push(i);
  }
  return Uint32Array.from(out);
}

/** The nodes a node immediately dominates, largest retained size first (then by ordinal). */
export function dominatedChildren(s: HeapSnapshot, dom: Dominators, node: number): Uint32Array {
  if (node < 0 || node >= s.nodeCount) throw new RangeError(`no node ${node} in ${s.source}`);
  const kids = dom.dominated.slice(dom.firstDominated[node], dom.firstDominated[node + 1]);
  const r = dom.retainedSize;
  return kids.sort((a, b) => r[b] - r[a] || a - b);
}
