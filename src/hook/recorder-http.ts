import { record } from './state';

/**
 * HTTP requests for the flight recorder, from Node's diagnostics channels (http client and server, and
 * the undici that fetch() uses). A busy server handles thousands of requests a second, so every request
 * is counted in the next sample, but only some are recorded one by one: errors, 5xx, slow ones, and up
 * to EVENTS_PER_SECOND others.
 *
 * The start of a request is kept on Node's own request/response object, under a symbol (START). This is
 * the cheapest place measured, at a hello-world server's ~35-70 µs of CPU per request:
 * - a Map keyed by the object cost ~1 µs per request in place: identity hashes for new objects, inserts
 *   and deletes, rehashing as it churns (perf, session 5);
 * - a WeakMap cost more, in GC work for its ephemerons (session 2).
 * A property would change the object's hidden class, but it is added as Node publishes the request's
 * start, before the app's code sees the object, so every object of a kind takes the same transition and
 * the app's code stays monomorphic. It goes with the object: nothing to clean up when a client leaves.
 */

const EVENTS_PER_SECOND = 20;
const SLOW_MS = 1000;
const START = Symbol('autopsy-ts.start');

type Timed = { [START]?: number };

/**
 * Milliseconds on a 30-bit wheel (~12 days), so that the stored start is a small integer that V8 keeps
 * unboxed in the object: a full Date.now() is a double, one more allocation per request.
 */
const WHEEL = 0x3fffffff;
const tick = (): number => Date.now() & WHEEL;
/** ms from a tick() to `now` (a Date.now()); correct for anything shorter than the wheel. */
const since = (t0: number, now: number): number => ((now & WHEEL) - t0) & WHEEL;

/**
 * A client request's start, taken once. Node's client may report a request again (an error after its
 * response), and undici an error after the headers: COUNTED, still a small integer, marks it done.
 */
const COUNTED = -1;
function claim(o: Timed): number | undefined {
  const t0 = o[START];
  if (t0 !== undefined) o[START] = COUNTED;
  return t0;
}

/** "ECONNRESET: read ECONNRESET": an error's code (or name) and its message, bounded, for an event. */
export function errorText(err: (Error & { code?: string }) | null | undefined): string | undefined {
  return err ? `${err.code ?? err.name}: ${String(err.message).slice(0, 300)}` : undefined;
}

export interface HttpCounters {
  server: { count: number; errors: number; totalMs: number; maxMs: number };
  client: { count: number; errors: number; totalMs: number; maxMs: number };
}

export function newHttpCounters(): HttpCounters {
  return { server: { count: 0, errors: 0, totalMs: 0, maxMs: 0 }, client: { count: 0, errors: 0, totalMs: 0, maxMs: 0 } };
}

/**
 * What goes into a sample: counts, errors, mean and max duration per side, or nothing when idle. With
 * `onePer` above 1 the server side was timed in one sample interval of that many (nextServerTiming).
 */
export function requestSummary(c: HttpCounters, onePer = 1): Record<string, unknown> | undefined {
  const side = (x: HttpCounters['server']) => (x.count ? { count: x.count, errors: x.errors, meanMs: Math.round((x.totalMs / x.count) * 10) / 10, maxMs: Math.round(x.maxMs) } : undefined);
  const server = side(c.server);
  if (server && onePer > 1) Object.assign(server, { onePer });
  const client = side(c.client);
  return server || client ? { server, client } : undefined;
}

/**
 * Above this many server requests per second of busy event loop, the server's requests are counted and
 * timed in one sample interval out of PROBE_EVERY, and the hook is not subscribed to the server's two
 * channels in the others. Subscribed, the hook's handlers cost ~0.15-0.3 µs per request, but Node's own
 * publishing of the two messages costs more: on Node 20, even an empty subscriber costs a hello-world
 * serving 30,000 requests a second 2-3 % of its CPU (bench/recorder.ts, docs/performance.md, session 9).
 * Only unsubscribing saves that. At this limit Node's publishing plus the hook's handlers are ~0.5 % of
 * the loop's time; an app that spends 200 µs or more per request never reaches it.
 */
export const TIMED_PER_SECOND = 5000; // the default of AUTOPSY_HTTP_TIMED (config.ts)
/**
 * A busy server is timed in one interval of this many (30 s at the default 1 s samples). Each switch of
 * the subscription costs Node 20 a deoptimisation of its http server functions: switching every few
 * seconds cost a hello-world ~10 points more than staying subscribed (0.866 against 0.965, session 9),
 * so the switches are rare.
 */
export const PROBE_EVERY = 30;

/** The server side's timing: one interval in `onePer` is timed; `skip` untimed ones are left before the next. */
export interface ServerTiming {
  onePer: number;
  skip: number;
}

/**
 * Pure: the timing after a sample interval. `timedCount` is what that interval timed, or undefined when
 * it was untimed; `busyMs` is how long the event loop was busy in it (event-loop utilisation times its
 * length). The rate is per second of busy loop, so that the share of the process's own CPU spent on
 * timing is bounded, also for a server that is busy in bursts. It is measured afresh in every timed
 * interval, so the policy follows the load both ways.
 */
