import type { Session } from 'node:inspector';
import { HANG_KEY } from './hang';

/**
 * The watchdog's in-process inspector session with the main thread (never a port): connected for a
 * hang episode or a blocked dump, one at a time, and closed after. Calls into the main thread are
 * bounded, and re-request V8's interrupt while they wait (see post()).
 */

let session: Session | undefined;

/** The session while connected. */
export function currentSession(): Session | undefined {
  return session;
}

/** A hang episode and a blocked dump each use `session`: one at a time. */
let sessionQueue: Promise<void> = Promise.resolve();
export function serialised(fn: () => Promise<void>): Promise<void> {
  const next = sessionQueue.then(fn, fn);
  sessionQueue = next.catch(() => {});
  return next;
}

/** How often to ask for another interrupt while a call into the main thread waits (see post()). */
export const KICK_MS = 50;

/**
 * Posts to the main thread and waits, bounded. Each post makes Node request a V8 interrupt; inside an
 * Atomics.wait, V8 sometimes misses one (a lost wake-up: seen in about 1 run of 3 for the second
 * call of an episode), so while waiting we post a no-op evaluation every KICK_MS to request another.
 * Queued messages are all dispatched by whichever interrupt gets through.
 */
export function kickEvery(ms: number): NodeJS.Timeout {
  return setInterval(() => {
    try {
      session?.post('Runtime.evaluate', { expression: '0', silent: true });
    } catch {}
  }, ms);
}

export function post<T>(method: string, params: object | undefined, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const kick = kickEvery(KICK_MS);
    const timer = setTimeout(() => {
      clearInterval(kick);
      reject(new Error(`${method} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    session!.post(method, params ?? {}, (err: Error | null, result: unknown) => {
      clearTimeout(timer);
      clearInterval(kick);
      if (err) reject(err);
      else resolve(result as T);
    });
  });
}

/**
 * One session per episode, closed at its end. A session left open would make Node print "Waiting for
 * the debugger to disconnect..." when the app calls process.exit(), changing its stderr. The price:
 * closing it disables its HeapProfiler agent, which resets V8's heap object ids, so two heap
 * snapshots taken on either side of a hang cannot be matched object by object (docs/configuration.md).
 */
export function connect(): string | undefined {
  try {
    const inspector = require('node:inspector') as typeof import('node:inspector');
    session = new inspector.Session();
    session.connectToMainThread();
    return undefined;
  } catch (err) {
    session = undefined;
    return (err as Error).message;
  }
}

export function disconnect(): void {
  try {
    session?.disconnect();
  } catch {}
  session = undefined;
}

/** Calls one of the functions hang.ts exposes on the main thread (HANG_KEY), through Runtime.evaluate. */
export function callMain(fn: string, args: unknown[], timeoutMs: number): Promise<unknown> {
  const list = args.map((a) => JSON.stringify(a)).join(', ');
  return post('Runtime.evaluate', { expression: `globalThis[Symbol.for(${JSON.stringify(HANG_KEY.description)})]?.${fn}(${list})`, silent: true, returnByValue: true }, timeoutMs);
}
