import { dirname, join } from 'node:path';
import type * as CaptureModule from './capture';
import type { Config } from './config';
import { beatAge, beatValue } from './hang-detector';
import type { ThreadProbe } from './hang-probe';
import { hookFailure } from './log';
import { record, state } from './state';

/**
 * The main thread's half of hang capture: a heartbeat into shared memory that the watchdog worker
 * reads, and the functions the worker calls on this thread, through an inspector session, while the
 * event loop is frozen (Runtime.evaluate runs them inside V8's interrupt, between two statements of
 * the blocking code, so the JS stack under them is the blocked one).
 */

/** Layout of the shared Int32Array. */
export const SLOT = {
  /** beatValue() of the main thread's last heartbeat. */
  BEAT: 0,
  /** 1 once the heartbeat runs. */
  STARTED: 1,
  /** The last hang episode that has a bundle; whoever claims it with compareExchange writes it. */
  WRITTEN: 2,
  /** 1 while the hook itself blocks the loop on purpose (a heap snapshot for OOM or a leak): not a hang. */
  QUIET: 3,
  /** Dump requests the watchdog answered while the main thread was blocked (see servedByWatchdog). */
  SERVED: 4,
  /** A dump offered to the main thread by the watchdog: 1 offered, 2 taken by the main thread, 3 by the watchdog. */
  DUMP: 5,
  /** The episode whose bundle the watchdog is writing or ending in its thread (0: none); set before its news is posted. */
  WRITING: 6,
} as const;

/**
 * At exit, how long the main thread waits for a bundle the watchdog is writing in its thread at that
 * moment, so as to end it (a block in native code that ends with the exit): the worker stops with the
 * process, and without its news the bundle would say `ongoing: true` for ever. Only then, and bounded.
 */
const EXIT_WAIT_MS = 2000;

export const HANG_KEY = Symbol.for('autopsy-ts.hang');

export interface WatchdogData {
  sab: SharedArrayBuffer;
  thresholdMs: number;
  intervalMs: number;
  config: Config;
  startCwd: string;
  pid: number;
  /** The watchdog tells the main thread of the bundles it wrote itself (WatchdogNews), for readNews(). */
  news?: import('node:worker_threads').MessagePort;
}

/**
 * From the watchdog: a bundle it wrote in its thread (a block in native code), as it stands now, or that
 * its episode ended. Read synchronously (receiveMessageOnPort), when the loop is freed and at exit.
 */
export type WatchdogNews =
  | { episode: number; hang: HangRecord; written: Omit<CaptureModule.WrittenBundle, 'json'> }
  | { episode: number; recovered: true };

/** What the worker knows when it calls capture() here. */
export interface HangInfo {
  episode: number;
  thresholdMs: number;
  /** Epoch ms of the last heartbeat before the block. */
  blockedSince: number;
  detectedAt: number;
  /** ms from reaching the threshold to detection. */
  detectionLagMs: number;
  probe: ThreadProbe;
  inspectorPort?: string;
}

export interface HangReply {
  path?: string;
  skipped?: string;
  heapUsed?: number;
  top?: { function: string; file: string; line: number }[];
}

export interface HangRecord extends HangInfo {
  thread: 'main';
  /** 'captured' (inspector), or why not: the main thread never answered. */
  jsStack: 'captured' | string;
  /** Issue 8: how the JS stack was had when the main thread could not answer: the addon's signal sampler. */
  jsStackFrom?: 'inspector' | 'signal sampler';
  sampler?: { tookMs?: number; signals?: number; vmState?: number; frames?: { pc: string; name?: string }[]; lines?: string; problem?: string };
  endedAt?: number;
  durationMs?: number;
  /** Still blocked when the bundle was last written. */
  ongoing: boolean;
  /** 'exit': the process exited before its event loop turned again; the end is the exit. */
  endedBy?: 'exit';
  memory?: NodeJS.MemoryUsage;
  locals?: LocalsRecord;
  heap?: { entry?: string; bytes?: number; gzipBytes?: number; tookMs?: number; lineEndsMs?: number; skipped?: string; headroom?: string };
  /** AUTOPSY_HANG_CORE=1: the core written beside the bundle (core.json has its record), or why not. */
  core?: { path: string } | { skipped: string };
}

