import { join } from 'node:path';

/**
 * The native addon (native/), loaded through node-gyp-build so that prebuilt binaries can ship later.
 * When it is missing, fails to load, or AUTOPSY_NATIVE=0 asks for the fallback, every caller gets
 * "unavailable" with the reason, and everything that does not need the addon carries on.
 */
export interface WriteCoreOptions {
  path: string;
  timeoutMs?: number;
  /** Kill the writer when MemAvailable falls below this (bytes). */
  minAvailable?: number;
  /** Kill the writer when the core's file system has less free space than this (bytes). */
  minFree?: number;
  /** Text for the core's AUTOPSY note: "key=value" lines. */
  note?: string;
}

export interface WriteCoreResult {
  ok: boolean;
  error?: string;
  path: string;
  size: number;
  diskBytes: number;
  scanMs: number;
  madviseMs: number;
  signalMs: number;
  forkMs: number;
  writeMs: number;
  dontForkRanges: number;
  dontForkBytes: number;
  childPid: number;
}

export interface IsolateProbe {
  isolate: string;
  mainThread: boolean;
  /** [offset in the isolate, value minus our frame's address] of fields pointing just above our frame. */
  candidates?: [number, number][];
  sp: string;
}

export interface NativeAddon {
  coreSupported: boolean;
  writeCore?: (options: WriteCoreOptions) => Promise<WriteCoreResult>;
  probeIsolate: () => IsolateProbe;
  /** A new file of `bytes`, mapped MAP_SHARED, as a Buffer (the flight recorder's ring; Linux/POSIX). */
  mapRing?: (path: string, bytes: number) => Buffer;
  /** Its pages leave the process's RSS (MADV_DONTNEED); they stay in the page cache, nothing is lost. */
  releaseRing?: (buf: Buffer) => boolean;
  mainIsolate: string;
  /** Whether this environment runs on the process's first thread (worker_threads.isMainThread). */
  mainThread?: boolean;
  /** Main thread: libuv's idle time of this loop in ns (what performance.eventLoopUtilization() reads), or -1. */
  loopIdleNs?: () => number;
  /** v8.getHeapStatistics().heap_size_limit, without the v8 module. */
  heapSizeLimit?: () => number;
  // Issue 8 (native/src/js-stack.cc, fatal-signals.cc): Linux x64 builds only.
  /** Main thread: follow V8's code events so that sampled frames can be named. */
  startCodeMap?: () => { ok: boolean; error?: string; tookMs?: number; entries?: number };
  stopCodeMap?: () => void;
  codeMapStats?: () => { on: boolean; entries: number; events: number; dropped: number; approxBytes: number };
  /** Any thread but the main one: the main thread's JS frames, from a signal handler running on it. */
  sampleMainThread?: (options?: { timeoutMs?: number; attempts?: number }) => MainThreadSample;
  /** Main thread: handlers for fatal signals writing a crash record at `path`. */
  armFatal?: (options: {
    path: string;
    signals?: number[];
    note?: string;
    /** AUTOPSY_FATAL_CORE=1: the handler forks a child that writes a core there (AUTOPSY note text, limits). */
    core?: { path: string; note?: string; timeoutMs?: number; minFree?: number; minAvailable?: number };
  }) => { ok: boolean; error?: string; signals: number[] };
  disarmFatal?: () => void;
  /**
   * Main thread, once (native/src/gc-watch.cc): V8's GC callbacks count collections; onWake runs after a
   * major one, a pause of minEventMs or more, or one that leaves the heap at or above setGcWakeAbove's level.
   */
  startGcWatch?: (onWake: (heapUsed: number, major: boolean) => void, minEventMs: number) => boolean;
  setGcWakeAbove?: (bytes: number) => void;
  /** The collections since the last call, and the major or long ones one by one (at most 64; the rest counted as dropped). */
  drainGc?: () => { count: number; ms: number; major: number; dropped: number; events: { time: number; kind: string; durationMs: number; heapUsed: number }[] };
  /** Main thread, once (native/src/heartbeat.cc): the hang watchdog's heartbeat as a libuv timer (src/hook/hang.ts). */
  startBeat?: (slots: Int32Array, intervalMs: number, thresholdMs: number, uptimeMs: number, onFreed: (gapMs: number) => void) => boolean;
  /** The hook blocked the loop on purpose: the gap up to now is no hang. */
  restBeat?: () => void;
  /** The beats' delays (ms) since the last call. */
  drainBeatDelays?: () => number[];
  /** Issue 4 (native/src/heap-numbers.cc): the heap snapshot parser's number loop (RecordScanner in src/heap/parser.ts). */
  scanHeapRecords?: (buf: Uint8Array, start: number, afterNumber: boolean, section: number, arrays: ArrayLike<unknown>[], params: Float64Array, io: Float64Array) => number;
  /** native/src/heap-numbers.cc: the whole pages inside the view go back to the system (read as zeros after); returns the bytes. */
  releasePages?: (view: ArrayBufferView) => number;
}

