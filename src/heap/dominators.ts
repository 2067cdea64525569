/**
 * Dominator tree and retained sizes with Chrome DevTools' semantics (HeapSnapshot.ts:
 * computeIsEssentialEdge, markPageOwnedNodes, calculateShallowSizes,
 * calculateDominatorsAndRetainedSizes, buildDominatedNodes). Lengauer–Tarjan as DevTools runs it,
 * including its handling of nodes the root does not reach, so results match DevTools node for node.
 * Iterative, typed arrays only: about 9 × 4 bytes per node and 4 per essential edge of scratch, and
 * one bit per edge.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { buildRetainers, EphemeronNames, typeIds, type EdgeGraph, type Retainers } from './graph';
import type { ScratchPool } from './scratch';
import type { HeapSnapshot, NumberArray } from './types';

const MAX_U32 = 0xffffffff;

export interface Dominators {
  /** Per node: the ordinal of its immediate dominator; the root's is itself (0). */
  idom: Uint32Array;
  /**
   * Per node: the self size the retained sizes were summed from (DevTools' owned-size transfer applied
   * unless other sizes were passed in). Uint32Array when the whole heap's sizes add up to less than
   * 4 GiB (so does every retained size), else Float64Array; the same for retainedSize.
   */
  selfSize: NumberArray;
  /** Per node: the size of everything it dominates, itself included. */
  retainedSize: NumberArray;
  /** Dominator-tree children in CSR form: the children of i are dominated[firstDominated[i] .. firstDominated[i+1]-1]. */
  firstDominated: Uint32Array;
  dominated: Uint32Array;
  /** Nodes the root did not reach over essential edges (DevTools reports them as a problem). */
  unreachable: number;
}

export interface DominatorOptions {
  /** Not used any more (Lengauer–Tarjan gathers its own predecessors); accepted for compatibility. */
  retainers?: Retainers;
  /** Self sizes to sum; default: ownedSelfSizes(s), what DevTools uses. Pass s.nodeSelfSize for V8's raw sizes. */
  selfSizes?: NumberArray;
  /** Page-owned flags (1 = owned); default: pageOwnedNodes(s). */
  pageOwned?: Uint8Array;
  ephemerons?: EphemeronNames;
  /** Where to return dead scratch for later phases (analyze() passes one to distances and classes). */
  scratch?: ScratchPool;
}

/**
 * DevTools' "page-owned" nodes (JSHeapSnapshot.markPageOwnedNodes): everything reachable over
 * non-weak edges from the root's shortcut edges (the user global objects) and from
 * '(Document DOM trees)'. Edges from non-owned to owned nodes do not retain (see essentialEdges).
 */
export function pageOwnedNodes(s: HeapSnapshot, scratch?: ScratchPool): Uint8Array {
  const t = typeIds(s);
  const { firstEdge, edgeTo, edgeType } = s;
  const owned = new Uint8Array(s.nodeCount);
  const size = s.nodeCount + (firstEdge[1] - firstEdge[0]);
  const stack = scratch ? scratch.u32(size) : new Uint32Array(size);
  let top = 0;
  for (let e = firstEdge[0]; e < firstEdge[1]; e++) {
    const type = edgeType[e];
    const to = edgeTo[e];
    if (type === t.eElement) {
      if (s.nodeType[to] !== t.synthetic || s.strings.get(s.nodeName[to]) !== '(Document DOM trees)') continue;
    } else if (type !== t.eShortcut) continue;
    stack[top++] = to;
    owned[to] = 1;
  }
  while (top > 0) {
    const node = stack[--top];
    for (let e = firstEdge[node], end = firstEdge[node + 1]; e < end; e++) {
      const child = edgeTo[e];
      if (owned[child] || edgeType[e] === t.eWeak) continue;
      stack[top++] = child;
      owned[child] = 1;
    }
  }
  scratch?.give(stack, true); // Lengauer–Tarjan's vertex
  return owned;
}

/**
 * One bit per edge: does it retain? (HeapSnapshot.computeIsEssentialEdge.) Not: weak edges; the
 * WeakMap table → value edge (the key → value edge stays); self edges; shortcut edges except from
 * the root; edges from a non-page-owned node to a page-owned one, except from the root.
 */
export function essentialEdges(
  s: HeapSnapshot, pageOwned: Uint8Array = pageOwnedNodes(s), ephemerons: EphemeronNames = new EphemeronNames(s),
): Uint8Array {
  return markEssential(s, pageOwned, ephemerons);
}

