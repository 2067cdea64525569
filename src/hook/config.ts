import { resolve } from 'node:path';

/** Hook configuration, read from AUTOPSY_* environment variables (docs/configuration.md). */
export interface Config {
  enabled: boolean;
  /** Where bundles go; undefined means ./autopsy-bundles, falling back to a per-user temp folder. */
  dir?: string;
  maxBundles: number;
  maxBytes: number;
  /** Bundles per minute across the folder (crash storms); on-demand and API captures count too. */
  ratePerMinute: number;
  /** Signal for on-demand captures, or undefined when turned off. */
  signal?: NodeJS.Signals;
  sourceMaps: boolean;
  /** Extra names to redact (AUTOPSY_REDACT). */
  redact: string[];
  hangMs: number;
  /** Capture local variables of the top frames of a hang through Debugger.pause. */
  hangLocals: boolean;
  /** Take a heap snapshot during a hang, when memory headroom allows. */
  hangHeap: boolean;
  /** Longest a heap snapshot may be expected to take (from heapUsed); larger ones are skipped, with the reason. */
  heapMaxMs: number;
  /** Flight recorder: ms between samples (0 turns the sampler off). */
  sampleMs: number;
  /** Server requests a second above which they are timed one sample interval in several; 0: all, always. */
  httpTimed: number;
  /** Persist the timeline beside the bundles so that SIGKILL and fatal errors leave it behind. */
  persist: boolean;
  /** Bytes of stdout/stderr kept (0 turns the tail off). */
  tailBytes: number;
  /** Near the heap limit: a heap snapshot and a report, for an `oom` bundle. */
  oom: boolean;
  /** Fraction of the old generation limit at which the OOM evidence is taken. V8 may give up at 80 % already ("ineffective mark-compacts"). */
  oomAt: number;
  /** Let Node write its diagnostic report on a fatal error (adds Node's two report lines to stderr). */
  fatalReport: boolean;
  /** At start-up, turn the recorders of dead processes in the bundle folder into bundles. */
  collectAtStart: boolean;
  /** Leak trigger: off unless AUTOPSY_LEAK=1. */
  leak: boolean;
  /** Growth of the heap after GC, in bytes, that counts as a leak (and again between snapshots A and B). */
  leakGrowth: number;
  /** The growth must be sustained over at least this long. */
  leakWindowMs: number;
  /** Niceness of the process that computes a leak bundle's diff (0-19). */
  leakNice: number;
}

export const DEFAULTS: Config = {
  enabled: true,
  maxBundles: 50,
  maxBytes: 2 * 1024 ** 3,
  ratePerMinute: 20,
  signal: 'SIGUSR2',
  sourceMaps: true,
  redact: [],
  hangMs: 3000,
  hangLocals: true,
  hangHeap: false,
  heapMaxMs: 60_000,
  sampleMs: 1000,
  httpTimed: 5000,
  persist: true,
  tailBytes: 64 * 1024,
  oom: true,
  oomAt: 0.75,
  fatalReport: false,
  collectAtStart: true,
  leak: false,
  leakGrowth: 32 * 1024 ** 2,
  leakWindowMs: 120_000,
  leakNice: 10,
};

/** Signals that cannot or must not carry on-demand captures. */
// SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE have defaults that apps and supervisors rely on.
const UNUSABLE_SIGNALS = new Set(['SIGKILL', 'SIGSTOP', 'SIGUSR1', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGPIPE', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGABRT', 'SIGPROF']);

function parseBool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  return undefined;
}

