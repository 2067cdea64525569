import type * as CaptureModule from './capture';
import { readConfig } from './config';
import type * as ControlModule from './control';
import { hookFailure, hookLog } from './log';
import { record, state } from './state';

/**
 * Installs the triggers. Each listener is chosen so that the app's fate stays what it was:
 * - uncaughtExceptionMonitor observes without handling: Node still prints the error and exits;
 * - unhandled rejections are observed by wrapping process.emit, because adding an
 *   'unhandledRejection' listener would turn Node's default (throw) into "handled";
 * - the on-demand signal is the only listener we add that changes a default: SIGUSR2 would
 *   otherwise end the process. AUTOPSY_SIGNAL=0 turns it off.
 */
export function install(): void {
  const s = state();
  if (s.installed) return;
  const { config, problems } = readConfig(process.env, s.startCwd);
  s.config = config;
  for (const p of problems) hookLog(p);
  if (!config.enabled) return;
  s.installed = true;

  process.on('uncaughtExceptionMonitor', onUncaught);
  wrapEmit();
  if (config.signal) {
    process.on(config.signal, onSignal);
    // Registration can wait for the first turn of the loop; the timer never keeps the process alive.
    setTimeout(registerForDump, 0).unref();
  }
  if (config.hangMs) setTimeout(startHangWatch, 0).unref();
  startEarlyRecording();
  setTimeout(startPersistence, 0).unref();
  setTimeout(startRecording, RECORDER_AFTER_MS).unref();
  // Load the capture code once the process has settled, so that a crash does not pay for it on its
  // fatal path (about 15 ms). Short-lived processes never reach this, and the timer keeps nobody alive.
  setTimeout(warmCapture, WARM_AFTER_MS).unref();
}

const WARM_AFTER_MS = 3000;

/** On the first loop turn: module loading at start-up is not watched (docs/configuration.md). */
const startHangWatch = guard('starting the hang watchdog', () => {
  if (isMainThread()) (require('./hang') as typeof import('./hang')).startWatchdog(state().config);
});

const startEarlyRecording = guard('starting the flight recorder', () => {
  if (isMainThread()) (require('./recorder') as typeof import('./recorder')).startEarlySources();
});

/**
 * On the first loop turn, with the hang watchdog: the persisted recorder (so that a death from then on
 * leaves the timeline), the OOM watch, and issue 8's fatal-signal handlers and code map (so that a block
 * in native code from then on gets its JS stack). A start-up collect of dead predecessors' recorders
 * follows a little later (collect.ts).
 */
const startPersistence = guard('starting the flight recorder', () => {
  if (!isMainThread()) return;
  const cfg = state().config;
  const recorder = require('./recorder') as typeof import('./recorder');
  if (cfg.persist) {
    const file = require('./recorder-file') as typeof import('./recorder-file');
    file.startPersist(recorder.currentHeapLimit());
    const oom = require('./oom') as typeof import('./oom');
    if (cfg.oom) recorder.watchHeap(oom.watchOom(cfg));
    const dir = file.recorderDir();
    if (cfg.fatalReport && dir) oom.armFatalReport(dir);
    if (cfg.collectAtStart) setTimeout(collectAtStart, COLLECT_AFTER_MS).unref();
  }
  armFatal(cfg.persist ? (require('./recorder-file') as typeof import('./recorder-file')).sideFile('crash.json') : undefined);
});

/** RECORDER_AFTER_MS after start-up: the sampler, the GC source, the output tail and the leak trigger. */
const startRecording = guard('starting the flight recorder', () => {
  if (!isMainThread()) return;
  const cfg = state().config;
  const recorder = require('./recorder') as typeof import('./recorder');
  recorder.startRecorder(cfg);
  if (cfg.leak) recorder.watchHeap((require('./leak') as typeof import('./leak')).watchLeak(cfg));
});

/** Issue 8: fatal-signal handlers and the code map (src/hook/fatal.ts); the crash record goes beside the recorder. */
const armFatal = guard('arming the fatal-signal handlers', (crashPath: string | undefined) => {
  (require('./fatal') as typeof import('./fatal')).armFatalSignals(crashPath);
});

const COLLECT_AFTER_MS = 100;

/**
 * The sampler, the GC source (V8 then calls back on every GC) and the output tail can wait: a process that
 * ends within this time (a CLI, an npm script) never pays for them.
 */
const RECORDER_AFTER_MS = 200;

/** A restarted service turns its predecessor's death into a bundle. Cheap when there is nothing to do. */
const collectAtStart = guard('collecting recorders of dead processes', () => {
  const file = require('./recorder-file') as typeof import('./recorder-file');
  const dir = file.recorderDir();
  if (!dir || !file.hasOthers()) return;
  // In a low-priority process of its own (collect-child.ts), as the leak diff: not on the app's heap.
  const { spawnOwn } = require('./recorder') as typeof import('./recorder');
  const inProcess = () => (require('./collect-child') as typeof import('./collect-child')).collectAtStartFrom(dir);
  if (!spawnOwn(require('node:path').join(__dirname, 'collect-child.js'), [dir], 10, inProcess)) inProcess();
});

