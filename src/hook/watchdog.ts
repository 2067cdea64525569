/**
 * The hang watchdog: runs in a worker thread started by the hook (src/hook/hang.ts), with no execArgv
 * and no NODE_OPTIONS, so the hook never loads itself here. It reads the main thread's heartbeat from
 * shared memory; when the beat is older than the threshold, it captures while the loop is still frozen:
 *   1. /proc: the main thread's state and system call (needs nothing from the blocked thread);
 *   2. an in-process inspector session (never a port) runs the hook's capture ON the main thread
 *      through Runtime.evaluate, which V8 executes in an interrupt between two statements of the
 *      blocking JS: the bundle gets the blocked stack, the report and the breadcrumbs;
 *   3. optionally Debugger.pause for the locals of the top frames, then resume and disable;
 *   4. when the thread sits in native code or a system call it cannot answer: the bundle is written
 *      from here, with what /proc says, and says that the JS stack was not available.
 */
import type { Session } from 'node:inspector';
import { workerData } from 'node:worker_threads';
import type * as CaptureModule from './capture';
import { HANG_KEY, SLOT, type HangInfo, type HangRecord, type HangReply, type LocalsRecord, type WatchdogData } from './hang';
import { HangDetector, beatAge, beatValue, type DetectorEvent } from './hang-detector';
import { probeThread } from './hang-probe';
import { memoryRoom, snapshotHeadroom } from './headroom';
import { hookFailure } from './log';
import { state } from './state';

const data = workerData as WatchdogData;
const hb = new Int32Array(data.sab);
const detector = new HangDetector(data.thresholdMs, data.intervalMs);
state().config = data.config;
state().startCwd = data.startCwd;

/** How long the main thread has to answer Runtime.evaluate before we write from here. */
const ANSWER_MS = { running: 250, blocked: 250 };
/** Budget for Debugger.enable + pause + scopes: a lazy Debugger.enable costs ~1 ms per 15 scripts. */
const LOCALS_BUDGET_MS = 2000;

/**
 * `autopsy-ts dump PID` while the main thread is blocked: its signal waits for the loop, so once the
 * heartbeat is this old the watchdog answers the requests itself, every DUMP_SCAN_MS (one readdir).
 */
const BLOCKED_DUMP_MS = 1000;
const DUMP_SCAN_MS = 250;

let session: Session | undefined;
/** A hang episode and a blocked dump each use `session`: one at a time. */
let sessionQueue: Promise<void> = Promise.resolve();
function serialised(fn: () => Promise<void>): Promise<void> {
  const next = sessionQueue.then(fn, fn);
  sessionQueue = next.catch(() => {});
  return next;
}
let fallback: { episode: number; hang: HangRecord; written: CaptureModule.WrittenBundle } | undefined;

function uptimeMs(): number {
  return process.uptime() * 1000;
}

function tick(): void {
  let next = data.intervalMs;
  try {
    const started = Atomics.load(hb, SLOT.STARTED) === 1;
    // While the hook blocks the loop on purpose (QUIET), the heartbeat counts as fresh.
    const beat = !started ? undefined : Atomics.load(hb, SLOT.QUIET) === 1 ? beatValue(uptimeMs()) : Atomics.load(hb, SLOT.BEAT);
    const r = detector.check(uptimeMs(), beat);
    next = r.nextCheckMs;
    if (r.event?.type === 'hang') {
      const ev = r.event;
      void serialised(() => onHang(ev));
    }
    if (r.event?.type === 'recovered') onRecovered(r.event);
    if (beat !== undefined && data.config.signal) {
      const age = beatAge(beatValue(uptimeMs()), beat);
      if (age >= BLOCKED_DUMP_MS) void answerBlockedDumps(age);
      // A look at least every half second (a timer and one atomic read while the loop is free).
      next = Math.min(next, age >= BLOCKED_DUMP_MS / 2 ? DUMP_SCAN_MS : BLOCKED_DUMP_MS / 2);
    }
  } catch (err) {
    hookFailure('hang watchdog', err);
  }
  // This timer keeps the worker alive; the worker itself is unref'd, so the process is not kept alive.
  setTimeout(tick, next);
}