export interface LocalsRecord {
  frames: { function: string; url: string; line: number; column: number; scopes: { type: string; vars: Record<string, string> }[] }[];
  tookMs: number;
  problem?: string;
}

interface Pending {
  episode: number;
  hang: HangRecord;
  written: CaptureModule.WrittenBundle;
}

let hb: Int32Array | undefined;
let beatIntervalMs = 0;
const lateness: number[] = [];

/** The addon's heartbeat (native/src/heartbeat.cc), when it runs instead of the JS timer. */
let nativeBeat: { rest: () => void; drain: () => number[] } | undefined;

/** The delays (ms) of the beats since the last call, for the flight recorder's samples. */
function drainDelays(): number[] {
  return nativeBeat ? nativeBeat.drain() : lateness.splice(0, lateness.length);
}
let lastBeatMs = 0;
let thresholdMs = 0;
let pending: Pending | undefined;

function capture(): typeof CaptureModule {
  return require('./capture') as typeof CaptureModule;
}

function uptimeMs(): number {
  return process.uptime() * 1000;
}

/** A heartbeat costs an uptime read and an atomic store (well under a microsecond). */
function beat(): void {
  const now = uptimeMs();
  Atomics.store(hb!, SLOT.BEAT, beatValue(now));
  const gap = now - lastBeatMs;
  lastBeatMs = now;
  // The beat's lateness is the event loop's delay: the flight recorder reads it instead of running a
  // second timer (monitorEventLoopDelay) of its own. Bounded: the sampler drains it every second.
  if (lateness.length < 4096) lateness.push(Math.max(0, gap - beatIntervalMs));
  if (gap > thresholdMs) loopFreed(gap);
}

/**
 * The same heartbeat as beat(), as a libuv timer in the addon: no JS runs per beat, which halves what
 * an idle process pays for it (docs/performance.md). Its only call into JS is at the end of a block.
 */
function startNativeBeat(intervalMs: number): boolean {
  try {
    const a = (require('../native') as typeof import('../native')).nativeAddon();
    if (!a?.startBeat || !a.restBeat || !a.drainBeatDelays) return false;
    if (!a.startBeat(hb!, intervalMs, thresholdMs, uptimeMs(), loopFreed)) return false;
    nativeBeat = { rest: a.restBeat, drain: a.drainBeatDelays };
    return true;
  } catch (err) {
    hookFailure('starting the native heartbeat', err);
    return false;
  }
}

/** The first beat after a block: the episode's end goes into the timeline, and into its bundle. */
function loopFreed(gapMs: number): void {
  try {
    readNews();
    // The block that the watchdog's bundle is about has ended: the watchdog rewrites it when it sees
    // the beat; should the process exit first, the end is this, not the exit.
    if (unended && unended.freedAt === undefined) unended.freedAt = Date.now();
    endEpisode(Date.now(), gapMs);
  } catch (err) {
    hookFailure('recording the end of a hang', err);
  }
}

function endEpisode(end: number, gapMs: number, endedBy?: 'exit'): void {
  recordHangEnd(end, gapMs, endedBy);
  const p = pending;
  pending = undefined;
  ended = p; // issue 7: a hang's core may be written after the hang ended
  if (p) endHangBundle(p.written, p.hang, end, endedBy);
}

/** The process's timeline: the loop was blocked for gapMs, up to `end`. */
function recordHangEnd(end: number, gapMs: number, endedBy?: 'exit'): void {
  record({ time: end - Math.round(gapMs), kind: 'hang', durationMs: Math.round(gapMs), message: `event loop blocked ${(gapMs / 1000).toFixed(1)} s`, ...(endedBy ? { endedBy } : {}) });
}

/**
 * A hang bundle's end, rewritten in place: hang.json gets the end, the duration and `ongoing: false`
 * (and `endedBy`), the bundle's timeline a `hang-end`. For the main thread's bundles and the watchdog's.
 */
