import type { Config } from './config';
import { hookFailure } from './log';
import { record, state } from './state';
import { errorText, requestSummary, subscribeHttp, type HttpCounters, newHttpCounters, nextServerTiming, type ServerTiming } from './recorder-http';
import { tailSnapshot, startTail } from './stdio-tail';

/**
 * The flight recorder's sources: what the process did in the minutes before a capture.
 *
 * - a sample every AUTOPSY_SAMPLE_MS: memory, event-loop utilisation and delay, CPU, active resources,
 *   GC and HTTP counts since the previous sample;
 * - GC pauses: major collections and any pause of 10 ms or more one by one, the rest counted per sample;
 * - process warnings, child process and worker thread exits (cluster workers named);
 * - net client sockets and HTTP/undici requests through diagnostics_channel (recorder-http.ts).
 *
 * Nothing here uses async_hooks or patches a prototype. Every callback is guarded: a failure is one line
 * on stderr and that source stops, the app goes on.
 */

const GC_EVENT_MIN_MS = 10;
const DELAY_RESOLUTION_MS = 20;

interface Sampler {
  /** Event-loop utilisation since the previous call (eluMeter). */
  elu?: () => { utilization: number; active: number };
  cpu?: NodeJS.CpuUsage;
  delay?: import('node:perf_hooks').IntervalHistogram;
  /** The addon's loop timer's delays (ms) since the last call, when it measures the loop delay (no watchdog). */
  beatDelays?: () => number[];
  /** eventsDropped: major or long collections beyond the addon's 64 between two drains, counted only. */
  gc: { count: number; ms: number; major: number; eventsDropped?: number };
  http: HttpCounters;
  /** Whether the server's requests are timed in this interval (recorder-http.ts nextServerTiming). */
  timing: ServerTiming;
  heapLimit: number;
  httpTimed: number;
}

let sampler: Sampler | undefined;
/** Requests counted before the sampler starts go nowhere (they still get their events). */
const earlyHttp = newHttpCounters();
const failed = new Set<string>();

/** True once anything failed: until then the wrappers skip the Set lookup (two run per HTTP request). */
let anyFailed = false;
function guarded<A extends unknown[]>(what: string, fn: (...a: A) => void): (...a: A) => void {
  return (...a: A) => {
    if (anyFailed && failed.has(what)) return;
    try {
      fn(...a);
    } catch (err) {
      anyFailed = true;
      failed.add(what);
      hookFailure(`flight recorder (${what})`, err);
    }
  };
}

/** Listeners that want to look at each sample or major GC (OOM evidence, leak trigger). */
export interface HeapWatcher {
  onHeap(heapUsed: number, heapLimit: number, afterMajorGc: boolean): void;
  /**
   * Also after any collection that leaves heapUsed at or above this share of the heap limit (the OOM
   * watch: a fast leak can die within a few hundred ms of crossing its line, between two samples).
   */
  wakeAt?: number;
}
const watchers: HeapWatcher[] = [];
export function watchHeap(w: HeapWatcher): void {
  watchers.push(w);
  setGcWakeLevel();
}

function notifyWatchers(heapUsed: number, afterMajorGc: boolean): void {
  for (const w of watchers) {
    try {
      w.onHeap(heapUsed, sampler?.heapLimit ?? 0, afterMajorGc);
    } catch (err) {
      hookFailure('heap watcher', err);
    }
  }
}

let early = false;

/**
 * The event sources, installed with the hook so that a warning or a connection made while the app's
 * main module runs is seen: a warning listener and diagnostics_channel subscriptions, which cost nothing
 * until something is published. Main thread only.
 */
export function startEarlySources(): void {
  if (early) return;
  early = true;
  process.on('warning', guarded('warnings', onWarning));
  subscribeChannels();
}

