/** Case-insensitive substring filtering over lists of any length (pure). */

/** Indices of the rows whose text contains `query`; all rows (identity) when the query is empty. */
export function filterIndices(count: number, text: (i: number) => string, query: string): Uint32Array {
  const q = query.trim().toLowerCase();
  if (!q) {
    const all = new Uint32Array(count);
    for (let i = 0; i < count; i++) all[i] = i;
    return all;
  }
  const out: number[] = [];
  for (let i = 0; i < count; i++) if (text(i).toLowerCase().includes(q)) out.push(i);
  return Uint32Array.from(out);
}

export type SortKey = 'retained' | 'self' | 'count' | 'name';
export const SORT_KEYS: SortKey[] = ['retained', 'self', 'count', 'name'];

export function nextSort(k: SortKey): SortKey {
  return SORT_KEYS[(SORT_KEYS.indexOf(k) + 1) % SORT_KEYS.length];
}

/** Class rows sorted by a key, largest first (names A→Z), ties by name so the order is stable. */
export function sortClasses<T extends { name: string; count: number; selfSize: number; retainedSize: number }>(rows: T[], key: SortKey): T[] {
  const byName = (a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const pick = (r: T) => (key === 'retained' ? r.retainedSize : key === 'self' ? r.selfSize : r.count);
  return [...rows].sort(key === 'name' ? byName : (a, b) => pick(b) - pick(a) || byName(a, b));
}