const warmCapture = guard('loading the capture code', () => {
  if (isMainThread()) capture();
});

/**
 * Start-up loads only this file, config, log and state. The capture code (tar, gzip, source maps,
 * redaction), the dump protocol and even node:worker_threads load when they are first needed.
 */
function capture(): typeof CaptureModule {
  return require('./capture') as typeof CaptureModule;
}

function control(): typeof ControlModule {
  return require('./control') as typeof ControlModule;
}

/**
 * Preloads run in worker threads too. Their uncaught errors reach the main thread as 'error' events,
 * so the main thread's hook covers them; a worker's copy stays silent.
 */
function isMainThread(): boolean {
  return (require('./thread') as typeof import('./thread')).isMainThread();
}

function guard<A extends unknown[]>(what: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      hookFailure(what, err);
    }
  };
}

function alreadyCaptured(value: unknown): boolean {
  return typeof value === 'object' && value !== null && state().captured.has(value);
}

function markCaptured(value: unknown): void {
  if (typeof value === 'object' && value !== null) state().captured.add(value);
}

const onUncaught = guard('uncaught exception capture', (err: unknown, origin: string) => {
  const s = state();
  if (alreadyCaptured(err) || !isMainThread()) return;
  if (origin === 'unhandledRejection') {
    // A rejection we already captured in the emit wrapper, now raised by Node's default 'throw' mode;
    // primitive reasons arrive wrapped in a new ERR_UNHANDLED_REJECTION error.
    const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
    if (code === 'ERR_UNHANDLED_REJECTION' && Date.now() - s.lastRejectionAt < 1000) return;
  }
  markCaptured(err);
  if (origin === 'unhandledRejection') s.lastRejectionAt = Date.now();
  const reason = origin === 'unhandledRejection' ? 'unhandled-rejection' : 'uncaught-exception';
  capture().captureSync({ reason, error: err, hasError: true, trigger: { origin } });
});

function onUnhandledRejection(reason: unknown): void {
  const s = state();
  if (alreadyCaptured(reason) || !isMainThread()) return;
  const mode = rejectionMode();
  // When Node is about to raise this rejection as an uncaught exception (default 'throw' mode with no
  // listener), leave it to uncaughtExceptionMonitor: reading reason.stack now would make V8 format the
  // stack early, and Node would then print its error without the source line and caret.
  if (mode === 'throw' && process.listenerCount('unhandledRejection') === 0) return;
  // In 'strict' mode the monitor has already seen it; primitive reasons cannot be remembered by identity.
  if (mode === 'strict' && Date.now() - s.lastRejectionAt < 1000) return;
  markCaptured(reason);
  s.lastRejectionAt = Date.now();
  capture().captureSync({ reason: 'unhandled-rejection', error: reason, hasError: true, trigger: { origin: 'unhandledRejection', mode } });
}

/** Node's --unhandled-rejections mode, from the command line or NODE_OPTIONS; the last one wins. */
function rejectionMode(): string {
  const flags = [...(process.env.NODE_OPTIONS ?? '').split(/\s+/), ...process.execArgv].filter((a) => a.startsWith('--unhandled-rejections='));
  return flags.length ? flags[flags.length - 1].split('=')[1] : 'throw';
}

function wrapEmit(): void {
  const original = process.emit;
  const wrapped = function (this: NodeJS.Process, event: string | symbol, ...args: unknown[]) {
    if (event === 'unhandledRejection') {
      try {
        onUnhandledRejection(args[0]);
      } catch (err) {
        hookFailure('unhandled rejection capture', err);
      }
    } else if (typeof event === 'string' && event.startsWith('SIG') && event !== state().config.signal) {
      // A signal the app handles (one it does not handle ends the process before any JS runs).
      try {
        record({ time: Date.now(), kind: 'signal', signal: event, handled: true });
      } catch {}
    }
    return (original as (...a: unknown[]) => boolean).apply(this, [event, ...args]);
  };
  process.emit = wrapped as typeof process.emit;
}

let registration: string | undefined;

const registerForDump = guard('registering for autopsy-ts dump', () => {
  if (!isMainThread()) return;
  const { getHookVersion } = require('./version') as typeof import('./version');
  registration = control().register(state().config.signal!, getHookVersion());
  process.on('exit', () => {
    try {
      if (registration) (require('node:fs') as typeof import('node:fs')).unlinkSync(registration);
    } catch {}
  });
});

