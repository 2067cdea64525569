/**
 * Cursor and window over long lists: only `height` rows are ever rendered, whatever the list length,
 * so a 100k-row list costs the same per key press as a 10-row one.
 */
export interface Cursor {
  selected: number;
  top: number;
}

export const START: Cursor = { selected: 0, top: 0 };

/** The first visible row that keeps `selected` on screen, moving the window as little as possible. */
export function windowFor(selected: number, top: number, height: number, count: number): number {
  if (count <= 0 || height <= 0) return 0;
  const maxTop = Math.max(0, count - height);
  let t = Math.min(Math.max(0, top), maxTop);
  if (selected < t) t = selected;
  else if (selected >= t + height) t = selected - height + 1;
  return Math.min(Math.max(0, t), maxTop);
}

export type Move = 'up' | 'down' | 'page-up' | 'page-down' | 'home' | 'end';

/** The cursor after a move; `count` is the list length, `height` the visible rows. */
export function moveCursor(c: Cursor, move: Move, count: number, height: number): Cursor {
  if (count <= 0) return START;
  const page = Math.max(1, height - 1);
  let s = Math.min(Math.max(0, c.selected), count - 1);
  switch (move) {
    case 'up': s -= 1; break;
    case 'down': s += 1; break;
    case 'page-up': s -= page; break;
    case 'page-down': s += page; break;
    case 'home': s = 0; break;
    case 'end': s = count - 1; break;
  }
  s = Math.min(Math.max(0, s), count - 1);
  return { selected: s, top: windowFor(s, c.top, height, count) };
}

/** Keeps a cursor valid after the list or the height changed (a filter, a resize). */
export function clampCursor(c: Cursor, count: number, height: number): Cursor {
  if (count <= 0) return START;
  const s = Math.min(Math.max(0, c.selected), count - 1);
  return { selected: s, top: windowFor(s, c.top, height, count) };
}

/** Indices [from, to) of the rows to draw. */
export function visibleRange(c: Cursor, count: number, height: number): [number, number] {
  const top = windowFor(c.selected, c.top, height, count);
  return [top, Math.min(count, top + Math.max(0, height))];
}