/** Starts the sampler, GC observer and output tail. Called on the first turn of the loop, main thread only. */
export function startRecorder(config: Config): void {
  if (sampler) return;
  startEarlySources();
  sampler = { gc: { count: 0, ms: 0, major: 0 }, http: newHttpCounters(), timing: { onePer: 1, skip: 0 }, httpTimed: config.httpTimed, heapLimit: currentHeapLimit() };
  const s = sampler;
  if (config.sampleMs) {
    const a = addon();
    s.elu = eluMeter(a);
    s.cpu = process.cpuUsage();
    // With the hang watchdog on, the loop delay comes from its heartbeat's lateness (one timer instead of
    // two); without it, from the addon's loop timer every 20 ms, else monitorEventLoopDelay at 20 ms.
    if (!hangDelays()) {
      try {
        if (a?.startBeat && a.drainBeatDelays && a.startBeat(new Int32Array(1), DELAY_RESOLUTION_MS, 0, process.uptime() * 1000, () => {})) s.beatDelays = a.drainBeatDelays;
        else {
          s.delay = (require('node:perf_hooks') as typeof import('node:perf_hooks')).monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
          s.delay.enable();
        }
      } catch {}
    }
    setInterval(guarded('sampler', takeSample), config.sampleMs).unref();
  }
  startGcObserver();
  if (config.tailBytes) guarded('stdio tail', startTail)(config.tailBytes);
}

function addon(): import('../native').NativeAddon | undefined {
  return (require('../native') as typeof import('../native')).nativeAddon();
}

/**
 * Event-loop utilisation since the previous call, as performance.eventLoopUtilization(now, previous)
 * gives it: from libuv's idle time through the addon, which spares the process the perf_hooks modules
 * (about 1 MB of RSS); through perf_hooks without the addon.
 */
function eluMeter(a: Pick<import('../native').NativeAddon, 'loopIdleNs'> | undefined): () => { utilization: number; active: number } {
  const idleNs = a?.loopIdleNs;
  if (idleNs && idleNs() >= 0) {
    const nowMs = () => {
      const [sec, ns] = process.hrtime();
      return sec * 1000 + ns / 1e6;
    };
    let idle = idleNs() / 1e6;
    let at = nowMs();
    return () => {
      const i = idleNs() / 1e6;
      const t = nowMs();
      const elapsed = t - at;
      const active = Math.max(0, elapsed - (i - idle));
      idle = i;
      at = t;
      return { utilization: elapsed > 0 ? Math.min(1, active / elapsed) : 0, active };
    };
  }
  const { performance } = require('node:perf_hooks') as typeof import('node:perf_hooks');
  let prev = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const d = performance.eventLoopUtilization(now, prev);
    prev = now;
    return d;
  };
}

/**
 * Pure: the old generation's limit, which is what a process runs out of. V8's heap_size_limit adds the
 * young generation's reserve: --max-old-space-size=64 gives 112 MB on Node 20 (V8 11: 3 semi-spaces of
 * 16 MB) and 256 MB on Node 24 (V8 13: 192 MB), and the heap dies with heapUsed near the old limit.
 * The flag, when given, is the answer; otherwise the reserve is taken off by V8 version.
 */
export function oldGenerationLimit(heapSizeLimit: number, flags: string[] = [], v8Major = Number(process.versions.v8.split('.')[0])): number {
  let mb: number | undefined;
  for (const f of flags) {
    const m = /^--max[-_]old[-_]space[-_]size=(\d+)$/.exec(f);
    if (m) mb = Number(m[1]);
  }
  if (mb && mb * 1024 * 1024 < heapSizeLimit) return mb * 1024 * 1024;
  const reserve = (v8Major >= 12 ? 192 : 48) * 1024 * 1024;
  return heapSizeLimit - Math.min(reserve, heapSizeLimit / 2);
}

/** V8 flags from the command line and NODE_OPTIONS, in the order V8 applies them (the last wins). */
function v8Flags(): string[] {
  return [...(process.env.NODE_OPTIONS ?? '').split(/\s+/), ...process.execArgv];
}