export function nextServerTiming(t: ServerTiming, timedCount: number | undefined, busyMs: number, limit = TIMED_PER_SECOND): ServerTiming {
  if (timedCount === undefined) return { onePer: t.onePer, skip: Math.max(0, t.skip - 1) };
  if (!limit) return { onePer: 1, skip: 0 };
  const perSecond = (timedCount * 1000) / Math.max(10, busyMs);
  if (!Number.isFinite(perSecond) || perSecond <= limit) return { onePer: 1, skip: 0 };
  return { onePer: PROBE_EVERY, skip: PROBE_EVERY - 1 };
}

/** Pure: the path without its query string or fragment, bounded. */
export function pathOnly(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  const cut = url.search(/[?#]/);
  return (cut >= 0 ? url.slice(0, cut) : url).slice(0, 300);
}

let bucketSecond = 0;
let bucketLeft = EVENTS_PER_SECOND;

/** Errors and slow requests always; others while this second's budget lasts. */
function worthAnEvent(error: boolean, durationMs: number, now: number): boolean {
  if (error || durationMs >= SLOW_MS) return true;
  const sec = Math.floor(now / 1000);
  if (sec !== bucketSecond) {
    bucketSecond = sec;
    bucketLeft = EVENTS_PER_SECOND;
  }
  return bucketLeft-- > 0;
}

function count(side: HttpCounters['server'], ms: number, error: boolean): void {
  side.count++;
  side.totalMs += ms;
  if (ms > side.maxMs) side.maxMs = ms;
  if (error) side.errors++;
}

/** Subscribes fn to a channel; the switch it returns subscribes (true) or unsubscribes (false) it again. */
type Sub = (name: string, fn: (msg: never) => void) => (on: boolean) => void;

/**
 * Subscribes to the http and undici channels. Returns the switch of the server side's two handlers:
 * nextServerTiming says when they are subscribed. A request is counted when it starts and ends in timed
 * intervals: on a busy server, requests longer than an interval are under-represented, and a slow one is
 * recorded only then.
 */
export function subscribeHttp(sub: Sub, counters: () => HttpCounters): (on: boolean) => void {
  const starts = sub('http.server.request.start', ({ response }: { response: Timed }) => {
    response[START] = tick();
  });
  const finishes = sub('http.server.response.finish', ({ request, response }: { request: import('node:http').IncomingMessage; response: import('node:http').ServerResponse & Timed }) => {
    const t0 = response[START];
    // Started while the server side was not timed: neither its duration nor the interval's count is known.
    if (t0 === undefined) return;
    const now = Date.now();
    const ms = since(t0, now);
    const status = response.statusCode;
    const error = status >= 500;
    count(counters().server, ms, error);
    if (worthAnEvent(error, ms, now)) {
      record({ time: now, kind: 'http', side: 'server', method: request.method, path: pathOnly(request.url), status, durationMs: ms });
    }
  });

  sub('http.client.request.start', ({ request }: { request: Timed }) => {
    request[START] = tick();
  });
  const clientDone = (request: import('node:http').ClientRequest & Timed, status: number | undefined, err: (Error & { code?: string }) | undefined) => {
    const t0 = claim(request);
    if (t0 === COUNTED) return;
    const now = Date.now();
    const ms = t0 === undefined ? 0 : since(t0, now);
    const error = !!err || (status ?? 0) >= 500;
    count(counters().client, ms, error);
    if (worthAnEvent(error, ms, now)) {
      const r = request as unknown as { method?: string; host?: string; protocol?: string; path?: string };
      record({
        time: Date.now(),
        kind: 'http',
        side: 'client',
        method: r.method,
        host: r.host,
        path: pathOnly(r.path),
        status,
        durationMs: ms,
        error: errorText(err),
      });
    }
  };
  sub('http.client.response.finish', ({ request, response }: { request: import('node:http').ClientRequest; response: import('node:http').IncomingMessage }) =>
    clientDone(request, response.statusCode, undefined),
  );
  sub('http.client.request.error', ({ request, error }: { request: import('node:http').ClientRequest; error: Error }) => clientDone(request, undefined, error));

  // fetch() and undici: the request object is undici's own.
  interface UndiciRequest extends Timed {
    origin?: string;
    method?: string;
    path?: string;
  }
  const undiciDone = (request: UndiciRequest, status: number | undefined, err: (Error & { code?: string }) | undefined) => {
    const t0 = claim(request);
    if (t0 === undefined || t0 === COUNTED) return;
    const now = Date.now();
    const ms = since(t0, now);
    const error = !!err || (status ?? 0) >= 500;
    count(counters().client, ms, error);
    if (worthAnEvent(error, ms, now)) {
      let host: string | undefined;
      try {
        host = request.origin ? new URL(String(request.origin)).host : undefined;
      } catch {}
      record({
        time: Date.now(),
        kind: 'http',
        side: 'client',
        via: 'undici',
        method: request.method,
        host,
        path: pathOnly(request.path),
        status,
        durationMs: ms,
        error: errorText(err),
      });
    }
  };
  sub('undici:request:create', ({ request }: { request: Timed }) => {
    request[START] = tick();
  });
  sub('undici:request:headers', ({ request, response }: { request: UndiciRequest; response: { statusCode?: number } }) => undiciDone(request, response?.statusCode, undefined));
  sub('undici:request:error', ({ request, error }: { request: UndiciRequest; error: Error }) => undiciDone(request, undefined, error));

  return (on: boolean) => {
    starts(on);
    finishes(on);
  };
}
