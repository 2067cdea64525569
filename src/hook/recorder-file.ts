import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Manifest, TimelineEvent } from '../bundle/types';
import type { Redactor } from '../bundle/redact';
import { chooseBundleDir, makeDirs } from './bundle-dir';
import { hookFailure } from './log';
import { state, timelineEvents } from './state';
import { drainUnsaved, tailSnapshot } from './stdio-tail';
import { getHookVersion } from './version';
import { RING_BYTES, Ring } from './recorder-ring';

/**
 * The persisted flight recorder: the timeline, appended to `<bundle folder>/.recorder/<host>-<pid>-<start>.ndjson`
 * every FLUSH_MS, so that a process killed by SIGKILL, or one that dies of a fatal error, leaves it behind.
 * `collect` turns the file of a dead process into a bundle (collect.ts). A clean exit removes it.
 *
 * File format (docs/bundle-format.md, "Recorder files"): NDJSON. The first line is the header
 * (`{"recorder": 1, pid, hostname, bootId, procStart, ...}`), then one timeline event per line, and
 * `{"kind": "stdio", "stream", "text"}` lines for the output tail. Lines are redacted before they are
 * written. A line cut short by the kill is skipped by the reader.
 *
 * Cost: a flush stringifies the new events and makes one write(2); nothing is fsync'ed (the page cache
 * outlives the process, not the kernel). The file is compacted when it passes MAX_FILE_BYTES.
 *
 * With the native addon, every event is also written at once into `<base>.ring`, a file mapped
 * MAP_SHARED (recorder-ring.ts): a write there is in the page cache immediately, so a SIGKILL loses
 * nothing, not even the last 500 ms. `collect` merges the ring's lines into the file's.
 */

export const RECORDER_VERSION = 1;
export const RECORDER_DIR = '.recorder';
const FLUSH_MS = 500;
const MAX_FILE_BYTES = 4 * 1024 * 1024;
const MAX_PENDING = 5000;

/** The process fields of a bundle manifest (a collected bundle's manifest is made from them), plus who it was. */
export interface RecorderHeader
  extends Pick<Manifest, 'pid' | 'ppid' | 'hostname' | 'node' | 'v8' | 'platform' | 'arch' | 'argv' | 'execArgv' | 'cwd' | 'hook' | 'cluster'> {
  recorder: number;
  /** Linux boot id and the process's start time in clock ticks since boot: with the pid, who it was. */
  bootId?: string;
  procStart?: number;
  startedAt: number;
  heapLimit: number;
  /** Names whose values the redaction replaced (never the values). */
  redacted?: string[];
}

interface Persisted {
  dir: string;
  base: string;
  path: string;
  fd: number;
  bytes: number;
  header: RecorderHeader;
  redactor: Redactor;
  /** Lines (JSON, redacted) or events (stringified and redacted in a batch at the next flush). */
  pending: (TimelineEvent | string)[];
  droppedPending: number;
  ring?: Ring;
}

let rec: Persisted | undefined;

export function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks after boot. The comm field may hold spaces and parens. */
export function procStartTime(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const n = Number(fields[19]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9.-]+/g, '_').slice(0, 64) || 'host';
}

/** Starts persisting. Called on the first turn of the loop, main thread only, after the recorder started. */
export function startPersist(heapLimit: number): void {
  if (rec) return;
  const s = state();
  const cfg = s.config;
  const dir = join(chooseBundleDir(cfg.dir, s.startCwd).dir, RECORDER_DIR);
  makeDirs(dir, 0o700);
  const { createRedactor } = require('../bundle/redact') as typeof import('../bundle/redact');
  const redactor = createRedactor(process.env, [...process.execArgv, ...process.argv], cfg.redact);
  // As control.ts registers it; performance.timeOrigin would load perf_hooks into every process.
  const startedAt = Math.round(Date.now() - process.uptime() * 1000);
  let cluster: RecorderHeader['cluster'];
  if (process.env.NODE_UNIQUE_ID !== undefined) cluster = { isWorker: true, workerId: Number(process.env.NODE_UNIQUE_ID) };
  const header: RecorderHeader = {
    recorder: RECORDER_VERSION,
    pid: process.pid,
    ppid: process.ppid,
    hostname: hostname(),
    bootId: readBootId(),
    procStart: procStartTime('self'),
    startedAt,
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    argv: redactor.redactArgv(process.argv),
    execArgv: redactor.redactArgv(process.execArgv),
    cwd: s.startCwd,
    hook: { version: getHookVersion(), addon: (require('../native') as typeof import('../native')).addonState() },
    heapLimit,
    cluster,
  };
  header.redacted = redactor.names;
  const base = `${safeName(header.hostname)}-${process.pid}-${startedAt}`;
  const path = join(dir, `${base}.ndjson`);
  const fd = openSync(path, 'w', 0o600);
  rec = { dir, base, path, fd, bytes: 0, header, redactor, pending: [], droppedPending: 0, ring: openRing(join(dir, `${base}.ring`)) };
  write(rec, [JSON.stringify(header), ...timelineEvents().map((e) => JSON.stringify(e))]);
  s.onRecord = (ev) => {
    const r = rec;
    if (!r) return;
    if (r.pending.length >= MAX_PENDING) {
      r.pending.shift();
      r.droppedPending++;
    }
    if (r.ring) {
      try {
        const line = r.redactor.redactJsonText(JSON.stringify(ev));
        r.ring.append(line);
        r.pending.push(line);
        return;
      } catch {
        r.ring = undefined;
      }
    }
    r.pending.push(ev);
  };
  setInterval(flushGuarded, FLUSH_MS).unref();
  process.on('exit', onExit);
}

