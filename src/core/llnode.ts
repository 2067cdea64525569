/**
 * llnode, the JS backend of `autopsy-ts core`: JS frames (`v8 bt`) and object counts
 * (`v8 findjsobjects`) from a core, through lldb-16 and the llnode plugin. Never a dependency of
 * the package: found in the package's `.cache/llnode` (where `.ci/run` installs it) with lldb-16 on
 * PATH, or as an `llnode` command on PATH. The parsers and the merge with gdb's frames are pure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import type { NativeFrame } from './gdb-stack';

/** A frame of `v8 bt`: lldb's native frames and llnode's JS frames, in one walk. */
export interface LlnodeFrame {
  index: number;
  pc: string;
  /** js: a JS function; v8: a V8 frame without a function (<internal>, <entry>, <exit>, <builtin>, <stub>). */
  kind: 'native' | 'js' | 'v8' | 'unknown';
  function: string;
  file?: string;
  line?: number;
  column?: number;
  /** The module of a native frame ("libc.so.6", "node"). */
  module?: string;
}

export interface ObjectCount {
  name: string;
  instances: number;
  totalSize: number;
}

//   * frame #0: 0x00007fde7f4a3f16 libc.so.6`__futex_abstimed_wait_common at futex-internal.c:57:12
//     frame #4: 0x0000000002150730 node`v8::base::ConditionVariable::WaitFor(v8::base::Mutex*, v8::base::TimeDelta const&) + 96
//     frame #9: 0x00000000018cfd1c computeInvoiceTotals(this=0x2fd7:<undefined>, 0x300d:<Array: length=4433>) at /app/x.js:23:30 fn=0x0000300d4b1edf11
//     frame #12: 0x00000000018ce0dc <internal>
const FRAME_RE = /^\s*\*?\s*frame #(\d+): (0x[0-9a-f]+)(?: (.*))?$/;
const NATIVE_RE = /^([^`\s]+)`(.*?)(?: \+ \d+)?(?: at (\S+?):(\d+)(?::\d+)?)?$/;
const JS_RE = /^(.*?)\(.*\) at (\S+):(\d+):(\d+) fn=0x[0-9a-f]+$/;

/** Frames of `v8 bt` output. Pure. */
export function parseV8Bt(text: string): LlnodeFrame[] {
  const frames: LlnodeFrame[] = [];
  for (const raw of text.split('\n')) {
    const m = FRAME_RE.exec(raw.trimEnd());
    if (!m) continue;
    const index = Number(m[1]);
    const pc = m[2];
    const rest = (m[3] ?? '').trim();
    let n: RegExpExecArray | null;
    if (!rest) frames.push({ index, pc, kind: 'unknown', function: '??' });
    else if (/^<[a-z ]+>$/.test(rest)) frames.push({ index, pc, kind: 'v8', function: rest });
    else if ((n = NATIVE_RE.exec(rest))) frames.push({ index, pc, kind: 'native', function: nativeName(n[2]), module: n[1], file: n[3], line: n[4] ? Number(n[4]) : undefined });
    else if ((n = JS_RE.exec(rest))) frames.push({ index, pc, kind: 'js', function: n[1].trim() || '(anonymous)', file: n[2], line: Number(n[3]), column: Number(n[4]) });
    else frames.push({ index, pc, kind: 'js', function: rest.replace(/ fn=0x[0-9a-f]+$/, '').split('(')[0].trim() || '(anonymous)' });
  }
  return frames;
}

/** "f(a=1, b=<unavailable>)" -> "f"; keeps C++ signatures "ns::f(int, char const*)" whole. */
function nativeName(s: string): string {
  const i = s.indexOf('(');
  return i > 0 && s.slice(i).includes('=') ? s.slice(0, i) : s;
}

/** Rows of `v8 findjsobjects` (its total row left out), most instances first. Pure. */
export function parseFindJsObjects(text: string): ObjectCount[] {
  const out: ObjectCount[] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    if (/^\s*-+ -+ -+\s*$/.test(line)) {
      inTable = true;
      continue;
    }
    if (/^\s*-+ -+\s*$/.test(line)) break;
    if (!inTable) continue;
    const m = /^\s*(\d+)\s+(\d+) ?(.*)$/.exec(line);
    if (m) out.push({ instances: Number(m[1]), totalSize: Number(m[2]), name: m[3].trim() || '(no name)' });
  }
  return out.sort((a, b) => b.instances - a.instances || a.name.localeCompare(b.name));
}

/** A JS frame that names a function (llnode names none on V8 versions it does not know). */
export function isNamedJsFrame(f: LlnodeFrame): boolean {
  return f.kind === 'js' && f.function !== '(anonymous)' && !f.function.startsWith('<');
}

/** One frame of the merged stack view of `autopsy-ts core`. */
export interface StackFrame {
  index: number;
  kind: 'native' | 'js' | 'v8' | 'unknown';
  from: 'gdb' | 'llnode';
  pc?: string;
  function: string;
  file?: string;
  line?: number;
  column?: number;
  library?: string;
}

/**
 * gdb's native frames down to the first JS frame (gdb knows inlined frames and source lines, and
 * stops at JIT code), then llnode's walk from there on (JS frames, and the native frames below them).
 * The join is the first gdb frame whose pc is that of llnode's first JS frame, else gdb's first frame
 * without a name. Pure.
 */
export function mergeStacks(gdb: NativeFrame[] | undefined, ll: LlnodeFrame[] | undefined): StackFrame[] {
  const fromGdb = (f: NativeFrame): StackFrame => ({ index: 0, kind: 'native', from: 'gdb', pc: f.pc, function: f.function, file: f.file, line: f.line, library: f.library });
  const fromLl = (f: LlnodeFrame): StackFrame => ({ index: 0, kind: f.kind, from: 'llnode', pc: f.pc, function: f.function, file: f.file, line: f.line, column: f.column, library: f.module });
  let merged: StackFrame[];
  const j = (ll ?? []).findIndex((f) => f.kind === 'js' || f.kind === 'v8');
  if (!ll?.length || j < 0) merged = gdb?.length ? gdb.map(fromGdb) : (ll ?? []).map(fromLl);
  else if (!gdb?.length) merged = ll.map(fromLl);
  else {
    const pc = BigInt(ll[j].pc);
    let cut = gdb.findIndex((f) => f.pc !== undefined && BigInt(f.pc) === pc);
    if (cut < 0) cut = gdb.findIndex((f) => f.function === '??');
    if (cut < 0) cut = gdb.length;
    merged = [...gdb.slice(0, cut).map(fromGdb), ...ll.slice(j).map(fromLl)];
  }
  return merged.map((f, i) => ({ ...f, index: i }));
}

/** How to run llnode: lldb with the plugin loaded, or the `llnode` command. */
export type LlnodeRunner = { lldb: string; plugin: string } | { llnode: string };

function which(cmd: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const d of (env.PATH ?? '').split(delimiter)) {
    const p = join(d, cmd);
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

/** The folder of autopsy-ts's own package.json, from src/core or dist/src/core. */
function packageRoot(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    try {
      if (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'autopsy-ts') return dir;
    } catch {}
    dir = dirname(dir);
  }
  return undefined;
}

/** The plugin in the package's .cache/llnode with lldb-16 on PATH, else `llnode` on PATH. */
export function findLlnode(env: NodeJS.ProcessEnv = process.env): LlnodeRunner | undefined {
  const root = packageRoot();
  const plugin = root && join(root, '.cache', 'llnode', 'node_modules', 'llnode', 'llnode.so');
  const lldb = which('lldb-16', env);
  if (plugin && lldb && existsSync(plugin)) return { lldb, plugin };
  const llnode = which('llnode', env);
  return llnode ? { llnode } : undefined;
}

export interface LlnodeRun {
  output: string;
  ms: number;
  /** Why the output is not usable: a timeout, a failure to start. */
  problem?: string;
}

/** `llnode <node> -c <core> -b -o <command>`, stdin closed, bounded by timeoutMs. */
export function runLlnode(runner: LlnodeRunner, node: string, core: string, command: string, timeoutMs: number): LlnodeRun {
  const args = [node, '-c', core, '-b', '-o', command];
  const [cmd, argv] = 'lldb' in runner ? [runner.lldb, ['--one-line', `plugin load '${runner.plugin}'`, ...args]] : [runner.llnode, args];
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  const ms = Math.round(performance.now() - t0);
  const output = r.stdout ?? '';
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return { output, ms, problem: `llnode "${command}" timed out after ${Math.round(timeoutMs / 1000)} s` };
  if (r.error) return { output, ms, problem: `llnode "${command}" failed: ${r.error.message}` };
  return { output, ms };
}

/** What llnode adds to the view of `autopsy-ts core`. */
export interface LlnodeView {
  core: string;
  nodeBinary?: string;
  node?: string;
  backends: { gdb: string; llnode: 'used' | 'not installed' | 'failed' };
  nativeFrames?: NativeFrame[];
  /** gdb's native frames and llnode's JS frames in one stack (mergeStacks). */
  stack?: StackFrame[];
  /** `v8 findjsobjects`: instances by constructor name, most first. */
  objects?: ObjectCount[];
  llnode?: { btMs: number; objectsMs?: number; jsFrames: number };
  problems: string[];
}

/**
 * Runs `v8 bt`, then `v8 findjsobjects` (a scan of the whole heap: its own timeout, and skipped with
 * objects: false), and merges the frames with gdb's. Two runs, so that a slow scan never costs the frames.
 */
export function addLlnode(view: LlnodeView, opts: { timeoutMs?: number; objects?: boolean; env?: NodeJS.ProcessEnv } = {}): void {
  const runner = findLlnode(opts.env);
  if (!runner || !view.nodeBinary || !existsSync(view.nodeBinary)) {
    if (view.nativeFrames) view.stack = mergeStacks(view.nativeFrames, undefined);
    return;
  }
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const bt = runLlnode(runner, view.nodeBinary, view.core, 'v8 bt', timeoutMs);
  const frames = parseV8Bt(bt.output);
  const named = frames.filter(isNamedJsFrame).length;
  view.llnode = { btMs: bt.ms, jsFrames: named };
  if (bt.problem) view.problems.push(bt.problem);
  if (!frames.length) {
    view.backends.llnode = 'failed';
    if (!bt.problem) view.problems.push('llnode found no frames');
  } else {
    view.backends.llnode = 'used';
    // Frames that V8 owns but llnode could not name: it does not know this V8's layout.
    const unnamed = frames.filter((f) => f.kind === 'unknown' || (f.kind === 'js' && !isNamedJsFrame(f))).length;
    if (!named && unnamed) view.problems.push(`llnode named no JS frame (${unnamed} unnamed; llnode 4 names them on Node 20, not on Node 24${view.node ? `; this core is from Node ${view.node}` : ''})`);
  }
  view.stack = mergeStacks(view.nativeFrames, named || !view.nativeFrames?.length ? frames : undefined);
  if (opts.objects === false || bt.problem) return;
  const objs = runLlnode(runner, view.nodeBinary, view.core, 'v8 findjsobjects', timeoutMs);
  view.llnode.objectsMs = objs.ms;
  if (objs.problem) view.problems.push(objs.problem);
  else view.objects = parseFindJsObjects(objs.output);
}
