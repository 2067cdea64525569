import { loadNative } from '../native';

/**
 * JS frames named by the native addon's code map (native/src/js-stack.cc): V8's code-creation events
 * name each piece of code "JS:~fn /path/file.js:12:3" (the marker is the tier: ~ interpreted,
 * ^ Sparkplug, + Maglev, * TurboFan), "Builtin:AtomicsWait", and so on. The line and column are where
 * the function is DEFINED: a sampled frame's current line would need V8's source position tables.
 */
export interface NamedCode {
  /** "JS", "Builtin", "Handler", "RegExp", ... (the code-event tag). */
  kind: string;
  function: string;
  file?: string;
  line?: number;
  column?: number;
  /** 'interpreted', 'sparkplug', 'maglev', 'turbofan' for JS code. */
  tier?: string;
}

const TIERS: Record<string, string> = { '~': 'interpreted', '^': 'sparkplug', '+': 'maglev', '*': 'turbofan' };

/** Pure: splits a code-event name. Never throws; an unknown shape comes back as the whole text. */
export function parseCodeName(name: string): NamedCode {
  const m = /^([A-Za-z]+):(.*)$/s.exec(name);
  if (!m) return { kind: 'unknown', function: name };
  const kind = m[1];
  let rest = m[2];
  let tier: string | undefined;
  if (rest && TIERS[rest[0]]) {
    tier = TIERS[rest[0]];
    rest = rest.slice(1);
  }
  // "fn /path/file.js:12:3", " /path/file.js:6:12" (anonymous), or a builtin's bare name.
  const loc = /^(.*?) ?(\S+):(\d+):(\d+)$/.exec(rest);
  if (kind === 'JS' && loc) return { kind, function: loc[1], file: loc[2], line: Number(loc[3]), column: Number(loc[4]), tier };
  return { kind, function: rest.trim(), tier };
}

/** Pure: V8-style stack text of the named JS frames ("    at fn (file:line:col)"), for parseStack. */
export function stackTextOf(names: (string | undefined)[]): string {
  const lines = ['Error: sampled by the native addon'];
  for (const n of names) {
    if (!n) continue;
    const c = parseCodeName(n);
    if (c.kind !== 'JS' || !c.file) continue;
    const where = `${c.file}:${c.line}:${c.column}`;
    lines.push(c.function ? `    at ${c.function} (${where})` : `    at ${where}`);
  }
  return lines.join('\n');
}

export interface BlockedSample {
  ok: boolean;
  /** Why there are no frames. */
  problem?: string;
  /** Stack text for captureSync (definition lines, see above). */
  stackText?: string;
  frames?: { pc: string; name?: string }[];
  tookMs?: number;
  signals?: number;
  /** v8::StateTag: 6 EXTERNAL (a C++ call), 7 ATOMICS_WAIT, 1 GC, 0 JS. */
  vmState?: number;
  codeMap?: boolean;
}

/**
 * The main thread's JS stack while it is blocked in native code or a system call, from another
 * thread (the hang watchdog): one real-time signal, V8's GetStackSample in its handler, names from
 * the code map. The interrupted system call returns EINTR once; libuv and V8 retry it.
 */
export function sampleBlockedMain(env: NodeJS.ProcessEnv = process.env): BlockedSample {
  try {
    const native = loadNative(env);
    if (!native.loaded) return { ok: false, problem: `native addon unavailable: ${native.reason}` };
    const sample = native.addon.sampleMainThread;
    if (!sample) return { ok: false, problem: 'this build of the native addon cannot sample stacks (Linux x64 only)' };
    const r = sample({ timeoutMs: 300, attempts: 3 });
    if (!r.ok) return { ok: false, problem: r.error ?? 'no sample', tookMs: r.tookMs, signals: r.signals };
    const frames = r.frames ?? [];
    const base = { frames, tookMs: round(r.tookMs ?? 0), signals: r.signals, vmState: r.vmState, codeMap: r.codeMap };
    if (!frames.length) return { ok: false, ...base, problem: r.vmState === 1 ? 'V8 returned no frames: a garbage collection was running' : 'V8 returned no frames' };
    if (!r.codeMap) return { ok: false, ...base, problem: 'the code map is off (AUTOPSY_CODE_MAP=0): frames are unnamed addresses' };
    const text = stackTextOf(frames.map((f) => f.name));
    if (text.split('\n').length < 2) return { ok: false, ...base, problem: 'no frame could be named' };
    return { ok: true, ...base, stackText: text };
  } catch (err) {
    return { ok: false, problem: `sampling failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
