import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Just enough ELF64 (little-endian) to read notes: the build-id of a binary, and the notes of a core
 * (NT_PRPSINFO, NT_FILE, our own AUTOPSY note). Pure over a read function, so it is tested on buffers.
 */
export type ReadAt = (offset: number, length: number) => Buffer;

export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}

export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const ET_CORE = 4;
export const NT_PRSTATUS = 1;
export const NT_PRPSINFO = 3;
export const NT_FILE = 0x46494c45;
export const NT_GNU_BUILD_ID = 3;
export const AUTOPSY_NOTE_TYPE = 0x41555401;

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  filesz: number;
  memsz: number;
}

export interface ElfHeaders {
  type: number;
  machine: number;
  phdrs: ProgramHeader[];
}

export class ElfError extends Error {}

/** Reads the ELF header and program headers; throws ElfError when it is not ELF64 little-endian. */
export function readHeaders(read: ReadAt): ElfHeaders {
  const h = read(0, 64);
  if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
  if (h[4] !== 2 || h[5] !== 1) throw new ElfError('not a 64-bit little-endian ELF file');
  const type = h.readUInt16LE(16);
  const machine = h.readUInt16LE(18);
  const phoff = Number(h.readBigUInt64LE(32));
  const phentsize = h.readUInt16LE(54);
  const phnum = h.readUInt16LE(56);
  if (phentsize < 56 || phnum > 200_000) throw new ElfError('bad program header table');
  const table = read(phoff, phentsize * phnum);
  if (table.length < phentsize * phnum) throw new ElfError('program header table is truncated');
  const phdrs: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    phdrs.push({
      type: table.readUInt32LE(o),
      flags: table.readUInt32LE(o + 4),
      offset: Number(table.readBigUInt64LE(o + 8)),
      vaddr: table.readBigUInt64LE(o + 16),
      filesz: Number(table.readBigUInt64LE(o + 32)),
      memsz: Number(table.readBigUInt64LE(o + 40)),
    });
  }
  return { type, machine, phdrs };
}

/** Parses a note segment (4-byte aligned entries). */
export function parseNotes(buf: Buffer): ElfNote[] {
  const out: ElfNote[] = [];
  let o = 0;
  const align = (n: number) => (n + 3) & ~3;
  while (o + 12 <= buf.length) {
    const namesz = buf.readUInt32LE(o);
    const descsz = buf.readUInt32LE(o + 4);
    const type = buf.readUInt32LE(o + 8);
    const nameStart = o + 12;
    const descStart = nameStart + align(namesz);
    if (descStart + descsz > buf.length) break;
    out.push({ name: buf.toString('latin1', nameStart, nameStart + Math.max(0, namesz - 1)), type, desc: buf.subarray(descStart, descStart + descsz) });
    o = descStart + align(descsz);
  }
  return out;
}

/** All notes of all PT_NOTE segments (at most 64 MB of them). */
export function readNotes(read: ReadAt, headers = readHeaders(read)): ElfNote[] {
  const out: ElfNote[] = [];
  for (const p of headers.phdrs) if (p.type === PT_NOTE && p.filesz > 0 && p.filesz < 64 * 1024 * 1024) out.push(...parseNotes(read(p.offset, p.filesz)));
  return out;
}

export function fileReader(fd: number): ReadAt {
  return (offset, length) => {
    const b = Buffer.alloc(length);
    const n = readSync(fd, b, 0, length, offset);
    return b.subarray(0, n);
  };
}

export function withFile<T>(path: string, fn: (read: ReadAt) => T): T {
  const fd = openSync(path, 'r');
  try {
    return fn(fileReader(fd));
  } finally {
    closeSync(fd);
  }
}

/** The GNU build-id of a binary as hex, or undefined. Never throws. */
export function buildIdOf(path: string): string | undefined {
  try {
    return withFile(path, (read) => readNotes(read).find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID)?.desc.toString('hex'));
  } catch {
    return undefined;
  }
}

/** NT_FILE: the files mapped into the process, with their address ranges. */
export function parseNtFile(desc: Buffer): { start: bigint; end: bigint; pageOffset: bigint; path: string }[] {
  if (desc.length < 16) return [];
  const count = Number(desc.readBigUInt64LE(0));
  if (16 + count * 24 > desc.length) return [];
  const names = desc.toString('utf8', 16 + count * 24).split('\0');
  const out = [];
  for (let i = 0; i < count; i++) {
    const o = 16 + i * 24;
    out.push({ start: desc.readBigUInt64LE(o), end: desc.readBigUInt64LE(o + 8), pageOffset: desc.readBigUInt64LE(o + 16), path: names[i] ?? '' });
  }
  return out;
}

/** Our AUTOPSY note: "key=value" lines. */
export function parseAutopsyNote(desc: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of desc.toString('utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** NT_PRPSINFO (x64 layout): the program name and the start of its command line. */
export function parsePrpsinfo(desc: Buffer): { pid: number; fname: string; args: string } | undefined {
  if (desc.length < 136) return undefined;
  const cstr = (a: number, b: number) => {
    const s = desc.subarray(a, b);
    const z = s.indexOf(0);
    return s.toString('utf8', 0, z < 0 ? s.length : z);
  };
  return { pid: desc.readInt32LE(24), fname: cstr(40, 56), args: cstr(56, 136) };
}
