import type { Analysis } from './analysis';

export interface DiffRow {
  name: string;
  countBefore: number;
  countAfter: number;
  countDelta: number;
  sizeBefore: number;
  sizeAfter: number;
  sizeDelta: number;
  /** Instances in the second snapshot whose ids the first does not have. */
  newCount: number;
  /** Instances of the first snapshot whose ids the second does not have. */
  deletedCount: number;
}

export interface HeapDiff {
  rows: DiffRow[];
  /** Per class name: ordinals (in the second snapshot) of its new objects, the first 1000. */
  newNodes: Map<string, Uint32Array>;
}

function sortedIds(a: Analysis): Float64Array {
  return Float64Array.from(a.s.nodeId).sort();
}

function has(sorted: Float64Array, id: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid];
    if (v === id) return true;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * DevTools' Comparison view: per class, counts and self sizes before and after, and the objects
 * new or deleted by V8 object id (ids are stable within one process, so two snapshots of it compare
 * object by object). Counts and sizes are the Summary's (objects with a non-zero self size).
 * Sorted by size delta, largest growth first.
 */
export function diffSnapshots(before: Analysis, after: Analysis): HeapDiff {
  const rows = new Map<string, DiffRow>();
  const row = (name: string): DiffRow => {
    let r = rows.get(name);
    if (!r) rows.set(name, (r = { name, countBefore: 0, countAfter: 0, countDelta: 0, sizeBefore: 0, sizeAfter: 0, sizeDelta: 0, newCount: 0, deletedCount: 0 }));
    return r;
  };
  for (const c of before.summary) {
    const r = row(c.name);
    r.countBefore += c.count;
    r.sizeBefore += c.selfSize;
  }
  for (const c of after.summary) {
    const r = row(c.name);
    r.countAfter += c.count;
    r.sizeAfter += c.selfSize;
  }
  const idsBefore = sortedIds(before);
  const idsAfter = sortedIds(after);
  const newNodes = new Map<string, number[]>();
  const { s: sa, classes: ca, dom: da } = after;
  for (let i = 0; i < sa.nodeCount; i++) {
    if (da.selfSize[i] === 0 || has(idsBefore, sa.nodeId[i])) continue;
    const name = ca.names[ca.classOf[i]];
    row(name).newCount++;
    let list = newNodes.get(name);
    if (!list) newNodes.set(name, (list = []));
    if (list.length < 1000) list.push(i);
  }
  const { s: sb, classes: cb, dom: db } = before;
  for (let i = 0; i < sb.nodeCount; i++) {
    if (db.selfSize[i] === 0 || has(idsAfter, sb.nodeId[i])) continue;
    row(cb.names[cb.classOf[i]]).deletedCount++;
  }
  const list = [...rows.values()];
  for (const r of list) {
    r.countDelta = r.countAfter - r.countBefore;
    r.sizeDelta = r.sizeAfter - r.sizeBefore;
  }
  list.sort((x, y) => y.sizeDelta - x.sizeDelta || y.countDelta - x.countDelta || (x.name < y.name ? -1 : 1));
  return { rows: list, newNodes: new Map([...newNodes].map(([k, v]) => [k, Uint32Array.from(v)])) };
}
