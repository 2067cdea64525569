/**
 * The heap engine (graph, dominators, summary): DevTools' rules on graphs built in code, checks
 * against brute-force reference computations on random graphs, and Chrome DevTools' own heap
 * snapshot worker as the oracle on real snapshots (an HTTP server's heap, the TypeScript compiler's).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildDominators, buildDominatorsParallel, essentialEdges, ownedSelfSizes, pageOwnedNodes, retainedSizes,
} from '../src/heap/dominators';
import {
  BASE_SYSTEM_DISTANCE, buildRetainers, className, computeDistances, DETACHED, EphemeronNames, gcRoots, NO_DISTANCE,
  propagateDetachedness, typeIds,
} from '../src/heap/graph';
import { classify, classSummary, dominatedChildren, inferInterfaces, instancesOf, type SnapshotWithLocations } from '../src/heap/summary';
import {
  ensureDevTools, HTTP_SERVER_SCENARIO, readSnapshotJSON, runDevTools, SnapshotBuilder, TSC_SCENARIO, writeBuilderSnapshot,
  writeSnapshot, type OracleResult,
} from './heap-fixtures';

let dir = '';
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autopsy-heap-engine-')); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A V8-like skeleton: root →shortcut→ global (the user root), root →element→ (GC roots) → (Strong roots). */
function skeleton(): { b: SnapshotBuilder; global: number; gcRoots: number; strong: number } {
  const b = new SnapshotBuilder();
  const global = b.node('object', 'global', 40);
  const gc = b.node('synthetic', '(GC roots)', 0);
  const strong = b.node('synthetic', '(Strong roots)', 0);
  b.edge(0, global, 'shortcut', 'global').edge(0, gc, 'element', 1).edge(gc, strong, 'element', 1);
  return { b, global, gcRoots: gc, strong };
}

/** The rules in one graph: weak, shortcut, self, WeakMap, page-owned, unreachable, owned arrays. */
function rulesGraph() {
  const { b, global, strong } = skeleton();
  const X = b.node('object', 'Foo', 10);
  const Y = b.node('object', 'Foo', 10);
  const Z = b.node('object', 'Bar', 20);
  const W = b.node('object', 'Bar', 20);
  b.edge(global, X, 'property', 'x').edge(X, Y, 'property', 'y').edge(X, X, 'property', 'self');
  b.edge(global, Z, 'weak', 'z').edge(X, Z, 'property', 'z'); // weak edge ignored: X dominates Z
  b.edge(X, W, 'shortcut', 'w').edge(global, W, 'property', 'w'); // shortcut from a non-root ignored
  // WeakMap: value V held by the table T and by the key K; only K's edge retains.
  const T = b.node('hidden', 'system / EphemeronHashTable', 32);
  const K = b.node('object', 'Key', 8);
  const V = b.node('object', 'Value', 16);
  const names = (i: number) => `${i} / part of key (Key @${b.nodes[K].id}) -> value (Value @${b.nodes[V].id}) pair in WeakMap (table @${b.nodes[T].id})`;
  const o1 = b.node('object', 'Holder', 8);
  b.edge(global, T, 'internal', 'table').edge(global, o1, 'property', 'o1').edge(o1, K, 'property', 'k');
  b.edge(T, V, 'internal', names(1)).edge(K, V, 'internal', names(2));
  // Page-owned: S hangs off the GC roots only; its edge into the page's P does not retain.
  const S = b.node('object', 'SystemThing', 8);
  const P = b.node('object', 'PageThing', 8);
  b.edge(strong, S, 'element', 1).edge(S, P, 'property', 'p').edge(global, P, 'property', 'p');
  const Q = b.node('object', 'OnlySystem', 8);
  b.edge(S, Q, 'property', 'q');
  // Unreachable: U3 only weakly held (with a child U4); U1 <-> U2 hold only each other.
  const U1 = b.node('object', 'Cycle', 4);
  const U2 = b.node('object', 'Cycle', 4);
  const U3 = b.node('object', 'WeakOnly', 4);
  const U4 = b.node('object', 'WeakChild', 4);
  b.edge(U1, U2, 'property', 'a').edge(U2, U1, 'property', 'b').edge(global, U3, 'weak', 'u').edge(U3, U4, 'property', 'c');
  // Owned sizes: O's array and its hidden backing store move into O; a shared array stays.
  const O = b.node('object', 'Owner', 10);
  const A = b.node('array', '', 100);
  const H = b.node('hidden', 'system / Thing', 5);
  const SH = b.node('array', '', 30);
  const E = b.node('native', 'system / ExternalStringData', 7);
  b.edge(global, O, 'property', 'o').edge(O, A, 'internal', 'elements').edge(A, H, 'element', 0);
  b.edge(O, SH, 'internal', 'a').edge(X, SH, 'internal', 'b').edge(O, E, 'internal', 'ext');
  const GA = b.node('array', '', 50); // owned by the synthetic (Strong roots): stays
  b.edge(strong, GA, 'element', 2);
  return { b, global, strong, X, Y, Z, W, T, K, V, o1, S, P, Q, U1, U2, U3, U4, O, A, H, SH, E, GA };
}

