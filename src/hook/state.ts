import type { TimelineEvent } from '../bundle/types';
import { DEFAULTS, type Config } from './config';

/**
 * The hook's process-wide state. It lives on globalThis under a registered symbol so that the hook
 * preloaded with --require and an API copy bundled into the app (another path, another version)
 * share one recorder and never install twice.
 */
export interface HookState {
  config: Config;
  installed: boolean;
  /** Working directory when the hook loaded: ./autopsy-bundles is resolved against it. */
  startCwd: string;
  breadcrumbs: TimelineEvent[];
  /** Errors and rejection reasons already captured, so one failure gives one bundle. */
  captured: WeakSet<object>;
  /** performance.now() of the last unhandled-rejection capture, for primitive reasons Node wraps. */
  lastRejectionAt: number;
  capturing: boolean;
  seq: number;
}

export const MAX_BREADCRUMBS = 200;
const KEY = Symbol.for('autopsy-ts.state');

export function state(): HookState {
  const g = globalThis as unknown as Record<symbol, HookState | undefined>;
  let s = g[KEY];
  if (!s) {
    let cwd = '.';
    try {
      cwd = process.cwd();
    } catch {
      // cwd removed under us: bundles then go to the temp fallback.
    }
    s = {
      config: { ...DEFAULTS },
      installed: false,
      startCwd: cwd,
      breadcrumbs: [],
      captured: new WeakSet(),
      lastRejectionAt: -Infinity,
      capturing: false,
      seq: 0,
    };
    Object.defineProperty(g, KEY, { value: s, enumerable: false, configurable: true });
  }
  return s;
}

/** Appends to a bounded ring: the oldest events fall out first. */
export function record(event: TimelineEvent): void {
  const list = state().breadcrumbs;
  list.push(event);
  if (list.length > MAX_BREADCRUMBS) list.splice(0, list.length - MAX_BREADCRUMBS);
}