export function endHangBundle(w: CaptureModule.WrittenBundle, hang: HangRecord, end: number, endedBy?: 'exit'): void {
  hang.endedAt = end;
  hang.durationMs = end - hang.blockedSince;
  hang.ongoing = false;
  if (endedBy) hang.endedBy = endedBy;
  capture().rewriteBundle(w, [
    { name: 'hang.json', value: hang },
    { name: 'timeline.json', value: { events: [...w.events, { time: end, kind: 'hang-end', durationMs: hang.durationMs, ...(endedBy ? { endedBy } : {}) }] } },
  ]);
}

/**
 * The process exits with a hang bundle still marked ongoing: the loop never turned again, so no beat
 * came (process.exit() inside the block or straight after a block in native code, or a block that
 * ends in an uncaught exception). The episode ends here, with the exit; without this its bundle said
 * `ongoing: true` for ever. The main thread's own bundle, or the one the watchdog wrote in its thread.
 */
function episodeEndsWithExit(): void {
  try {
    if (pending) endEpisode(Date.now(), msSinceLastBeat(), 'exit');
    else watchdogBundleEndsWithExit();
  } catch (err) {
    hookFailure('recording the end of a hang at exit', err);
  }
}

/** The channel the watchdog's news come by, and the last bundle it wrote whose episode has not ended. */
let news: import('node:worker_threads').MessagePort | undefined;
let unended: (Extract<WatchdogNews, { hang: HangRecord }> & { freedAt?: number }) | undefined;