/** How often to ask for another interrupt while a call into the main thread waits (see post()). */
const KICK_MS = 50;

/**
 * Posts to the main thread and waits, bounded. Each post makes Node request a V8 interrupt; inside an
 * Atomics.wait, V8 sometimes misses one (a lost wake-up: seen in about 1 run of 3 for the second
 * call of an episode), so while waiting we post a no-op evaluation every KICK_MS to request another.
 * Queued messages are all dispatched by whichever interrupt gets through.
 */
function kickEvery(ms: number): NodeJS.Timeout {
  return setInterval(() => {
    try {
      session?.post('Runtime.evaluate', { expression: '0', silent: true });
    } catch {}
  }, ms);
}

function post<T>(method: string, params: object | undefined, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const kick = kickEvery(KICK_MS);
    const timer = setTimeout(() => {
      clearInterval(kick);
      reject(new Error(`${method} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    session!.post(method, params ?? {}, (err: Error | null, result: unknown) => {
      clearTimeout(timer);
      clearInterval(kick);
      if (err) reject(err);
      else resolve(result as T);
    });
  });
}

/**
 * One session per episode, closed at its end. A session left open would make Node print "Waiting for
 * the debugger to disconnect..." when the app calls process.exit(), changing its stderr. The price:
 * closing it disables its HeapProfiler agent, which resets V8's heap object ids, so two heap
 * snapshots taken on either side of a hang cannot be matched object by object (docs/configuration.md).
 */
function connect(): string | undefined {
  try {
    const inspector = require('node:inspector') as typeof import('node:inspector');
    session = new inspector.Session();
    session.connectToMainThread();
    return undefined;
  } catch (err) {
    session = undefined;
    return (err as Error).message;
  }
}

function disconnect(): void {
  try {
    session?.disconnect();
  } catch {}
  session = undefined;
}

async function onHang(ev: DetectorEvent): Promise<void> {
  const now = Date.now();
  const probe = probeThread(data.pid);
  const info: HangInfo = {
    episode: ev.episode,
    thresholdMs: data.thresholdMs,
    blockedSince: Math.round(now - (ev.atMs - ev.lastBeatMs)),
    detectedAt: now,
    detectionLagMs: Math.max(0, Math.round(ev.atMs - ev.lastBeatMs - data.thresholdMs)),
    probe,
  };
  // AUTOPSY_HANG_INSPECTOR=0: go straight to the addon's sampler (issue 8; used by its tests).
  let whyNot = process.env.AUTOPSY_HANG_INSPECTOR === '0' ? 'the inspector path is turned off (AUTOPSY_HANG_INSPECTOR=0)' : connect();
  let reply: HangReply | undefined;
  if (session) {
    const wait = probe.syscall === 'running' || probe.state === 'R' ? ANSWER_MS.running : ANSWER_MS.blocked;
    try {
      const r = await post<{ result?: { value?: HangReply }; exceptionDetails?: { text?: string } }>(
        'Runtime.evaluate',
        { expression: `globalThis[Symbol.for(${JSON.stringify(HANG_KEY.description)})]?.capture(${JSON.stringify(info)})`, returnByValue: true, silent: true },
        wait,
      );
      reply = r.result?.value;
      if (!reply) whyNot = `the hook did not answer on the main thread (${r.exceptionDetails?.text ?? 'no result'})`;
    } catch (err) {
      whyNot = `the main thread did not answer within ${wait} ms: it is ${probe.summary}`;
    }
  }
  try {
    // The snapshot first: once Debugger.pause has interrupted an Atomics.wait and resumed it, V8
    // no longer services interrupts in that wait, so nothing could run on the main thread after it.
    // --- issue 7: AUTOPSY_HANG_CORE=1 (before Debugger.pause, after which no call reaches the main thread) ---
    if (reply?.path && process.env.AUTOPSY_HANG_CORE === '1') await coreForHang(ev.episode, reply.path);
    // --- end issue 7 ---
    if (reply?.path && data.config.hangHeap) await captureHeap(ev.episode, reply.heapUsed ?? 0);
    if (reply?.path && data.config.hangLocals) await captureLocals(ev.episode);
    if (!reply?.path && !reply?.skipped) writeFromHere(info, whyNot ?? 'inspector not available');
    // --- issue 7 ---
    if (!reply?.path && fallback?.episode === ev.episode && process.env.AUTOPSY_HANG_CORE === '1') await coreForHang(ev.episode, fallback.written.path);
    // --- end issue 7 ---
  } finally {
    disconnect();
  }
}

// --- issue 7: AUTOPSY_HANG_CORE=1 ---
/**
 * A core of the process while the main thread is blocked: the addon's writer forks it from a signal
 * handler, which runs in a busy JS loop and interrupts a system call alike. Written beside the hang
 * bundle, which gets core.json and trigger.core (through the main thread's hook when it wrote the
 * bundle, else from here). A refusal is recorded in hang.json, never thrown.
 */
async function coreForHang(episode: number, bundlePath: string): Promise<void> {
  try {
    const core = require('./core') as typeof import('./core');
    const outcome = await core.writeCoreInto(require('node:path').dirname(bundlePath), 'hang');
    const f = fallback;
    if (f && f.episode === episode) {
      f.hang.core = 'record' in outcome ? { path: outcome.record.path } : { skipped: outcome.skipped };
      (f.written.manifest.trigger ??= {}).core = f.hang.core;
      const capture = require('./capture') as typeof CaptureModule;
      capture.rewriteBundle(f.written, [{ name: 'hang.json', value: f.hang }, ...('record' in outcome ? [{ name: 'core.json', value: outcome.record }] : [])]);
    } else await callMain('addCore', [episode, outcome], 10_000);
  } catch (err) {
    hookFailure('core dump of the hang', err);
  }
}
// --- end issue 7 ---

function callMain(fn: string, args: unknown[], timeoutMs: number): Promise<unknown> {
  const list = args.map((a) => JSON.stringify(a)).join(', ');
  return post('Runtime.evaluate', { expression: `globalThis[Symbol.for(${JSON.stringify(HANG_KEY.description)})]?.${fn}(${list})`, silent: true, returnByValue: true }, timeoutMs);
}

/** AUTOPSY_HANG_HEAP=1: a snapshot while frozen, only when the memory headroom allows it. */
async function captureHeap(episode: number, heapUsed: number): Promise<void> {
  const verdict = snapshotHeadroom(heapUsed, memoryRoom(), data.config.heapMaxMs);
  try {
    if (!verdict.ok) await callMain('annotate', [episode, { heap: { skipped: verdict.reason } }], 1000);
    else await callMain('takeHeap', [episode, verdict.reason], verdict.expectedMs * 4 + 10_000);
  } catch (err) {
    hookFailure('heap snapshot during the hang', err);
  }
}

/**
 * The addon's signal sampler on the blocked main thread (src/hook/native-stack.ts): the record the
 * bundle keeps of it, and the stack text when frames were named. Undefined when it failed outright.
 */
function sampleMain(): { sampler: Omit<NonNullable<HangRecord['sampler']>, 'lines'>; stack?: string } | undefined {
  try {
    const s = (require('./native-stack') as typeof import('./native-stack')).sampleBlockedMain();
    return { sampler: { tookMs: s.tookMs, signals: s.signals, vmState: s.vmState, frames: s.frames, problem: s.problem }, stack: s.ok ? s.stackText : undefined };
  } catch (err) {
    hookFailure('sampling the blocked main thread', err);
    return undefined;
  }
}

/** The main thread cannot run JS: write the bundle from this thread with what /proc knows. */
function writeFromHere(info: HangInfo, why: string): void {
  if (Atomics.compareExchange(hb, SLOT.WRITTEN, info.episode - 1, info.episode) !== info.episode - 1) return;
  const capture = require('./capture') as typeof CaptureModule;
  const hang: HangRecord = { ...info, thread: 'main', jsStack: `not available: ${why}`, ongoing: true };
  // Issue 8: the addon's signal sampler sees the JS frames under the system call (src/hook/native-stack.ts).
  const s = sampleMain();
  let stack: string | undefined;
  if (s) {
    hang.sampler = { ...s.sampler, lines: s.stack ? 'where each function is defined, not the current line' : undefined };
    if (s.stack) {
      hang.jsStack = 'captured';
      hang.jsStackFrom = 'signal sampler';
      stack = s.stack;
    } else hang.jsStack = `not available: ${why}; the signal sampler: ${s.sampler.problem}`;
  }
  const r = capture.captureSync({
    reason: 'hang',
    stack,
    entries: [{ name: 'hang.json', value: hang }],
    trigger: { thresholdMs: info.thresholdMs, episode: info.episode, from: 'watchdog thread' },
    events: [{ time: info.blockedSince, kind: 'hang-start', thresholdMs: info.thresholdMs }],
  });
  if (r.written) fallback = { episode: info.episode, hang, written: r.written };
}

let answering = false;

/**
 * Answers `dump` requests from this thread while the main thread is blocked (its signal waits for the
 * loop). The stack first: through the inspector, whose Runtime.evaluate runs the hook's capture on
 * the main thread between two statements of busy JS (the true stack, the report, the timeline); when
 * the thread sits in native code and cannot answer, from here with the addon's signal sampler and what
 * /proc says. Then the core when asked (the writer's fork runs in the main thread's signal handler,
 * blocked or not), added to the bundle. No heap snapshot. The signal that came with the requests stays
 * pending; the main thread skips it when its loop runs again (hang.ts, servedByWatchdog).
 */
async function answerBlockedDumps(blockedMs: number): Promise<void> {
  if (answering) return;
  answering = true;
  try {
    const control = require('./control') as typeof import('./control');
    if (!control.hasRequests()) return;
    const requests = control.takeRequests();
    if (!requests.length) return;
    Atomics.add(hb, SLOT.SERVED, 1);
    await serialised(() => answerRequests(requests, blockedMs));
  } catch (err) {
    hookFailure('answering dump while the main thread is blocked', err);
  } finally {
    answering = false;
  }
}

async function answerRequests(requests: import('./control').DumpRequest[], blockedMs: number): Promise<void> {
  const control = require('./control') as typeof import('./control');
  const capture = require('./capture') as typeof CaptureModule;
  const probe = probeThread(data.pid);
  const heapSkipped = 'the main thread is blocked, and V8 takes heap snapshots on it only';
  const trigger: Record<string, unknown> = {
    signal: data.config.signal,
    requests: requests.map((r) => r.id),
    from: 'watchdog thread',
    mainThread: { blockedMs: Math.round(blockedMs), state: probe.summary, syscall: probe.syscall },
    heap: requests.some((r) => r.heap) ? { skipped: heapSkipped } : undefined,
  };
  let path: string | undefined;
  let problem: string | undefined;
  let here: CaptureModule.WrittenBundle | undefined;
  const whyNot = process.env.AUTOPSY_HANG_INSPECTOR === '0' ? 'the inspector path is turned off (AUTOPSY_HANG_INSPECTOR=0)' : connect();
  try {
    // Whoever claims the dump writes it: the main thread (DUMP 1 -> 2) once its interrupt runs, or this
    // thread (1 -> 3) when the main thread has not started within ANSWER_MS.
    Atomics.store(hb, SLOT.DUMP, 1);
    if (session) {
      const answer = post<{ result?: { value?: { path?: string; skipped?: string } } }>(
        'Runtime.evaluate',
        { expression: `globalThis[Symbol.for(${JSON.stringify(HANG_KEY.description)})]?.dumpBlocked(${JSON.stringify(trigger)})`, returnByValue: true, silent: true },
        15_000,
      );
      answer.catch(() => {});
      const soon = await Promise.race([answer.then(() => true, () => true), new Promise<boolean>((res) => setTimeout(() => res(false), ANSWER_MS.blocked))]);
      if (soon || Atomics.compareExchange(hb, SLOT.DUMP, 1, 3) !== 1) {
        try {
          const v = (await answer).result?.value;
          path = v?.path;
          problem = v?.skipped ?? (v ? undefined : 'the hook did not answer on the main thread');
        } catch (err) {
          problem = `the main thread did not finish the bundle: ${(err as Error).message}`;
        }
      } else problem = `the main thread did not answer within ${ANSWER_MS.blocked} ms`;
    }
    Atomics.compareExchange(hb, SLOT.DUMP, 1, 3);
    if (!path && Atomics.load(hb, SLOT.DUMP) === 3) {
      const mainThread = trigger.mainThread as Record<string, unknown>;
      const s = sampleMain();
      const stack = s?.stack;
      if (s) mainThread.sampler = s.sampler;
      mainThread.jsStack = stack ? 'captured by the signal sampler (lines are where each function is defined)' : `not available: ${s?.sampler.problem ?? 'the sampler failed'}`;
      mainThread.inspector = problem ?? whyNot ?? 'not available';
      const r = capture.captureSync({ reason: 'on-demand', stack, trigger });
      path = r.path;
      here = r.written;
      problem = r.skipped ?? r.error;
    }
    let core: import('./core').CoreOutcome | undefined;
    if (path && requests.some((r) => r.core)) {
      try {
        core = await (require('./core') as typeof import('./core')).writeCoreInto(require('node:path').dirname(path), 'on-demand');
      } catch (err) {
        core = { skipped: `core dump failed: ${(err as Error).message}` };
      }
      const entries = 'record' in core ? [{ name: 'core.json', value: core.record }] : [];
      try {
        if (here) {
          (here.manifest.trigger ??= {}).core = control.coreRef(core);
          capture.rewriteBundle(here, entries);
        } else if (session) await callMain('addDumpCore', [control.coreRef(core), 'record' in core ? core.record : null], 10_000);
      } catch (err) {
        hookFailure('adding the core to the bundle', err);
      }
    }
    for (const r of requests) {
      const warnings = [
        r.heap ? `heap snapshot skipped: ${heapSkipped}` : '',
        r.core && core && 'skipped' in core ? `core dump skipped: ${core.skipped}` : '',
        r.embedCore && core && 'record' in core ? 'core not embedded: the main thread was blocked; the core is beside the bundle' : '',
      ].filter(Boolean);
      const corePath = r.core && core && 'record' in core ? core.record.path : undefined;
      const note = `the main thread is blocked (${probe.summary}): answered by the watchdog thread`;
      control.reply(r.id, path ? { ok: true, path, core: corePath, warning: warnings.join('; ') || undefined, note } : { ok: false, error: problem ?? 'not written' });
    }
  } finally {
    disconnect();
  }
}

function onRecovered(ev: DetectorEvent): void {
  const f = fallback;
  if (!f || f.episode !== ev.episode) return;
  fallback = undefined;
  const end = Date.now();
  f.hang.endedAt = end;
  f.hang.durationMs = end - f.hang.blockedSince;
  f.hang.ongoing = false;
  const capture = require('./capture') as typeof CaptureModule;
  capture.rewriteBundle(f.written, [
    { name: 'hang.json', value: f.hang },
    { name: 'timeline.json', value: { events: [...f.written.events, { time: end, kind: 'hang-end', durationMs: f.hang.durationMs }] } },
  ]);
}

interface RemoteObject {
  type: string;
  subtype?: string;
  value?: unknown;
  description?: string;
  unserializableValue?: string;
  preview?: { properties?: { name: string; value?: string; type: string }[]; overflow?: boolean };
}

/** A bounded one-line preview of a debugger RemoteObject. */
export function renderRemote(v: RemoteObject | undefined): string {
  if (!v) return 'undefined';
  let s: string;
  if (v.type === 'undefined') s = 'undefined';
  else if (v.unserializableValue) s = v.unserializableValue;
  else if (v.type === 'string') s = JSON.stringify(v.value);
  else if (v.type !== 'object' && v.type !== 'function') s = String(v.value);
  else if (v.subtype === 'null') s = 'null';
  else if (v.type === 'function') s = `[Function: ${(v.description ?? '').split('\n')[0].slice(0, 80)}]`;
  else {
    s = v.description ?? v.type;
    const props = v.preview?.properties;
    if (props && v.type === 'object') {
      const inner = props.slice(0, 8).map((p) => `${p.name}: ${p.type === 'string' ? JSON.stringify(p.value) : p.value}`);
      s += ` {${inner.join(', ')}${v.preview?.overflow || props.length > 8 ? ', …' : ''}}`;
    }
  }
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber?: number };
  scopeChain: { type: string; object: { objectId?: string } }[];
}

/**
 * Debugger.enable + Debugger.pause: the call frames and the locals of the top three frames, then
 * resume and disable, so no debugger stays enabled. Bounded by LOCALS_BUDGET_MS in all.
 */
async function captureLocals(episode: number): Promise<void> {
  const t0 = performance.now();
  const left = () => Math.max(1, LOCALS_BUDGET_MS - (performance.now() - t0));
  const record: LocalsRecord = { frames: [], tookMs: 0 };
  let paused = false;
  // Debugger.enable announces every script once: the only way to name the paused frames' files.
  const urls = new Map<string, string>();
  const onScript = (m: { params: { scriptId: string; url: string } }) => urls.set(m.params.scriptId, m.params.url);
  session!.on('Debugger.scriptParsed', onScript);
  try {
    const pausedEvent = new Promise<CallFrame[]>((resolve) => session!.once('Debugger.paused', (m: { params: { callFrames: CallFrame[] } }) => resolve(m.params.callFrames)));
    await post('Debugger.enable', {}, left());
    await post('Debugger.pause', {}, left());
    const kick = kickEvery(KICK_MS);
    const frames = await Promise.race([pausedEvent, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the main thread did not pause in time')), left()))]).finally(() => clearInterval(kick));
    paused = true;
    // The top frames that are the app's: a pause often lands inside a Node builtin the app's loop
    // calls (performance.now, a validator), whose locals tell nothing.
    const urlOf = (f: CallFrame) => f.url || urls.get(f.location.scriptId) || '';
    const appFrames = frames.filter((f) => !urlOf(f).startsWith('node:') && urlOf(f) !== '');
    for (const f of (appFrames.length ? appFrames : frames).slice(0, 3)) {
      const scopes: LocalsRecord['frames'][number]['scopes'] = [];
      for (const sc of f.scopeChain.filter((s) => s.type === 'local' || s.type === 'block' || s.type === 'closure').slice(0, 3)) {
        if (!sc.object.objectId) continue;
        const props = await post<{ result: { name: string; value?: RemoteObject }[] }>('Runtime.getProperties', { objectId: sc.object.objectId, ownProperties: true, generatePreview: true }, left());
        const vars: Record<string, string> = {};
        for (const p of props.result.slice(0, 20)) vars[p.name.slice(0, 100)] = renderRemote(p.value);
        scopes.push({ type: sc.type, vars });
      }
      record.frames.push({ function: f.functionName, url: f.url || urls.get(f.location.scriptId) || '', line: f.location.lineNumber + 1, column: (f.location.columnNumber ?? 0) + 1, scopes });
    }
  } catch (err) {
    record.problem = (err as Error).message;
  } finally {
    session!.off('Debugger.scriptParsed', onScript);
    try {
      if (paused) await post('Debugger.resume', {}, 500);
    } catch {}
    try {
      await post('Debugger.disable', {}, 500);
    } catch {}
  }
  record.tookMs = Math.round(performance.now() - t0);
  try {
    await callMain('addLocals', [episode, record], 1000);
  } catch (err) {
    hookFailure('adding locals to the hang bundle', err);
  }
}

setTimeout(tick, data.intervalMs);
