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
  excerpts: SourceExcerpt[];
  timeline: { events: number; last: TimelineEvent[] };
  files: { name: string; size: number }[];
  redacted: string[];
  warnings: string[];
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

export function headlineOf(reason: string, error: ErrorRecord | undefined, stack: Frame[] | undefined, cwd: string): string {
  if (error) {
    const top = topFrame(error.frames);
    const what = error.kind === 'value' ? `${reason}: thrown ${error.name} ${error.message}` : `${error.name}: ${error.message.split('\n')[0]}`;
    return top ? `${what} at ${top.function || '<anonymous>'} (${frameLocation(top, cwd)})` : what;
  }
  const top = topFrame(stack);
  return top ? `${reason} at ${top.function || '<anonymous>'} (${frameLocation(top, cwd)})` : reason;
}

export function summarize(b: Bundle): Summary {
  const m = b.manifest;
  const error = bundleError(b);
  const stack = bundleStack(b);
  const events = bundleTimeline(b);
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
    headline: headlineOf(String(m.reason), error, stack, cwd),
    error,
    stack,
    excerpts: bundleExcerpts(b),
    timeline: { events: events.length, last: events.slice(-10) },
    files: m.files.map((f) => ({ name: f.name, size: f.size })),
    redacted: Array.isArray(m.redacted) ? m.redacted : [],
    warnings: Array.isArray(m.warnings) ? m.warnings : [],
  };
}
