/**
 * The anchor of bench/hang.ts: hang capture the way the common ANR integrations do it, modelled on
 * Sentry's anrIntegration (packages/node-core/src/integrations/anr/, watchdogTimer in
 * packages/core/src/utils/anr.ts). Preloaded with `node --require dist/bench/anr-anchor.js app.js`.
 *
 * - main thread: on the first loop turn, a worker; a postMessage heartbeat every POLL ms (unref'd),
 *   the worker unref'd, so neither keeps the process alive;
 * - worker: connects an inspector session to the main thread at start; a ref'd 20 ms interval (it
 *   also keeps the worker alive: without a ref'd handle the worker exits and no session callback
 *   ever arrives) fires when the last heartbeat is more than POLL + THRESHOLD ms old; then
 *   Debugger.enable, Debugger.pause, the call frames, Debugger.resume, Debugger.disable.
 *
 * Left out, because they cost the same whatever the capture method: Sentry's inspector.open(0) (an
 * inspector port), the Runtime.evaluate for scope data while paused, and sending the event.
 * The worker reports one line on stderr: `anr-anchor: {json}`. Moments are Date.now() epoch ms, the
 * clock the app and the hook use too (performance.timeOrigin + now() runs 1-3 ms apart from it);
 * the steps after detection are timed with performance.now().
 */
import { writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface AnchorOptions {
  pollMs: number;
  thresholdMs: number;
}

export interface AnchorReport {
  thresholdMs: number;
  pollMs: number;
  /** Epoch ms (Date.now()) when the worker received the last heartbeat before the block. */
  lastBeatAt: number;
  detectedAt: number;
  /** ms after detection: Debugger.enable answered (every script was announced by then). */
  enableMs?: number;
  /** ms after detection: Debugger.paused arrived with the call frames (the anchor's capture). */
  pausedMs?: number;
  /** ms after detection: Debugger.resume answered, the main thread runs on. */
  resumedMs?: number;
  scripts: number;
  frames: { function: string; url: string; line: number }[];
  error?: string;
}

/** Sentry's defaults are 50 ms and 5000 ms; the bench passes its threshold. */
function options(): AnchorOptions {
  const num = (v: string | undefined, d: number) => (v && Number(v) > 0 ? Number(v) : d);
  return { pollMs: num(process.env.ANR_ANCHOR_POLL_MS, 50), thresholdMs: num(process.env.ANR_ANCHOR_THRESHOLD_MS, 5000) };
}

function startWorker(): void {
  const opts = options();
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const worker = new Worker(__filename, { workerData: opts, execArgv: [], env });
  const timer = setInterval(() => {
    try {
      worker.postMessage({ session: undefined, debugImages: {} });
    } catch {}
  }, opts.pollMs);
  timer.unref();
  worker.once('error', () => clearInterval(timer));
  worker.unref();
}

function watchdog(): void {
  const opts = workerData as AnchorOptions;
  const session = new Session();
  session.connectToMainThread();
  const scripts = new Map<string, string>();
  session.on('Debugger.scriptParsed', (m) => scripts.set(m.params.scriptId, m.params.url));

  let report: AnchorReport | undefined;
  let detectedHr = 0;
  const since = () => Math.round((performance.now() - detectedHr) * 100) / 100;
  const done = (r: AnchorReport) => {
    try {
      writeSync(2, `anr-anchor: ${JSON.stringify(r)}\n`);
    } catch {}
  };
  session.on('Debugger.paused', (m) => {
    if (m.params.reason !== 'other' || !report) return;
    const r = report;
    r.pausedMs = since();
    r.scripts = scripts.size;
    r.frames = m.params.callFrames.slice(0, 8).map((f) => ({ function: f.functionName, url: f.url || scripts.get(f.location.scriptId) || '', line: f.location.lineNumber + 1 }));
    session.post('Debugger.resume', () => {
      r.resumedMs = since();
      session.post('Debugger.disable', () => done(r));
    });
  });

  // Sentry's timer: hrtime since the last heartbeat, checked every 20 ms.
  let lastBeat = performance.now();
  let lastBeatAt = Date.now();
  let triggered = false;
  parentPort!.on('message', () => {
    lastBeat = performance.now();
    lastBeatAt = Date.now();
  });
  setInterval(() => {
    const now = performance.now();
    const diff = Math.floor(now - lastBeat);
    if (!triggered && diff > opts.pollMs + opts.thresholdMs) {
      triggered = true;
      detectedHr = now;
      report = { thresholdMs: opts.thresholdMs, pollMs: opts.pollMs, lastBeatAt, detectedAt: Date.now(), scripts: 0, frames: [] };
      const r = report;
      try {
        session.post('Debugger.enable', (err) => {
          r.enableMs = since();
          if (err) {
            r.error = err.message;
            done(r);
          } else session.post('Debugger.pause');
        });
      } catch (err) {
        r.error = (err as Error).message;
        done(r);
      }
    }
    if (diff < opts.pollMs + opts.thresholdMs) triggered = false;
  }, 20);
}

if (isMainThread) {
  // Sentry starts its worker from setImmediate after init: the first loop turn, as the hook does.
  // Not unref'd: an unref'd immediate lets the poll phase block until the next timer, so the worker
  // would start only when the app's first timer fires (in the bench: together with the block).
  setImmediate(startWorker);
} else {
  watchdog();
}
