import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readdirSync, readFileSync, readSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { bundleFileName } from '../bundle/names';
import { findCEntryFpOffset, loadNative, type NativeAddon } from '../native';

/**
 * Core dumps of the live process (native/): the addon forks the main thread from a signal handler and
 * the child writes the ELF core beside the bundle, while the app carries on. This module decides
 * whether it may (platform, addon, free disk, free memory), and records what was written.
 */
export interface CoreConfig {
  timeoutMs: number;
  /** Free bytes that must remain on the core's file system, before and while the core is written. */
  minFree: number;
  /** MemAvailable below which the writer is stopped (the app's copy-on-write pages cost memory). */
  minAvailable: number;
  /** Cores kept in the bundle folder; older autopsy-*.core files are removed. */
  keep: number;
}

export const CORE_DEFAULTS: CoreConfig = { timeoutMs: 120_000, minFree: 1024 ** 3, minAvailable: 256 * 1024 ** 2, keep: 3 };

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i;

function bytes(v: string): number | undefined {
  const m = SIZE_RE.exec(v);
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '']);
}

/** Pure: AUTOPSY_CORE_* settings; bad values keep the default and give one line each. */
export function readCoreConfig(env: NodeJS.ProcessEnv): { config: CoreConfig; problems: string[] } {
  const config = { ...CORE_DEFAULTS };
  const problems: string[] = [];
  const take = (name: string, parse: (v: string) => number | undefined, set: (n: number) => void, expected: string) => {
    const v = env[name];
    if (v === undefined) return;
    const n = parse(v);
    if (n === undefined || !Number.isFinite(n)) problems.push(`ignoring ${name}=${JSON.stringify(v).slice(0, 80)}: expected ${expected}`);
    else set(n);
  };
  const seconds = (v: string) => (/^\s*\d+(\.\d+)?\s*$/.test(v) && Number(v) > 0 ? Number(v) * 1000 : undefined);
  const count = (v: string) => (/^\s*\d+\s*$/.test(v) && Number(v) >= 1 ? Number(v) : undefined);
  take('AUTOPSY_CORE_TIMEOUT', seconds, (n) => (config.timeoutMs = n), 'seconds');
  take('AUTOPSY_CORE_MIN_FREE', bytes, (n) => (config.minFree = n), 'a size such as 1G or 500M');
  take('AUTOPSY_CORE_MIN_AVAILABLE', bytes, (n) => (config.minAvailable = n), 'a size such as 256M');
  take('AUTOPSY_CORE_KEEP', count, (n) => (config.keep = n), 'a whole number >= 1');
  return { config, problems };
}

/** What core.json holds, and what the manifest's trigger.core points to. */
export interface CoreRecord {
  path: string;
  /** Apparent size in bytes: the core is sparse, see diskBytes. */
  size: number;
  diskBytes: number;
  sha256: string;
  /** GNU build-id of the node binary that the core needs for symbols. */
  nodeBuildId?: string;
  nodePath: string;
  node: string;
  isolate?: string;
  cEntryFpOffset?: number;
  /** How long the main thread was stopped: the fork, in the signal handler. */
  forkMs: number;
  writeMs: number;
  scanMs: number;
  dontForkRanges: number;
  /** dump --embed-core: the core's gzip copy inside the bundle (the core beside it stays). */
  embedded?: { entry: string; gzipBytes: number; gzipSha256: string; gzipMs: number } | { skipped: string };
}

export type CoreOutcome = { record: CoreRecord } | { skipped: string };

/** Pure: may a core of about `need` bytes be written with `free` bytes free? */
export function diskVerdict(need: number, free: number, minFree: number): string | undefined {
  const mb = (n: number) => `${Math.round(n / 1024 ** 2)} MB`;
  if (free - need < minFree) return `not enough disk space: the core needs about ${mb(need)}, ${mb(free)} free, ${mb(minFree)} must stay free (AUTOPSY_CORE_MIN_FREE)`;
  return undefined;
}

/** Resident anonymous memory, about what the sparse core holds on disk. */
function residentAnon(): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

