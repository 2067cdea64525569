import { ElfError, readHeaders, withFile, type ReadAt } from './elf';

/**
 * Names for native frames given as module + file offset (the fatal-signal handler's crash record writes
 * them so: it may not call dladdr). Reads the module's .symtab (else .dynsym) after the fact, in
 * `collect`: the file offset becomes a virtual address through the PT_LOAD that holds it, and the
 * function symbol covering that address names the frame. C++ names stay mangled (no demangler here).
 * Never throws: a module that cannot be read gives no names.
 */

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
/** A symbol table larger than this is not read (a debug build's .symtab can be hundreds of MB). */
const MAX_TABLE_BYTES = 256 * 1024 * 1024;

interface Table {
  /** Sorted start addresses, sizes and names of the module's functions. */
  starts: Float64Array;
  sizes: Float64Array;
  names: string[];
  loads: { offset: number; filesz: number; vaddr: number }[];
}

function readTable(read: ReadAt): Table {
  const h = read(0, 64);
  const headers = readHeaders(read);
  const shoff = Number(h.readBigUInt64LE(40));
  const shentsize = h.readUInt16LE(58);
  const shnum = h.readUInt16LE(60);
  if (shentsize < 64 || shnum === 0 || shnum > 100_000) throw new ElfError('no section headers');
  const sh = read(shoff, shentsize * shnum);
  const sec = (i: number) => {
    const o = i * shentsize;
    return { type: sh.readUInt32LE(o + 4), offset: Number(sh.readBigUInt64LE(o + 24)), size: Number(sh.readBigUInt64LE(o + 32)), link: sh.readUInt32LE(o + 40), entsize: Number(sh.readBigUInt64LE(o + 56)) };
  };
  let symtab: ReturnType<typeof sec> | undefined;
  for (let i = 0; i < shnum; i++) {
    const s = sec(i);
    if (s.type === SHT_SYMTAB) symtab = s;
    else if (s.type === SHT_DYNSYM && !symtab) symtab = s;
  }
  if (!symtab || symtab.entsize < 24 || symtab.size > MAX_TABLE_BYTES) throw new ElfError('no symbol table');
  const strtab = sec(symtab.link);
  if (strtab.size > MAX_TABLE_BYTES) throw new ElfError('string table too large');
  const syms = read(symtab.offset, symtab.size);
  const strs = read(strtab.offset, strtab.size);
  const list: { start: number; size: number; name: number }[] = [];
  for (let o = 0; o + 24 <= syms.length; o += symtab.entsize) {
    if ((syms[o + 4] & 0xf) !== STT_FUNC) continue;
    const start = Number(syms.readBigUInt64LE(o + 8));
    if (!start) continue;
    list.push({ start, size: Number(syms.readBigUInt64LE(o + 16)), name: syms.readUInt32LE(o) });
  }
  list.sort((a, b) => a.start - b.start);
  const name = (off: number) => {
    const end = strs.indexOf(0, off);
    return strs.toString('utf8', off, end < 0 ? strs.length : end);
  };
  return {
    starts: Float64Array.from(list, (s) => s.start),
    sizes: Float64Array.from(list, (s) => s.size),
    names: list.map((s) => name(s.name)),
    loads: headers.phdrs.filter((p) => p.type === 1).map((p) => ({ offset: p.offset, filesz: p.filesz, vaddr: Number(p.vaddr) })),
  };
}

/** Pure: the function covering `vaddr` in a sorted table, with the distance into it. */
export function lookup(t: Pick<Table, 'starts' | 'sizes' | 'names'>, vaddr: number): { name: string; plus: number } | undefined {
  let lo = 0;
  let hi = t.starts.length - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t.starts[mid] <= vaddr) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (at < 0) return undefined;
  const plus = vaddr - t.starts[at];
  // A symbol without a size covers up to the next one; one with a size must contain the address.
  if (t.sizes[at] > 0 && plus >= t.sizes[at]) return undefined;
  return { name: t.names[at], plus };
}

export class Symbolizer {
  private readonly tables = new Map<string, Table | null>();

  /** "name+0x12", or undefined. `offset` is a file offset in hex ("0x...") or a number. */
  name(module: string, offset: string | number): string | undefined {
    let t = this.tables.get(module);
    if (t === undefined) {
      try {
        t = withFile(module, readTable);
      } catch {
        t = null;
      }
      this.tables.set(module, t);
    }
    if (!t) return undefined;
    const off = typeof offset === 'number' ? offset : Number.parseInt(String(offset), 16);
    if (!Number.isFinite(off)) return undefined;
    const seg = t.loads.find((l) => off >= l.offset && off < l.offset + l.filesz);
    if (!seg) return undefined;
    const hit = lookup(t, off - seg.offset + seg.vaddr);
    return hit ? `${hit.name}+0x${hit.plus.toString(16)}` : undefined;
  }
}
