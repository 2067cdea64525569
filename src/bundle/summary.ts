import { bundleError, bundleExcerpts, bundleStack, bundleTimeline, type Bundle } from './reader';
import type { ErrorRecord, Frame, Manifest, SourceExcerpt, TimelineEvent } from './types';

/** What `summary` prints, as data: the JSON format is this object as it is. */
export interface Summary {
  file: string;
  id: string;
  formatVersion: number;
  reason: string;
  time: string;
  pid: number;
  ppid: number;
  hostname: string;
  node: string;
  platform: string;
  arch: string;
  cwd: string;
  argv: string[];
  app?: Manifest['app'];
  hook: Manifest['hook'];
  cluster?: Manifest['cluster'];
  trigger?: Record<string, unknown>;
  /** One line that says what happened. */
  headline: string;
  error?: ErrorRecord;
  stack?: Frame[];
  /** hang.json, as written by the hook (docs/bundle-format.md). */
  hang?: HangSummary;
  /** core.json: the core written beside the bundle (path, size, sha256, nodeBuildId, ...). */
  core?: { path: string; size?: number; sha256?: string; nodeBuildId?: string; [k: string]: unknown };
  excerpts: SourceExcerpt[];
  timeline: { events: number; last: TimelineEvent[] };
  files: { name: string; size: number }[];
  redacted: string[];
  warnings: string[];
}

export interface HangSummary {
  thresholdMs: number;
  blockedSince: number;
  detectedAt: number;
  durationMs?: number;
  ongoing: boolean;
  /** 'exit': the process exited before its loop turned again (src/hook/hang.ts). */
  endedBy?: string;
  jsStack: string;
  probe: { summary: string; state?: string; syscall?: unknown; fds?: { fd: number; target: string }[]; children?: { pid: number; command: string }[] };
  locals?: { frames: { function: string; url: string; line: number; scopes: { type: string; vars: Record<string, string> }[] }[]; problem?: string; tookMs: number };
}

/** "event loop blocked 4.1 s in renderInvoicePdf (pdf.js:88)", or in a system call when no JS stack was had. */
export function hangLine(h: HangSummary, stack: Frame[] | undefined, cwd: string): string {
  const ms = h.durationMs ?? Math.max(h.detectedAt - h.blockedSince, h.thresholdMs);
  const secs = `${h.ongoing ? '>= ' : ''}${(ms / 1000).toFixed(1)} s${h.endedBy === 'exit' ? ' until the process exited,' : ''}`;
  const top = topFrame(stack);
  if (top && h.jsStack === 'captured') {
    const where = `${displayName(top.function)} (${frameLocation(top, cwd).replace(/:\d+$/, '')})`;
    const sys = h.probe?.syscall && h.probe.syscall !== 'running' ? `, in ${h.probe.summary}` : '';
    return `event loop blocked ${secs} in ${where}${sys}`;
  }
  const what = h.probe?.summary ?? 'an unknown state';
  return `event loop blocked ${secs} in ${what}, JS stack not available`;
}

/** A function name for a one-line headline: V8's "Timeout.run [as _onTimeout]" loses its alias. */
export function displayName(fn: string): string {
  return fn.replace(/ \[as [^\]]+\]$/, '') || '<anonymous>';
}

/** The first frame worth showing: the app's own code, else the first frame with a file. */
export function topFrame(frames: Frame[] | undefined): Frame | undefined {
  if (!frames?.length) return undefined;
  return frames.find((f) => f.origin === 'app') ?? frames.find((f) => f.file) ?? frames[0];
}

export function frameLocation(f: Frame, cwd?: string): string {
  if (!f.file) return f.raw ?? '<unknown>';
  let file = f.file;
  if (cwd && file.startsWith(cwd + '/')) file = file.slice(cwd.length + 1);
  return f.line ? `${file}:${f.line}:${f.column}` : file;
}

/**
 * Where a leak suspect's holder is, from leak.json's `heldBy[].location`: "orders.js:31", the file
 * relative to `cwd` when under it, or "pendingOrders at orders.js:31" when the chain shown does not
 * name the variable. Undefined when the value is not a location (leak.json is read, not trusted).
 */
export function holderLocation(loc: unknown, cwd?: string, chain?: string): string | undefined {
  const l = loc as { file?: unknown; line?: unknown; variable?: unknown } | undefined;
  if (!l || typeof l.file !== 'string' || !l.file || typeof l.line !== 'number' || !(l.line >= 1)) return undefined;
  let file = l.file;
  if (cwd && file.startsWith(cwd + '/')) file = file.slice(cwd.length + 1);
  const named = typeof l.variable === 'string' && l.variable && chain !== undefined && !chain.includes(`${l.variable} (closure variable)`);
  return `${named ? `${l.variable} at ` : ''}${file}:${l.line}`;
}