/** essentialEdges, also counting each node's essential retainers into `inDegree` when given. */
function markEssential(
  s: HeapSnapshot, pageOwned: Uint8Array, ephemerons: EphemeronNames, inDegree?: Uint32Array,
): Uint8Array {
  const t = typeIds(s);
  const { nodeCount, firstEdge, edgeTo, edgeType, edgeName, nodeId } = s;
  const { pairOfString, tableId } = ephemerons;
  const { eWeak, eInternal, eShortcut } = t;
  const bits = new Uint8Array((s.edgeCount >>> 3) + 1);
  for (let node = 0; node < nodeCount; node++) {
    const nodeOwned = pageOwned[node];
    for (let e = firstEdge[node], end = firstEdge[node + 1]; e < end; e++) {
      const type = edgeType[e];
      if (type === eWeak) continue;
      if (type === eInternal) {
        let pair = pairOfString[edgeName[e]];
        if (pair === 0) pair = ephemerons.pairOf(edgeName[e]);
        if (pair > 0 && nodeId[node] === tableId[pair]) continue;
      }
      const child = edgeTo[e];
      if (child === node) continue;
      if (node !== 0) {
        if (type === eShortcut) continue;
        // nodeOwned first: most nodes are page-owned, and then the child's flag (a random read) is not needed.
        if (!nodeOwned && pageOwned[child]) continue;
      }
      bits[e >>> 3] |= 1 << (e & 7);
      if (inDegree) inDegree[child]++;
    }
  }
  return bits;
}

/**
 * Self sizes as DevTools' Summary and retained sizes use them (JSHeapSnapshot.calculateShallowSizes):
 * a hidden or array node (or 'system / ExternalStringData') reached, over non-weak edges through
 * such nodes only, from exactly one other node gives its size to that owner and counts 0 itself —
 * unless the owner is the root or synthetic. Skipped (raw sizes kept) when the root has no user
 * roots, i.e. a snapshot taken with internals exposed.
 */
export function ownedSelfSizes(s: HeapSnapshot): Float64Array {
  return ownedSelfSizesIn(s);
}

/** ownedSelfSizes, writing into the given arrays (contents ignored) instead of new ones. */
function ownedSelfSizesIn<T extends NumberArray = Float64Array>(
  s: HeapSnapshot, into: { sizes?: T; owners?: Uint32Array } = {}, pool?: ScratchPool,
): T {
  const t = typeIds(s);
  const { nodeCount, firstEdge, edgeTo, edgeType, nodeType } = s;
  const sizes = into.sizes ?? (new Float64Array(nodeCount) as NumberArray as T);
  sizes.set(s.nodeSelfSize.subarray(0, nodeCount));
  let hasUserRoots = false;
  for (let e = firstEdge[0]; e < firstEdge[1] && !hasUserRoots; e++) {
    const to = edgeTo[e];
    hasUserRoots = nodeType[to] !== t.synthetic || s.strings.get(s.nodeName[to]) === '(Document DOM trees)';
  }
  if (!hasUserRoots) return sizes;

  const UNVISITED = 0xffffffff;
  const MULTIPLE = 0xfffffffe;
  if (nodeCount >= MULTIPLE) throw new Error('Too many nodes for ownedSelfSizes');
  const owners = into.owners ?? new Uint32Array(nodeCount);
  // A byte per node to test before touching `owners`: most edges lead to self-owned nodes.
  const ownable = pool ? pool.u8(nodeCount) : new Uint8Array(nodeCount);
  const extData = pool ? pool.i8(s.strings.count) : new Int8Array(s.strings.count); // 0 unknown, 1 'system / ExternalStringData', -1 not
  let ownableCount = 0;
  for (let i = 0; i < nodeCount; i++) {
    const type = nodeType[i];
    let isOwnable = type === t.hidden || type === t.array;
    if (!isOwnable && type === t.native) {
      const idx = s.nodeName[i];
      if (extData[idx] === 0) extData[idx] = s.strings.get(idx) === 'system / ExternalStringData' ? 1 : -1;
      isOwnable = extData[idx] === 1;
    }
    if (isOwnable) {
      owners[i] = UNVISITED;
      ownable[i] = 1;
      ownableCount++;
    } else owners[i] = i;
  }
  // Each ownable node is pushed at most twice: unvisited → owner, owner → multiple.
  const stack = pool ? pool.u32(2 * ownableCount + 1) : new Uint32Array(2 * ownableCount + 1);
  let top = 0;
  const eWeak = t.eWeak;
  const visit = (id: number): void => {
    const owner = owners[id];
    for (let e = firstEdge[id], end = firstEdge[id + 1]; e < end; e++) {
      const target = edgeTo[e];
      if (ownable[target] === 0 || edgeType[e] === eWeak) continue;
      const o = owners[target];
      if (o === UNVISITED) {
        owners[target] = owner;
        stack[top++] = target;
      } else if (o !== owner && o !== MULTIPLE) {
        owners[target] = MULTIPLE;
        stack[top++] = target;
      }
    }
  };
  for (let i = 0; i < nodeCount; i++) {
    if (ownable[i]) continue;
    visit(i);
    while (top > 0) visit(stack[--top]);
  }
  for (let i = 0; i < nodeCount; i++) {
    const owner = owners[i];
    if (owner === UNVISITED || owner === MULTIPLE || owner === i) continue;
    if (owner === 0 || nodeType[owner] === t.synthetic) continue;
    sizes[owner] += sizes[i];
    sizes[i] = 0;
  }
  pool?.give(ownable);
  pool?.give(extData);
  pool?.give(stack);
  return sizes;
}