/** The addon's mapped ring, when the addon is loaded; otherwise the 500 ms file writes alone. */
function openRing(path: string): Ring | undefined {
  try {
    const native = (require('../native') as typeof import('../native')).loadNative();
    if (!native.loaded || !native.addon.mapRing) return undefined;
    return new Ring(native.addon.mapRing(path, RING_BYTES), native.addon.releaseRing);
  } catch (err) {
    hookFailure('mapping the flight recorder ring', err);
    return undefined;
  }
}

function write(r: Persisted, lines: string[], redacted = false): void {
  if (!lines.length) return;
  const text = lines.join('\n') + '\n';
  const buf = Buffer.from(redacted ? text : r.redactor.redactJsonText(text));
  let off = 0;
  while (off < buf.length) off += writeSync(r.fd, buf, off, buf.length - off);
  r.bytes += buf.length;
}

/** Writes what was recorded since the last flush. Never throws; a failure stops persisting. */
export function flush(): void {
  const r = rec;
  if (!r) return;
  try {
    // Lines that went through the ring are redacted already; the others are redacted here, in one pass.
    const ready = r.pending.every((e) => typeof e === 'string');
    const lines = r.pending.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
    r.pending = [];
    if (r.droppedPending) {
      lines.unshift(JSON.stringify({ time: Date.now(), kind: 'recorder', message: `${r.droppedPending} events were dropped between two writes` }));
      r.droppedPending = 0;
    }
    const out = drainUnsaved().map((o) => JSON.stringify({ time: Date.now(), kind: 'stdio', stream: o.stream, text: o.text }));
    if (ready) {
      write(r, lines, true);
      write(r, out);
    } else write(r, [...lines, ...out]);
    if (r.bytes > MAX_FILE_BYTES) compact(r);
    r.ring?.release();
  } catch (err) {
    stop();
    hookFailure('persisting the flight recorder', err);
  }
}

const flushGuarded = () => flush();

/** Rewrites the file with what the rings hold now: the header, the events, the output tail. */
function compact(r: Persisted): void {
  const tmp = `${r.path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  const old = r.fd;
  r.fd = fd;
  r.bytes = 0;
  const lines = [JSON.stringify(r.header), ...timelineEvents().map((e) => JSON.stringify(e))];
  const tail = tailSnapshot();
  for (const [stream, t] of Object.entries(tail ?? {})) if (t.text) lines.push(JSON.stringify({ time: Date.now(), kind: 'stdio', stream, text: t.text }));
  write(r, lines);
  renameSync(tmp, r.path);
  closeSync(old);
}

/** Side files of this process's recorder (OOM snapshot, report): `<base>.<suffix>` in the recorder folder. */
export function sideFile(suffix: string): string | undefined {
  return rec ? join(rec.dir, `${rec.base}.${suffix}`) : undefined;
}

export function recorderDir(): string | undefined {
  return rec?.dir;
}

/** True when the recorder folder holds files other than this process's: a start-up collect has work. */
export function hasOthers(): boolean {
  if (!rec) return false;
  try {
    return require('node:fs').readdirSync(rec.dir).some((n: string) => !n.startsWith(rec!.base));
  } catch {
    return false;
  }
}

export function recorderPath(): string | undefined {
  return rec?.path;
}

export function recorderRedactor(): Redactor | undefined {
  return rec?.redactor;
}

function stop(): void {
  const r = rec;
  rec = undefined;
  state().onRecord = undefined;
  if (r) {
    try {
      closeSync(r.fd);
    } catch {}
  }
}

/** A clean exit (process.exit, end of work, or after an exception bundle): nothing to collect. */
function onExit(): void {
  const r = rec;
  if (!r) return;
  stop();
  for (const p of [r.path, join(r.dir, `${r.base}.ring`), join(r.dir, `${r.base}.heapsnapshot`), join(r.dir, `${r.base}.report.json`)]) {
    try {
      unlinkSync(p);
    } catch {}
  }
}