function takeSample(): void {
  const s = sampler!;
  const mu = process.memoryUsage();
  const elu = s.elu!();
  const cpu = process.cpuUsage(s.cpu);
  s.cpu = process.cpuUsage();
  const ev: Record<string, unknown> & { time: number; kind: string } = {
    time: Date.now(),
    kind: 'sample',
    rss: mu.rss,
    heapUsed: mu.heapUsed,
    heapTotal: mu.heapTotal,
    external: mu.external,
    arrayBuffers: mu.arrayBuffers,
    heapLimit: s.heapLimit,
    elu: Math.round(elu.utilization * 1000) / 1000,
    cpuUserMs: Math.round(cpu.user / 1000),
    cpuSystemMs: Math.round(cpu.system / 1000),
  };
  if (s.delay) {
    // The histogram records the time between two wake-ups of its 20 ms timer: the delay is what exceeds 20 ms.
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - DELAY_RESOLUTION_MS) * 100) / 100);
    if (s.delay.count > 0) {
      ev.delayP50Ms = ms(s.delay.percentile(50));
      ev.delayP99Ms = ms(s.delay.percentile(99));
      ev.delayMaxMs = ms(s.delay.max);
    }
    s.delay.reset();
  }
  const beats = (s.beatDelays ?? hangDelays())?.();
  if (beats && beats.length) {
    const d = loopDelays(beats);
    ev.delayP50Ms = d.p50;
    ev.delayP99Ms = d.p99;
    ev.delayMaxMs = d.max;
  }
  const { handles, requests } = activeResources();
  ev.handles = handles;
  ev.requests = requests;
  pullGc();
  if (s.gc.count) ev.gc = { count: s.gc.count, ms: Math.round(s.gc.ms * 10) / 10, major: s.gc.major, ...(s.gc.eventsDropped ? { eventsDropped: s.gc.eventsDropped } : {}) };
  s.gc = { count: 0, ms: 0, major: 0 };
  const timed = s.timing.skip === 0;
  const http = requestSummary(s.http, s.timing.onePer);
  if (http) ev.http = http;
  s.timing = nextServerTiming(s.timing, timed ? s.http.server.count : undefined, elu.active, s.httpTimed);
  s.http = newHttpCounters();
  if (timed !== (s.timing.skip === 0)) serverTiming?.(s.timing.skip === 0);
  record(ev);
  notifyWatchers(mu.heapUsed, false);
}

/** The hang watchdog's heartbeat delays, when it runs (hang.ts). */
function hangDelays(): (() => number[]) | undefined {
  const h = (globalThis as unknown as Record<symbol, { drainDelays?: () => number[] } | undefined>)[Symbol.for('autopsy-ts.hang')];
  return h?.drainDelays;
}

/** Pure: p50, p99 and max of loop delays (ms), rounded to 0.01 ms. */
export function loopDelays(values: number[]): { p50: number; p99: number; max: number } {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  const r = (n: number) => Math.round(n * 100) / 100;
  return { p50: r(at(0.5)), p99: r(at(0.99)), max: r(v[v.length - 1]) };
}

/** Active libuv handles and requests by type; requests are the *Req* resources (FSReqCallback, ...). */
function activeResources(): { handles: Record<string, number>; requests: Record<string, number> } {
  const handles: Record<string, number> = {};
  const requests: Record<string, number> = {};
  const info = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.() ?? [];
  for (const t of info) {
    const into = /Req/.test(t) ? requests : handles;
    into[t] = (into[t] ?? 0) + 1;
  }
  return { handles, requests };
}

/** perf_hooks.constants.NODE_PERFORMANCE_GC_*: MINOR 1, MAJOR 4, INCREMENTAL 8, WEAKCB 16; 2 is V8's minor mark-sweep (as gc-watch.cc). */
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };

type NativeGc = Required<Pick<import('../native').NativeAddon, 'setGcWakeAbove' | 'drainGc'>>;
/** The addon's GC callbacks (native/src/gc-watch.cc), when they run; else the PerformanceObserver. */
let nativeGc: NativeGc | undefined;

/**
 * The addon's GC callbacks when it is there: counts and pauses without a JS object per collection (on a
 * busy server the observer's entries made V8 grow the young generation twice as early; docs/performance.md).
 * The fallback is a PerformanceObserver, which wakes JS after every batch of collections.
 */
function startGcObserver(): void {
  try {
    const a = addon();
    if (a?.startGcWatch && a.setGcWakeAbove && a.drainGc && a.startGcWatch(guarded('gc', onGcWake), GC_EVENT_MIN_MS)) {
      nativeGc = { setGcWakeAbove: a.setGcWakeAbove, drainGc: a.drainGc };
      setGcWakeLevel();
      return;
    }
  } catch (err) {
    hookFailure('native GC watch (the PerformanceObserver takes over)', err);
  }
  startPerformanceObserver();
}

/** After a major collection, a long pause, or one past the OOM watch's line (gc-watch.cc). */
function onGcWake(heapUsed: number, major: boolean): void {
  pullNativeGc();
  notifyWatchers(heapUsed, major);
  // A watcher may have done its job (the OOM evidence is taken once): its level no longer wakes JS.
  setGcWakeLevel();
}

