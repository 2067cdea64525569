/** Row text for the Objects view's lists (pure): classes, diff, node tables, retainer paths. */
import type { RetainerPath } from '../heap/retainer-paths';
import { stepLabel } from '../heap/retainer-paths';
import { bytes, count, fit, signed } from './format';
import type { ClassRowMsg, DiffRowMsg, NodeTable } from './heap-protocol';

const NUM = 11;

export function nameWidth(width: number, columns: number): number {
  return Math.max(12, width - columns * (NUM + 1) - 1);
}

export function classHeader(width: number): string {
  return `${fit('Class', nameWidth(width, 3))} ${fit('Count', NUM, true)} ${fit('Self', NUM, true)} ${fit('Retained', NUM, true)}`;
}
export function classLine(r: ClassRowMsg, width: number): string {
  return `${fit(r.name, nameWidth(width, 3))} ${fit(count(r.count), NUM, true)} ${fit(bytes(r.selfSize), NUM, true)} ${fit(bytes(r.retainedSize), NUM, true)}`;
}

export function diffHeader(width: number): string {
  return `${fit('Class', nameWidth(width, 4))} ${fit('Before', NUM, true)} ${fit('# Delta', NUM, true)} ${fit('Size delta', NUM, true)} ${fit('# New', NUM, true)}`;
}
export function diffLine(r: DiffRowMsg, width: number): string {
  return `${fit(r.name, nameWidth(width, 4))} ${fit(count(r.countBefore), NUM, true)} ${fit(signed(r.countDelta), NUM, true)} ${fit((r.sizeDelta > 0 ? '+' : '') + bytes(r.sizeDelta), NUM, true)} ${fit(count(r.newCount), NUM, true)}`;
}

export function nodeHeader(width: number): string {
  return `${fit('Object', nameWidth(width, 2))} ${fit('Self', NUM, true)} ${fit('Retained', NUM, true)}`;
}
export function nodeLabel(t: NodeTable, i: number): string {
  return `${t.names[t.nameIndex[i]]} @${t.ids[i]}`;
}
export function nodeLine(t: NodeTable, i: number, width: number): string {
  return `${fit(nodeLabel(t, i), nameWidth(width, 2))} ${fit(bytes(t.selfSize[i]), NUM, true)} ${fit(bytes(t.retainedSize[i]), NUM, true)}`;
}

export interface PathRow {
  text: string;
  /** The node of this row, for drilling into its dominator subtree. */
  node?: number;
  header?: boolean;
}

/** Retainer paths flattened: one header per path, then one row per retainer, nearest first. */
export function retainerRows(paths: RetainerPath[]): PathRow[] {
  const rows: PathRow[] = [];
  paths.forEach((p, k) => {
    rows.push({ text: `path ${k + 1}: ${p.className} @${p.id}  (${p.steps.length} steps to a root)`, node: p.node, header: true });
    for (const st of p.steps) rows.push({ text: `  ← ${stepLabel(st)} in ${st.className} @${st.id}`, node: st.node });
  });
  return rows;
}