/** Parses sizes like 500M, 2G, 1048576. */
export function parseBytes(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

function parseInteger(v: string, min: number): number | undefined {
  if (!/^\s*\d+\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= min ? n : undefined;
}

/**
 * Pure: environment in, configuration and one-line complaints out. A bad value never stops the app:
 * the default stands and the complaint goes to stderr once.
 */
export function readConfig(env: NodeJS.ProcessEnv, cwd: string): { config: Config; problems: string[] } {
  const config: Config = { ...DEFAULTS, redact: [] };
  const problems: string[] = [];
  const bad = (name: string, value: string, expected: string) =>
    problems.push(`ignoring ${name}=${JSON.stringify(value).slice(0, 80)}: expected ${expected}`);

  const e = (name: string) => {
    const v = env[name];
    return v === undefined ? undefined : String(v);
  };

  let v: string | undefined;
  if ((v = e('AUTOPSY_ENABLED')) !== undefined) {
    const b = parseBool(v);
    if (b === undefined) bad('AUTOPSY_ENABLED', v, '0 or 1');
    else config.enabled = b;
  }
  if ((v = e('AUTOPSY_DIR')) !== undefined && v !== '') config.dir = resolve(cwd, v);
  if ((v = e('AUTOPSY_MAX_BUNDLES')) !== undefined) {
    const n = parseInteger(v, 1);
    if (n === undefined) bad('AUTOPSY_MAX_BUNDLES', v, 'a whole number >= 1');
    else config.maxBundles = n;
  }
  if ((v = e('AUTOPSY_MAX_BYTES')) !== undefined) {
    const n = parseBytes(v);
    if (n === undefined || n < 1024 * 1024) bad('AUTOPSY_MAX_BYTES', v, 'a size of at least 1M (e.g. 500M, 2G)');
    else config.maxBytes = n;
  }
  if ((v = e('AUTOPSY_RATE_LIMIT')) !== undefined) {
    const n = parseInteger(v, 1);
    if (n === undefined) bad('AUTOPSY_RATE_LIMIT', v, 'bundles per minute, a whole number >= 1');
    else config.ratePerMinute = n;
  }
  if ((v = e('AUTOPSY_SIGNAL')) !== undefined) {
    const s = v.trim().toUpperCase();
    if (parseBool(s) === false || s === 'NONE') config.signal = undefined;
    else {
      const name = (s.startsWith('SIG') ? s : `SIG${s}`) as NodeJS.Signals;
      if (!(name in (require('node:os') as typeof import('node:os')).constants.signals) || UNUSABLE_SIGNALS.has(name)) bad('AUTOPSY_SIGNAL', v, 'a signal such as SIGUSR2 or SIGPWR, or 0 to turn off');
      else config.signal = name;
    }
  }
  if ((v = e('AUTOPSY_SOURCE_MAPS')) !== undefined) {
    const b = parseBool(v);
    if (b === undefined) bad('AUTOPSY_SOURCE_MAPS', v, '0 or 1');
    else config.sourceMaps = b;
  }
  if ((v = e('AUTOPSY_REDACT')) !== undefined) {
    config.redact = v.split(',').map((s) => s.trim()).filter(Boolean);
  }
  if ((v = e('AUTOPSY_HANG_MS')) !== undefined) {
    const n = parseInteger(v, 0);
    if (n === undefined || (n !== 0 && n < 100)) bad('AUTOPSY_HANG_MS', v, 'milliseconds >= 100, or 0 to turn off');
    else config.hangMs = n;
  }
  if ((v = e('AUTOPSY_HEAP_MAX_MS')) !== undefined) {
    const n = parseInteger(v, 1000);
    if (n === undefined) bad('AUTOPSY_HEAP_MAX_MS', v, 'milliseconds >= 1000');
    else config.heapMaxMs = n;
  }
  if ((v = e('AUTOPSY_SAMPLE_MS')) !== undefined) {
    const n = parseInteger(v, 0);
    if (n === undefined || (n !== 0 && n < 100)) bad('AUTOPSY_SAMPLE_MS', v, 'milliseconds >= 100, or 0 to turn off');
    else config.sampleMs = n;
  }
  if ((v = e('AUTOPSY_HTTP_TIMED')) !== undefined) {
    const n = parseInteger(v, 0);
    if (n === undefined) bad('AUTOPSY_HTTP_TIMED', v, 'requests a second, or 0 to time every request');
    else config.httpTimed = n;
  }
  if ((v = e('AUTOPSY_TAIL')) !== undefined) {
    const b = parseBool(v);
    const n = b === undefined ? parseBytes(v) : b ? DEFAULTS.tailBytes : 0;
    if (n === undefined || n > 16 * 1024 ** 2) bad('AUTOPSY_TAIL', v, '0, 1, or a size up to 16M (e.g. 64K)');
    else config.tailBytes = n;
  }
  if ((v = e('AUTOPSY_OOM_AT')) !== undefined) {
    const n = Number(v);
    if (!(n >= 0.5 && n <= 0.98)) bad('AUTOPSY_OOM_AT', v, 'a fraction of the heap limit between 0.5 and 0.98');
    else config.oomAt = n;
  }
  if ((v = e('AUTOPSY_LEAK_GROWTH')) !== undefined) {
    const n = parseBytes(v);
    if (n === undefined || n < 1024 * 1024) bad('AUTOPSY_LEAK_GROWTH', v, 'a size of at least 1M (e.g. 32M)');
    else config.leakGrowth = n;
  }
  if ((v = e('AUTOPSY_LEAK_WINDOW_MS')) !== undefined) {
    const n = parseInteger(v, 1000);
    if (n === undefined) bad('AUTOPSY_LEAK_WINDOW_MS', v, 'milliseconds >= 1000');
    else config.leakWindowMs = n;
  }
  if ((v = e('AUTOPSY_LEAK_NICE')) !== undefined) {
    const n = parseInteger(v, 0);
    if (n === undefined || n > 19) bad('AUTOPSY_LEAK_NICE', v, 'a niceness from 0 to 19');
    else config.leakNice = n;
  }
  for (const [name, key] of [
    ['AUTOPSY_HANG_LOCALS', 'hangLocals'],
    ['AUTOPSY_HANG_HEAP', 'hangHeap'],
    ['AUTOPSY_RECORDER', 'persist'],
    ['AUTOPSY_OOM', 'oom'],
    ['AUTOPSY_FATAL_REPORT', 'fatalReport'],
    ['AUTOPSY_COLLECT', 'collectAtStart'],
    ['AUTOPSY_LEAK', 'leak'],
  ] as const) {
    if ((v = e(name)) !== undefined) {
      const b = parseBool(v);
      if (b === undefined) bad(name, v, '0 or 1');
      else config[key] = b;
    }
  }
  return { config, problems };
}
