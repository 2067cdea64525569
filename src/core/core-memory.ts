import { closeSync, openSync, readSync } from 'node:fs';
import { PT_LOAD, type ProgramHeader } from '../native/elf';

/**
 * The memory of a process as a core holds it. `read` returns undefined for an address (or a part of
 * the range) that is not in the core, and never throws: the walker follows pointers from a crashed
 * process. Reads are counted so that a walk has a hard bound.
 */
export interface Memory {
  read(addr: bigint, length: number): Buffer | undefined;
}

interface Segment {
  start: bigint;
  end: bigint;
  offset: number;
}

const PAGE = 4096;

export class CoreMemory implements Memory {
  private readonly segs: Segment[];
  private readonly pages = new Map<number, Buffer>();
  reads = 0;
  bytesRead = 0;

  constructor(private readonly fd: number, phdrs: ProgramHeader[], private readonly maxPages = 4096) {
    // Only the part backed by file bytes: memsz beyond filesz was not written (clean file pages).
    this.segs = phdrs
      .filter((p) => p.type === PT_LOAD && p.filesz > 0)
      .map((p) => ({ start: p.vaddr, end: p.vaddr + BigInt(p.filesz), offset: p.offset }))
      .sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  static open(path: string, phdrs: ProgramHeader[]): CoreMemory {
    return new CoreMemory(openSync(path, 'r'), phdrs);
  }

  close(): void {
    closeSync(this.fd);
  }

  private segmentOf(addr: bigint): Segment | undefined {
    let lo = 0;
    let hi = this.segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segs[mid];
      if (addr < s.start) hi = mid - 1;
      else if (addr >= s.end) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /** Whether the address is in the core at all. */
  has(addr: bigint): boolean {
    return this.segmentOf(addr) !== undefined;
  }

  read(addr: bigint, length: number): Buffer | undefined {
    if (addr < 0n || length < 0 || length > 64 * 1024 * 1024) return undefined;
    const s = this.segmentOf(addr);
    if (!s || addr + BigInt(length) > s.end) return undefined;
    this.reads++;
    const fileOff = s.offset + Number(addr - s.start);
    if (length > PAGE) return this.readRaw(fileOff, length);
    const first = Math.floor(fileOff / PAGE);
    const last = Math.floor((fileOff + length - 1) / PAGE);
    const parts: Buffer[] = [];
    for (let p = first; p <= last; p++) {
      const page = this.page(p);
      if (!page) return undefined;
      parts.push(page);
    }
    const joined = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    const at = fileOff - first * PAGE;
    return joined.length >= at + length ? joined.subarray(at, at + length) : undefined;
  }

  private page(n: number): Buffer | undefined {
    let b = this.pages.get(n);
    if (b) return b;
    b = this.readRaw(n * PAGE, PAGE);
    if (!b) return undefined;
    if (this.pages.size >= this.maxPages) this.pages.delete(this.pages.keys().next().value!);
    this.pages.set(n, b);
    return b;
  }

  private readRaw(fileOff: number, length: number): Buffer | undefined {
    const b = Buffer.alloc(length);
    let n = 0;
    try {
      n = readSync(this.fd, b, 0, length, fileOff);
    } catch {
      return undefined;
    }
    this.bytesRead += n;
    return n > 0 ? b.subarray(0, n) : undefined;
  }
}

/** x64 NT_PRSTATUS: the registers the walk starts from (pr_reg at 112, user_regs_struct order). */
export function prstatusRegisters(desc: Buffer): { rbp: bigint; rsp: bigint; rip: bigint } | undefined {
  if (desc.length < 112 + 27 * 8) return undefined;
  const reg = (i: number) => desc.readBigUInt64LE(112 + i * 8);
  return { rbp: reg(4), rip: reg(16), rsp: reg(19) };
}
