import { existsSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { bundleFileName } from '../bundle/names';
import { FORMAT_NAME, FORMAT_VERSION, type Manifest, type TimelineEvent } from '../bundle/types';
import { assembleBundle, type BundleFile } from '../bundle/writer';
import { enforceRetention, writeAtomically } from './bundle-dir';
import { RECORDER_DIR, procStartTime, readBootId, type RecorderHeader } from './recorder-file';
import { readRing } from './recorder-ring';
import { crashEvidence, crashFrames } from './crash-record';
import type { CoreRecord } from './core';

/**
 * `collect`: turns the persisted recorders of processes that are gone into bundles.
 *
 * A recorder file belongs to a live process when its host and boot are this machine's and its pid is
 * running with the same start time; those are left alone. On another host (a shared volume) liveness
 * cannot be checked, so such a file is collected only once it has not changed for `staleMs`.
 *
 * Two collectors never take the same file: each claims it by renaming it first.
 */

export interface CollectOptions {
  /** Recorder files of other hosts count as dead after this long without a write. */
  staleMs?: number;
  maxBundles?: number;
  maxBytes?: number;
  /** Leave recorders whose heap snapshot is larger than this to a later `autopsy-ts collect`. */
  maxSnapshotBytes?: number;
  /** Leave recorders whose fatal-signal core is larger than this (it is hashed synchronously). Default: 256 MB for the hook, none for the CLI. */
  maxCoreBytes?: number;
  /** Who collects: 'cli', or 'hook' at a start-up. */
  by: string;
}

export interface Collected {
  recorder: string;
  bundle?: string;
  reason?: string;
  skipped?: string;
  error?: string;
}

export interface RecorderContents {
  header: RecorderHeader;
  events: TimelineEvent[];
  stdio: Record<string, { text: string; dropped: number }>;
  badLines: number;
}

const STDIO_KEEP = 64 * 1024;

/**
 * Pure: parses a recorder file's text, plus the lines of its mapped ring when there is one (the events
 * of the last moments, which the file may not have yet). A last line cut short by the kill is counted,
 * not fatal.
 */
export function parseRecorder(text: string, ringLines: string[] = []): RecorderContents {
  const lines = text.split('\n');
  if (ringLines.length) {
    const seen = new Set(lines);
    for (const l of ringLines) if (!seen.has(l)) lines.push(l);
  }
  let header: RecorderHeader | undefined;
  const events: TimelineEvent[] = [];
  const stdio: Record<string, { text: string; dropped: number }> = {};
  let badLines = 0;
  for (const line of lines) {
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      badLines++;
      continue;
    }
    if (!v || typeof v !== 'object') {
      badLines++;
      continue;
    }
    const o = v as Record<string, unknown>;
    if (!header) {
      if (o.recorder !== 1 || typeof o.pid !== 'number') throw new Error('not an autopsy-ts recorder file');
      header = o as unknown as RecorderHeader;
      continue;
    }
    if (typeof o.time !== 'number' || typeof o.kind !== 'string') {
      badLines++;
      continue;
    }
    if (o.kind === 'stdio' && (o.stream === 'stdout' || o.stream === 'stderr') && typeof o.text === 'string') {
      const t = (stdio[o.stream] ??= { text: '', dropped: 0 });
      t.text += o.text;
      if (t.text.length > STDIO_KEEP) {
        t.dropped += t.text.length - STDIO_KEEP;
        t.text = t.text.slice(t.text.length - STDIO_KEEP);
      }
      continue;
    }
    events.push(o as TimelineEvent);
  }
  if (!header) throw new Error('empty recorder file');
  events.sort((a, b) => a.time - b.time);
  return { header, events, stdio, badLines };
}

export type Liveness = 'alive' | 'dead' | 'unknown';

/** Is the process that wrote this header still running? */
export function liveness(h: RecorderHeader, now: { host: string; bootId?: string } = { host: hostname(), bootId: readBootId() }): Liveness {
  if (h.hostname !== now.host) return 'unknown';
  if (h.bootId && now.bootId && h.bootId !== now.bootId) return 'dead';
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
  }
  const start = procStartTime(h.pid);
  if (start === undefined) return process.platform === 'linux' ? 'dead' : 'unknown';
  return h.procStart === undefined || start === h.procStart ? 'alive' : 'dead';
}

export interface DeathVerdict {
  reason: string;
  /** How the reason was reached, in one line. */
  evidence: string;
}

