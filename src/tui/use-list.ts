import { useState } from 'react';
import type { Action } from './keys';
import { clampCursor, moveCursor, START, type Cursor, type Move } from './windowing';

const MOVES: Record<string, Move> = { up: 'up', down: 'down', 'page-up': 'page-up', 'page-down': 'page-down', home: 'home', end: 'end' };

/**
 * A cursor over a list of `count` rows shown `height` at a time. `move` applies a navigation action
 * with a functional update, so several keys delivered in one input string all count.
 */
export function useList(count: number, height: number, initial = 0): { cursor: Cursor; move: (a: Action) => boolean; select: (i: number) => void; reset: () => void } {
  const [raw, setCursor] = useState<Cursor>(() => clampCursor({ selected: initial, top: 0 }, count, height));
  const cursor = clampCursor(raw, count, height);
  const move = (a: Action): boolean => {
    const m = MOVES[a.type];
    if (!m) return false;
    setCursor((c) => moveCursor(clampCursor(c, count, height), m, count, height));
    return true;
  };
  const select = (i: number) => setCursor((c) => clampCursor({ selected: i, top: c.top }, count, height));
  return { cursor, move, select, reset: () => setCursor(START) };
}