/** Takes what the watchdog said since the last time. Keeps one bundle at most: its latest state. */
function readNews(): void {
  if (!news) return;
  const { receiveMessageOnPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  for (let m = receiveMessageOnPort(news); m; m = receiveMessageOnPort(news)) {
    const n = m.message as WatchdogNews;
    if ('recovered' in n) {
      if (unended?.episode === n.episode) unended = undefined;
    } else unended = unended?.episode === n.episode ? { ...n, freedAt: unended.freedAt } : n;
  }
}

/**
 * The process exits before the watchdog has seen the end of a block it wrote the bundle of, in its own
 * thread (a block in native code); the worker stops with the process. The main thread ends the bundle
 * from the watchdog's last news, as endEpisode() does its own: at the exit, or when the loop was freed
 * a moment before (loopFreed recorded that end in the timeline already).
 */
function watchdogBundleEndsWithExit(): void {
  // The watchdog marks WRITING before it posts news, and clears it once the bundle is on disk. A wait
  // after each read covers what that read heard: a bundle it wrote (its news), or "recovered", after
  // which it ends the bundle itself. News posted after the last read: the main thread ends it too.
  const deadline = Date.now() + EXIT_WAIT_MS;
  const waitForWatchdog = () => {
    for (let ep = Atomics.load(hb!, SLOT.WRITING); ep !== 0 && Date.now() < deadline; ep = Atomics.load(hb!, SLOT.WRITING)) {
      Atomics.wait(hb!, SLOT.WRITING, ep, Math.max(1, deadline - Date.now()));
    }
  };
  readNews();
  waitForWatchdog();
  readNews();
  waitForWatchdog();
  const u = unended;
  if (!u) return;
  unended = undefined;
  const end = u.freedAt ?? Date.now();
  if (u.freedAt === undefined) recordHangEnd(end, msSinceLastBeat(), 'exit');
  endHangBundle(capture().reviveWritten(u.written), u.hang, end, u.freedAt === undefined ? 'exit' : undefined);
}

/** ms since the last beat: the JS heartbeat keeps its own clock, the addon's writes the shared slot. */
function msSinceLastBeat(): number {
  return nativeBeat ? beatAge(beatValue(uptimeMs()), Atomics.load(hb!, SLOT.BEAT)) : uptimeMs() - lastBeatMs;
}

/**
 * Runs `fn`, which blocks the loop on purpose (the hook's own heap snapshot), without the watchdog
 * calling it a hang, and without the gap being recorded as one.
 */
function quiet<T>(fn: () => T): T {
  Atomics.store(hb!, SLOT.QUIET, 1);
  try {
    return fn();
  } finally {
    lastBeatMs = uptimeMs();
    Atomics.store(hb!, SLOT.BEAT, beatValue(lastBeatMs));
    nativeBeat?.rest();
    Atomics.store(hb!, SLOT.QUIET, 0);
  }
}

/** For the hook's own deliberate blocks (leak and OOM snapshots): quiet() when the watchdog runs, else just fn. */
export function quietly<T>(fn: () => T): T {
  return hb ? quiet(fn) : fn();
}

/** Called by the watchdog through Runtime.evaluate, on this thread, while the loop is blocked. */
function captureHang(info: HangInfo): HangReply {
  if (Atomics.compareExchange(hb!, SLOT.WRITTEN, info.episode - 1, info.episode) !== info.episode - 1) return { skipped: 'already written' };
  const c = capture();
  const stack = c.currentStack();
  const hang: HangRecord = { ...info, thread: 'main', jsStack: 'captured', ongoing: true, memory: process.memoryUsage() };
  const r = c.captureSync({
    reason: 'hang',
    stack,
    entries: [{ name: 'hang.json', value: hang }],
    trigger: { thresholdMs: info.thresholdMs, episode: info.episode },
    events: [{ time: info.blockedSince, kind: 'hang-start', thresholdMs: info.thresholdMs }],
  });
  if (!r.written) return { skipped: r.skipped ?? r.error ?? 'not written' };
  pending = { episode: info.episode, hang, written: r.written };
  return { path: r.path, heapUsed: hang.memory?.heapUsed, top: (r.frames ?? []).slice(0, 5).map((f) => ({ function: f.function, file: f.file, line: f.line })) };
}

/**
 * `dump` while the loop is blocked: called by the watchdog through Runtime.evaluate, on this thread,
 * inside V8's interrupt, so the stack under it is the blocked one. The core comes later (addDumpCore).
 */
let blockedDump: CaptureModule.WrittenBundle | undefined;

function dumpBlocked(trigger: Record<string, unknown>): { path?: string; skipped?: string } {
  if (Atomics.compareExchange(hb!, SLOT.DUMP, 1, 2) !== 1) return { skipped: 'written by the watchdog thread' };
  const c = capture();
  const r = c.captureSync({ reason: 'on-demand', stack: c.currentStack(), trigger });
  blockedDump = r.written;
  return r.path ? { path: r.path } : { skipped: r.skipped ?? r.error ?? 'not written' };
}

function addDumpCore(ref: Record<string, unknown>, record: unknown): boolean {
  const w = blockedDump;
  blockedDump = undefined;
  if (!w) return false;
  (w.manifest.trigger ??= {}).core = ref;
  return capture().rewriteBundle(w, record ? [{ name: 'core.json', value: record }] : []);
}

/** Called by the watchdog after Debugger.pause collected the top frames' locals. */
function addLocals(episode: number, locals: LocalsRecord): boolean {
  const p = pending;
  if (!p || p.episode !== episode) return false;
  p.hang.locals = locals;
  return capture().rewriteBundle(p.written, [{ name: 'hang.json', value: p.hang }]);
}

/** Records something about the episode's bundle that the watchdog learnt (a skipped snapshot, ...). */
function annotate(episode: number, patch: Partial<HangRecord>): boolean {
  const p = pending;
  if (!p || p.episode !== episode) return false;
  Object.assign(p.hang, patch);
  return capture().rewriteBundle(p.written, [{ name: 'hang.json', value: p.hang }]);
}

// --- issue 7: AUTOPSY_HANG_CORE=1 ---
/** Called by the watchdog once the core of the hang is written (or refused): core.json, trigger.core. */
let ended: Pending | undefined;

function addCore(episode: number, outcome: { record: { path: string } } | { skipped: string }): boolean {
  const p = pending?.episode === episode ? pending : ended?.episode === episode ? ended : undefined;
  if (!p) return false;
  p.hang.core = 'record' in outcome ? { path: outcome.record.path } : { skipped: outcome.skipped };
  (p.written.manifest.trigger ??= {}).core = p.hang.core;
  return capture().rewriteBundle(p.written, [{ name: 'hang.json', value: p.hang }, ...('record' in outcome ? [{ name: 'core.json', value: outcome.record }] : [])]);
}
// --- end issue 7 ---

export const HEAP_ENTRY = 'heap/hang.heapsnapshot.gz';

/**
 * True (once) when the watchdog answered dump requests while this thread was blocked: the signal
 * that came with them is still pending and arrives when the loop runs again, with no request left.
 */
export function servedByWatchdog(): boolean {
  return !!hb && Atomics.exchange(hb, SLOT.SERVED, 0) > 0;
}

/**
 * Writes a heap snapshot of the frozen main thread into the episode's bundle. Runs inside V8's
 * interrupt: the loop is frozen anyway, and the watchdog checked the memory headroom first.
 */
function takeHeap(episode: number, headroom: string): boolean {
  const p = pending;
  if (!p || p.episode !== episode) return false;
  try {
    // On Node 20 the line ends are prepared through this thread's own session (heap-snapshot.ts). Doing it
    // from the watchdog's session instead would stop V8 from servicing interrupts in an Atomics.wait.
    const snap = (require('./heap-snapshot') as typeof import('./heap-snapshot')).snapshotEntry(dirname(p.written.path), HEAP_ENTRY, headroom);
    p.hang.heap = snap.record;
    return capture().rewriteBundle(p.written, [{ name: 'hang.json', value: p.hang }, { name: snap.name, data: snap.data }]);
  } catch (err) {
    p.hang.heap = { skipped: `snapshot failed: ${(err as Error).message}`, headroom };
    return capture().rewriteBundle(p.written, [{ name: 'hang.json', value: p.hang }]);
  }
}

/**
 * Starts the heartbeat and the watchdog worker. Called on the first turn of the event loop: module
 * loading at start-up is not watched, so a slow start-up never raises a false alarm (docs/configuration.md).
 */
export function startWatchdog(config: Config): void {
  if (!config.hangMs || hb) return;
  const { Worker, MessageChannel } = require('node:worker_threads') as typeof import('node:worker_threads');
  thresholdMs = config.hangMs;
  const intervalMs = Math.max(10, Math.min(40, Math.floor(config.hangMs / 10)));
  beatIntervalMs = intervalMs;
  const sab = new SharedArrayBuffer(4 * 7);
  hb = new Int32Array(sab);
  lastBeatMs = uptimeMs();
  Atomics.store(hb, SLOT.BEAT, beatValue(lastBeatMs));
  Atomics.store(hb, SLOT.STARTED, 1);
  if (!startNativeBeat(intervalMs)) setInterval(beat, intervalMs).unref();
  process.on('exit', episodeEndsWithExit);
  Object.defineProperty(globalThis, HANG_KEY, { value: { capture: captureHang, addLocals, annotate, takeHeap, quiet, drainDelays, addCore, dumpBlocked, addDumpCore }, configurable: true, enumerable: false });

  // The worker must not load the hook again: no inherited execArgv (--require), no NODE_OPTIONS.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const { port1, port2 } = new MessageChannel();
  port1.unref(); // never started: it holds messages for receiveMessageOnPort, and nobody's loop
  news = port1;
  const data: WatchdogData = { sab, thresholdMs, intervalMs, config, startCwd: state().startCwd, pid: process.pid, news: port2 };
  const worker = new Worker(join(__dirname, 'watchdog.js'), { execArgv: [], env, workerData: data, transferList: [port2], stdout: false, stderr: false, resourceLimits: { maxOldGenerationSizeMb: 48 } });
  worker.unref();
  try {
    (require('./recorder') as typeof import('./recorder')).ownThreads.add(worker.threadId);
  } catch {}
  worker.on('error', (err) => hookFailure('hang watchdog', err));
}
