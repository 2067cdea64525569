import { ElfError, type ProgramHeader } from '../native/elf';
import { CoreMemory, type Memory } from './core-memory';
import { V8Heap } from './v8-heap';
import { readV8Constants, resolveLayout, type V8Layout } from './v8-metadata';
import { walkJsStack, type JsFrame } from './v8-walker';

/**
 * Offset of c_entry_fp in the Isolate, by V8 version (x64, no pointer compression), read from the
 * binaries: Node 20's `StackFrameIterator::StackFrameIterator(Isolate*)` loads isolate+0x180, and its
 * `Isolate::get_address_from_id(kCEntryFPAddress)` entry in a core is isolate+384; Node 24 exports
 * neither, and 320 is the only isolate word in its cores that points at an exit frame (calibration).
 */
export const KNOWN_C_ENTRY_FP: Record<string, number> = { '11.3': 384, '13.6': 320 };

export interface JsStackView {
  frames: JsFrame[];
  start: 'c_entry_fp' | 'registers' | 'none';
  cEntryFpOffset?: number;
  /** Where the offset came from. */
  offsetSource?: 'known' | 'note' | 'calibrated';
  walkMs: number;
  problems: string[];
}

const EXIT_TYPES = new Set(['ExitFrame', 'BuiltinExitFrame', 'ApiCallbackExitFrame', 'ApiAccessorExitFrame']);

/** Pure: does the word at isolate+off look like c_entry_fp (0, or the fp of an exit frame on the stack)? */
export function cEntryFpLooksRight(H: V8Heap, isolate: bigint, off: number, rsp?: bigint): boolean | undefined {
  const v = H.u64(isolate + BigInt(off));
  if (v === undefined) return undefined;
  if (v === 0n) return true;
  if (v % 8n !== 0n || (rsp !== undefined && (v < rsp || v > rsp + 64n * 1024n * 1024n))) return false;
  const m = H.u64(v + BigInt(H.L.offFpContext));
  return m !== undefined && H.isSmi(m) && EXIT_TYPES.has(H.L.frameTypes.get(Number(m)) ?? '');
}

/** Pure: the isolate offsets (below 4 KB) whose word is the fp of an exit frame on the stack. */
export function calibrateCEntryFp(H: V8Heap, isolate: bigint, rsp?: bigint): number[] {
  const out: number[] = [];
  for (let off = 0; off < 4096; off += 8) {
    const v = H.u64(isolate + BigInt(off));
    if (v && cEntryFpLooksRight(H, isolate, off, rsp)) out.push(off);
  }
  return out;
}

export interface JsStackInput {
  core: string;
  phdrs: ProgramHeader[];
  nodeBinary?: string;
  isolate?: string;
  v8?: string;
  noteOffset?: number;
  regs?: { rbp: bigint; rsp: bigint };
}

/** Loads the metadata and walks. Never throws for a bad core: the reasons come back in `problems`. */
export function jsStackOfCore(input: JsStackInput): JsStackView {
  const t0 = performance.now();
  const view: JsStackView = { frames: [], start: 'none', walkMs: 0, problems: [] };
  if (!input.nodeBinary) {
    view.problems.push('JS frames: no node binary to read V8 metadata from (pass --node)');
    return view;
  }
  let layout: V8Layout;
  try {
    const r = resolveLayout(readV8Constants(input.nodeBinary));
    if ('missing' in r) {
      view.problems.push(`JS frames: this node binary lacks V8 postmortem constants the walker needs: ${r.missing.slice(0, 8).join(', ')}${r.missing.length > 8 ? ` and ${r.missing.length - 8} more` : ''}`);
      return view;
    }
    layout = r.layout;
  } catch (err) {
    view.problems.push(`JS frames: cannot read V8 metadata from ${input.nodeBinary}: ${err instanceof ElfError ? err.message : (err as Error).message}`);
    return view;
  }
  let mem: CoreMemory;
  try {
    mem = CoreMemory.open(input.core, input.phdrs);
  } catch (err) {
    view.problems.push(`JS frames: cannot open the core: ${(err as Error).message}`);
    return view;
  }
  try {
    walkInto(view, mem, layout, input);
  } finally {
    mem.close();
  }
  view.walkMs = Math.round((performance.now() - t0) * 10) / 10;
  return view;
}

function walkInto(view: JsStackView, mem: Memory, L: V8Layout, input: JsStackInput): void {
  const isolate = input.isolate && /^0x[0-9a-f]+$/i.test(input.isolate) ? BigInt(input.isolate) : undefined;
  if (isolate !== undefined) {
    const H = new V8Heap(mem, L, 10_000);
    const version = input.v8?.split('.').slice(0, 2).join('.');
    const known = version ? KNOWN_C_ENTRY_FP[version] : undefined;
    const rsp = input.regs?.rsp;
    if (known !== undefined && cEntryFpLooksRight(H, isolate, known, rsp)) Object.assign(view, { cEntryFpOffset: known, offsetSource: 'known' });
    else if (input.noteOffset !== undefined && cEntryFpLooksRight(H, isolate, input.noteOffset, rsp)) Object.assign(view, { cEntryFpOffset: input.noteOffset, offsetSource: 'note' });
    else {
      const found = calibrateCEntryFp(H, isolate, rsp);
      if (found.length === 1) Object.assign(view, { cEntryFpOffset: found[0], offsetSource: 'calibrated' });
      else view.problems.push(`JS frames: V8 ${input.v8 ?? '?'} is not one the walker knows, and c_entry_fp could not be located in its isolate (${found.length} candidates); only the registers are used`);
    }
    if (known !== undefined && input.noteOffset !== undefined && input.noteOffset !== known) view.problems.push(`the core's note says c_entry_fp is at isolate+${input.noteOffset}; V8 ${version} keeps it at isolate+${known} (used)`);
  } else view.problems.push('JS frames: the core has no isolate address (no AUTOPSY note); only the registers are used');
  const r = walkJsStack(mem, L, { isolate, cEntryFpOffset: view.cEntryFpOffset, regs: input.regs });
  view.frames = r.frames;
  view.start = r.start;
  for (const p of r.problems) view.problems.push(`JS frames: ${p}`);
  if (r.start === 'none') view.problems.push('JS frames: none: the main thread was neither in JS nor in a call out of JS (c_entry_fp is 0 and rbp is not a JS frame)');
}