/** The dominator tree and retained sizes of the whole heap. */
export function buildDominators(s: HeapSnapshot, opts: DominatorOptions = {}): Dominators {
  const ephemerons = opts.ephemerons ?? new EphemeronNames(s);
  const n = s.nodeCount;
  const len = n + 1;
  const pool = opts.scratch;
  // Lengauer–Tarjan's largest array; the essential in-degrees are counted into its first half while
  // the edges are marked (see lengauerTarjan).
  const link = new Uint32Array(2 * len);
  const pageOwned = opts.pageOwned ?? pageOwnedNodes(s, pool);
  const essential = markEssential(s, pageOwned, ephemerons, link.subarray(0, len));
  if (!opts.pageOwned) pool?.give(pageOwned, true); // Lengauer–Tarjan's flags
  const lt = lengauerTarjan(s, essential, link, pool);
  // The results are written over Lengauer–Tarjan's scratch, which is dead now: freed ArrayBuffers
  // only return to the system after a GC, and none may run in between. lt.idom is in link's first
  // half, and is not kept (see lazyIdom).
  const { parent, pred, vertex } = lt.scratch!;
  const predFits = pred.length >= n - 1; // then the dominator tree's children go there
  if (pool && predFits) pool.give(pred.subarray(Math.max(0, n - 1)));
  // Sizes in 32 bits when the whole heap's are (every retained size is at most the root's, the sum).
  const sizeSum = (a: NumberArray): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += a[i];
    return sum;
  };
  const narrow = sizeSum(opts.selfSizes ?? s.nodeSelfSize) <= MAX_U32;
  const linkHigh = link.subarray(len, len + n);
  const selfSize = opts.selfSizes ?? ownedSelfSizesIn(s, { sizes: narrow ? linkHigh : undefined, owners: parent.subarray(0, n) }, pool);
  if (opts.selfSizes || !narrow) pool?.give(linkHigh);
  const retained = narrow ? parent.subarray(0, n) : new Float64Array(n);
  if (!narrow) pool?.give(parent);
  retainedSizesIn(lt.idom, lt.order, selfSize, retained);
  // lt.order is not read any more: vertex takes the children lists' offsets.
  const { firstDominated, dominated } = dominatedNodes(lt.idom, {
    firstDominated: vertex,
    dominated: predFits ? pred.subarray(0, Math.max(0, n - 1)) : undefined,
  });
  if (pool) {
    if (!predFits) pool.give(pred);
    pool.give(link.subarray(0, len), true); // the distances
  }
  return lazyIdom({ selfSize, retainedSize: retained, firstDominated, dominated, unreachable: lt.unreachable });
}

/**
 * Dominators whose idom is built from the tree's children lists when first read: nothing in
 * analyze() reads it, and 4 B per node fewer stay allocated (the distances' queue goes there).
 */