function memAvailable(): number | undefined {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

let probe: { isolate: string; cEntryFpOffset?: number } | undefined;

/**
 * Writes a core of this process into `dir`, named like the bundle that will reference it.
 * Never throws: a refusal or failure comes back as {skipped} with the reason.
 */
export async function writeCoreInto(dir: string, reason: string, env: NodeJS.ProcessEnv = process.env): Promise<CoreOutcome> {
  try {
    if (process.platform !== 'linux' || process.arch !== 'x64') return { skipped: `core dumps need Linux x64 (this is ${process.platform} ${process.arch})` };
    const native = loadNative(env);
    if (!native.loaded) return { skipped: `native addon unavailable: ${native.reason}` };
    const addon = native.addon;
    if (!addon.coreSupported || !addon.writeCore) return { skipped: 'this build of the native addon cannot write cores' };
    const { config } = readCoreConfig(env);

    const need = Math.ceil(residentAnon() * 1.1);
    const fs = statfsSync(dir);
    const refusal = diskVerdict(need, fs.bavail * fs.bsize, config.minFree);
    if (refusal) return { skipped: refusal };
    const avail = memAvailable();
    if (avail !== undefined && avail < config.minAvailable * 2) return { skipped: `not enough free memory: ${Math.round(avail / 1024 ** 2)} MB available, the writer needs headroom above ${Math.round(config.minAvailable / 1024 ** 2)} MB (AUTOPSY_CORE_MIN_AVAILABLE)` };

    const name = bundleFileName(new Date(), reason, hostname(), process.pid).replace(/\.tgz$/, '.core');
    const path = join(dir, name);
    const note = coreNote(addon);
    const r = await addon.writeCore({ path, timeoutMs: config.timeoutMs, minAvailable: config.minAvailable, minFree: config.minFree, note });
    if (!r.ok) return { skipped: `core dump failed: ${r.error ?? 'no reason given'}` };
    const { buildIdOf } = require('../native/elf') as typeof import('../native/elf'); // a small ELF reader shared with src/core, not the analyser
    const record: CoreRecord = {
      path,
      size: r.size,
      diskBytes: r.diskBytes,
      sha256: await sha256File(path),
      nodeBuildId: buildIdOf(process.execPath),
      nodePath: process.execPath,
      node: process.version,
      isolate: probe?.isolate,
      cEntryFpOffset: probe?.cEntryFpOffset,
      forkMs: round(r.forkMs),
      writeMs: round(r.writeMs),
      scanMs: round(r.scanMs),
      dontForkRanges: r.dontForkRanges,
    };
    pruneCores(dir, config.keep, path);
    return { record };
  } catch (err) {
    return { skipped: `core dump failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * The AUTOPSY note's text ("key=value" lines) for a core of this process. On the main thread inside a
 * JS->C++ call, the probe finds the isolate's c_entry_fp (issue 8's walk). Known offsets first (confirmed
 * from V8's code, src/core/js-frames.ts KNOWN_C_ENTRY_FP): the run-time probe picked 424 on Node 20,
 * where the field is at 384.
 */
export function coreNote(addon: NativeAddon): string {
  const known: Record<string, number> = { '11.3': 384, '13.6': 320 };
  const v8 = process.versions.v8.split('.').slice(0, 2).join('.');
  if (!probe && addon.probeIsolate().mainThread) probe = { isolate: addon.mainIsolate, cEntryFpOffset: known[v8] ?? findCEntryFpOffset(addon) };
  const lines = [`node=${process.version}`, `v8=${process.versions.v8}`, `execPath=${process.execPath}`, `pid=${process.pid}`, `isolate=${probe?.isolate ?? addon.mainIsolate}`, probe?.cEntryFpOffset !== undefined ? `cEntryFpOffset=${probe.cEntryFpOffset}` : '', `time=${new Date().toISOString()}`];
  return lines.filter(Boolean).join('\n') + '\n';
}

/** The record of a core written elsewhere (the fatal-signal handler's): hashed here, synchronously. */
export function coreRecordOf(path: string, extra: Partial<CoreRecord> = {}): CoreRecord {
  const { buildIdOf } = require('../native/elf') as typeof import('../native/elf');
  const st = statSync(path);
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1024 * 1024);
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return { path, size: st.size, diskBytes: st.blocks * 512, sha256: h.digest('hex'), nodeBuildId: undefined, nodePath: '', node: '', forkMs: 0, writeMs: 0, scanMs: 0, dontForkRanges: 0, ...extra, ...(extra.nodePath ? { nodeBuildId: buildIdOf(extra.nodePath) } : {}) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Streams: a core is gigabytes, and the event loop keeps turning between chunks. */
function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1024 * 1024 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

const CORE_NAME_RE = /^autopsy-\d{8}T\d{9}Z-.+\.core$/;

/** Keeps the newest `keep` cores of ours in the folder (names sort by time). */
export function pruneCores(dir: string, keep: number, justWritten: string): void {
  try {
    const cores = readdirSync(dir).filter((n) => CORE_NAME_RE.test(n)).sort();
    for (const n of cores.slice(0, Math.max(0, cores.length - keep))) {
      const p = join(dir, n);
      if (p !== justWritten && statSync(p).isFile()) unlinkSync(p);
    }
  } catch {}
}

/** The entry of an embedded core in the bundle. */
export function embeddedEntryName(corePath: string): string {
  return `core/${basename(corePath)}.gz`;
}

export interface GzippedCore {
  entry: string;
  /** A temporary file beside the core; the caller removes it. */
  path: string;
  gzipBytes: number;
  gzipSha256: string;
  gzipMs: number;
}

/**
 * Compresses the core into a temporary file, streamed (64 KB at a time, never whole in memory), at
 * gzip level 1: a core is mostly zero pages and V8 heap, and level 1 keeps the CPU cost down. The
 * sha256 of the compressed bytes is taken on the way. The free-disk rule of the core applies again.
 */
export async function gzipCore(record: CoreRecord, env: NodeJS.ProcessEnv = process.env): Promise<GzippedCore> {
  const { config } = readCoreConfig(env);
  const fs = statfsSync(record.path.slice(0, record.path.length - basename(record.path).length) || '.');
  const refusal = diskVerdict(Math.ceil(record.diskBytes / 2), fs.bavail * fs.bsize, config.minFree);
  if (refusal) throw new Error(refusal);
  const tmp = `${record.path}.gz.${process.pid}.tmp`;
  const t0 = performance.now();
  const h = createHash('sha256');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(record.path, { highWaterMark: 64 * 1024 }), createGzip({ level: 1 }), count, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
  return { entry: embeddedEntryName(record.path), path: tmp, gzipBytes: bytes, gzipSha256: h.digest('hex'), gzipMs: round(performance.now() - t0) };
}
