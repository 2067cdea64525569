/** Messages between the UI thread and the heap worker (structured-clone safe). */
import type { RetainerPath } from '../heap/retainer-paths';
import type { HeapSource } from './model';

export interface ClassRowMsg {
  name: string;
  count: number;
  selfSize: number;
  retainedSize: number;
}

export interface DiffRowMsg {
  name: string;
  countBefore: number;
  countAfter: number;
  countDelta: number;
  sizeDelta: number;
  newCount: number;
}

/** A list of nodes as parallel typed arrays: 100k instances cross threads without 100k objects. */
export interface NodeTable {
  nodes: Uint32Array;
  ids: Float64Array;
  selfSize: Float64Array;
  retainedSize: Float64Array;
  /** Class of each row, as an index into `names`. */
  nameIndex: Uint32Array;
  names: string[];
}

export interface ReadyMsg {
  type: 'ready';
  nodes: number;
  totalSize: number;
  classes: ClassRowMsg[];
  diff?: { rows: DiffRowMsg[]; sizeDelta: number; suspects: { name: string; countDelta: number; sizeDelta: number; heldBy?: string; heldAt?: { file: string; line: number; variable?: string } }[] };
}

export type ToWorker =
  | { type: 'load'; sources: HeapSource[] }
  | { type: 'query'; id: number; op: 'instances'; name: string; onlyNew?: boolean }
  | { type: 'query'; id: number; op: 'retainers'; node: number }
  | { type: 'query'; id: number; op: 'dominated'; node: number };

export type FromWorker =
  | { type: 'progress'; label: string; phase: string; done: number }
  | ReadyMsg
  | { type: 'error'; message: string }
  | { type: 'result'; id: number; table?: NodeTable; paths?: RetainerPath[]; error?: string };