/** Pure: why the process died, from what it left behind. */
export function deathReason(c: RecorderContents, fatalReport: { event?: string } | undefined, crashRecord: { signal?: string } | undefined): DeathVerdict {
  // V8's fatal out-of-memory ends in abort(): the SIGABRT record of issue 8 is how an OOM dies, so the
  // OOM evidence wins over it. Any other crash record is the reason itself.
  const near = c.events.filter((e) => e.kind === 'oom-near').pop();
  const oomReport = fatalReport && /heap out of memory|Allocation failed|heap limit/i.test(String(fatalReport.event ?? ''));
  const abort = crashRecord?.signal === 'SIGABRT';
  if (crashRecord && !(abort && (near || oomReport))) return { reason: 'fatal-signal', evidence: crashEvidence(crashRecord) };
  if (fatalReport) {
    const ev = String(fatalReport.event ?? '');
    if (oomReport) return { reason: 'oom', evidence: `Node's fatal-error report: ${ev.slice(0, 200)}` };
    return { reason: 'fatal-error', evidence: `Node's fatal-error report: ${ev.slice(0, 200)}` };
  }
  if (near) {
    const how = abort ? 'the process aborted (SIGABRT, recorded by the native handler)' : 'no exit was recorded';
    return { reason: 'oom', evidence: `${how}, and the heap had reached ${Math.round(Number(near.ratio) * 100)} % of its limit; inferred` };
  }
  return { reason: 'killed', evidence: 'no exit was recorded and nothing else is known: SIGKILL (the OOM killer, a supervisor) or a signal with no handler' };
}

/** Pure: a one-line account of the last minutes' memory, for the trigger (RSS and its trend). */
export function memoryTrend(events: TimelineEvent[]): { rss?: number; heapUsed?: number; rssMbPerMin?: number } {
  const samples = events.filter((e) => e.kind === 'sample' && typeof e.rss === 'number');
  if (!samples.length) return {};
  const last = samples[samples.length - 1];
  const windowStart = last.time - 5 * 60_000;
  const recent = samples.filter((s) => s.time >= windowStart);
  let rssMbPerMin: number | undefined;
  if (recent.length >= 2) {
    const first = recent[0];
    const minutes = (last.time - first.time) / 60_000;
    if (minutes > 0) rssMbPerMin = Math.round(((Number(last.rss) - Number(first.rss)) / 1024 ** 2 / minutes) * 10) / 10;
  }
  return { rss: Number(last.rss), heapUsed: Number(last.heapUsed), rssMbPerMin };
}

