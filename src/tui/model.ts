/**
 * What the UI shows, decoded from the input before the first render. Views read this and the heap
 * worker's answers; they never read files. Built by src/cli/open-input.ts.
 */
import type { Summary } from '../bundle/summary';
import type { TimelineEvent } from '../bundle/types';

/** A heap snapshot the worker can parse: a file, or an entry of a bundle. */
export interface HeapSource {
  path: string;
  entry?: string;
  label: string;
}

export interface UiModel {
  /** The file or folder opened, for the title line. */
  title: string;
  kind: 'bundle' | 'snapshot' | 'report' | 'core';
  /** The bundle's summary (kind 'bundle'). */
  summary?: Summary;
  /** A diagnostic report: report.json of a bundle, or the file opened. */
  report?: Record<string, unknown>;
  /** Timeline events, clean and in time order. */
  events: TimelineEvent[];
  /** Heap snapshots available, in bundle order; two or more allow the diff mode. */
  heaps: HeapSource[];
  /** An ELF core file (kind 'core'): inspected in a worker after the first frame (core-session.ts). */
  core?: { path: string; size: number };
}

/** Facts the heap worker found, for the Overview's findings once parsing is done. */
export interface HeapFacts {
  nodes: number;
  totalSize: number;
  top?: { name: string; retainedSize: number; count: number };
  diff?: { sizeDelta: number; suspects: { name: string; countDelta: number; sizeDelta: number; heldBy?: string; heldAt?: { file: string; line: number; variable?: string } }[] };
}