function lazyIdom(d: Omit<Dominators, 'idom'>): Dominators {
  let idom: Uint32Array | undefined;
  const get = (): Uint32Array => {
    if (idom) return idom;
    const { firstDominated, dominated } = d;
    const n = firstDominated.length - 1;
    idom = new Uint32Array(n);
    for (let v = 0; v < n; v++) {
      for (let k = firstDominated[v], end = firstDominated[v + 1]; k < end; k++) idom[dominated[k]] = v;
    }
    return idom;
  };
  return Object.defineProperty(d, 'idom', { get, enumerable: true }) as Dominators;
}

interface FinishInto { firstDominated?: Uint32Array; dominated?: Uint32Array }

/** The Dominators of a Lengauer–Tarjan result computed elsewhere (the worker's). */
function finish(lt: LTResult, sizes: NumberArray): Dominators {
  const { idom, order, unreachable } = lt;
  const n = idom.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sizes[i];
  const selfSize = sum <= MAX_U32 ? Uint32Array.from(sizes.subarray(0, n)) : Float64Array.from(sizes.subarray(0, n));
  const retainedSize = retainedSizesIn(idom, order, selfSize, sum <= MAX_U32 ? new Uint32Array(n) : new Float64Array(n));
  const { firstDominated, dominated } = dominatedNodes(idom);
  return { idom, selfSize, retainedSize, firstDominated, dominated, unreachable };
}

const WORKER_KIND = 'autopsy-ts/heap-dominators';

/**
 * buildDominators on two threads, split as DevTools splits it: a worker builds the retainer index
 * and then runs Lengauer–Tarjan, while this thread computes the essential edges, the owned self
 * sizes and then runs `meanwhile` (distances, classes, …). Same results as buildDominators, plus
 * the retainer index. Falls back to one thread if no worker can be started.
 */
