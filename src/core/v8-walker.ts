import type { Memory } from './core-memory';
import { V8Heap } from './v8-heap';
import type { V8Layout } from './v8-metadata';

/**
 * The JS frames of the main thread in a core, from V8's postmortem metadata. The walk starts at the
 * isolate's c_entry_fp (the exit frame of the JS->C++ call the thread is blocked in) or, when that is
 * zero (the thread was interrupted inside JS), at the interrupted rbp: V8 code always keeps frame
 * pointers. Each frame: [fp] caller fp, [fp+8] return address, [fp-8] a frame-type marker (type << 1)
 * or the context, [fp-16] the JSFunction. An entry frame holds the previous c_entry_fp (the exit frame
 * below the C++ that called into JS) at fp-64 on x64; 0 there ends the walk.
 */
export interface JsFrame {
  index: number;
  /** 'js' for a JavaScript frame; 'builtin' for the target of a builtin exit frame (Atomics.wait). */
  kind: 'js' | 'builtin';
  function: string;
  script?: string;
  /** 1-based line where the function is defined (not the executing line). */
  line?: number;
  /** Character position of the function's start in its script. */
  position?: number;
  fp: string;
}

export interface WalkStart {
  isolate?: bigint;
  /** Offset of c_entry_fp in the isolate, when known. */
  cEntryFpOffset?: number;
  regs?: { rbp: bigint; rsp: bigint };
}

export interface WalkResult {
  frames: JsFrame[];
  start: 'c_entry_fp' | 'registers' | 'none';
  /** V8 frames seen that are not JS (exit, entry, stub, internal), by type. */
  otherFrames: string[];
  problems: string[];
}

export const MAX_FRAMES = 256;
/** EntryFrameConstants::kNextExitFrameFPOffset on x64 System V (V8 11 to 13): 5 callee-saved registers, then the saved c_entry_fp. */
export const ENTRY_NEXT_EXIT_FP = -64;
/** BuiltinExitFrameConstants::kTargetOffset: the builtin's JSFunction (new.target at +16, argc at +32). */
export const BUILTIN_EXIT_TARGET = 24;
const EXIT_TYPES = new Set(['ExitFrame', 'BuiltinExitFrame', 'ApiCallbackExitFrame', 'ApiAccessorExitFrame']);
const ENTRY_TYPES = new Set(['EntryFrame', 'ConstructEntryFrame']);
/** The main thread's stack is at most this far above rsp (ulimit -s is 8 MB by default). */
const STACK_SPAN = 64n * 1024n * 1024n;