export interface MainThreadSample {
  ok: boolean;
  error?: string;
  signals?: number;
  tookMs?: number;
  resolveMs?: number;
  vmState?: number;
  hasJs?: boolean;
  pc?: string;
  codeMap?: boolean;
  /** Innermost first; `name` is the code map's name of the code holding `pc`. */
  frames?: { pc: string; name?: string }[];
}

export type NativeStatus = { loaded: true; addon: NativeAddon } | { loaded: false; reason: string };

/** The package root: dist/src/native/ is three levels below it, src/native/ two (tsx). */
const ROOT = join(__dirname, '..', '..', __dirname.includes(join('dist', 'src')) ? '..' : '');

let status: NativeStatus | undefined;

/** Loads the addon once; never throws. */
export function loadNative(env: NodeJS.ProcessEnv = process.env): NativeStatus {
  if (status) return status;
  status = tryLoad(env);
  return status;
}

function tryLoad(env: NodeJS.ProcessEnv): NativeStatus {
  if (/^(0|false|no|off)$/i.test(env.AUTOPSY_NATIVE ?? '')) return { loaded: false, reason: 'turned off by AUTOPSY_NATIVE=0' };
  try {
    const gypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const addon = gypBuild(join(ROOT, 'native')) as NativeAddon;
    if (!addon || typeof addon.probeIsolate !== 'function') return { loaded: false, reason: 'the addon does not export what this version expects' };
    return { loaded: true, addon };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { loaded: false, reason: `not built or not loadable: ${msg.slice(0, 300)}` };
  }
}

/** The addon when it is loaded, else undefined (for callers that have a fallback of their own). */
export function nativeAddon(): NativeAddon | undefined {
  const n = loadNative();
  return n.loaded ? n.addon : undefined;
}

/** For manifest.hook.addon. */
export function addonState(): 'loaded' | 'unavailable' {
  return loadNative().loaded ? 'loaded' : 'unavailable';
}

/**
 * The offset of the isolate's c_entry_fp, for the core's AUTOPSY note (issue 8 walks JS frames from it):
 * probed at two JS stack depths, the field that keeps its distance to the addon's frame is the exit
 * frame's fp; fields with a fixed value (handler, js_entry_sp) drop out. Undefined when ambiguous.
 */
export function findCEntryFpOffset(addon: NativeAddon): number | undefined {
  const shallow = addon.probeIsolate();
  const deep = (n: number): IsolateProbe => (n === 0 ? addon.probeIsolate() : deep(n - 1));
  const deeper = deep(24);
  if (!shallow.mainThread || !shallow.candidates || !deeper.candidates) return undefined;
  return pickCEntryFpOffset(shallow.candidates, deeper.candidates);
}

/** Pure: the smallest-distance offset present in both probes with the same distance. */
export function pickCEntryFpOffset(a: [number, number][], b: [number, number][]): number | undefined {
  const same = a.filter(([off, d]) => b.some(([o2, d2]) => o2 === off && d2 === d)).sort((x, y) => x[1] - y[1]);
  return same.length ? same[0][0] : undefined;
}