/** The collections the addon counted since the last call: into the sample's counts and the timeline. */
function pullNativeGc(): void {
  const s = sampler;
  if (!nativeGc || !s) return;
  const d = nativeGc.drainGc();
  s.gc.count += d.count;
  s.gc.ms += d.ms;
  s.gc.major += d.major;
  if (d.dropped) s.gc.eventsDropped = (s.gc.eventsDropped ?? 0) + d.dropped;
  for (const e of d.events) record({ time: Math.round(e.time), kind: 'gc', gcKind: e.kind, durationMs: Math.round(e.durationMs * 100) / 100 });
}

/** In the sampler: a failure stops the GC source, not the samples. */
const pullGc = guarded('gc', pullNativeGc);

/** The lowest heap level any watcher wants to hear about after a collection (0: none). */
function setGcWakeLevel(): void {
  if (!nativeGc || !sampler?.heapLimit) return;
  const at = Math.min(...watchers.map((w) => w.wakeAt ?? Infinity));
  nativeGc.setGcWakeAbove(Number.isFinite(at) && at > 0 ? at * sampler.heapLimit : 0);
}

function startPerformanceObserver(): void {
  const perf = require('node:perf_hooks') as typeof import('node:perf_hooks');
  const v8 = require('node:v8') as typeof import('node:v8');
  const origin = perf.performance.timeOrigin;
  const obs = new perf.PerformanceObserver(
    guarded('gc', (list: import('node:perf_hooks').PerformanceObserverEntryList) => {
      const s = sampler!;
      let major = false;
      for (const e of list.getEntries()) {
        const kindNo = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
        const kind = GC_KINDS[kindNo] ?? String(kindNo);
        s.gc.count++;
        s.gc.ms += e.duration;
        if (kind === 'major') {
          s.gc.major++;
          major = true;
        }
        if (kind === 'major' || e.duration >= GC_EVENT_MIN_MS) {
          record({ time: Math.round(origin + e.startTime), kind: 'gc', gcKind: kind, durationMs: Math.round(e.duration * 100) / 100 });
        }
      }
      // After every batch, not only majors: a fast leak can die within a few hundred ms of crossing the line.
      notifyWatchers(v8.getHeapStatistics().used_heap_size, major);
    }),
  );
  obs.observe({ entryTypes: ['gc'] });
  // The observer must not keep the process alive; Node does not hold the loop for it.
}

function onWarning(w: Error & { code?: string }): void {
  record({ time: Date.now(), kind: 'warning', name: w.name, code: w.code, message: String(w.message).slice(0, 500) });
}

/** Threads the hook starts itself (the hang watchdog): their exits are not the app's. */
export const ownThreads = new Set<number>();

/**
 * Why process.execPath cannot run the hook's helper scripts, or undefined when it can. In a single
 * executable application (node:sea) or a pkg binary, process.execPath is the app itself: given a
 * script, it would start the app a second time, detached, with its ports, jobs and hook.
 */
export function notNode(): string | undefined {
  if ((process as { pkg?: unknown }).pkg) return 'this process is a pkg binary';
  try {
    if ((require('node:sea') as { isSea?: () => boolean }).isSea?.()) return 'this process is a single executable application';
  } catch {} // node:sea is Node >= 20.12
  return undefined;
}

/** Processes the hook starts itself (spawnOwn): their exits are not the app's. */
const ownChildren = new WeakSet<object>();

/**
 * Starts one of the hook's helper scripts (the start-up collect, the leak diff): node without the app's
 * NODE_OPTIONS (so no hook in it), in its own process group (Ctrl-C on the app's terminal does not end
 * it), no stdin or stdout, stderr shared, unref'd, at priority `nice` (0: the app's). False when it could
 * not be started, or when process.execPath is the app itself (notNode); `onError` runs instead when it
 * fails just after (a spawn error comes asynchronously).
 */
