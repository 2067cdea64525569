import type { TimelineEvent } from '../bundle/types';

/**
 * Pure helpers over a bundle's timeline: filtering by kind, and one line of text per event for the CLI
 * (and the UI). Lines are plain text: callers sanitise them before they reach a terminal.
 */

/** Kinds a user may ask for; `hang` also selects `hang-start` and `hang-end`, `leak` its phases. */
export function filterKinds(events: TimelineEvent[], kinds: string[] | undefined): TimelineEvent[] {
  if (!kinds || !kinds.length) return events;
  const want = new Set(kinds.map((k) => k.trim()).filter(Boolean));
  return events.filter((e) => want.has(e.kind) || want.has(e.kind.split('-')[0]));
}

const MB = 1024 * 1024;
function mb(n: unknown): string {
  return typeof n === 'number' ? `${(n / MB).toFixed(1)} MB` : '?';
}
function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}
function where(e: TimelineEvent): string {
  const addr = str(e.remoteAddress);
  return addr ? `${addr.includes(':') ? `[${addr}]` : addr}:${str(e.remotePort)}` : '?';
}

/** What the event says, in one line, without its time. */
export function describeEvent(e: TimelineEvent): string {
  switch (e.kind) {
    case 'sample': {
      const parts = [`rss ${mb(e.rss)}`, `heap ${mb(e.heapUsed)}/${mb(e.heapTotal)}`];
      if (typeof e.elu === 'number') parts.push(`elu ${Math.round(e.elu * 100)}%`);
      if (typeof e.delayP99Ms === 'number') parts.push(`delay p99 ${e.delayP99Ms} ms`);
      if (typeof e.cpuUserMs === 'number') parts.push(`cpu ${e.cpuUserMs}+${str(e.cpuSystemMs)} ms`);
      const gc = e.gc as { count?: number; ms?: number; major?: number; eventsDropped?: number } | undefined;
      if (gc?.count) {
        const more = [gc.major ? `${gc.major} major` : '', gc.eventsDropped ? `${gc.eventsDropped} not listed one by one` : ''].filter(Boolean).join(', ');
        parts.push(`gc ${gc.count} in ${str(gc.ms)} ms${more ? ` (${more})` : ''}`);
      }
      const http = e.http as { server?: { count: number; errors: number; onePer?: number } } | undefined;
      if (http?.server) {
        const { count, errors, onePer } = http.server;
        // onePer: a busy server is timed one interval in that many (recorder-http.ts); say so, not a drop.
        parts.push(`http ${count} req${errors ? `, ${errors} errors` : ''}${typeof onePer === 'number' && onePer > 1 ? ` (timed 1 interval in ${onePer})` : ''}`);
      }
      return parts.join(', ');
    }
    case 'gc':
      return `${str(e.gcKind)} GC ${str(e.durationMs)} ms`;
    case 'net':
      return `${str(e.event)} ${where(e)}${e.error ? `: ${str(e.error)}` : ''}${typeof e.durationMs === 'number' && e.event !== 'connect' ? ` after ${e.durationMs} ms` : ''}`;
    case 'http':
      return `${str(e.side)} ${str(e.method)} ${e.host ? `${str(e.host)}` : ''}${str(e.path)} ${e.status !== undefined ? str(e.status) : ''}${e.error ? ` ${str(e.error)}` : ''} ${str(e.durationMs)} ms`.replace(/\s+/g, ' ').trim();
    case 'warning':
      return `${str(e.name)}${e.code ? ` (${str(e.code)})` : ''}: ${str(e.message)}`;
    case 'signal':
      return str(e.signal);
    case 'exit':
      return `${str(e.what)}${e.workerId !== undefined ? ` #${str(e.workerId)}` : ''}${e.pid !== undefined ? ` pid ${str(e.pid)}` : ''}${e.threadId !== undefined ? ` thread ${str(e.threadId)}` : ''} exited: ${e.signal ? str(e.signal) : `code ${str(e.code)}`}`;
    case 'breadcrumb':
      return `${str(e.message)}${e.data !== undefined ? ` ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}` : ''}`;
    case 'hang':
    case 'hang-end':
      return `event loop blocked ${str(e.durationMs)} ms${e.endedBy === 'exit' ? ', until the process exited' : ''}`;
    case 'hang-start':
      return `event loop blocked (threshold ${str(e.thresholdMs)} ms)`;
    case 'oom-near':
      return `heap at ${Math.round(Number(e.ratio) * 100)}% of its limit (${mb(e.heapUsed)} of ${mb(e.heapLimit)})`;
    case 'trigger':
      return `${str(e.reason)}${e.message ? `: ${str(e.message)}` : ''}`;
    default:
      return str(e.message) || JSON.stringify(e).slice(0, 200);
  }
}

/** `HH:MM:SS.mmm` in UTC. */
export function clock(time: number): string {
  return Number.isFinite(time) ? new Date(time).toISOString().slice(11, 23) : '??:??:??.???';
}
