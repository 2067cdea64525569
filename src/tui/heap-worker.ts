/**
 * Parses and analyses heap snapshots off the UI thread, then answers the Objects view's questions
 * (instances of a class, retainer paths, dominator children). The Analysis stays here: only the
 * rows a view asks for cross to the UI thread. Uses only src/heap's exported functions.
 */
import { parentPort } from 'node:worker_threads';
import { analyze, type Analysis } from '../heap/analysis';
import { diffSnapshots, type HeapDiff } from '../heap/diff';
import { leakSuspects } from '../heap/leaks';
import { parseSnapshot } from '../heap/parser';
import { retainerPaths } from '../heap/retainer-paths';
import { dominatedChildren, instancesOf } from '../heap/summary';
import type { FromWorker, NodeTable, ToWorker } from './heap-protocol';

let current: Analysis | undefined;
let diff: HeapDiff | undefined;

function post(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(m, transfer);
}

function table(a: Analysis, nodes: Uint32Array): NodeTable {
  const n = nodes.length;
  const ids = new Float64Array(n);
  const selfSize = new Float64Array(n);
  const retainedSize = new Float64Array(n);
  const nameIndex = new Uint32Array(n);
  const names: string[] = [];
  const index = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const node = nodes[i];
    ids[i] = a.s.nodeId[node];
    selfSize[i] = a.dom.selfSize[node];
    retainedSize[i] = a.dom.retainedSize[node];
    const c = a.classes.classOf[node];
    let k = index.get(c);
    if (k === undefined) {
      k = names.push(a.classes.names[c]) - 1;
      index.set(c, k);
    }
    nameIndex[i] = k;
  }
  return { nodes, ids, selfSize, retainedSize, nameIndex, names };
}

function transferOf(t: NodeTable): ArrayBuffer[] {
  return [t.nodes.buffer, t.ids.buffer, t.selfSize.buffer, t.retainedSize.buffer, t.nameIndex.buffer] as ArrayBuffer[];
}

async function load(msg: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  const analyses: Analysis[] = [];
  for (const src of msg.sources.slice(0, 2)) {
    const progress = (phase: string, done: number) => post({ type: 'progress', label: src.label, phase, done });
    const s = await parseSnapshot(src.path, { entry: src.entry, progress });
    analyses.push(analyze(s, progress));
  }
  current = analyses[analyses.length - 1];
  const a = current;
  let totalSize = 0;
  for (let i = 0; i < a.s.nodeCount; i++) totalSize += a.dom.selfSize[i];
  const classes = a.summary.map((r) => ({ name: r.name, count: r.count, selfSize: r.selfSize, retainedSize: r.retainedSize }));
  let diffMsg;
  if (analyses.length === 2) {
    post({ type: 'progress', label: 'diff', phase: 'diff', done: 0 });
    diff = diffSnapshots(analyses[0], analyses[1]);
    const suspects = leakSuspects(diff, analyses[1]);
    const sizeDelta = diff.rows.reduce((t, r) => t + r.sizeDelta, 0);
    diffMsg = {
      sizeDelta,
      rows: diff.rows.map((r) => ({ name: r.name, countBefore: r.countBefore, countAfter: r.countAfter, countDelta: r.countDelta, sizeDelta: r.sizeDelta, newCount: r.newCount })),
      suspects: suspects.map((x) => ({ name: x.name, countDelta: x.countDelta, sizeDelta: x.sizeDelta, heldBy: x.heldBy[0]?.chain, heldAt: x.heldBy[0]?.location })),
    };
  }
  post({ type: 'ready', nodes: a.s.nodeCount, totalSize, classes, diff: diffMsg });
}

function answer(msg: Extract<ToWorker, { type: 'query' }>): void {
  const a = current;
  try {
    if (!a) throw new Error('no snapshot loaded');
    if (msg.op === 'instances') {
      const nodes = msg.onlyNew ? Uint32Array.from(diff?.newNodes.get(msg.name) ?? []) : instancesOf(a.s, msg.name, { classes: a.classes, selfSize: a.dom.selfSize });
      const r = a.dom.retainedSize;
      nodes.sort((x, y) => r[y] - r[x] || x - y);
      const t = table(a, nodes);
      post({ type: 'result', id: msg.id, table: t }, transferOf(t));
    } else if (msg.op === 'dominated') {
      const t = table(a, dominatedChildren(a.s, a.dom, msg.node));
      post({ type: 'result', id: msg.id, table: t }, transferOf(t));
    } else {
      post({ type: 'result', id: msg.id, paths: retainerPaths(a, msg.node, 5) });
    }
  } catch (err) {
    post({ type: 'result', id: msg.id, error: (err as Error).message });
  }
}

parentPort?.on('message', (msg: ToWorker) => {
  if (msg.type === 'load') {
    load(msg).catch((err) => post({ type: 'error', message: (err as Error).message.split('\n')[0] }));
  } else answer(msg);
});
