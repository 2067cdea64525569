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
  /** The timeline, one bounded ring per kind of event (see RINGS): noisy kinds never push out rare ones. */
  rings: Record<RingName, TimelineEvent[]>;
  /** Called with each recorded event once the flight recorder persists the timeline (recorder.ts). */
  onRecord?: (event: TimelineEvent) => void;
  /** Errors and rejection reasons already captured, so one failure gives one bundle. */
  captured: WeakSet<object>;
  /** performance.now() of the last unhandled-rejection capture, for primitive reasons Node wraps. */
  lastRejectionAt: number;
  capturing: boolean;
  seq: number;
}

/**
 * Ring sizes. At one sample a second, 600 samples are the last 10 minutes. Together they hold at most
 * 2,100 events, about 0.6 MB of small objects (docs/performance.md).
 */
export const RINGS = { sample: 600, gc: 300, io: 500, breadcrumb: 200, other: 500 } as const;
export type RingName = keyof typeof RINGS;

export function ringOf(kind: string): RingName {
  switch (kind) {
    case 'sample':
      return 'sample';
    case 'gc':
      return 'gc';
    case 'net':
    case 'http':
      return 'io';
    case 'breadcrumb':
      return 'breadcrumb';
    default:
      return 'other';
  }
}

function emptyRings(): Record<RingName, TimelineEvent[]> {
  return { sample: [], gc: [], io: [], breadcrumb: [], other: [] };
}
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
      rings: emptyRings(),
      captured: new WeakSet(),
      lastRejectionAt: -Infinity,
      capturing: false,
      seq: 0,
    };
    Object.defineProperty(g, KEY, { value: s, enumerable: false, configurable: true });
  }
  return s;
}

/** Appends to its bounded ring: the oldest events of that kind fall out first. */
export function record(event: TimelineEvent): void {
  const s = state();
  // A state object made by an older copy of the hook (another version bundled into the app) has no rings.
  const rings = (s.rings ??= emptyRings());
  const name = ringOf(event.kind);
  const list = rings[name];
  list.push(event);
  // Trimming in batches keeps the cost per event constant (no shift of 600 elements each time).
  if (list.length > RINGS[name] + 32) list.splice(0, list.length - RINGS[name]);
  if (s.onRecord) s.onRecord(event);
}

/** Every recorded event, oldest first (at most the ring sizes). */
export function timelineEvents(): TimelineEvent[] {
  const rings = state().rings ?? emptyRings();
  const out: TimelineEvent[] = [];
  for (const name of Object.keys(RINGS) as RingName[]) {
    const list = rings[name];
    out.push(...list.slice(Math.max(0, list.length - RINGS[name])));
  }
  return out.sort((a, b) => a.time - b.time);
}
