/**
 * One useInput for the whole app (in app.tsx) dispatches to the active view's handler, which the view
 * registers here. A single dispatcher keeps the order of keys deterministic: global keys first, then
 * the view, then fallbacks such as Esc clearing a search.
 */
import { createContext, useContext } from 'react';
import type { Action } from './keys';

/** Returns true when the view used the action. */
export type KeyHandler = (a: Action) => boolean;

/** `version` counts the active view's renders: the app waits for it to move before a key that depends on the last one. */
export interface KeyRef {
  current: KeyHandler | null;
  version: number;
}

export const KeyContext = createContext<KeyRef>({ current: null, version: 0 });

/** Registers `handler` as the key handler while `active`. Assigned during render: the newest closure wins. */
export function useViewKeys(active: boolean, handler: KeyHandler): void {
  const ref = useContext(KeyContext);
  if (active) {
    ref.current = handler;
    ref.version++;
  }
}
