import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { createRedactor } from '../bundle/redact';
import { ENTRY, FORMAT_NAME, FORMAT_VERSION, type ErrorRecord, type Frame, type Manifest, type TimelineEvent } from '../bundle/types';
import { bundleFileName } from '../bundle/names';
import { assembleBundle, writeBundleWithStreamedEntry, type BundleFile } from '../bundle/writer';
import { parseStack } from '../stack/parse-stack';
import { chooseBundleDir, enforceRetention, recentCount, replaceAtomically, writeAtomically } from './bundle-dir';
import { toErrorRecord } from './error-record';
import { excerptsFor } from './excerpts';
import { hookFailure, hookLog } from './log';
import { mapFrames, nodeMapsEnabled } from './source-maps';
import { state, timelineEvents } from './state';
import { tailSnapshot } from './stdio-tail';
import { HOOK_ROOT, getHookVersion } from './version';
import { addonState } from '../native';

export interface CaptureRequest {
  reason: string;
  /** The thrown value or rejection reason, when there is one. */
  error?: unknown;
  hasError?: boolean;
  /**
   * The main thread's JS stack: true to take it here (API and on-demand captures), or stack text
   * taken by the caller. Frames of autopsy-ts itself, and the anonymous frames of an inspector
   * evaluation that sit above the app's frames, are dropped.
   */
  stack?: boolean | string;
  trigger?: Record<string, unknown>;
  /** Extra JSON entries (hang.json, ...): serialised and redacted like the others. */
  entries?: { name: string; value: unknown }[];
  /** Extra binary entries (heap/*.heapsnapshot.gz), written as they are. */
  rawEntries?: BundleFile[];
  /** Extra events for the timeline, after the breadcrumbs. */
  events?: TimelineEvent[];
  /**
   * Called with the bundle's final path once its data is on disk and just before it is renamed into
   * view, so that work on it can start before anyone (a supervisor, a test) can see it and kill the app.
   */
  beforePublish?: (path: string) => void;
}

/** The bundle folder a capture would write into now (the configured one, or the fallback). */
export function bundleDirNow(): string {
  const s = state();
  return chooseBundleDir(s.config.dir, s.startCwd).dir;
}

export interface CaptureResult {
  path?: string;
  size?: number;
  skipped?: string;
  error?: string;
  /** What was written, so that rewriteBundle() can replace entries later (hang end, locals). */
  written?: WrittenBundle;
  /** The stack frames recorded in stack.json. */
  frames?: Frame[];
}

export interface WrittenBundle {
  path: string;
  manifest: Omit<Manifest, 'files'>;
  files: BundleFile[];
  events: TimelineEvent[];
  json: (v: unknown) => Buffer;
}

/**
 * A bundle another thread wrote, as it came through postMessage (no `json`, Buffers as Uint8Arrays),
 * made rewritable here with this thread's redactor (the hang watchdog's bundles, ended at exit: hang.ts).
 */
export function reviveWritten(w: Omit<WrittenBundle, 'json'>): WrittenBundle {
  return {
    ...w,
    files: w.files.map((f) => ({ ...f, data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength) })),
    json: jsonEntry(processRedactor(state().config.redact)),
  };
}

/** The redactor of this process: its environment, argv and AUTOPSY_REDACT names. */
function processRedactor(names: string[]): ReturnType<typeof createRedactor> {
  return createRedactor(process.env, [...process.execArgv, ...process.argv], names);
}

/** A JSON entry of the bundle, redacted. */
function jsonEntry(redactor: ReturnType<typeof createRedactor>): (v: unknown) => Buffer {
  return (v) => Buffer.from(redactor.redactJsonText(JSON.stringify(v, null, 1)) + '\n');
}

/** Deeper than V8's default of 10: a hang or API stack is read from its bottom up. */
export function currentStack(limit = 64): string {
  const before = Error.stackTraceLimit;
  Error.stackTraceLimit = limit;
  try {
    return new Error('capture').stack ?? '';
  } finally {
    Error.stackTraceLimit = before;
  }
}

