import type { Analysis } from './analysis';
import { typeIds } from './graph';

export interface DuplicateString {
  /** The text, cut to 200 characters. */
  value: string;
  length: number;
  count: number;
  /** Bytes that one copy would save: (count - 1) x the size of one copy. */
  wastedBytes: number;
}

/**
 * Strings stored more than once. V8 names a string node by its content, and the snapshot's string
 * table holds each distinct text once, so nodes of type string with the same name index have the
 * same content: grouping by that index finds duplicates without decoding a single string twice.
 */
export function duplicatedStrings(a: Analysis, top = 20): DuplicateString[] {
  const { s } = a;
  const t = typeIds(s);
  const count = new Uint32Array(s.strings.count);
  const size = new Float64Array(s.strings.count);
  for (let i = 0; i < s.nodeCount; i++) {
    if (s.nodeType[i] !== t.string) continue;
    const idx = s.nodeName[i];
    count[idx]++;
    size[idx] = s.nodeSelfSize[i];
  }
  const rows: { idx: number; wasted: number }[] = [];
  for (let idx = 0; idx < count.length; idx++) if (count[idx] > 1) rows.push({ idx, wasted: (count[idx] - 1) * size[idx] });
  rows.sort((x, y) => y.wasted - x.wasted);
  return rows.slice(0, top).map(({ idx, wasted }) => {
    const text = s.strings.get(idx);
    return { value: text.length > 200 ? `${text.slice(0, 200)}…` : text, length: text.length, count: count[idx], wastedBytes: wasted };
  });
}