export function spawnOwn(script: string, args: string[], nice: number, onError?: () => void): boolean {
  const what = `starting ${require('node:path').basename(script)}`;
  if (notNode()) return false;
  try {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, [script, ...args], { env, detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
    ownChildren.add(child);
    child.on('error', (err) => {
      hookFailure(what, err);
      try {
        onError?.();
      } catch (e) {
        hookFailure(what, e);
      }
    });
    child.unref();
    try {
      if (child.pid && nice) (require('node:os') as typeof import('node:os')).setPriority(child.pid, nice);
    } catch {}
    return true;
  } catch (err) {
    hookFailure(what, err);
    return false;
  }
}

/** Switches the server side's http channels (recorder-http.ts). */
let serverTiming: ((on: boolean) => void) | undefined;

function subscribeChannels(): void {
  const dc = require('node:diagnostics_channel') as typeof import('node:diagnostics_channel');
  const sub = (name: string, fn: (msg: never) => void) => {
    const handler = guarded(name, fn as (m: unknown) => void);
    dc.subscribe(name, handler);
    let subscribed = true;
    return guarded(`${name} switch`, (on: boolean) => {
      if (on === subscribed) return;
      subscribed = on;
      if (on) dc.subscribe(name, handler);
      else dc.unsubscribe(name, handler);
    });
  };
  sub('net.client.socket', ({ socket }: { socket: import('node:net').Socket }) => watchSocket(socket));
  sub('child_process', ({ process: child }: { process: import('node:child_process').ChildProcess }) => watchChild(child));
  sub('worker_threads', ({ worker }: { worker: import('node:worker_threads').Worker }) => watchWorker(worker));
  serverTiming = subscribeHttp(sub, () => sampler?.http ?? earlyHttp);
}

/**
 * A client socket's life: connect, then close (with the error it closed on, if any). Only 'connect' and
 * 'close' listeners are added: an 'error' listener would stop an unhandled socket error from being fatal.
 */
function watchSocket(socket: import('node:net').Socket): void {
  const started = Date.now();
  let remote: { remoteAddress?: string; remotePort?: number } = {};
  socket.once('connect', guarded('net connect', () => {
    remote = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
    record({ time: Date.now(), kind: 'net', event: 'connect', ...remote, localPort: socket.localPort });
  }));
  socket.once('close', guarded('net close', (hadError: boolean) => {
    const err = (socket as unknown as { errored?: (Error & { code?: string; address?: string; port?: number }) | null }).errored;
    const where = remote.remoteAddress ? remote : { remoteAddress: err?.address, remotePort: err?.port };
    record({
      time: Date.now(),
      kind: 'net',
      event: err || hadError ? 'error' : 'close',
      ...where,
      error: errorText(err),
      durationMs: Date.now() - started,
      bytesRead: socket.bytesRead,
      bytesWritten: socket.bytesWritten,
    });
  }));
}

function watchChild(child: import('node:child_process').ChildProcess): void {
  const file = (child as unknown as { spawnfile?: string }).spawnfile;
  let workerId: number | undefined;
  // cluster.fork() registers the worker right after spawning it, and forgets it again on disconnect,
  // which can come before the exit: look it up on the next turn. Only when the app loaded cluster.
  if ((process as unknown as { moduleLoadList?: string[] }).moduleLoadList?.includes('NativeModule cluster')) {
    setImmediate(guarded('cluster worker lookup', () => {
      const cluster = require('node:cluster') as import('node:cluster').Cluster;
      if (!cluster.isPrimary || !cluster.workers) return;
      for (const w of Object.values(cluster.workers)) if (w && w.process === child) workerId = w.id;
    }));
  }
  child.once('exit', guarded('child exit', (code: number | null, signal: NodeJS.Signals | null) => {
    if (ownChildren.has(child)) return;
    const what = workerId === undefined ? 'child' : 'cluster-worker';
    record({ time: Date.now(), kind: 'exit', what, pid: child.pid, file, workerId, code, signal });
  }));
}

function watchWorker(worker: import('node:worker_threads').Worker): void {
  const threadId = worker.threadId;
  worker.once('exit', guarded('worker exit', (code: number) => {
    if (ownThreads.has(threadId)) return;
    record({ time: Date.now(), kind: 'exit', what: 'worker', threadId, code });
  }));
}

export { tailSnapshot };

/** For tests and the OOM/leak triggers: the heap limit the recorder saw. */
export function heapLimit(): number {
  return sampler?.heapLimit ?? 0;
}

/** The old generation's limit now, before the sampler starts. */
export function currentHeapLimit(): number {
  const fromAddon = addon()?.heapSizeLimit?.();
  return oldGenerationLimit(fromAddon || (require('node:v8') as typeof import('node:v8')).getHeapStatistics().heap_size_limit, v8Flags());
}

export function recorderRunning(): boolean {
  return sampler !== undefined && state().installed;
}
