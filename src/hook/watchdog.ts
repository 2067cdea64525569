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
import { workerData } from 'node:worker_threads';
import type * as CaptureModule from './capture';
import { HANG_KEY, SLOT, endHangBundle, type HangInfo, type HangRecord, type HangReply, type WatchdogData, type WatchdogNews } from './hang';
import { HangDetector, beatAge, beatValue, type DetectorEvent } from './hang-detector';
import { probeThread } from './hang-probe';
import { memoryRoom, snapshotHeadroom } from './headroom';
import { hookFailure } from './log';
import { state } from './state';
import { captureLocals } from './watchdog-locals';
import { callMain, connect, currentSession, disconnect, post, serialised } from './watchdog-session';

const data = workerData as WatchdogData;
const hb = new Int32Array(data.sab);
const detector = new HangDetector(data.thresholdMs, data.intervalMs);
state().config = data.config;
state().startCwd = data.startCwd;

/** How long the main thread has to answer Runtime.evaluate before we write from here. */
const ANSWER_MS = { running: 250, blocked: 250 };

/**
 * `autopsy-ts dump PID` while the main thread is blocked: its signal waits for the loop, so once the
 * heartbeat is this old the watchdog answers the requests itself, every DUMP_SCAN_MS (one readdir).
 */
const BLOCKED_DUMP_MS = 1000;
const DUMP_SCAN_MS = 250;

let fallback: { episode: number; hang: HangRecord; written: CaptureModule.WrittenBundle } | undefined;

/**
 * Tells the main thread (hang.ts readNews) where the bundle written here stands, so that an exit before
 * this thread sees the end of the block still ends it there. A copy of the bundle's entries (a report
 * and a timeline, some 100 KB), once per change.
 */
function shareFallback(): void {
  const f = fallback;
  if (!f || !data.news) return;
  try {
    const { path, manifest, files, events } = f.written;
    const n: WatchdogNews = { episode: f.episode, hang: f.hang, written: { path, manifest, files, events } };
    data.news.postMessage(n);
  } catch (err) {
    hookFailure('telling the main thread of the hang bundle', err);
  }
}

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
  if (currentSession()) {
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
      shareFallback();
    } else await callMain('addCore', [episode, outcome], 10_000);
  } catch (err) {
    hookFailure('core dump of the hang', err);
  }
}
// --- end issue 7 ---

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
  // An exit meanwhile waits for the news (hang.ts watchdogBundleEndsWithExit), bounded.
  Atomics.store(hb, SLOT.WRITING, info.episode);
  try {
    writeClaimed(info, why);
  } finally {
    Atomics.store(hb, SLOT.WRITING, 0);
    Atomics.notify(hb, SLOT.WRITING);
  }
}

function writeClaimed(info: HangInfo, why: string): void {
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
  if (r.written) {
    fallback = { episode: info.episode, hang, written: r.written };
    shareFallback();
  }
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
    if (currentSession()) {
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
        } else if (currentSession()) await callMain('addDumpCore', [control.coreRef(core), 'record' in core ? core.record : null], 10_000);
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
  // Marked before the main thread can hear of it: an exit that has heard "recovered" leaves the end to
  // this thread, and waits for this rewrite (hang.ts watchdogBundleEndsWithExit).
  Atomics.store(hb, SLOT.WRITING, f.episode);
  try {
    try {
      data.news?.postMessage({ episode: f.episode, recovered: true } satisfies WatchdogNews);
    } catch {}
    endHangBundle(f.written, f.hang, Date.now());
  } finally {
    Atomics.store(hb, SLOT.WRITING, 0);
    Atomics.notify(hb, SLOT.WRITING);
  }
}

setTimeout(tick, data.intervalMs);