export async function buildDominatorsParallel(
  s: HeapSnapshot, opts: Omit<DominatorOptions, 'retainers'> & { meanwhile?: () => void } = {},
): Promise<{ dom: Dominators; retainers: Retainers }> {
  const firstEdge = s.firstEdge.slice(0, s.nodeCount + 1);
  const edgeTo = s.edgeTo.slice(0, s.edgeCount);
  let worker: Worker;
  try {
    const init = {
      workerData: { kind: WORKER_KIND, nodeCount: s.nodeCount, edgeCount: s.edgeCount, firstEdge, edgeTo },
      transferList: [firstEdge.buffer, edgeTo.buffer] as ArrayBuffer[],
    };
    // From TypeScript sources (tests under tsx) the worker needs tsx's require hook: Node 20 does
    // not apply --import hooks to workers.
    worker = __filename.endsWith('.ts')
      ? new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register();` +
        `require(${JSON.stringify(__filename)});`, { ...init, eval: true })
      : new Worker(__filename, init);
  } catch {
    const retainers = buildRetainers(s);
    const dom = buildDominators(s, { ...opts, retainers });
    opts.meanwhile?.();
    return { dom, retainers };
  }
  const result = new Promise<LTResult & Retainers>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`dominator worker exited with code ${code}`)));
  });
  result.catch(() => {}); // observed below; avoid an unhandled rejection while this thread is busy
  try {
    const essential = essentialEdges(s, opts.pageOwned ?? pageOwnedNodes(s), opts.ephemerons ?? new EphemeronNames(s));
    worker.postMessage(essential, [essential.buffer as ArrayBuffer]);
    const selfSize = opts.selfSizes ?? ownedSelfSizes(s);
    opts.meanwhile?.();
    const r = await result;
    const retainers = { firstRetainer: r.firstRetainer, retainingEdges: r.retainingEdges, retainingNodes: r.retainingNodes };
    return { dom: finish(r, selfSize), retainers };
  } finally {
    void worker.terminate();
  }
}

/** The worker's side: retainers first (they need no essential edges), then Lengauer–Tarjan. */
function runWorker(): void {
  const g = workerData as EdgeGraph;
  const retainers = buildRetainers(g);
  parentPort!.once('message', (essential: Uint8Array) => {
    const { scratch: _unused, ...lt } = lengauerTarjan(g, essential);
    const out = { ...lt, ...retainers };
    parentPort!.postMessage(out, [lt.idom.buffer, lt.order.buffer, retainers.firstRetainer.buffer,
      retainers.retainingEdges.buffer, retainers.retainingNodes.buffer] as ArrayBuffer[]);
  });
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === WORKER_KIND) runWorker();

/**
 * Retained sizes over a dominator tree for other self sizes (V8's raw ones, say): each node's size
 * plus its children's retained sizes, children before parents (reverse breadth-first order).
 */
export function retainedSizes(dom: Pick<Dominators, 'firstDominated' | 'dominated'>, selfSize: NumberArray): Float64Array {
  const { firstDominated, dominated } = dom;
  const n = firstDominated.length - 1;
  const retained = Float64Array.from(selfSize.subarray(0, n));
  const queue = new Uint32Array(n);
  let len = n > 0 ? 1 : 0;
  for (let head = 0; head < len; head++) {
    const v = queue[head];
    for (let k = firstDominated[v], end = firstDominated[v + 1]; k < end; k++) queue[len++] = dominated[k];
  }
  for (let i = len - 1; i >= 0; i--) {
    const v = queue[i];
    for (let k = firstDominated[v], end = firstDominated[v + 1]; k < end; k++) retained[v] += retained[dominated[k]];
  }
  return retained;
}

/** Retained sizes into `retained` (same length as idom): self sizes summed up the tree in reverse preorder. */
function retainedSizesIn<T extends NumberArray>(idom: Uint32Array, order: Uint32Array, selfSize: NumberArray, retained: T): T {
  retained.set(selfSize.subarray(0, idom.length));
  for (let i = order.length - 1; i > 0; i--) {
    const node = order[i];
    retained[idom[node]] += retained[node];
  }
  return retained;
}

/**
 * Dominators as DevTools computes them (Lengauer–Tarjan): DFS from the root over essential edges;
 * then DFS from each unvisited node that has no essential retainer (parent: the root), in ordinal
 * order; then any node still unvisited (cycles retained only by each other) is numbered alone with
 * the root as parent. A node with no essential retainer gets the root as its semidominator.
 *
 * Semidominators are computed exactly as Lengauer–Tarjan does (simple eval/link), but the
 * immediate dominators are derived from them as in Georgiadis' SEMI-NCA (idom(w) = the nearest
 * common ancestor of parent(w) and semi(w) in the dominator tree built so far, walking up from
 * parent(w)) instead of with buckets. Both give the dominators of the graph the DFS forest spans,
 * and both send the nodes that forest does not explain (the lone cycle members) to the root, so the
 * result is DevTools' node for node (test/heap-engine.test.ts checks it against DevTools itself).
 *
 * Layout, for memory (docs/heap-engine.md, "Dominators"): vertices are identified by DFS number
 * (ancestor chains stay close in memory). The essential predecessors are recorded by the DFS itself
 * as it scans each edge, in CSR by target ordinal sized from the in-degrees, filled from the end of
 * each list down so that the offsets need no shift afterwards; the edge that discovers a node (its
 * tree edge) is not recorded, since its source is parent(w), which starts the minimum. A node needs
 * no DFS-number-by-ordinal array, only a visited flag: the source of a recorded edge is the vertex
 * being scanned. eval keeps the smallest semidominator VALUE on the path (not a vertex whose semi
 * must be looked up), interleaved with the ancestor link so that one path step touches one cache
 * line; path compression reverses the path in place (no stack). A semidominator is kept in the first
 * slot of the node's own (consumed) predecessor list, or is parent(w) when the list is empty, so
 * there is no semi array. Scratch while it runs: 5 × 4 B per node (with the caller's in-degree
 * array, which becomes the list offsets), 1 B per node of flags, and 4 B per essential edge that is
 * not a tree edge.
 */
interface LTResult {
  /** Per node ordinal: the ordinal of its immediate dominator. */
  idom: Uint32Array;
  /** Node ordinals in DFS preorder. */
  order: Uint32Array;
  unreachable: number;
  /** Arrays no longer needed, for the caller to write its results over (not sent from the worker). */
  scratch?: { parent: Uint32Array; pred: Uint32Array; vertex: Uint32Array };
}

const VISITED = 1;
const LONE = 2; // numbered alone (see lengauerTarjan)
/** Predecessor counts from this one on are kept beside (in `big`). */
const MANY = 255;

function lengauerTarjan(s: EdgeGraph, essential: Uint8Array, counted?: Uint32Array, pool?: ScratchPool): LTResult {
  const { nodeCount, edgeCount, firstEdge, edgeTo } = s;
  const len = nodeCount + 1;
  // link: 2 × 4 B per vertex. Until the main loop, its first half `at` is by ordinal: a node's
  // essential in-degree (a caller may pass them counted), then, once visited, where its
  // predecessor list ends, filled downwards to its start; its second half is by DFS number: the
  // next edge the DFS scans from v. Lists are laid out in DFS order, so a vertex's list ends where
  // the next one's starts, and only their lengths need keeping (cnt).
  const link = counted ?? new Uint32Array(2 * len);
  const at = link.subarray(0, len);
  const next = link.subarray(len);
  if (!counted) {
    for (let e = 0; e < edgeCount; e++) {
      if ((essential[e >>> 3] & (1 << (e & 7))) !== 0) at[edgeTo[e]]++;
    }
  }
  // A node's tree edge is not recorded: room for in-degree - 1. The root has no tree edge, and a
  // lone node's extra predecessor is kept beside (loneFirst).
  let total = at[0];
  for (let ord = 1; ord < nodeCount; ord++) if (at[ord] > 1) total += at[ord] - 1;
  // Contents from the pool are arbitrary: each entry below is written before it is read.
  const u32 = (size: number): Uint32Array => (pool ? pool.u32(size) : new Uint32Array(size));
  const flags = pool ? pool.u8(len) : new Uint8Array(len); // by ordinal; later cnt, by DFS number
  const pred = u32(total);
  const vertex = u32(len); // DFS number → ordinal; the arrays below are by DFS number
  const parent = u32(len); // becomes dom, in preorder: dom[w] is written after parent[w] is read
  let n = 0;
  let end = 0;

  const visit = (ord: number, par: number): number => {
    const v = ++n;
    const d = at[ord];
    end += ord === 0 ? d : d > 0 ? d - 1 : 0;
    at[ord] = end;
    flags[ord] |= VISITED;
    vertex[v] = ord;
    parent[v] = par;
    next[v] = firstEdge[ord];
    return v;
  };
  // Iterative DFS from `start` (already visited), until it returns to start's parent. Each edge is
  // scanned once: after a descent, v resumes at the next one.
  const dfs = (start: number): void => {
    const stop = parent[start];
    let v = start;
    while (v !== stop) {
      const last = firstEdge[vertex[v] + 1];
      let e = next[v];
      let up = parent[v];
      for (; e < last; e++) {
        if ((essential[e >>> 3] & (1 << (e & 7))) === 0) continue;
        const w = edgeTo[e];
        if ((flags[w] & VISITED) === 0) {
          up = visit(w, v);
          e++;
          break;
        }
        pred[--at[w]] = v;
      }
      next[v] = e;
      v = up;
    }
  };

  dfs(visit(0, 0));
  const reached = n;
  // A node not visited yet still has its in-degree in `at`.
  for (let ord = 0; ord < nodeCount && n < nodeCount; ord++) {
    if (flags[ord] === 0 && at[ord] === 0) dfs(visit(ord, 1));
  }
  const lone = n;
  for (let ord = 0; ord < nodeCount && n < nodeCount; ord++) {
    if ((flags[ord] & VISITED) === 0) {
      visit(ord, 1);
      flags[ord] |= LONE;
    }
  }
  // The nodes numbered alone were not scanned by a DFS: their edges' turn. Every predecessor of a
  // lone node is recorded (none is a tree edge): the first one goes beside, in loneFirst; later
  // loneFirst holds its semidominator.
  const loneFirst = new Uint32Array(n - lone);
  for (let v = lone + 1; v <= n; v++) {
    const from = vertex[v];
    for (let e = firstEdge[from], last = firstEdge[from + 1]; e < last; e++) {
      if ((essential[e >>> 3] & (1 << (e & 7))) === 0) continue;
      const w = edgeTo[e];
      if ((flags[w] & LONE) !== 0) {
        // A lone node is numbered after `lone` in ordinal order: its DFS number is found by search.
        const k = loneIndex(vertex, lone, n, w);
        if (loneFirst[k] === 0) {
          loneFirst[k] = v;
          continue;
        }
      }
      pred[--at[w]] = v;
    }
  }
  // The essential edges are not read any more: the caller's pool may have them.
  pool?.give(essential);
  // Each list is full now, and at[ord] is where it starts. The flags are not needed any more: they
  // become the lists' lengths by DFS number (MANY and more: in `big`).
  const cnt = flags;
  const big = new Map<number, number>();
  let after = total;
  for (let w = n; w >= 1; w--) {
    const first = at[vertex[w]];
    const c = after - first;
    after = first;
    cnt[w] = c < MANY ? c : MANY;
    if (c >= MANY) big.set(w, c);
  }
  const count = (w: number): number => (cnt[w] < MANY ? cnt[w] : big.get(w)!);

  // From here on, link[2v]: v's ancestor in the linked forest (0: not linked yet); link[2v+1]: the
  // smallest semidominator on the path from v up to (not including) that ancestor.
  link.fill(0);
  // eval(v) for a linked v: compress the path, then return that minimum. The path is walked up with
  // its links reversed (each pointing back down, 0 ends it), then down again, relinking each node
  // to the top.
  const evaluate = (v0: number): number => {
    let v = v0;
    let down = 0;
    for (let a = link[2 * v]; link[2 * a] !== 0; a = link[2 * v]) {
      link[2 * v] = down;
      down = v;
      v = a;
    }
    const top = link[2 * v];
    let above = link[2 * v + 1];
    while (down !== 0) {
      const w = down;
      down = link[2 * w];
      const m = link[2 * w + 1];
      if (above < m) link[2 * w + 1] = above;
      else above = m;
      link[2 * w] = top;
    }
    return link[2 * v0 + 1];
  };

  // The lists from the last vertex's down: w's ends where w+1's starts.
  let last = total;
  for (let w = n; w >= 2; w--) {
    const first = last - count(w);
    // The tree edge's source, parent(w), is not linked yet (parent(w) < w): it starts the minimum.
    // A node without essential retainers has the root as parent.
    let sw: number;
    if (w <= lone) sw = parent[w];
    else {
      sw = w;
      const v = loneFirst[w - lone - 1];
      const u = link[2 * v] === 0 ? v : evaluate(v);
      if (u < sw) sw = u;
    }
    for (let k = first; k < last; k++) {
      const v = pred[k];
      // A vertex not linked yet is one not processed yet (v < w): its semi is still v.
      const u = link[2 * v] === 0 ? v : evaluate(v);
      if (u < sw) sw = u;
    }
    if (w > lone) loneFirst[w - lone - 1] = sw;
    else if (first < last) pred[first] = sw;
    link[2 * w] = parent[w];
    link[2 * w + 1] = sw;
    last = first;
  }

  const dom = parent;
  dom[1] = 1;
  let first = n >= 1 ? count(1) : 0;
  for (let w = 2; w <= n; w++) {
    const c = count(w);
    let sw: number;
    if (w > lone) sw = loneFirst[w - lone - 1];
    else sw = c > 0 ? pred[first] : parent[w];
    first += c;
    let x = parent[w];
    while (x > sw) x = dom[x];
    dom[w] = x;
  }
  pool?.give(cnt, true); // the owned sizes' flags

  const idom = link.subarray(0, nodeCount); // link is not read any more
  for (let v = 1; v <= n; v++) idom[vertex[v]] = vertex[dom[v]];
  return {
    idom, order: vertex.subarray(1, n + 1), unreachable: nodeCount - reached,
    scratch: { parent, pred, vertex },
  };
}

/** The index after `lone` of lone node `ord`: lone nodes are numbered in ordinal order. */
function loneIndex(vertex: Uint32Array, lone: number, n: number, ord: number): number {
  let lo = lone + 1;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (vertex[mid] < ord) lo = mid + 1;
    else hi = mid;
  }
  return lo - lone - 1;
}

/** Children lists of the dominator tree (CSR), each in ascending ordinal order. */
function dominatedNodes(idom: Uint32Array, into: FinishInto = {}): { firstDominated: Uint32Array; dominated: Uint32Array } {
  const n = idom.length;
  const firstDominated = into.firstDominated?.fill(0) ?? new Uint32Array(n + 1);
  const dominated = into.dominated ?? new Uint32Array(Math.max(0, n - 1));
  for (let i = 1; i < n; i++) firstDominated[idom[i] + 1]++;
  for (let i = 0; i < n; i++) firstDominated[i + 1] += firstDominated[i];
  for (let i = 1; i < n; i++) dominated[firstDominated[idom[i]]++] = i;
  for (let i = n; i > 0; i--) firstDominated[i] = firstDominated[i - 1];
  firstDominated[0] = 0;
  return { firstDominated, dominated };
}
