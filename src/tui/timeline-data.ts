/**
 * Timeline events as the UI needs them: the series behind the sparklines (from `sample` events), the
 * marks on the chart, and one text line per event. Every field of an event is optional: the flight
 * recorder is young and old bundles have fewer kinds, and unknown kinds are shown generically.
 */
import type { TimelineEvent } from '../bundle/types';
import { bytes, clock, ms } from './format';
import type { Point, Span } from './sparkline';

export interface Series {
  heapUsed: Point[];
  rss: Point[];
  elu: Point[];
  delayP99: Point[];
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** Only well-formed events (an object with a finite time), in time order. */
export function cleanEvents(events: unknown): TimelineEvent[] {
  if (!Array.isArray(events)) return [];
  const ok = events.filter((e): e is TimelineEvent => !!e && typeof e === 'object' && Number.isFinite((e as TimelineEvent).time));
  return ok.map((e) => ({ ...e, kind: typeof e.kind === 'string' ? e.kind : 'unknown' })).sort((a, b) => a.time - b.time);
}

export function seriesOf(events: TimelineEvent[]): Series {
  const s: Series = { heapUsed: [], rss: [], elu: [], delayP99: [] };
  for (const e of events) {
    if (e.kind !== 'sample') continue;
    const push = (arr: Point[], v: unknown) => {
      const n = num(v);
      if (n !== undefined) arr.push({ time: e.time, value: n });
    };
    push(s.heapUsed, e.heapUsed);
    push(s.rss, e.rss);
    push(s.elu, e.elu);
    push(s.delayP99, e.delayP99Ms);
  }
  return s;
}

export function spanOf(events: TimelineEvent[]): Span | undefined {
  if (!events.length) return undefined;
  return { from: events[0].time, to: events[events.length - 1].time };
}

/** Chart marks: G gc, W warning, B breadcrumb, H hang, S signal, E exit, T trigger (wins its column). */
export function marksOf(events: TimelineEvent[]): { time: number; char: string; rank: number }[] {
  const table: Record<string, [string, number]> = {
    gc: ['G', 1], breadcrumb: ['B', 2], warning: ['W', 3], hang: ['H', 4], 'hang-start': ['H', 4], 'hang-end': ['H', 4],
    signal: ['S', 5], exit: ['E', 5], trigger: ['T', 6],
  };
  const out = [];
  for (const e of events) {
    const m = table[e.kind];
    if (m) out.push({ time: e.time, char: m[0], rank: m[1] });
  }
  return out;
}

function dataText(v: unknown): string {
  if (v === undefined) return '';
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

/** One line describing an event, without its time and kind (the list shows those in columns). */
export function eventText(e: TimelineEvent): string {
  switch (e.kind) {
    case 'breadcrumb':
      return [str(e.message) ?? '', dataText(e.data)].filter(Boolean).join(' ');
    case 'signal':
      return str(e.signal) ?? '';
    case 'hang':
    case 'hang-end':
      return `blocked ${ms(e.durationMs)}${e.endedBy === 'exit' ? ', until the process exited' : ''}`;
    case 'hang-start':
      return e.thresholdMs !== undefined ? `threshold ${ms(e.thresholdMs)}` : '';
    case 'trigger':
      return str(e.reason) ?? str(e.message) ?? '';
    case 'sample':
      return [
        e.heapUsed !== undefined ? `heap ${bytes(e.heapUsed)}` : '',
        e.rss !== undefined ? `rss ${bytes(e.rss)}` : '',
        num(e.elu) !== undefined ? `elu ${Math.round(num(e.elu)! * 100)}%` : '',
        e.delayP99Ms !== undefined ? `p99 delay ${ms(e.delayP99Ms)}` : '',
      ].filter(Boolean).join(', ');
    case 'gc':
      return `${str(e.gcKind) ?? 'gc'} ${ms(e.durationMs)}`;
    case 'warning':
      return [str(e.name), str(e.message)].filter(Boolean).join(': ');
    case 'net':
      return [str(e.event), [str(e.remoteAddress), str(e.remotePort)].filter(Boolean).join(':'), str(e.error) ?? str(e.message)].filter(Boolean).join(' ');
    case 'http': {
      const target = `${str(e.method) ?? ''} ${str(e.host) ?? ''}${str(e.path) ?? ''}`.trim();
      const result = e.error !== undefined ? `error ${str(e.error) ?? dataText(e.error)}` : str(e.status) ?? '';
      return [target, result, e.durationMs !== undefined ? ms(e.durationMs) : ''].filter(Boolean).join(' ');
    }
    case 'exit':
      return [str(e.what), e.pid !== undefined ? `pid ${str(e.pid)}` : '', e.code !== undefined && e.code !== null ? `code ${str(e.code)}` : '', str(e.signal) ?? ''].filter(Boolean).join(' ');
    default: {
      const { time: _t, kind: _k, ...rest } = e;
      return dataText(rest);
    }
  }
}

export function eventLine(e: TimelineEvent): string {
  return `${clock(e.time)} ${e.kind.padEnd(10)} ${eventText(e)}`;
}

/** Slope of a series in units per minute, by least squares; undefined with fewer than 3 points. */
export function slopePerMinute(points: Point[]): number | undefined {
  if (points.length < 3) return undefined;
  const n = points.length;
  const t0 = points[0].time;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const p of points) {
    const x = (p.time - t0) / 60_000;
    sx += x; sy += p.value; sxx += x * x; sxy += x * p.value;
  }
  const den = n * sxx - sx * sx;
  return den === 0 ? undefined : (n * sxy - sx * sy) / den;
}
