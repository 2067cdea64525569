import type { Config } from './config';
import { hookFailure, hookLog } from './log';
import { record } from './state';

/**
 * Evidence for an out-of-memory death, taken while the process can still run JS.
 *
 * When the heap after a major GC (or at a sample) reaches AUTOPSY_OOM_AT (75 %) of V8's limit, once per
 * process: the diagnostic report, then a heap snapshot if the memory headroom allows it (headroom.ts),
 * both beside the persisted recorder. If the process then dies without an exit (V8's fatal OOM), the
 * next `collect` makes an `oom` bundle of the recorder, the report and the snapshot.
 *
 * Why not Node's own means: `v8.setHeapSnapshotNearHeapLimit()` prints "Wrote snapshot to ..." on
 * stderr and raises the heap limit while it writes (the container kills of nodejs/node#50711), and
 * `process.report.reportOnFatalError` prints two report lines; both change Node's stderr. The latter is
 * available as AUTOPSY_FATAL_REPORT=1 for those who accept that.
 */

export interface OomDecision {
  fire: boolean;
  ratio: number;
}

/** Pure: is this heap close enough to its limit? */
export function nearLimit(heapUsed: number, heapLimit: number, at: number): OomDecision {
  const ratio = heapLimit > 0 ? heapUsed / heapLimit : 0;
  return { fire: ratio >= at, ratio };
}

let done = false;

export function watchOom(config: Config): { onHeap(heapUsed: number, heapLimit: number, afterMajorGc: boolean): void; readonly wakeAt: number | undefined } {
  return {
    // Once the evidence is kept, a process that stays above the line must not wake JS after every GC.
    get wakeAt() {
      return done ? undefined : config.oomAt;
    },
    onHeap(heapUsed, heapLimit) {
      if (done) return;
      const d = nearLimit(heapUsed, heapLimit, config.oomAt);
      if (!d.fire) return;
      done = true;
      takeEvidence(config, heapUsed, heapLimit, d.ratio);
    },
  };
}

function takeEvidence(config: Config, heapUsed: number, heapLimit: number, ratio: number): void {
  const file = require('./recorder-file') as typeof import('./recorder-file');
  const fs = require('node:fs') as typeof import('node:fs');
  const reportPath = file.sideFile('report.json');
  const snapPath = file.sideFile('heapsnapshot');
  if (!reportPath || !snapPath) return; // not persisting: nothing would survive the death anyway
  const ev: Record<string, unknown> & { time: number; kind: string } = { time: Date.now(), kind: 'oom-near', heapUsed, heapLimit, ratio: Math.round(ratio * 1000) / 1000 };
  try {
    const report = process.report.getReport();
    const redactor = file.recorderRedactor();
    fs.writeFileSync(reportPath, JSON.stringify(redactor ? redactor.redactReport(report) : report), { mode: 0o600 });
    ev.report = true;
  } catch (err) {
    ev.reportProblem = (err as Error).message;
  }
  const { memoryRoom, snapshotHeadroom } = require('./headroom') as typeof import('./headroom');
  const verdict = snapshotHeadroom(heapUsed, memoryRoom(), config.heapMaxMs);
  ev.headroom = verdict.reason;
  if (verdict.ok) {
    const t0 = Date.now();
    try {
      const hs = require('./heap-snapshot') as typeof import('./heap-snapshot');
      const take = () => {
        if (hs.needsLineEnds()) hs.prepareLineEnds();
        (require('node:v8') as typeof import('node:v8')).writeHeapSnapshot(snapPath);
      };
      (require('./hang') as typeof import('./hang')).quietly(take);
      ev.snapshot = { bytes: fs.statSync(snapPath).size, tookMs: Date.now() - t0 };
    } catch (err) {
      ev.snapshot = { skipped: `snapshot failed: ${(err as Error).message}` };
      try {
        fs.unlinkSync(snapPath);
      } catch {}
    }
  } else {
    ev.snapshot = { skipped: verdict.reason };
  }
  record(ev);
  file.flush();
  hookLog(`heap at ${Math.round(ratio * 100)} % of its limit: OOM evidence kept beside ${file.recorderPath()}`);
}

/** AUTOPSY_FATAL_REPORT=1: Node writes its report on a fatal error into the recorder folder. */
export function armFatalReport(dir: string): void {
  try {
    process.report.reportOnFatalError = true;
    process.report.directory = dir;
  } catch (err) {
    hookFailure('AUTOPSY_FATAL_REPORT', err);
  }
}