const onSignal = guard('on-demand capture', (signal: NodeJS.Signals) => {
  if (!isMainThread()) return;
  const requests = control().takeRequests();
  record({ time: Date.now(), kind: 'signal', signal });
  // The watchdog already answered this signal's requests while the loop was blocked.
  if (!requests.length && (require('./hang') as typeof import('./hang')).servedByWatchdog()) return;
  if (requests.some((r) => r.core)) {
    // The core first (its writer is a child process; the loop carries on), then the bundle that references it.
    const core = require('./core') as typeof import('./core');
    core
      .writeCoreInto(capture().bundleDirNow(), 'on-demand')
      .then((outcome) => (requests.some((r) => r.embedCore) && 'record' in outcome ? embedOnDemand(signal, requests, outcome) : writeOnDemand(signal, requests, outcome)))
      .catch((err) => hookFailure('on-demand core capture', err));
    return;
  }
  writeOnDemand(signal, requests);
});

/**
 * dump --embed-core: the core gzip-compressed into a temporary file (streamed), the bundle written
 * with core.json saying so, then written again with the compressed core streamed into it.
 */
async function embedOnDemand(signal: NodeJS.Signals, requests: ControlModule.DumpRequest[], outcome: { record: import('./core').CoreRecord }): Promise<void> {
  const core = require('./core') as typeof import('./core');
  let gz: import('./core').GzippedCore | undefined;
  try {
    gz = await core.gzipCore(outcome.record);
    outcome.record.embedded = { entry: gz.entry, gzipBytes: gz.gzipBytes, gzipSha256: gz.gzipSha256, gzipMs: gz.gzipMs };
  } catch (err) {
    outcome.record.embedded = { skipped: `compressing the core failed: ${(err as Error).message}` };
  }
  writeOnDemand(signal, requests, outcome, async (written) => {
    if (!gz) return;
    try {
      await capture().embedStreamedEntry(written, { name: gz.entry, path: gz.path, size: gz.gzipBytes, sha256: gz.gzipSha256 });
    } catch (err) {
      outcome.record.embedded = { skipped: `embedding the core failed: ${(err as Error).message}` };
      capture().rewriteBundle(written, [{ name: 'core.json', value: outcome.record }]);
    } finally {
      try {
        (require('node:fs') as typeof import('node:fs')).unlinkSync(gz.path);
      } catch {}
    }
  });
}

function writeOnDemand(
  signal: NodeJS.Signals,
  requests: ControlModule.DumpRequest[],
  core?: import('./core').CoreOutcome,
  beforeReply?: (written: import('./capture').WrittenBundle) => Promise<void>,
): void {
  const { reply } = control();
  const c = capture();
  let heap: ReturnType<typeof heapForDump> = {};
  if (requests.some((r) => r.heap)) heap = heapForDump(c.bundleDirNow());
  const result = c.captureSync({
    reason: 'on-demand',
    stack: true,
    trigger: { signal, requests: requests.map((r) => r.id), heap: heap.record ?? (heap.skipped ? { skipped: heap.skipped } : undefined), core: core && control().coreRef(core) },
    rawEntries: heap.entry,
    entries: core && 'record' in core ? [{ name: 'core.json', value: core.record }] : undefined,
  });
  const answer = () => {
    for (const r of requests) {
      const embedded = core && 'record' in core ? core.record.embedded : undefined;
      const warnings = [
        r.heap && heap.skipped ? `heap snapshot skipped: ${heap.skipped}` : '',
        r.core && core && 'skipped' in core ? `core dump skipped: ${core.skipped}` : '',
        r.embedCore && embedded && 'skipped' in embedded ? `core not embedded: ${embedded.skipped}` : '',
      ].filter(Boolean);
      const corePath = r.core && core && 'record' in core ? core.record.path : undefined;
      reply(r.id, result.path ? { ok: true, path: result.path, core: corePath, warning: warnings.join('; ') || undefined } : { ok: false, error: result.skipped ?? result.error ?? 'not written' });
    }
  };
  if (beforeReply && result.written) beforeReply(result.written).then(answer, (err) => (hookFailure('embedding the core', err), answer()));
  else answer();
}

/** A heap snapshot for `dump --heap`, only when the memory headroom allows it (src/hook/headroom.ts). */
function heapForDump(dir: string): { entry?: { name: string; data: Buffer }[]; record?: unknown; skipped?: string } {
  const { memoryRoom, snapshotHeadroom } = require('./headroom') as typeof import('./headroom');
  const verdict = snapshotHeadroom(process.memoryUsage().heapUsed, memoryRoom(), state().config.heapMaxMs);
  if (!verdict.ok) return { skipped: verdict.reason };
  try {
    const snap = (require('./heap-snapshot') as typeof import('./heap-snapshot')).snapshotEntry(dir, 'heap/on-demand.heapsnapshot.gz', verdict.reason);
    return { entry: [{ name: snap.name, data: snap.data }], record: snap.record };
  } catch (err) {
    return { skipped: `snapshot failed: ${(err as Error).message}` };
  }
}
