/**
 * The UI thread's handle on the heap worker: its progress and result as a small store that views
 * subscribe to (useSyncExternalStore), and queries as promises. Starting it is separate from
 * creating it, so the first screen never waits for a snapshot.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { RetainerPath } from '../heap/retainer-paths';
import type { FromWorker, NodeTable, ReadyMsg, ToWorker } from './heap-protocol';
import type { HeapSource } from './model';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface HeapState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  label?: string;
  phase?: string;
  done?: number;
  error?: string;
  ready?: ReadyMsg;
}

export interface HeapSession {
  readonly sources: HeapSource[];
  getState(): HeapState;
  subscribe(listener: () => void): () => void;
  start(): void;
  instances(name: string, onlyNew?: boolean): Promise<NodeTable>;
  dominated(node: number): Promise<NodeTable>;
  retainers(node: number): Promise<RetainerPath[]>;
  close(): Promise<void>;
}

export class WorkerHeapSession implements HeapSession {
  private state: HeapState = { status: 'idle' };
  private listeners = new Set<() => void>();
  private worker?: Worker;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: FromWorker & { type: 'result' }) => void; reject: (e: Error) => void }>();

  constructor(readonly sources: HeapSource[]) {}

  getState = (): HeapState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private set(next: HeapState): void {
    this.state = next;
    for (const l of this.listeners) l();
  }

  start(): void {
    if (this.worker || !this.sources.length) return;
    // No --require hook, no inspector flags: the worker is ours, not the user's process.
    const w = new Worker(join(__dirname, 'heap-worker.js'), { execArgv: [], env: { ...process.env, NODE_OPTIONS: '' } });
    this.worker = w;
    this.set({ status: 'loading', label: this.sources[0].label, phase: 'parse', done: 0 });
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (err) => this.fail(err.message));
    w.on('exit', (code) => {
      if (this.state.status === 'loading') this.fail(`heap worker exited (code ${code})`);
    });
    w.postMessage({ type: 'load', sources: this.sources } satisfies ToWorker);
  }

  private lastProgress = 0;
  private onMessage(m: FromWorker): void {
    if (m.type === 'progress') {
      // Progress arrives up to 20 times a second per phase; a redraw each 100 ms is plenty.
      const now = Date.now();
      if (m.done > 0 && m.done < 1 && now - this.lastProgress < 100 && m.phase === this.state.phase) return;
      this.lastProgress = now;
      this.set({ status: 'loading', label: m.label, phase: m.phase, done: m.done });
    } else if (m.type === 'ready') this.set({ status: 'ready', ready: m });
    else if (m.type === 'error') this.fail(m.message);
    else {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (p) m.error ? p.reject(new Error(m.error)) : p.resolve(m);
    }
  }

  private fail(message: string): void {
    this.set({ status: 'error', error: message });
    for (const p of this.pending.values()) p.reject(new Error(message));
    this.pending.clear();
  }

  private query(q: DistributiveOmit<Extract<ToWorker, { type: 'query' }>, 'id'>): Promise<FromWorker & { type: 'result' }> {
    if (!this.worker || this.state.status !== 'ready') return Promise.reject(new Error('the heap is not loaded yet'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ ...q, id } as ToWorker);
    });
  }

  async instances(name: string, onlyNew = false): Promise<NodeTable> {
    return (await this.query({ type: 'query', op: 'instances', name, onlyNew })).table!;
  }
  async dominated(node: number): Promise<NodeTable> {
    return (await this.query({ type: 'query', op: 'dominated', node })).table!;
  }
  async retainers(node: number): Promise<RetainerPath[]> {
    return (await this.query({ type: 'query', op: 'retainers', node })).paths!;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