describe('heap engine: DevTools rules on built graphs', () => {
  it('buildRetainers: CSR of reverse edges, in edge order', () => {
    const b = new SnapshotBuilder();
    const a = b.node('object', 'A', 1);
    const c = b.node('object', 'C', 1);
    const t = b.node('object', 'T', 1);
    b.edge(0, a).edge(0, c).edge(a, t, 'property', 'x').edge(a, t, 'property', 'y').edge(c, t, 'property', 'z');
    const s = b.build();
    const r = buildRetainers(s);
    assert.deepEqual([...r.firstRetainer], [0, 0, 1, 2, 5]);
    assert.deepEqual([...r.retainingNodes.subarray(2, 5)], [a, a, c]);
    assert.deepEqual([...r.retainingEdges.subarray(2, 5)], [2, 3, 4]);
  });

  it('className: DevTools names per node type, detached natives, <tag> names', () => {
    const b = new SnapshotBuilder();
    const ids: Record<string, number> = {
      hidden: b.node('hidden', 'system / Map', 1), array: b.node('array', 'arr', 1), string: b.node('string', 'hello', 1),
      cons: b.node('concatenated string', 'ab', 1), sliced: b.node('sliced string', 'b', 1), object: b.node('object', 'Foo', 1),
      code: b.node('code', 'fn', 1), closure: b.node('closure', 'fn', 1), regexp: b.node('regexp', '/a/', 1),
      number: b.node('number', 'heap number', 1), symbol: b.node('symbol', 'sym', 1), shape: b.node('object shape', 's', 1),
      div: b.node('native', '<div id="a">', 1), det: b.node('native', 'Node / Thing', 1, { detachedness: DETACHED }),
      detKid: b.node('native', 'Child', 1), att: b.node('native', 'Root', 1, { detachedness: 1 }), attKid: b.node('native', 'Kid', 1),
    };
    b.edge(ids.det, ids.detKid).edge(ids.att, ids.attKid).edge(ids.att, ids.detKid, 'weak', 'w');
    const s = b.build();
    const detached = propagateDetachedness(s);
    const name = (k: string) => className(s, ids[k], { detached });
    assert.deepEqual(
      Object.keys(ids).map(name),
      ['(system)', '(array)', '(string)', '(concatenated string)', '(sliced string)', 'Foo', '(compiled code)', 'Function',
        'RegExp', '(number)', '(symbol)', '(object shape)', '<div>', 'Detached Node / Thing', 'Detached Child', 'Root', 'Kid'],
    );
    const classes = classify(s);
    assert.equal(className(s, ids.detKid, { classes }), 'Detached Child');
  });

  it('dominators: weak, shortcut and self edges, WeakMap table → value, page-owned, unreachable', () => {
    const g = rulesGraph();
    const s = g.b.build();
    const dom = buildDominators(s);
    const idom = (n: number) => dom.idom[n];
    assert.equal(idom(g.X), g.global);
    assert.equal(idom(g.Y), g.X);
    assert.equal(idom(g.Z), g.X, 'the weak global → Z edge does not retain');
    assert.equal(idom(g.W), g.global, 'the X → W shortcut does not retain');
    assert.equal(idom(g.V), g.K, "the table's edge to the value does not retain, the key's does");
    assert.equal(idom(g.P), g.global, 'a non-page-owned node does not retain a page-owned one');
    assert.equal(idom(g.Q), g.S);
    for (const u of [g.U1, g.U2, g.U3]) assert.equal(idom(u), 0);
    assert.equal(idom(g.U4), g.U3);
    assert.equal(dom.unreachable, 4);
    // Retained sizes: DevTools' owned sizes summed up the tree.
    assert.equal(dom.selfSize[g.O], 10 + 100 + 5 + 7);
    assert.equal(dom.retainedSize[g.O], 122);
    assert.equal(dom.retainedSize[g.X], 10 + 10 + 20, 'X, Y, Z; not the array X shares with O');
    assert.equal(idom(g.SH), g.global);
    assert.equal(dom.retainedSize[0], [...dom.selfSize].reduce((a, b) => a + b, 0));
    // The essential-edge bits behind it.
    const bits = essentialEdges(s, pageOwnedNodes(s), new EphemeronNames(s));
    const ess = (from: number, to: number, type: string) => {
      for (let e = s.firstEdge[from]; e < s.firstEdge[from + 1]; e++) {
        if (s.edgeTo[e] === to && s.edgeTypes[s.edgeType[e]] === type) return ((bits[e >>> 3] >>> (e & 7)) & 1) === 1;
      }
      throw new Error('no such edge');
    };
    assert.equal(ess(0, g.global, 'shortcut'), true, 'shortcut edges from the root retain');
    assert.equal(ess(g.X, g.X, 'property'), false);
    assert.equal(ess(g.T, g.V, 'internal'), false);
    assert.equal(ess(g.K, g.V, 'internal'), true);
  });

  it('ownedSelfSizes: arrays and hidden nodes of one owner move into it; shared and synthetic-owned ones stay', () => {
    const g = rulesGraph();
    const s = g.b.build();
    const sizes = ownedSelfSizes(s);
    assert.equal(sizes[g.O], 122);
    for (const n of [g.A, g.H, g.E]) assert.equal(sizes[n], 0);
    assert.equal(sizes[g.SH], 30, 'two owners');
    assert.equal(sizes[g.GA], 50, 'owned by a synthetic root');
    assert.equal(sizes[g.T], 0, 'the WeakMap table hangs off global alone');
    assert.equal(sizes[g.global], 40 + 32);
    assert.equal(sizes.reduce((a, b) => a + b, 0), Array.from(s.nodeSelfSize).reduce((a, b) => a + b, 0));
    // A snapshot without user roots (internals exposed) keeps V8's sizes.
    const b = new SnapshotBuilder();
    const o = b.node('object', 'O', 1);
    const a = b.node('array', '', 9);
    const gc = b.node('synthetic', '(GC roots)', 0);
    b.edge(0, gc, 'element', 1).edge(gc, o, 'element', 1).edge(o, a, 'internal', 'elements');
    assert.deepEqual([...ownedSelfSizes(b.build())], [0, 1, 9, 0]);
  });

  it('distances: user roots first, system roots from BASE_SYSTEM_DISTANCE, WeakMap values at max(table, key) + 1', () => {
    const g = rulesGraph();
    const s = g.b.build();
    const d = computeDistances(s);
    assert.equal(d[0], BASE_SYSTEM_DISTANCE);
    assert.equal(d[g.global], 1);
    assert.equal(d[g.X], 2);
    assert.equal(d[g.T], 2);
    assert.equal(d[g.K], 3);
    assert.equal(d[g.V], 4, 'via the key (3 + 1), not the table (2 + 1)');
    assert.equal(d[g.S], BASE_SYSTEM_DISTANCE + 3);
    assert.equal(d[g.P], 2);
    assert.equal(d[g.U3], NO_DISTANCE, 'weak edges do not count');
    assert.equal(d[g.U1], NO_DISTANCE);
    const roots = gcRoots(s);
    assert.deepEqual([...roots.user], [g.global]);
    assert.deepEqual([...roots.gcSubroots], [g.strong]);
  });

  it('classify: class ids in a Uint16Array, widened to 32 bits from the 65536th class on', () => {
    const { b, global } = skeleton();
    const plain = b.node('object', 'Object', 12);
    b.edge(global, plain, 'property', 'p').edge(plain, global, 'property', 'a');
    for (let i = 0; i < 70_000; i++) b.edge(global, b.node('object', `C${i}`, 8), 'property', `c${i}`);
    const last = b.node('object', 'Object', 12);
    b.edge(global, last, 'property', 'q').edge(last, global, 'property', 'a');
    const s = b.build();
    const classes = classify(s);
    assert.ok(classes.classOf instanceof Uint32Array);
    const name = (n: number) => classes.names[classes.classOf[n]];
    assert.equal(name(plain), '{a}');
    assert.equal(name(last), '{a}', 'the shape id kept for a node after the widening');
    assert.equal(name(s.nodeCount - 2), 'C69999');
    assert.ok(classify(skeleton().b.build()).classOf instanceof Uint16Array);
  });

  it('classSummary: counts non-zero sizes; retained size over instances not dominated by one of their class', () => {
    const g = rulesGraph();
    const s = g.b.build();
    const dom = buildDominators(s);
    const rows = classSummary(s, dom);
    const row = (name: string) => rows.find((r) => r.name === name)!;
    assert.deepEqual(row('Foo'), { key: ',Foo', name: 'Foo', count: 2, selfSize: 20, retainedSize: dom.retainedSize[g.X], distance: 2 });
    assert.equal(row('Bar').retainedSize, 40);
    assert.equal(row('(array)').count, 2, 'the owned array (now 0 bytes) is not counted');
    assert.equal(row('(array)').selfSize, 80);
    assert.equal(rows.find((r) => r.name === '(synthetic)'), undefined, 'zero-size nodes are not objects');
    const raw = classSummary(s, dom, { raw: true });
    const rawRow = (name: string) => raw.find((r) => r.name === name)!;
    assert.equal(rawRow('(array)').count, 3);
    assert.equal(rawRow('(array)').selfSize, 180);
    assert.equal(rawRow('Owner').selfSize, 10);
    assert.equal(rawRow('Owner').retainedSize, 122, 'same tree, raw sizes: the owner still retains its array');
  });

  it('classify: interface names for plain objects shared by at least 2, located classes split', () => {
    const b = new SnapshotBuilder();
    const mk = (props: string[], cls = 'Object') => {
      const o = b.node('object', cls, 16);
      b.edge(0, o, 'element', o);
      for (const p of props) b.edge(o, b.node('string', p, 8), 'property', p);
      b.edge(o, o, 'property', '__proto__');
      return o;
    };
    const ab1 = mk(['a', 'b']), ba = mk(['b', 'a']), ab3 = mk(['a', 'b']), abd = mk(['a', 'd', 'b']), c = mk(['c']);
    const odd = mk(['x,y']);
    mk(['x,y']);
    const f1 = mk([], 'Foo'), f2 = mk([], 'Foo'), f3 = mk([], 'Foo');
    b.location(f1, 3, 10, 4).location(f2, 3, 10, 4).location(f3, 3, 20, 0);
    const s = b.build();
    // '{a, b}' (2 objects list a then b) and '{"x,y"}' (2) are defined; '{b, a}' and '{a, d, b}' had 1 each.
    assert.deepEqual(inferInterfaces(s).map((d) => d.name), ['{a, b}', '{"x,y"}']);
    const classes = classify(s);
    const name = (n: number) => classes.names[classes.classOf[n]];
    assert.deepEqual([ab1, ba, ab3, abd, c, odd].map(name), ['{a, b}', '{a, b}', '{a, b}', '{a, b}', 'Object', '{"x,y"}']);
    assert.equal(classes.keys[classes.classOf[f1]], '3,10,4,Foo');
    assert.equal(classes.classOf[f1], classes.classOf[f2]);
    assert.notEqual(classes.classOf[f1], classes.classOf[f3]);
    const rows = classSummary(s, buildDominators(s), { classes });
    assert.deepEqual(rows.filter((r) => r.name === 'Foo').map((r) => [r.key, r.count]).sort(), [['3,10,4,Foo', 2], ['3,20,0,Foo', 1]]);
    assert.deepEqual([...instancesOf(s, 'Foo', { classes })], [f1, f2, f3]);
    assert.deepEqual([...instancesOf(s, '{a, b}', { classes })], [ab1, ba, ab3, abd]);
  });

  it('dominatedChildren: largest retained size first', () => {
    const g = rulesGraph();
    const s = g.b.build();
    const dom = buildDominators(s);
    const kids = [...dominatedChildren(s, dom, g.global)];
    assert.deepEqual(new Set(kids), new Set([g.X, g.W, g.T, g.o1, g.P, g.O, g.SH]));
    for (let i = 1; i < kids.length; i++) assert.ok(dom.retainedSize[kids[i - 1]] >= dom.retainedSize[kids[i]]);
    assert.deepEqual([...dominatedChildren(s, dom, g.Y)], []);
    assert.throws(() => dominatedChildren(s, dom, s.nodeCount), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Reference computations on random graphs

function rng(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

const TYPES = ['object', 'object', 'object', 'array', 'hidden', 'closure', 'string', 'native'];
const EDGE_KINDS = ['property', 'property', 'element', 'internal', 'context', 'weak', 'shortcut', 'hidden'];
const nameFor = (type: string, k: number): string | number => (type === 'element' || type === 'hidden' ? k : `e${k}`);

/** A random heap with a V8-like root, every node reachable from the root over edges DevTools keeps. */
function randomHeap(seed: number, n: number) {
  const r = rng(seed);
  const { b, global, strong } = skeleton();
  const nodes: number[] = [];
  for (let i = 0; i < n; i++) {
    const type = TYPES[Math.floor(r() * TYPES.length)];
    nodes.push(b.node(type, type === 'object' ? `C${Math.floor(r() * 4)}` : `n${i}`, 1 + Math.floor(r() * 50)));
  }
  nodes.forEach((node, i) => {
    // A spanning edge keeps everything reachable: from the global object, a system root or an earlier node.
    const from = i === 0 ? global : r() < 0.1 ? strong : r() < 0.2 ? global : nodes[Math.floor(r() * i)];
    b.edge(from, node, from === strong ? 'element' : 'property', from === strong ? i : `s${i}`);
    for (let k = Math.floor(r() * 3); k > 0; k--) {
      const type = EDGE_KINDS[Math.floor(r() * EDGE_KINDS.length)];
      b.edge(node, nodes[Math.floor(r() * n)], type, nameFor(type, k));
    }
  });
  return b.build(`random ${seed}`);
}

/** DevTools' essential-edge rules, written out plainly (no WeakMap edges in these graphs). */
function referenceEssential(s: SnapshotWithLocations): (from: number, e: number) => boolean {
  const t = typeIds(s);
  const owned = new Set<number>();
  const todo: number[] = [];
  for (let e = s.firstEdge[0]; e < s.firstEdge[1]; e++) {
    if (s.edgeType[e] === t.eShortcut) {
      owned.add(s.edgeTo[e]);
      todo.push(s.edgeTo[e]);
    }
  }
  while (todo.length) {
    const v = todo.pop()!;
    for (let e = s.firstEdge[v]; e < s.firstEdge[v + 1]; e++) {
      if (s.edgeType[e] !== t.eWeak && !owned.has(s.edgeTo[e])) {
        owned.add(s.edgeTo[e]);
        todo.push(s.edgeTo[e]);
      }
    }
  }
  return (from, e) => {
    const type = s.edgeType[e];
    const to = s.edgeTo[e];
    if (type === t.eWeak || to === from) return false;
    return from === 0 || (type !== t.eShortcut && !(owned.has(to) && !owned.has(from)));
  };
}

/**
 * Dominators by definition: d dominates v iff v is unreachable from the root once d is removed.
 * As in DevTools, a node that no edge retains hangs off the root (its children are then reachable
 * through it); nodes only reachable from such cycles are left out (`all` is 0 for them).
 */
function referenceDominators(s: SnapshotWithLocations, isEssential: (from: number, e: number) => boolean) {
  const n = s.nodeCount;
  const retained = new Uint8Array(n);
  for (let v = 0; v < n; v++) {
    for (let e = s.firstEdge[v]; e < s.firstEdge[v + 1]; e++) if (isEssential(v, e)) retained[s.edgeTo[e]] = 1;
  }
  const reach = (removed: number): Uint8Array => {
    const seen = new Uint8Array(n);
    if (removed === 0) return seen;
    const todo = [0];
    seen[0] = 1;
    const step = (w: number) => {
      if (w === removed || seen[w]) return;
      seen[w] = 1;
      todo.push(w);
    };
    while (todo.length) {
      const v = todo.pop()!;
      for (let e = s.firstEdge[v]; e < s.firstEdge[v + 1]; e++) if (isEssential(v, e)) step(s.edgeTo[e]);
      if (v === 0) for (let w = 1; w < n; w++) if (!retained[w]) step(w);
    }
    return seen;
  };
  const all = reach(-1);
  const doms: Set<number>[] = Array.from({ length: n }, () => new Set<number>());
  for (let d = 0; d < n; d++) {
    const r = reach(d);
    for (let v = 0; v < n; v++) if (v !== d && all[v] && !r[v]) doms[v].add(d);
  }
  // idom: the strict dominator that all the others dominate.
  const idom = doms.map((set) => [...set].find((d) => [...set].every((o) => o === d || doms[d].has(o))) ?? 0);
  return { all, doms, idom };
}

/** DevTools' owned sizes, as sets: the self-owned nodes reaching a node through ownable ones only. */
function referenceOwnedSizes(s: SnapshotWithLocations): number[] {
  const t = typeIds(s);
  const ownable = (v: number) => s.nodeType[v] === t.hidden || s.nodeType[v] === t.array;
  const owners: Set<number>[] = Array.from({ length: s.nodeCount }, () => new Set<number>());
  for (let o = 0; o < s.nodeCount; o++) {
    if (ownable(o)) continue;
    const todo = [o];
    const seen = new Set([o]);
    while (todo.length) {
      const v = todo.pop()!;
      for (let e = s.firstEdge[v]; e < s.firstEdge[v + 1]; e++) {
        const w = s.edgeTo[e];
        if (s.edgeType[e] === t.eWeak || !ownable(w) || seen.has(w)) continue;
        seen.add(w);
        owners[w].add(o);
        todo.push(w);
      }
    }
  }
  const sizes = [...s.nodeSelfSize];
  owners.forEach((set, v) => {
    const [o] = [...set];
    if (set.size === 1 && o !== 0 && s.nodeType[o] !== t.synthetic) {
      sizes[o] += sizes[v];
      sizes[v] = 0;
    }
  });
  return sizes;
}

describe('heap engine: reference computations on random graphs', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random heap ${seed}: dominators, retained sizes, owned sizes, raw class sums`, () => {
      const s = randomHeap(seed, 40 + seed * 5);
      const dom = buildDominators(s);
      const ref = referenceDominators(s, referenceEssential(s));
      const sizes = referenceOwnedSizes(s);
      assert.deepEqual([...dom.selfSize], sizes, 'owned sizes');
      for (let v = 1; v < s.nodeCount; v++) {
        if (!ref.all[v]) continue;
        assert.equal(dom.idom[v], ref.idom[v], `idom of ${v}`);
        let retained = sizes[v];
        ref.doms.forEach((set, w) => { if (set.has(v)) retained += sizes[w]; });
        assert.equal(dom.retainedSize[v], retained, `retained size of ${v}`);
      }
      // Raw class sums, straightforwardly: V8's sizes per class; an instance's raw retained size
      // counts unless a non-empty instance of its class dominates it.
      const classes = classify(s);
      const cls = (v: number) => classes.names[classes.classOf[v]];
      const rawRetained = retainedSizes(dom, s.nodeSelfSize);
      const expected = new Map<string, { count: number; selfSize: number; retainedSize: number }>();
      for (let v = 0; v < s.nodeCount; v++) {
        if (s.nodeSelfSize[v] === 0) continue;
        const e = expected.get(cls(v)) ?? { count: 0, selfSize: 0, retainedSize: 0 };
        e.count++;
        e.selfSize += s.nodeSelfSize[v];
        let top = true;
        for (let d = dom.idom[v]; d !== 0; d = dom.idom[d]) if (cls(d) === cls(v) && s.nodeSelfSize[d] !== 0) top = false;
        if (top) e.retainedSize += rawRetained[v];
        expected.set(cls(v), e);
      }
      const raw = classSummary(s, dom, { raw: true, classes });
      assert.deepEqual(new Map(raw.map((r) => [r.name, { count: r.count, selfSize: r.selfSize, retainedSize: r.retainedSize }])), expected);
    });
  }

  it('buildDominatorsParallel: the same result as buildDominators, plus the retainers', async () => {
    const s = randomHeap(11, 500);
    const seq = buildDominators(s);
    let ran = false;
    const par = await buildDominatorsParallel(s, { meanwhile: () => { ran = true; } });
    assert.ok(ran);
    for (const k of ['idom', 'retainedSize', 'selfSize', 'firstDominated', 'dominated'] as const) {
      assert.deepEqual(par.dom[k], seq[k], k);
    }
    assert.deepEqual(par.retainers, buildRetainers(s));
  });
});

// ---------------------------------------------------------------------------------------------
// The DevTools oracle

/** Asserts that our engine and DevTools agree on every node and every Summary row. */
function compareWithDevTools(s: SnapshotWithLocations, o: OracleResult): Record<string, number> {
  const t0 = performance.now();
  const dom = buildDominators(s);
  const distances = computeDistances(s);
  const classes = classify(s);
  const rows = classSummary(s, dom, { classes, distances });
  const oursMs = performance.now() - t0;
  assert.equal(o.nodeCount, s.nodeCount);
  const same = (what: string, ours: ArrayLike<number | string>, theirs: ArrayLike<number | string>) => {
    const bad: number[] = [];
    for (let i = 0; i < s.nodeCount && bad.length < 5; i++) if (ours[i] !== theirs[i]) bad.push(i);
    assert.deepEqual(bad.map((i) => ours[i]), bad.map((i) => theirs[i]), `${what} differs at nodes ${bad.join(', ')}`);
  };
  same('self size', dom.selfSize, o.selfSize);
  same('immediate dominator', dom.idom, o.idom);
  same('retained size', dom.retainedSize, o.retained);
  same('distance', distances, o.distance);
  same('class name', Array.from({ length: s.nodeCount }, (_, i) => classes.names[classes.classOf[i]]),
    Array.from({ length: s.nodeCount }, (_, i) => o.classNames[o.classOf[i]]));
  assert.deepEqual(classes.interfaces, o.interfaces.map(({ name, properties }) => ({ name, properties })));
  const row = (name: string, count: number, self: number, maxRet: number, distance: number) => ({ name, count, self, maxRet, distance });
  const ours = new Map(rows.map((r) => [r.key, row(r.name, r.count, r.selfSize, r.retainedSize, r.distance)]));
  const theirs = new Map(o.aggregates.map((a) => [a.key, row(a.name, a.count, a.self, a.maxRet, a.distance)]));
  assert.deepEqual(ours, theirs, 'Summary rows');
  return { nodes: s.nodeCount, edges: s.edgeCount, summaryRows: rows.length, devtoolsMs: Math.round(o.initMs), oursMs: Math.round(oursMs) };
}

describe('heap engine: equal to Chrome DevTools (chrome-devtools-frontend heap_snapshot_worker)', () => {
  let unavailable: string | null = null;
  before(() => { unavailable = ensureDevTools(); });

  it('the rules graph, and random heaps with unreachable cycles and weakly held parts', (t) => {
    if (unavailable) return t.skip(unavailable);
    const g = rulesGraph();
    const file = writeBuilderSnapshot(g.b, path.join(dir, 'rules.heapsnapshot'));
    t.diagnostic(`rules: ${JSON.stringify(compareWithDevTools(g.b.build(file), runDevTools(file)))}`);
    for (const seed of [21, 22, 23]) {
      const r = rng(seed);
      const { b, global, strong } = skeleton();
      const n = 300;
      const base = b.nodes.length;
      for (let i = 0; i < n; i++) {
        const type = TYPES[Math.floor(r() * TYPES.length)];
        b.node(type, type === 'object' ? `C${Math.floor(r() * 5)}` : `n${i}`, Math.floor(r() * 40));
      }
      for (let i = 0; i < n; i++) {
        for (let k = Math.floor(r() * 4); k > 0; k--) {
          const type = EDGE_KINDS[Math.floor(r() * EDGE_KINDS.length)];
          b.edge(base + i, base + Math.floor(r() * n), type, nameFor(type, k));
        }
        if (r() < 0.05) b.edge(global, base + i, 'property', `g${i}`);
        if (r() < 0.03) b.edge(strong, base + i, 'element', i);
      }
      const f = writeBuilderSnapshot(b, path.join(dir, `random-${seed}.heapsnapshot`));
      t.diagnostic(`random ${seed}: ${JSON.stringify(compareWithDevTools(b.build(f), runDevTools(f)))}`);
    }
  });

  it("an HTTP server's heap", (t) => {
    if (unavailable) return t.skip(unavailable);
    const file = writeSnapshot(HTTP_SERVER_SCENARIO, path.join(dir, 'http.heapsnapshot'));
    t.diagnostic(JSON.stringify(compareWithDevTools(readSnapshotJSON(file), runDevTools(file))));
  });

  it("the TypeScript compiler's heap after a type-check", (t) => {
    if (unavailable) return t.skip(unavailable);
    const file = writeSnapshot(TSC_SCENARIO, path.join(dir, 'tsc.heapsnapshot'));
    const s = readSnapshotJSON(file);
    t.diagnostic(JSON.stringify(compareWithDevTools(s, runDevTools(file))));
    // What the owned-size rule does to this Summary (see docs/heap-engine.md).
    const dom = buildDominators(s);
    const classes = classify(s);
    const rows = classSummary(s, dom, { classes });
    const raw = classSummary(s, dom, { classes, raw: true });
    const pick = (rs: typeof rows, name: string) => rs.find((r) => r.name === name)!;
    const arr = pick(rows, '(array)'), rawArr = pick(raw, '(array)');
    const jsArr = pick(rows, 'Array'), rawJsArr = pick(raw, 'Array');
    assert.ok(arr.count < rawArr.count / 10 && jsArr.selfSize > rawJsArr.selfSize * 2);
    t.diagnostic(`(array) count ${arr.count} (raw ${rawArr.count}); Array self size ${jsArr.selfSize} (raw ${rawJsArr.selfSize})`);
  });
});