export function walkJsStack(mem: Memory, L: V8Layout, start: WalkStart, budget = 200_000): WalkResult {
  const H = new V8Heap(mem, L, budget);
  const res: WalkResult = { frames: [], start: 'none', otherFrames: [], problems: [] };
  const inStack = (fp: bigint) => !start.regs || (fp >= start.regs.rsp && fp < start.regs.rsp + STACK_SPAN);
  let fp: bigint | undefined;
  if (start.isolate !== undefined && start.cEntryFpOffset !== undefined) {
    fp = H.u64(start.isolate + BigInt(start.cEntryFpOffset));
    if (fp === undefined) res.problems.push('the isolate is not in the core');
    else if (fp !== 0n) res.start = 'c_entry_fp';
  }
  if (res.start === 'none' && start.regs && start.regs.rbp !== 0n) {
    fp = start.regs.rbp;
    res.start = 'registers';
  }
  for (let i = 0; i < MAX_FRAMES && fp && res.start !== 'none'; i++) {
    if (fp % 8n !== 0n || !inStack(fp)) break;
    const marker = H.u64(fp + BigInt(L.offFpContext));
    if (marker === undefined) break;
    let next: bigint | undefined;
    if (H.isSmi(marker)) {
      const type = L.frameTypes.get(Number(marker));
      if (!type) break; // not a V8 frame: C++ below the last entry frame, or not JS at all
      res.otherFrames.push(type);
      if (type === 'BuiltinExitFrame') {
        const target = H.u64(fp + BigInt(BUILTIN_EXIT_TARGET));
        const f = target === undefined ? undefined : describeFunction(H, target);
        if (f) res.frames.push({ index: res.frames.length, kind: 'builtin', ...f, fp: hex(fp) });
      }
      if (ENTRY_TYPES.has(type)) {
        next = H.u64(fp + BigInt(ENTRY_NEXT_EXIT_FP));
        if (!next) break; // the outermost entry: below it is the embedder's C++
        const m = H.u64(next + BigInt(L.offFpContext));
        if (m === undefined || !EXIT_TYPES.has(L.frameTypes.get(Number(m)) ?? '')) {
          res.problems.push(`entry frame at ${hex(fp)}: the saved exit frame ${hex(next)} is not one`);
          break;
        }
      }
    } else {
      const fn = H.u64(fp + BigInt(L.offFpFunction));
      const f = fn === undefined ? undefined : describeFunction(H, fn);
      if (!f) {
        if (i === 0 && res.start === 'registers') break; // rbp of native code: no JS on top
        res.problems.push(`frame at ${hex(fp)}: no JSFunction at fp${L.offFpFunction}`);
        break;
      }
      res.frames.push({ index: res.frames.length, kind: 'js', ...f, fp: hex(fp) });
    }
    if (next === undefined) next = H.u64(fp);
    if (next === undefined || next <= fp) break; // callers are at higher addresses: no loops
    fp = next;
  }
  if (H.budget <= 0) res.problems.push('stopped: read budget exhausted');
  return res;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** Name, script and definition line of a JSFunction; undefined when `fn` is not one. */
export function describeFunction(H: V8Heap, fn: bigint): Omit<JsFrame, 'index' | 'kind' | 'fp'> | undefined {
  const L = H.L;
  if (!H.isHeapObject(fn)) return undefined;
  const shared = H.field(fn, L.jsFunctionShared);
  if (shared === undefined || H.instanceType(shared) !== L.typeSharedFunctionInfo) return undefined;
  const nameOrScope = H.field(shared, L.sfiNameOrScopeInfo);
  let name: string | undefined;
  let position: number | undefined;
  if (nameOrScope !== undefined && H.isString(nameOrScope)) name = H.string(nameOrScope, 200);
  else if (nameOrScope !== undefined && H.instanceType(nameOrScope) === L.typeScopeInfo) ({ name, position } = scopeInfoNameAndPosition(H, nameOrScope));
  const out: Omit<JsFrame, 'index' | 'kind' | 'fp'> = { function: name || '(anonymous)' };
  const script = H.field(shared, L.sfiScript);
  if (script !== undefined && H.instanceType(script) === L.typeScript) {
    const sname = H.field(script, L.scriptName);
    if (sname !== undefined && H.isString(sname)) out.script = H.string(sname, 1000);
    if (position !== undefined) {
      out.position = position;
      out.line = lineOf(H, script, position);
    }
  }
  return out;
}

/**
 * The function name and start position in a ScopeInfo (llnode's heuristic, widened): skip the header
 * and the context locals, take the first non-empty String after them (the function variable's name,
 * else the inferred name), and the first two Smis 0 <= start < end (PositionInfo: after the locals on
 * V8 11, before them on V8 13).
 */
export function scopeInfoNameAndPosition(H: V8Heap, si: bigint): { name?: string; position?: number } {
  const L = H.L;
  const countIdx = (L.scopeInfoContextLocalCount ?? 2) + 1;
  const firstVars = (L.scopeInfoFirstVars ?? 3) + 1;
  const count = H.smi(H.field(si, countIdx * 8) ?? 1n);
  if (count === undefined || count < 0 || count > 100_000) return {};
  const localsEnd = firstVars + (count < 75 ? 2 * count : 2);
  const words: [number, bigint][] = [];
  for (let w = countIdx + 1; w < localsEnd + 8; w++) {
    if (w >= firstVars && w < localsEnd) continue;
    const v = H.field(si, w * 8);
    if (v === undefined) break;
    words.push([w, v]);
  }
  let name: string | undefined;
  for (const [w, v] of words) {
    if (w < localsEnd || !H.isHeapObject(v) || !H.isString(v)) continue;
    name = H.string(v, 200);
    if (name) break;
  }
  let position: number | undefined;
  for (let i = 0; i + 1 < words.length && position === undefined; i++) {
    const [wa, a] = words[i];
    const [wb, b] = words[i + 1];
    const sa = wb === wa + 1 ? H.smi(a) : undefined;
    const sb = H.smi(b);
    if (sa !== undefined && sb !== undefined && sa >= 0 && sa < sb) position = sa;
  }
  return { name, position };
}

/** 1-based line of a position: the script's line ends when computed, else newlines in its source (up to 8 MB). */
export function lineOf(H: V8Heap, script: bigint, position: number): number | undefined {
  const L = H.L;
  const ends = H.field(script, L.scriptLineEnds);
  if (ends !== undefined && H.isHeapObject(ends)) {
    const arr = H.fixedArray(ends, 1_000_000);
    const nums = arr?.map((v) => H.smi(v));
    if (nums && nums.length && nums.every((n) => n !== undefined)) {
      let lo = 0;
      let hi = nums.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (nums[mid]! < position) lo = mid + 1;
        else hi = mid;
      }
      return lo + 1;
    }
  }
  const src = H.field(script, L.scriptSource);
  const text = src === undefined ? undefined : H.string(src, Math.min(position, 8 * 1024 * 1024));
  if (text === undefined || text.length < position) return undefined;
  let line = 1;
  for (let i = 0; i < position; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
