import type { Analysis } from './analysis';
import { NO_DISTANCE, typeIds } from './graph';

/** One step from an object towards a GC root: "held by `pendingOrders` of Object @123". */
export interface RetainerStep {
  /** The retaining node. */
  node: number;
  id: number;
  className: string;
  /** How it holds the previous node: the property, variable or element name. */
  edge: string;
  edgeType: string;
}

export interface RetainerPath {
  /** The retained object itself. */
  node: number;
  id: number;
  className: string;
  /** From the object's direct retainer up to the root side. */
  steps: RetainerStep[];
}

/** "[3]" for elements, the name for properties, "variable" for context slots. */
export function stepLabel(step: RetainerStep): string {
  if (step.edgeType === 'element') return `[${step.edge}]`;
  if (step.edgeType === 'context') return `${step.edge} (closure variable)`;
  if (step.edgeType === 'hidden' || step.edgeType === 'internal') return `${step.edge} (${step.edgeType})`;
  return step.edge;
}

/**
 * Up to `max` shortest retainer paths from `node` towards the roots, as DevTools' Retainers view
 * walks them: over non-weak edges, always to a retainer strictly closer to the root (by the
 * distances of the Summary), so every path ends at a root and cycles cannot trap it. Depth-first,
 * with property and context edges (the names a reader recognises) tried before internal ones.
 */
export function retainerPaths(a: Analysis, node: number, max = 3, maxDepth = 24): RetainerPath[] {
  const { s, retainers, distances: dist, classes } = a;
  if (node < 0 || node >= s.nodeCount) throw new RangeError(`no node ${node}`);
  const t = typeIds(s);
  const rank = (edgeType: number) => (edgeType === t.eProperty || edgeType === t.eContext ? 0 : edgeType === t.eElement ? 1 : 2);
  const paths: RetainerPath[] = [];
  const onPath = new Set<number>();
  const steps: RetainerStep[] = [];
  const nameOf = (n: number) => classes.names[classes.classOf[n]];

  const walk = (cur: number, depth: number): void => {
    if (paths.length >= max) return;
    const d = dist[cur];
    if (d <= 1 || depth >= maxDepth) {
      paths.push({ node, id: s.nodeId[node], className: nameOf(node), steps: steps.slice() });
      return;
    }
    const slots: number[] = [];
    for (let i = retainers.firstRetainer[cur]; i < retainers.firstRetainer[cur + 1]; i++) {
      const edge = retainers.retainingEdges[i];
      const from = retainers.retainingNodes[i];
      const fd = dist[from];
      if (s.edgeType[edge] === t.eWeak || onPath.has(from) || fd === NO_DISTANCE || fd >= d) continue;
      slots.push(i);
    }
    slots.sort((x, y) => dist[retainers.retainingNodes[x]] - dist[retainers.retainingNodes[y]] || rank(s.edgeType[retainers.retainingEdges[x]]) - rank(s.edgeType[retainers.retainingEdges[y]]));
    for (const i of slots) {
      if (paths.length >= max) return;
      const edge = retainers.retainingEdges[i];
      const from = retainers.retainingNodes[i];
      const type = s.edgeType[edge];
      const named = type !== t.eElement && type !== t.eHidden;
      steps.push({ node: from, id: s.nodeId[from], className: nameOf(from), edge: named ? s.strings.get(s.edgeName[edge]) : String(s.edgeName[edge]), edgeType: s.edgeTypes[type] });
      onPath.add(from);
      walk(from, depth + 1);
      onPath.delete(from);
      steps.pop();
    }
  };
  walk(node, 0);
  return paths;
}

/** The node ordinal with V8 object id `id`, or -1. */
export function nodeById(a: Analysis, id: number): number {
  const ids = a.s.nodeId;
  for (let i = 0; i < ids.length; i++) if (ids[i] === id) return i;
  return -1;
}

/** A step of a chain: elements, and the numbered internal slots of a Map's or Set's table, are all "[]". */
function chainLabel(st: RetainerStep): string {
  if (st.edgeType === 'element' || (st.edgeType === 'internal' && /^\d+$/.test(st.edge))) return '[]';
  return stepLabel(st);
}

/**
 * What holds the instances of a class: the retainer path of the largest instances, grouped by the
 * chain of edge names, most instances first: "pendingOrders → [i]" held 12,000 Orders. With
 * `locate`, groups also split by what it returns for a path (two modules' `cache` variables are two
 * groups), and each group carries the value of its example.
 */
export function classRetainers<L = never>(
  a: Analysis, className: string, sample = 200, only?: Uint32Array, locate?: (p: RetainerPath) => L | undefined,
): { chain: string; count: number; example: RetainerPath; location?: L }[] {
  const { s, classes, dom } = a;
  let nodes: number[] = [];
  if (only) nodes = Array.from(only);
  else for (let i = 0; i < s.nodeCount; i++) if (classes.names[classes.classOf[i]] === className && dom.selfSize[i] > 0) nodes.push(i);
  nodes.sort((x, y) => dom.retainedSize[y] - dom.retainedSize[x]);
  const groups = new Map<string, { chain: string; count: number; example: RetainerPath; location?: L }>();
  for (const n of nodes.slice(0, sample)) {
    const [p] = retainerPaths(a, n, 1);
    if (!p) continue;
    const chain = p.steps
      .slice(0, 4)
      .map((st) => `${chainLabel(st)} in ${st.className}`)
      .join(' ← ');
    const location = locate?.(p);
    const key = location === undefined ? chain : `${chain}\0${JSON.stringify(location)}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, location === undefined ? { chain, count: 1, example: p } : { chain, count: 1, example: p, location });
  }
  return [...groups.values()].sort((x, y) => y.count - x.count);
}