/** Finds Node's fatal-error report of this pid, written after the process started (AUTOPSY_FATAL_REPORT=1). */
function findFatalReport(dir: string, h: RecorderHeader): string | undefined {
  for (const name of safeList(dir)) {
    const m = /^report\.\d{8}\.\d{6}\.(\d+)\.\d+\.\d+\.json$/.exec(name);
    if (!m || Number(m[1]) !== h.pid) continue;
    try {
      if (statSync(join(dir, name)).mtimeMs >= h.startedAt - 1000) return join(dir, name);
    } catch {}
  }
  return undefined;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function collectorAlive(name: string): boolean {
  const m = /\.collecting-(\d+)$/.exec(name);
  if (!m) return false;
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Collects every dead recorder under `bundleDir/.recorder`; bundles go into `bundleDir`.
 * Never throws for one bad file: each result says what happened to it.
 */
export function collectDir(bundleDir: string, opts: CollectOptions): Collected[] {
  const dir = join(bundleDir, RECORDER_DIR);
  const names = safeList(dir);
  const out: Collected[] = [];
  const now = { host: hostname(), bootId: readBootId() };
  for (const name of names) {
    const isRecorder = name.endsWith('.ndjson');
    const abandoned = /\.ndjson\.collecting-\d+$/.test(name) && !collectorAlive(name);
    if (!isRecorder && !abandoned) continue;
    const path = join(dir, name);
    try {
      out.push(collectOne(bundleDir, dir, path, opts, now));
    } catch (err) {
      out.push({ recorder: path, error: (err as Error).message });
    }
  }
  return out;
}

function collectOne(bundleDir: string, dir: string, path: string, opts: CollectOptions, now: { host: string; bootId?: string }): Collected {
  const text = readFileSync(path, 'utf8');
  const base = basename(path).replace(/\.ndjson(\.collecting-\d+)?$/, '');
  const ringPath = join(dir, `${base}.ring`);
  let ringLines: string[] = [];
  let ringProblem: string | undefined;
  if (existsSync(ringPath)) {
    try {
      ringLines = readRing(readFileSync(ringPath));
    } catch (err) {
      ringProblem = (err as Error).message;
    }
  }
  const contents = parseRecorder(text, ringLines);
  const h = contents.header;
  if (h.pid === process.pid && h.hostname === now.host) return { recorder: path, skipped: 'this process' };
  const live = liveness(h, now);
  if (live === 'alive') return { recorder: path, skipped: 'the process is running' };
  if (live === 'unknown') {
    const age = Date.now() - statSync(path).mtimeMs;
    if (age < (opts.staleMs ?? 10 * 60_000)) return { recorder: path, skipped: `written by ${h.hostname}, which this machine cannot check; untouched for ${Math.round(age / 1000)} s only` };
  }
  const snapPath = join(dir, `${base}.heapsnapshot`);
  const snapBytes = existsSync(snapPath) ? statSync(snapPath).size : 0;
  if (opts.maxSnapshotBytes !== undefined && snapBytes > opts.maxSnapshotBytes) {
    return { recorder: path, skipped: `its heap snapshot is ${Math.round(snapBytes / 1024 ** 2)} MB: run autopsy-ts collect` };
  }

  // AUTOPSY_FATAL_CORE=1: the handler's core beside the record. It is hashed here, synchronously.
  const corePath = join(dir, `${base}.core`);
  const coreBytes = existsSync(corePath) ? statSync(corePath).size : 0;
  const maxCore = opts.maxCoreBytes ?? (opts.by === 'hook' ? 256 * 1024 ** 2 : undefined);
  if (maxCore !== undefined && coreBytes > maxCore) {
    return { recorder: path, skipped: `its core is ${Math.round(coreBytes / 1024 ** 2)} MB: run autopsy-ts collect` };
  }

  // Claim it: whoever renames first collects it.
  const claimed = `${join(dir, base)}.ndjson.collecting-${process.pid}`;
  try {
    renameSync(path, claimed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { recorder: path, skipped: 'collected by another process' };
    throw err;
  }

  const fatalPath = findFatalReport(dir, h);
  const fatal = fatalPath ? (readJson(fatalPath) as { header?: { event?: string } } | undefined) : undefined;
  const crashPath = join(dir, `${base}.crash.json`);
  const crash = existsSync(crashPath) ? (readJson(crashPath) as { signal?: string; nativeFrames?: unknown } | undefined) : undefined;
  // The handler could only write module + file offset; name the frames now, from the modules' symbol tables.
  if (crash && Array.isArray(crash.nativeFrames)) {
    const { Symbolizer } = require('../native/symbolize') as typeof import('../native/symbolize');
    const sym = new Symbolizer();
    for (const f of crash.nativeFrames.slice(0, 64) as { module?: unknown; offset?: unknown; symbol?: string }[]) {
      if (f && typeof f.module === 'string' && (typeof f.offset === 'string' || typeof f.offset === 'number')) f.symbol = sym.name(f.module, f.offset);
    }
  }
  const verdict = deathReason(contents, fatal ? { event: fatal.header?.event } : undefined, crash);

  const last = contents.events.length ? contents.events[contents.events.length - 1].time : statSync(claimed).mtimeMs;
  const time = new Date(last);
  const bundleName = bundleFileName(time, verdict.reason, h.hostname, h.pid);
  const core = crash ? fatalCore(bundleDir, corePath, bundleName, crash as FatalRecordCore, h) : undefined;
  const json = (v: unknown) => Buffer.from(JSON.stringify(v, null, 1) + '\n');
  const files: BundleFile[] = [];
  const events = [...contents.events, { time: last, kind: 'trigger', reason: verdict.reason, message: verdict.evidence }];
  files.push({ name: 'timeline.json', data: json({ events }) });
  if (Object.keys(contents.stdio).length) files.push({ name: 'stdio.json', data: json(contents.stdio) });
  const nearReportPath = join(dir, `${base}.report.json`);
  // Node wrote the fatal-error report itself, unredacted: its own environment says what is secret.
  const report = fatal ? redactFatalReport(fatal) : existsSync(nearReportPath) ? readJson(nearReportPath) : undefined;
  if (report) files.push({ name: 'report.json', data: json(report) });
  if (crash) files.push({ name: 'native-crash.json', data: json(crash) });
  if (core && 'record' in core) files.push({ name: 'core.json', data: json(core.record) });
  // Issue 8: the crash record's named JS frames become the bundle's stack (definition lines).
  const crashStack = crash ? crashFrames(crash) : [];
  if (crashStack.length) files.push({ name: 'stack.json', data: json({ thread: 'main', from: 'fatal-signal handler', lines: 'where each function is defined', frames: crashStack }) });
  const heapEntry = 'heap/oom.heapsnapshot.gz';
  if (snapBytes) {
    const zlib = require('node:zlib') as typeof import('node:zlib');
    files.push({ name: heapEntry, data: zlib.gzipSync(readFileSync(snapPath), { level: 1 }) });
  }

  const trend = memoryTrend(contents.events);
  const manifest: Omit<Manifest, 'files'> = {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    id: `${last.toString(36)}-${h.pid}-collected`,
    reason: verdict.reason,
    time: time.toISOString(),
    pid: h.pid,
    ppid: h.ppid,
    hostname: h.hostname,
    threadId: 0,
    uptimeSeconds: Math.max(0, Math.round(last - h.startedAt) / 1000),
    cwd: h.cwd,
    node: h.node,
    v8: h.v8,
    platform: h.platform,
    arch: h.arch,
    argv: h.argv,
    execArgv: h.execArgv,
    hook: h.hook,
    cluster: h.cluster,
    trigger: {
      collected: { by: opts.by, pid: process.pid, at: new Date().toISOString() },
      evidence: verdict.evidence,
      lastEventAt: time.toISOString(),
      ...trend,
      heap: snapBytes ? { entry: heapEntry, bytes: snapBytes } : undefined,
      fatalReport: fatalPath ? basename(fatalPath) : undefined,
      unreadableLines: contents.badLines || undefined,
      ring: existsSync(ringPath) ? { lines: ringLines.length, problem: ringProblem } : undefined,
      core: core && ('record' in core ? { path: core.record.path, size: core.record.size, sha256: core.record.sha256, nodeBuildId: core.record.nodeBuildId } : { skipped: core.skipped }),
    },
    redacted: h.redacted ?? [],
  };
  const { tgz } = assembleBundle(manifest, files);
  const bundle = writeAtomically(bundleDir, bundleName, tgz);
  if (core && 'record' in core) pruneCoresQuietly(bundleDir, core.record.path);
  for (const p of [claimed, ringPath, snapPath, nearReportPath, crashPath, fatalPath, `${corePath}.tmp-${h.pid}`]) {
    if (!p) continue;
    try {
      unlinkSync(p);
    } catch {}
  }
  try {
    enforceRetention(bundleDir, opts.maxBundles ?? 50, opts.maxBytes ?? 2 * 1024 ** 3, bundle);
  } catch {}
  return { recorder: path, bundle, reason: verdict.reason };
}

interface FatalRecordCore {
  core?: { state?: string; path?: string; size?: number; diskBytes?: number; writeMs?: number; dontForkRanges?: number; error?: string };
}

/**
 * The core the fatal-signal handler wrote (AUTOPSY_FATAL_CORE=1): moved beside the bundle, named like
 * it, hashed, and referenced as a `dump --core` core is (core.json, trigger.core). The crash record's
 * `core.path` is updated to where the core now is. Never throws: a failure is {skipped} with the reason.
 */
function fatalCore(bundleDir: string, corePath: string, bundleName: string, crash: FatalRecordCore, h: RecorderHeader): { record: CoreRecord } | { skipped: string } | undefined {
  const c = crash.core;
  if (!c || typeof c !== 'object') return undefined;
  if (c.state !== 'written') return { skipped: `the fatal-signal handler wrote no core: ${typeof c.error === 'string' ? c.error : String(c.state ?? 'unknown')}` };
  if (!existsSync(corePath)) return { skipped: `the core the handler wrote is gone: ${corePath}` };
  try {
    const target = join(bundleDir, bundleName.replace(/\.tgz$/, '.core'));
    renameSync(corePath, target);
    c.path = target;
    const { coreRecordOf } = require('./core') as typeof import('./core');
    const note = processNote(crash);
    const record = coreRecordOf(target, { nodePath: note.execPath ?? '', node: note.node ?? h.node, writeMs: typeof c.writeMs === 'number' ? c.writeMs : 0, dontForkRanges: typeof c.dontForkRanges === 'number' ? c.dontForkRanges : 0 });
    return { record };
  } catch (err) {
    return { skipped: `the core could not be moved beside the bundle: ${(err as Error).message}` };
  }
}

function processNote(crash: unknown): { node?: string; execPath?: string } {
  const p = (crash as { process?: { node?: unknown; execPath?: unknown } }).process;
  return { node: typeof p?.node === 'string' ? p.node : undefined, execPath: typeof p?.execPath === 'string' ? p.execPath : undefined };
}

function pruneCoresQuietly(bundleDir: string, keepPath: string): void {
  try {
    const { pruneCores, readCoreConfig } = require('./core') as typeof import('./core');
    pruneCores(bundleDir, readCoreConfig(process.env).config.keep, keepPath);
  } catch {}
}

function redactFatalReport(report: unknown): unknown {
  const { createRedactor } = require('../bundle/redact') as typeof import('../bundle/redact');
  const r = report as { environmentVariables?: NodeJS.ProcessEnv; header?: { commandLine?: string[] } };
  const redactor = createRedactor(r.environmentVariables ?? {}, Array.isArray(r.header?.commandLine) ? r.header!.commandLine! : []);
  return redactor.redactReport(report);
}

/** The bundle folder that holds a recorder folder (for messages). */
export function bundleDirOf(recorderFile: string): string {
  return dirname(dirname(recorderFile));
}
