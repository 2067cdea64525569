import { record } from './state';

/**
 * HTTP requests for the flight recorder, from Node's diagnostics channels (http client and server, and
 * the undici that fetch() uses). A busy server handles thousands of requests a second, so every request
 * is counted in the next sample, but only some are recorded one by one: errors, 5xx, slow ones, and up
 * to EVENTS_PER_SECOND others. Start times live in Maps, never as properties on Node's objects (a new
 * property would change their hidden class and could slow the app's own code), and not in WeakMaps:
 * a WeakMap entry per request cost ~1 µs of GC (ephemerons) against ~0.2 µs for a Map set and delete
 * (measured). A request that never finishes (the client went away) would stay in the Map, so each Map
 * is cleared when it passes MAX_IN_FLIGHT.
 */

const EVENTS_PER_SECOND = 20;
const SLOW_MS = 1000;
const MAX_IN_FLIGHT = 10_000;

/** Start times of requests in flight, by Node's request/response object; ms (Date.now: cheaper than performance.now). */
class InFlight {
  private readonly m = new Map<object, number>();
  start(o: object, t: number): void {
    if (this.m.size >= MAX_IN_FLIGHT) this.m.clear();
    this.m.set(o, t);
  }
  end(o: object): number | undefined {
    const t = this.m.get(o);
    if (t !== undefined) this.m.delete(o);
    return t;
  }
}

export interface HttpCounters {
  server: { count: number; errors: number; totalMs: number; maxMs: number };
  client: { count: number; errors: number; totalMs: number; maxMs: number };
}

export function newHttpCounters(): HttpCounters {
  return { server: { count: 0, errors: 0, totalMs: 0, maxMs: 0 }, client: { count: 0, errors: 0, totalMs: 0, maxMs: 0 } };
}

/** What goes into a sample: counts, errors, mean and max duration per side, or nothing when idle. */
export function requestSummary(c: HttpCounters): Record<string, unknown> | undefined {
  const side = (x: HttpCounters['server']) => (x.count ? { count: x.count, errors: x.errors, meanMs: Math.round((x.totalMs / x.count) * 10) / 10, maxMs: Math.round(x.maxMs) } : undefined);
  const server = side(c.server);
  const client = side(c.client);
  return server || client ? { server, client } : undefined;
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

type Sub = (name: string, fn: (msg: never) => void) => void;

export function subscribeHttp(sub: Sub, counters: () => HttpCounters): void {
  const serverStart = new InFlight();
  const clientStart = new InFlight();

  sub('http.server.request.start', ({ response }: { response: object }) => {
    serverStart.start(response, Date.now());
  });
  sub('http.server.response.finish', ({ request, response }: { request: import('node:http').IncomingMessage; response: import('node:http').ServerResponse }) => {
    const now = Date.now();
    const t0 = serverStart.end(response);
    const ms = t0 === undefined ? 0 : now - t0;
    const status = response.statusCode;
    const error = status >= 500;
    count(counters().server, ms, error);
    if (worthAnEvent(error, ms, now)) {
      record({ time: now, kind: 'http', side: 'server', method: request.method, path: pathOnly(request.url), status, durationMs: ms });
    }
  });

  sub('http.client.request.start', ({ request }: { request: object }) => {
    clientStart.start(request, Date.now());
  });
  const clientDone = (request: import('node:http').ClientRequest, status: number | undefined, err: (Error & { code?: string }) | undefined) => {
    const now = Date.now();
    const t0 = clientStart.end(request);
    const ms = t0 === undefined ? 0 : now - t0;
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
        error: err ? `${err.code ?? err.name}: ${String(err.message).slice(0, 300)}` : undefined,
      });
    }
  };
  sub('http.client.response.finish', ({ request, response }: { request: import('node:http').ClientRequest; response: import('node:http').IncomingMessage }) =>
    clientDone(request, response.statusCode, undefined),
  );
  sub('http.client.request.error', ({ request, error }: { request: import('node:http').ClientRequest; error: Error }) => clientDone(request, undefined, error));

  // fetch() and undici: the request object is undici's own.
  interface UndiciRequest {
    origin?: string;
    method?: string;
    path?: string;
  }
  const undiciDone = (request: UndiciRequest, status: number | undefined, err: (Error & { code?: string }) | undefined) => {
    const t0 = clientStart.end(request);
    if (t0 === undefined) return;
    const now = Date.now();
    const ms = now - t0;
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
        error: err ? `${err.code ?? err.name}: ${String(err.message).slice(0, 300)}` : undefined,
      });
    }
  };
  sub('undici:request:create', ({ request }: { request: object }) => {
    clientStart.start(request, Date.now());
  });
  sub('undici:request:headers', ({ request, response }: { request: UndiciRequest; response: { statusCode?: number } }) => undiciDone(request, response?.statusCode, undefined));
  sub('undici:request:error', ({ request, error }: { request: UndiciRequest; error: Error }) => undiciDone(request, undefined, error));
}