/** Drops autopsy-ts's own frames and the anonymous frames of an inspector evaluation above the app's. */
function appStack(frames: Frame[]): Frame[] {
  const out = frames.filter((f) => !isOwnFrame(f));
  let i = 0;
  while (i < out.length && (out[i].file === '<anonymous>' || out[i].origin === 'unknown')) i++;
  return out.slice(i);
}

/**
 * Replaces entries of a bundle already written (hang.json when the hang ends, ...), and writes it
 * again under the same name, atomically. Never throws.
 */
export function rewriteBundle(w: WrittenBundle, replace: { name: string; value?: unknown; data?: Buffer }[]): boolean {
  try {
    for (const r of replace) {
      const data = r.data ?? w.json(r.value);
      const i = w.files.findIndex((f) => f.name === r.name);
      if (i >= 0) w.files[i] = { name: r.name, data };
      else w.files.push({ name: r.name, data });
    }
    const { tgz } = assembleBundle(w.manifest, w.files);
    replaceAtomically(w.path, tgz);
    return true;
  } catch (err) {
    hookFailure('updating the bundle', err);
    return false;
  }
}

/**
 * Writes the bundle again with one more entry streamed from a file (an embedded core), under the same
 * name, atomically. Later in-memory rewrites (rewriteBundle) would drop it: only bundles that are not
 * rewritten (on-demand, API) embed a core. Rejects on failure; the old bundle then stays.
 */
