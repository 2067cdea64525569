/**
 * One useInput for the whole app (in app.tsx) dispatches to the active view's handler, which the view
 * registers here. A single dispatcher keeps the order of keys deterministic: global keys first, then
 * the view, then fallbacks such as Esc clearing a search.
 */
import { createContext, useContext } from 'react';
import type { Action } from './keys';

/** Returns true when the view used the action. */
export type KeyHandler = (a: Action) => boolean;

export const KeyContext = createContext<{ current: KeyHandler | null }>({ current: null });

/** Registers `handler` as the key handler while `active`. Assigned during render: the newest closure wins. */
export function useViewKeys(active: boolean, handler: KeyHandler): void {
  const ref = useContext(KeyContext);
  if (active) ref.current = handler;
}
