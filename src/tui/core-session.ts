/**
 * The UI's handle on a core inspection (core-process.ts, a child process): a small store the
 * Overview and Stack views subscribe to. Started after the first frame; while it runs, the state's
 * `seconds` moves once a second so that the "reading core…" line shows it is alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { CoreView } from '../core/inspect';

export type CoreFromWorker = { type: 'ready'; view: CoreView } | { type: 'error'; message: string };

export interface CoreState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  /** Whole seconds since the inspection started. */
  seconds?: number;
  view?: CoreView;
  error?: string;
}

export interface CoreSession {
  readonly path: string;
  getState(): CoreState;
  subscribe(listener: () => void): () => void;
  start(): void;
  close(): Promise<void>;
}

/** A store with the subscribe/getState pair useSyncExternalStore wants; the worker is extra. */
export class CoreStore {
  protected state: CoreState = { status: 'idle' };
  private listeners = new Set<() => void>();
  getState = (): CoreState => this.state;
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  };
  set(next: CoreState): void {
    this.state = next;
    for (const l of this.listeners) l();
  }
}

export class ProcessCoreSession extends CoreStore implements CoreSession {
  private child?: ChildProcess;
  private timer?: NodeJS.Timeout;

  constructor(readonly path: string) {
    super();
  }

  start(): void {
    if (this.child || this.state.status !== 'idle') return;
    // Its own process group (detached), so close() also ends gdb or lldb. No --require hook.
    const child = spawn(process.execPath, [join(__dirname, 'core-process.js'), this.path], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    this.child = child;
    const t0 = Date.now();
    this.set({ status: 'loading', seconds: 0 });
    this.timer = setInterval(() => {
      if (this.state.status === 'loading') this.set({ status: 'loading', seconds: Math.floor((Date.now() - t0) / 1000) });
    }, 1000);
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-2000)));
    const done = (next: CoreState) => {
      clearInterval(this.timer);
      this.child = undefined;
      if (this.state.status === 'loading') this.set(next);
    };
    child.on('error', (e) => done({ status: 'error', error: `cannot inspect the core: ${e.message}` }));
    child.on('close', (code, signal) => {
      try {
        const m = JSON.parse(Buffer.concat(out).toString('utf8')) as CoreFromWorker;
        done(m.type === 'ready' ? { status: 'ready', view: m.view } : { status: 'error', error: m.message });
      } catch {
        const last = err.trim().split('\n').pop();
        done({ status: 'error', error: `the core inspection ended (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}` });
      }
    });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    const c = this.child;
    this.child = undefined;
    if (c?.pid && c.exitCode === null) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
