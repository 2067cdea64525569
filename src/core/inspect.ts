import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { AUTOPSY_NOTE_TYPE, ElfError, ET_CORE, NT_FILE, NT_PRPSINFO, NT_PRSTATUS, parseAutopsyNote, parseNtFile, parsePrpsinfo, readHeaders, readNotes, withFile, buildIdOf, PT_LOAD } from '../native/elf';
import { parseGdbBacktrace, type NativeFrame } from './gdb-stack';
import { prstatusRegisters } from './core-memory'; // v8 walker
import { jsStackOfCore, type JsStackView } from './js-frames'; // v8 walker
import { addLlnode, type LlnodeView } from './llnode';

/** What `autopsy-ts core` shows: the core's own notes, and the stack from whichever backend is installed. */
export interface CoreView extends LlnodeView {
  core: string;
  size: number;
  pid?: number;
  program?: string;
  args?: string;
  /** From our AUTOPSY note, when autopsy-ts wrote the core. */
  node?: string;
  isolate?: string;
  cEntryFpOffset?: number;
  nodeBinary?: string;
  nodeBuildId?: string;
  threads: number;
  segments: number;
  mappedFiles: number;
  backends: { gdb: 'used' | 'not installed' | 'failed'; llnode: 'used' | 'not installed' | 'failed' };
  nativeFrames?: NativeFrame[];
  // --- v8 walker (issue 8 part 4): JS frames from V8's postmortem metadata, no lldb needed ---
  v8?: string;
  jsStack?: JsStackView;
  // --- end v8 walker ---
  problems: string[];
}

export class CoreInputError extends Error {}

function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(d, cmd);
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

/** Reads the core's notes; runs gdb for the native frames of the main thread when gdb is installed. */
export function inspectCore(path: string, opts: { node?: string; gdbTimeoutMs?: number; llnodeTimeoutMs?: number; objects?: boolean; noWalker?: boolean } = {}): CoreView {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CoreInputError(`no such file: ${path}`);
  }
  if (!st.isFile()) throw new CoreInputError(`not a file: ${path}`);
  const view: CoreView = { core: path, size: st.size, threads: 0, segments: 0, mappedFiles: 0, backends: { gdb: 'not installed', llnode: 'not installed' }, problems: [] };
  let files: { path: string }[] = [];
  let phdrs: import('../native/elf').ProgramHeader[] = []; // v8 walker
  let regs: ReturnType<typeof prstatusRegisters>; // v8 walker
  try {
    withFile(path, (read) => {
      const h = readHeaders(read);
      if (h.type !== ET_CORE) throw new CoreInputError(`${path} is an ELF file but not a core`);
      view.segments = h.phdrs.filter((p) => p.type === PT_LOAD).length;
      phdrs = h.phdrs; // v8 walker
      for (const n of readNotes(read, h)) {
        if (n.name === 'CORE' && n.type === NT_PRSTATUS) {
          if (!view.threads++) regs = prstatusRegisters(n.desc); // v8 walker: the first is the main thread
        }
        else if (n.name === 'CORE' && n.type === NT_PRPSINFO) {
          const ps = parsePrpsinfo(n.desc);
          if (ps) Object.assign(view, { pid: ps.pid, program: ps.fname, args: ps.args });
        } else if (n.name === 'CORE' && n.type === NT_FILE) files = parseNtFile(n.desc);
        else if (n.name === 'AUTOPSY' && n.type === AUTOPSY_NOTE_TYPE) {
          const a = parseAutopsyNote(n.desc);
          view.node = a.node;
          view.isolate = a.isolate;
          view.v8 = a.v8; // v8 walker
          if (a.cEntryFpOffset) view.cEntryFpOffset = Number(a.cEntryFpOffset);
          if (a.execPath) view.nodeBinary = a.execPath;
        }
      }
    });
  } catch (err) {
    if (err instanceof ElfError) throw new CoreInputError(`${path} is not a core file (${err.message})`);
    throw err;
  }
  view.mappedFiles = new Set(files.map((f) => f.path)).size;
  // The binary: --node, else what the AUTOPSY note says, else the first mapped file (the executable).
  view.nodeBinary = opts.node ?? view.nodeBinary ?? files[0]?.path;
  if (view.nodeBinary && !existsSync(view.nodeBinary)) {
    view.problems.push(`node binary ${view.nodeBinary} is not on this machine: pass --node <binary> (the same build)`);
  } else if (view.nodeBinary) {
    view.nodeBuildId = buildIdOf(view.nodeBinary);
  }

  const gdb = which('gdb');
  if (gdb && view.nodeBinary && existsSync(view.nodeBinary)) {
    const r = spawnSync(gdb, ['-batch', '-nx', '-ex', 'set pagination off', '-ex', 'bt', view.nodeBinary, path], { encoding: 'utf8', timeout: opts.gdbTimeoutMs ?? 180_000, maxBuffer: 16 * 1024 * 1024 });
    const frames = parseGdbBacktrace(r.stdout ?? '');
    if (frames.length) {
      view.backends.gdb = 'used';
      view.nativeFrames = frames;
    } else {
      view.backends.gdb = 'failed';
      view.problems.push(`gdb found no frames${r.error ? `: ${r.error.message}` : ''}`);
    }
  }
  // --- v8 walker (issue 8 part 4) ---
  if (view.nodeBinary && existsSync(view.nodeBinary) && !opts.noWalker) {
    view.jsStack = jsStackOfCore({ core: path, phdrs, nodeBinary: view.nodeBinary, isolate: view.isolate, v8: view.v8, noteOffset: view.cEntryFpOffset, regs });
  }
  // --- end v8 walker ---
  // --- issue 7: llnode, the JS backend (src/core/llnode.ts) ---
  addLlnode(view, { timeoutMs: opts.llnodeTimeoutMs, objects: opts.objects });
  // --- end issue 7 ---
  return view;
}
