import type { Config } from './config';
import { quietly } from './hang';
import { LeakDetector } from './leak-detector';
import { hookFailure, hookLog } from './log';
import { record, state } from './state';

/**
 * AUTOPSY_LEAK=1: when the heap after GC keeps growing (leak-detector.ts), snapshot A; after more growth,
 * snapshot B; then a `memory-leak` bundle with both. The diff (growing classes and what holds their new
 * instances) is computed by a separate process, src/cli/leak-report.ts, which adds leak.json to the
 * bundle: the analyser never loads into the app, and its memory is not the leaking process's.
 */

export const LEAK_ENTRIES = { a: 'heap/leak-a.heapsnapshot.gz', b: 'heap/leak-b.heapsnapshot.gz' } as const;

interface Snap {
  path: string;
  at: number;
  heapUsed: number;
  tookMs: number;
}

export function watchLeak(config: Config): { onHeap(heapUsed: number, heapLimit: number, afterMajorGc: boolean): void } {
  const detector = new LeakDetector({ growth: config.leakGrowth, windowMs: config.leakWindowMs });
  let a: Snap | undefined;
  let busy = false;
  return {
    onHeap(heapUsed) {
      if (busy) return;
      busy = true;
      try {
        const act = detector.add(Date.now(), heapUsed);
        if (act.type === 'snapshot-a') {
          record({ time: Date.now(), kind: 'leak', phase: 'suspected', floors: act.floors, message: `heap after GC grew ${mb(act.floors[3] - act.floors[0])} over ${Math.round(config.leakWindowMs / 1000)} s` });
          a = snapshot(config, 'a', heapUsed);
        } else if (act.type === 'snapshot-b' && a) {
          const b = snapshot(config, 'b', heapUsed);
          // Compressing two snapshots blocks the loop for seconds on a busy machine: not a hang either
          // (a CI run at load 14 got a hang bundle instead of the memory-leak one).
          const snapA = a;
          if (b) quietly(() => writeLeakBundle(config, snapA, b, act.floorA, act.floorB));
          removeFile(a.path);
          a = undefined;
        } else if (act.type === 'give-up' && a) {
          record({ time: Date.now(), kind: 'leak', phase: 'dropped', message: 'the heap stopped growing; snapshot A dropped' });
          removeFile(a.path);
          a = undefined;
        }
      } catch (err) {
        hookFailure('leak trigger', err);
      } finally {
        busy = false;
      }
    },
  };
}

function mb(n: number): string {
  return `${(n / 1024 ** 2).toFixed(1)} MB`;
}

function removeFile(path: string): void {
  try {
    require('node:fs').unlinkSync(path);
  } catch {}
}

/** A snapshot to a hidden file in the bundle folder, when the headroom allows it; the watchdog is told it is not a hang. */
function snapshot(config: Config, which: 'a' | 'b', heapUsed: number): Snap | undefined {
  const { memoryRoom, snapshotHeadroom } = require('./headroom') as typeof import('./headroom');
  const verdict = snapshotHeadroom(heapUsed, memoryRoom(), config.heapMaxMs);
  if (!verdict.ok) {
    record({ time: Date.now(), kind: 'leak', phase: `snapshot-${which}-skipped`, message: verdict.reason });
    hookLog(`leak trigger: snapshot ${which.toUpperCase()} skipped: ${verdict.reason}`);
    return undefined;
  }
  const { chooseBundleDir } = require('./bundle-dir') as typeof import('./bundle-dir');
  const { join } = require('node:path') as typeof import('node:path');
  const s = state();
  const path = join(chooseBundleDir(s.config.dir, s.startCwd).dir, `.leak-${process.pid}-${which}.heapsnapshot`);
  const hs = require('./heap-snapshot') as typeof import('./heap-snapshot');
  // Empty the recorder's write queue first: otherwise its growth between A and B shows in the diff.
  try {
    (require('./recorder-file') as typeof import('./recorder-file')).flush();
  } catch {}
  const t0 = Date.now();
  const take = () => {
    if (hs.needsLineEnds()) hs.prepareLineEnds();
    (require('node:v8') as typeof import('node:v8')).writeHeapSnapshot(path);
  };
  quietly(take);
  const snap = { path, at: Date.now(), heapUsed, tookMs: Date.now() - t0 };
  record({ time: snap.at, kind: 'leak', phase: `snapshot-${which}`, heapUsed, tookMs: snap.tookMs, message: `snapshot ${which.toUpperCase()} taken at ${mb(heapUsed)} heapUsed in ${snap.tookMs} ms` });
  return snap;
}

function writeLeakBundle(config: Config, a: Snap, b: Snap, floorA: number, floorB: number): void {
  const fs = require('node:fs') as typeof import('node:fs');
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const gz = (p: string) => zlib.gzipSync(fs.readFileSync(p), { level: 1 });
  const capture = require('./capture') as typeof import('./capture');
  // The diff starts before the bundle is renamed into view: a supervisor that kills the app as soon as
  // a bundle appears would otherwise kill it before the diff was started (a CI run lost leak.json so).
  // The child waits for the bundle to appear, and gives up after a minute when it never does.
  capture.captureSync({
    reason: 'memory-leak',
    trigger: {
      growth: config.leakGrowth,
      windowMs: config.leakWindowMs,
      floorA,
      floorB,
      snapshots: [
        { entry: LEAK_ENTRIES.a, at: new Date(a.at).toISOString(), heapUsed: a.heapUsed, tookMs: a.tookMs },
        { entry: LEAK_ENTRIES.b, at: new Date(b.at).toISOString(), heapUsed: b.heapUsed, tookMs: b.tookMs },
      ],
    },
    rawEntries: [
      { name: LEAK_ENTRIES.a, data: gz(a.path) },
      { name: LEAK_ENTRIES.b, data: gz(b.path) },
    ],
    beforePublish: (path) => startLeakReport(config, path),
  });
  removeFile(b.path);
}

/** The diff, out of process (recorder.ts spawnOwn), low priority: AUTOPSY_LEAK_NICE, default 10. */
function startLeakReport(config: Config, bundle: string): void {
  const { join } = require('node:path') as typeof import('node:path');
  const recorder = require('./recorder') as typeof import('./recorder');
  if (recorder.spawnOwn(join(__dirname, '..', 'cli', 'leak-report.js'), [bundle, '--wait'], config.leakNice)) return;
  const why = recorder.notNode();
  if (why) hookLog(`the leak diff is left for later (${why}): run autopsy-ts leak-report ${bundle}`);
}
