/**
 * The flight recorder's crash-proof ring: NDJSON lines in a file mapped MAP_SHARED by the native addon
 * (native/src/mmap-ring.cc). Layout:
 *
 *   bytes 0-7    "ATSRING1"
 *   bytes 8-15   total bytes ever written, float64 LE (exact up to 2^53)
 *   bytes 16-19  size of the data region, uint32 LE
 *   bytes 64-    data: lines wrap around; the oldest, cut, line is dropped by the reader
 *
 * The total is updated after the line's bytes, so a reader never sees half a line as complete.
 */

export const RING_MAGIC = 'ATSRING1';
export const RING_HEADER = 64;
/** 2 MiB hold the recorder's whole rings (about 2,100 events of ~250 bytes) several times over. */
export const RING_BYTES = 2 * 1024 * 1024;

export class Ring {
  private total = 0;
  private releasedAt = 0;
  private readonly size: number;

  /** `releaser`: the addon's releaseRing, which takes the mapping's pages out of the process's RSS. */
  constructor(
    readonly buf: Buffer,
    private releaser?: (buf: Buffer) => boolean,
  ) {
    this.size = buf.length - RING_HEADER;
    buf.write(RING_MAGIC, 0, 'latin1');
    buf.writeDoubleLE(0, 8);
    buf.writeUInt32LE(this.size, 16);
  }

  append(line: string): void {
    const n = Buffer.byteLength(line) + 1;
    if (n > this.size / 4) return; // one huge event must not wipe the ring
    const pos = this.total % this.size;
    if (pos + n <= this.size) {
      // The common case: straight into the mapping, no intermediate buffer.
      this.buf.write(line, RING_HEADER + pos);
      this.buf[RING_HEADER + pos + n - 1] = 0x0a;
    } else {
      const b = Buffer.from(line + '\n');
      const first = this.size - pos;
      b.copy(this.buf, RING_HEADER + pos, 0, first);
      b.copy(this.buf, RING_HEADER, first);
    }
    this.total += n;
    this.buf.writeDoubleLE(this.total, 8);
  }

  /**
   * Called every flush (500 ms): the pages written since go back to the page cache, where they stay.
   * Without it the ring's whole size ends up resident, 2 MiB of the hook's RSS for a few KB written per
   * second; with it a page or two, faulted back in by the next writes.
   */
  release(): void {
    if (!this.releaser || this.releasedAt === this.total) return;
    this.releasedAt = this.total;
    try {
      this.releaser(this.buf);
    } catch {
      this.releaser = undefined; // the pages then stay resident; the ring works as before
    }
  }
}

/** Pure: the complete lines a ring holds, oldest first. Throws when it is not a ring. */
export function readRing(buf: Buffer): string[] {
  if (buf.length < RING_HEADER || buf.toString('latin1', 0, 8) !== RING_MAGIC) throw new Error('not an autopsy-ts ring');
  const total = buf.readDoubleLE(8);
  const size = buf.readUInt32LE(16);
  if (!Number.isFinite(total) || total < 0 || size !== buf.length - RING_HEADER) throw new Error('damaged ring header');
  const data = buf.subarray(RING_HEADER);
  let text: string;
  let cut = false;
  if (total <= size) text = data.toString('utf8', 0, total);
  else {
    const start = total % size;
    text = Buffer.concat([data.subarray(start), data.subarray(0, start)]).toString('utf8');
    cut = true;
  }
  const lines = text.split('\n');
  lines.pop(); // after the last newline: nothing, or a line whose total was never updated
  if (cut) lines.shift();
  return lines.filter(Boolean);
}
