/**
 * What the children of bench/heap.ts (heap-ours.ts, heap-memlab.ts) share: the report they print
 * and their phase bookkeeping. Imports nothing heavy, so the memlab child loads none of our engine.
 */
import { readFileSync } from 'node:fs';

export interface PhaseFigure {
  name: string;
  ms: number;
  /** VmRSS and VmHWM (peak so far) when the phase ended, MB. */
  rssMb: number;
  hwmMb: number;
}

export interface ArraySite {
  phase: string;
  /** First frame in src/heap: function (file:line). */
  site: string;
  kind: string;
  count: number;
  bytes: number;
  /** Element count of the largest array from this site. */
  length: number;
  /** Still referenced by the analysis result (or the snapshot) at the end. */
  kept: boolean;
}

/** What both children (ours, memlab) report. */
export interface HeapChildReport {
  /** ours: analyze() on one thread, as `autopsy-ts heap` runs it; ours-2t: analyzeParallel (a worker thread too). */
  tool: 'ours' | 'ours-2t' | 'memlab';
  ok: true;
  fileBytes: number;
  nodes: number;
  edges: number;
  /** Parse + analysis, measured inside the process (no start-up, no module loading). */
  workMs: number;
  /** When the work started, ms after the process started (Node's start-up, module loading). */
  startedMs: number;
  phases: PhaseFigure[];
  hwmMb: number;
  heapLimitMb: number;
  /** Rows of the class summary. */
  classes: number;
  /** For cross-checks between the tools. */
  check: { rootRetained: number; counted: { name: string; count: number }; top: { name: string; count: number; retained: number }[] };
  profile?: { sites: ArraySite[]; stringBytes: number };
}

export function procStatus(pid: number | 'self' = 'self'): { rssMb: number; hwmMb: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** Phase bookkeeping shared by both children. */
export class Phases {
  readonly list: PhaseFigure[] = [];
  private last = performance.now();
  current = 'parse';

  end(next: string): void {
    const now = performance.now();
    const { rssMb, hwmMb } = procStatus();
    const f = { name: this.current, ms: now - this.last, rssMb, hwmMb };
    this.list.push(f);
    process.stderr.write(`@phase ${f.name} ${f.ms.toFixed(0)} ${hwmMb.toFixed(0)}\n`);
    this.current = next;
    this.last = now;
  }
}


/** The class whose instances both children count, as a cross-check: `--count=<name>` (default Order). */
export function countClass(argv: readonly string[]): string {
  const flag = argv.find((a) => a.startsWith('--count='));
  return flag ? flag.slice('--count='.length) : 'Order';
}
