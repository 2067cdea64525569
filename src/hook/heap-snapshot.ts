import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Heap snapshots from inside the process, bounded in time on every supported Node.
 *
 * The trap (measured, docs/performance.md): on Node 20 (V8 11.3), a process that loaded an 11 MB
 * single-line bundle did not finish v8.writeHeapSnapshot() within 120 s; Node 24 took 14.5 s. The
 * snapshot records each closure's line and column, and V8 11 computes them by scanning the script's
 * source when the script has no cached line ends: O(n^2) on one huge line. Debugger.enable computes
 * the line ends of every script (it reports their end line), so enabling and disabling it first
 * (184 ms there) brought the snapshot down to 17 s.
 */
export function needsLineEnds(): boolean {
  return Number(process.versions.v8.split('.')[0]) < 12;
}

let session: import('node:inspector').Session | undefined;

/**
 * Computes every script's line ends through an in-thread inspector session. The session stays
 * connected (idle, Debugger disabled): closing a session disables its HeapProfiler agent, which
 * clears V8's object ids, and two snapshots could then no longer be compared object by object.
 * Never throws.
 */
export function prepareLineEnds(): { ms: number; problem?: string } {
  const t0 = Date.now();
  try {
    if (!session) {
      const inspector = require('node:inspector') as typeof import('node:inspector');
      session = new inspector.Session();
      session.connect();
    }
    session.post('Debugger.enable');
    session.post('Debugger.disable');
    return { ms: Date.now() - t0 };
  } catch (err) {
    return { ms: Date.now() - t0, problem: (err as Error).message };
  }
}

export interface SnapshotEntry {
  name: string;
  data: Buffer;
  record: { entry: string; bytes: number; gzipBytes: number; tookMs: number; lineEndsMs?: number; headroom: string };
}

/**
 * Writes a snapshot of this thread's heap to a temporary file beside the bundles, reads it back
 * gzip-compressed as a bundle entry, and removes the file.
 */
export function snapshotEntry(dir: string, entry: string, headroom: string, prep = needsLineEnds()): SnapshotEntry {
  const tmp = join(dir, `.heap-${process.pid}-${Date.now()}.heapsnapshot`);
  const lineEnds = prep ? prepareLineEnds() : undefined;
  const t0 = Date.now();
  try {
    (require('node:v8') as typeof import('node:v8')).writeHeapSnapshot(tmp);
    const raw = readFileSync(tmp);
    const data = (require('node:zlib') as typeof import('node:zlib')).gzipSync(raw, { level: 1 });
    return { name: entry, data, record: { entry, bytes: raw.length, gzipBytes: data.length, tookMs: Date.now() - t0, lineEndsMs: lineEnds?.ms, headroom } };
  } finally {
    try {
      unlinkSync(tmp);
    } catch {}
  }
}
