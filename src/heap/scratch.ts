/**
 * Dead scratch handed from one phase of analyze() to the next. A freed ArrayBuffer goes back to the
 * system only after a GC, and none need run between the phases: so the distances' queue, written
 * into a new array, adds its pages to the peak while the dominators' dead stack still holds its
 * own. Giving the stack back here and taking it for the queue keeps the peak at the dominators
 * phase (bench/heap.ts --profile shows which arrays overlap).
 */
interface Region {
  buffer: ArrayBuffer;
  offset: number;
  bytes: number;
}

export class ScratchPool {
  private free: Region[] = [];

  /**
   * `release`, when given, is called with each region given (as a Uint8Array over it): analyze()
   * passes the addon's releasePages, which returns the region's whole pages to the system at once,
   * so that dead scratch stops counting in the RSS until a later phase takes it (its pages are
   * zeroed then, which every taker allows). Without it, given regions stay resident until reused.
   */
  constructor(private readonly release?: (region: Uint8Array) => unknown) {}

  /**
   * Returns a's bytes to the pool: the caller must not use them (through a or another view) again.
   * `resident`: not released (see the constructor), for a region the very next step takes: giving
   * its pages back would only cost page faults.
   */
  give(a: ArrayBufferView, resident = false): void {
    const buffer = a.buffer;
    if (!(buffer instanceof ArrayBuffer)) return;
    // Typed arrays need aligned offsets: keep the region 8-aligned.
    const offset = (a.byteOffset + 7) & ~7;
    const bytes = a.byteOffset + a.byteLength - offset;
    if (bytes <= 0 || this.free.some((r) => r.buffer === buffer && r.offset < offset + bytes && offset < r.offset + r.bytes)) return;
    this.free.push({ buffer, offset, bytes });
    if (!resident) this.release?.(new Uint8Array(buffer, offset, bytes));
  }

  /** A Uint32Array of n over the smallest free buffer that fits, else a new one. Contents: arbitrary. */
  u32(n: number): Uint32Array {
    const r = this.take(4 * n);
    return r ? new Uint32Array(r.buffer, r.offset, n) : new Uint32Array(n);
  }

  /** A Uint16Array of n, as u32(). Contents: arbitrary. */
  u16(n: number): Uint16Array {
    const r = this.take(2 * n);
    return r ? new Uint16Array(r.buffer, r.offset, n) : new Uint16Array(n);
  }

  /** An Int32Array of n, as u32(). Contents: arbitrary. */
  i32(n: number): Int32Array {
    const r = this.take(4 * n);
    return r ? new Int32Array(r.buffer, r.offset, n) : new Int32Array(n);
  }

  /** A zeroed Int8Array of n, from the pool if a buffer fits. */
  i8(n: number): Int8Array {
    const r = this.take(n);
    return r ? new Int8Array(r.buffer, r.offset, n).fill(0) : new Int8Array(n);
  }

  /** A zeroed Uint8Array of n, from the pool if a buffer fits. */
  u8(n: number): Uint8Array {
    const r = this.take(n);
    return r ? new Uint8Array(r.buffer, r.offset, n).fill(0) : new Uint8Array(n);
  }

  /** The smallest free region that fits; what it has left over (over 64 KB) stays free. */
  private take(bytes: number): Region | undefined {
    let best = -1;
    for (let k = 0; k < this.free.length; k++) {
      const size = this.free[k].bytes;
      if (size >= bytes && (best < 0 || size < this.free[best].bytes)) best = k;
    }
    if (best < 0) return undefined;
    const [r] = this.free.splice(best, 1);
    const used = (bytes + 7) & ~7;
    if (r.bytes - used >= 65536) this.free.push({ buffer: r.buffer, offset: r.offset + used, bytes: r.bytes - used });
    return r;
  }
}