export async function embedStreamedEntry(w: WrittenBundle, big: { name: string; path: string; size: number; sha256: string }): Promise<void> {
  const { renameSync, unlinkSync } = require('node:fs') as typeof import('node:fs');
  const tmp = join(dirname(w.path), `.${w.path.slice(dirname(w.path).length + 1)}.${process.pid}.embed.tmp`);
  try {
    await writeBundleWithStreamedEntry(tmp, w.manifest, w.files, big);
    renameSync(tmp, w.path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
}

/** Name and version from the package.json nearest to the main script (or the cwd), at most 12 levels up. */
function findApp(startCwd: string): Manifest['app'] {
  let dir = process.argv[1] ? dirname(process.argv[1]) : startCwd;
  for (let i = 0; i < 12; i++) {
    const file = join(dir, 'package.json');
    try {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg && typeof pkg === 'object') {
        return {
          name: typeof pkg.name === 'string' ? pkg.name.slice(0, 200) : undefined,
          version: typeof pkg.version === 'string' ? pkg.version.slice(0, 100) : undefined,
          packageJson: file,
        };
      }
    } catch {
      // none here, or unreadable: go up
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Frames of the hook itself are noise in a captured stack. */
function isOwnFrame(f: Frame): boolean {
  return f.file.startsWith(HOOK_ROOT + sep + 'dist' + sep);
}

function collectFrames(rec: ErrorRecord | undefined, out: Frame[]): void {
  if (!rec) return;
  out.push(...rec.frames);
  collectFrames(rec.cause, out);
  for (const e of rec.errors ?? []) collectFrames(e, out);
}

/**
 * Writes one bundle, synchronously: this runs inside uncaughtExceptionMonitor, where the process
 * dies as soon as we return. Never throws.
 */
export function captureSync(req: CaptureRequest): CaptureResult {
  const s = state();
  if (s.capturing) return { skipped: 'a capture is already running' };
  s.capturing = true;
  try {
    return captureUnguarded(req);
  } catch (err) {
    hookFailure(`writing the ${req.reason} bundle`, err);
    return { error: err instanceof Error ? err.message : String(err) };
  } finally {
    s.capturing = false;
  }
}

function captureUnguarded(req: CaptureRequest): CaptureResult {
  const s = state();
  const cfg = s.config;
  const time = new Date();
  const warnings: string[] = [];

  const choice = chooseBundleDir(cfg.dir, s.startCwd);
  if (choice.fellBack) warnings.push(`bundle folder: ${choice.fellBack}; using ${choice.dir}`);
  const recent = recentCount(choice.dir, time.getTime());
  if (recent >= cfg.ratePerMinute) {
    hookLog(`not writing a ${req.reason} bundle: ${recent} bundles in ${choice.dir} during the last minute (AUTOPSY_RATE_LIMIT=${cfg.ratePerMinute})`);
    return { skipped: 'rate limit' };
  }

  const useMaps = cfg.sourceMaps && !nodeMapsEnabled();
  const mapper = useMaps ? (frames: Frame[]) => mapFrames(frames, warnings) : (frames: Frame[]) => frames;
  const redactor = processRedactor(cfg.redact);
  const json = jsonEntry(redactor);

  const files: BundleFile[] = [];
  const allFrames: Frame[] = [];

  let errorRecord: ErrorRecord | undefined;
  if (req.hasError || req.error !== undefined) {
    errorRecord = toErrorRecord(req.error, mapper);
    collectFrames(errorRecord, allFrames);
    files.push({ name: ENTRY.error, data: json(errorRecord) });
  }
  let stackFrames: Frame[] | undefined;
  if (req.stack) {
    stackFrames = mapper(appStack(parseStack(typeof req.stack === 'string' ? req.stack : currentStack())));
    allFrames.push(...stackFrames);
    files.push({ name: ENTRY.stack, data: json({ thread: 'main', frames: stackFrames }) });
  }

  try {
    const report = process.report.getReport(req.error instanceof Error ? req.error : undefined);
    files.push({ name: ENTRY.report, data: json(redactor.redactReport(report)) });
  } catch (err) {
    warnings.push(`diagnostic report: ${(err as Error).message}`);
  }

  const events: TimelineEvent[] = [...timelineEvents(), ...(req.events ?? [])];
  events.push({ time: time.getTime(), kind: 'trigger', reason: req.reason, message: errorRecord ? `${errorRecord.name}: ${errorRecord.message}`.slice(0, 500) : undefined });
  files.push({ name: ENTRY.timeline, data: json({ events }) });
  const tail = tailSnapshot();
  if (tail) files.push({ name: 'stdio.json', data: json(tail) });

  try {
    const excerpts = excerptsFor(allFrames, undefined, warnings);
    if (excerpts.length) files.push({ name: ENTRY.sources, data: json({ excerpts }) });
  } catch (err) {
    warnings.push(`source excerpts: ${(err as Error).message}`);
  }
  for (const e of req.entries ?? []) files.push({ name: e.name, data: json(e.value) });
  for (const e of req.rawEntries ?? []) files.push(e);

  let cluster: Manifest['cluster'];
  try {
    // At capture time, not start-up: in a worker Node has already loaded cluster, and removed NODE_UNIQUE_ID.
    const c = require('node:cluster') as import('node:cluster').Cluster;
    if (c.isWorker) cluster = { isWorker: true, workerId: c.worker?.id };
  } catch {}

  const host = hostname();
  const manifest: Omit<Manifest, 'files'> = {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    id: `${time.getTime().toString(36)}-${process.pid}-${++s.seq}`,
    reason: req.reason,
    time: time.toISOString(),
    pid: process.pid,
    ppid: process.ppid,
    hostname: host,
    threadId: 0,
    uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
    cwd: safeCwd(),
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    argv: redactor.redactArgv(process.argv),
    execArgv: redactor.redactArgv(process.execArgv),
    app: findApp(s.startCwd),
    hook: { version: getHookVersion(), addon: addonState() },
    cluster,
    trigger: req.trigger,
    redacted: redactor.names,
    warnings: warnings.length ? warnings.map((w) => redactor.redactString(w).slice(0, 500)) : undefined,
  };
  const { tgz } = assembleBundle(manifest, files);
  const path = writeAtomically(choice.dir, bundleFileName(time, req.reason, host, process.pid), tgz, (final) => {
    try {
      req.beforePublish?.(final);
    } catch (err) {
      hookFailure(`after writing the ${req.reason} bundle`, err);
    }
  });
  hookLog(`wrote ${path} (${req.reason}, ${formatSize(tgz.length)})`);
  try {
    enforceRetention(choice.dir, cfg.maxBundles, cfg.maxBytes, path);
  } catch (err) {
    hookFailure('bundle retention', err);
  }
  return { path, size: tgz.length, frames: stackFrames, written: { path, manifest, files, events, json } };
}

function safeCwd(): string {
  try {
    return process.cwd();
  } catch {
    return '';
  }
}

export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