export function headlineOf(reason: string, error: ErrorRecord | undefined, stack: Frame[] | undefined, cwd: string): string {
  if (error) {
    const top = topFrame(error.frames);
    const what = error.kind === 'value' ? `${reason}: thrown ${error.name} ${error.message}` : `${error.name}: ${error.message.split('\n')[0]}`;
    return top ? `${what} at ${displayName(top.function)} (${frameLocation(top, cwd)})` : what;
  }
  const top = topFrame(stack);
  return top ? `${reason} at ${displayName(top.function)} (${frameLocation(top, cwd)})` : reason;
}

const MB = 1024 * 1024;

/**
 * The headline of a bundle that `collect` made from a dead process's recorder, or of a leak bundle:
 * "killed at 14:02:11 (no exit recorded); RSS 1.9 GB, rising 40 MB/min", or "memory leak: ...; Order
 * +12,000 (3.1 MB), held by ... (orders.js:31)" when leak.json locates the holding variable.
 */
export function deathLine(reason: string, trigger: Record<string, unknown> | undefined, events: TimelineEvent[], leak: unknown, cwd?: string): string | undefined {
  const t = trigger ?? {};
  if (reason === 'memory-leak') {
    const l = leak as { suspects?: { name: string; countDelta: number; sizeDelta: number; heldBy?: { chain: string; location?: unknown }[] }[] } | undefined;
    const top = l?.suspects?.[0];
    const grew = typeof t.floorA === 'number' && typeof t.floorB === 'number' ? `heap after GC ${((t.floorA as number) / MB).toFixed(1)} → ${((t.floorB as number) / MB).toFixed(1)} MB` : 'heap after GC kept growing';
    if (!top) return `memory leak: ${grew}${l ? '' : ' (diff not computed yet: autopsy-ts leak-report)'}`;
    const at = holderLocation(top.heldBy?.[0]?.location, cwd, top.heldBy?.[0]?.chain);
    const held = top.heldBy?.[0]?.chain ? `, held by ${top.heldBy[0].chain}${at ? ` (${at})` : ''}` : '';
    return `memory leak: ${grew}; ${top.name} +${top.countDelta.toLocaleString('en-US')} (${(top.sizeDelta / MB).toFixed(1)} MB)${held}`;
  }
  if (!t.collected) return undefined;
  const at = typeof t.lastEventAt === 'string' ? t.lastEventAt.slice(11, 19) : '?';
  const mem: string[] = [];
  if (typeof t.rss === 'number') mem.push(`RSS ${(t.rss / MB).toFixed(0)} MB`);
  if (typeof t.rssMbPerMin === 'number' && Math.abs(t.rssMbPerMin) >= 1) mem.push(`${t.rssMbPerMin > 0 ? 'rising' : 'falling'} ${Math.abs(t.rssMbPerMin)} MB/min`);
  const near = events.filter((e) => e.kind === 'oom-near').pop();
  if (reason === 'oom' && near) {
    mem.unshift(`heap at ${Math.round(Number(near.ratio) * 100)} % of its ${(Number(near.heapLimit) / MB).toFixed(0)} MB limit`);
    return `out of memory at ${at} UTC; ${mem.join(', ')}`;
  }
  if (reason === 'fatal-signal' && typeof t.evidence === 'string') return `${t.evidence.replace(/^the native addon recorded /, '')}; at ${at} UTC`;
  const how = reason === 'killed' ? 'killed (no exit recorded: SIGKILL or an unhandled signal)' : reason;
  return `${how} at ${at} UTC${mem.length ? `; ${mem.join(', ')}` : ''}`;
}

export function summarize(b: Bundle): Summary {
  const m = b.manifest;
  const error = bundleError(b);
  const stack = bundleStack(b);
  const events = bundleTimeline(b);
  const hang = b.json.get('hang.json') as HangSummary | undefined;
  const cwd = typeof m.cwd === 'string' ? m.cwd : '';
  return {
    file: b.path,
    id: m.id,
    formatVersion: m.formatVersion,
    reason: String(m.reason),
    time: m.time,
    pid: m.pid,
    ppid: m.ppid,
    hostname: m.hostname,
    node: m.node,
    platform: m.platform,
    arch: m.arch,
    cwd,
    argv: Array.isArray(m.argv) ? m.argv : [],
    app: m.app,
    hook: m.hook,
    cluster: m.cluster,
    trigger: m.trigger,
    headline: hang
      ? hangLine(hang, stack, cwd)
      : (!error && deathLine(String(m.reason), m.trigger, events, b.json.get('leak.json'), cwd)) || headlineOf(String(m.reason), error, stack, cwd),
    hang,
    core: b.json.get('core.json') as Summary['core'],
    error,
    stack,
    excerpts: bundleExcerpts(b),
    timeline: { events: events.length, last: events.slice(-10) },
    files: m.files.map((f) => ({ name: f.name, size: f.size })),
    redacted: Array.isArray(m.redacted) ? m.redacted : [],
    warnings: Array.isArray(m.warnings) ? m.warnings : [],
  };
}
