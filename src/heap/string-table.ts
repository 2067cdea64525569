/**
 * The strings of a heap snapshot, kept as raw UTF-8 bytes and decoded one at a time on `get(i)`.
 *
 * A big snapshot's strings section can exceed V8's longest string (~512 MB) and even 2 GB, so the
 * bytes live in several large Buffers ("chunks"); a string never straddles two chunks. A chunk keeps
 * only complete strings (one that does not fit moves to the start of a new chunk), so the chunks,
 * laid end to end, hold the strings back to back. Per string we keep only where it ends in that
 * concatenation: string i is ends[i-1] .. ends[i]. `ends` is a Uint32Array (4 B per string) until
 * the strings pass 4 GB, then a Float64Array.
 *
 * StringSectionReader scans the JSON of the `"strings":[...]` array chunk by chunk, unescaping into
 * the table as it goes: no JS string per entry is ever made while parsing.
 */
import type { StringTable } from './types';

const MAX_U32 = 0xffffffff;
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
/** Direct-mapped cache of decoded strings: class and property names repeat across millions of nodes. */
const CACHE_SLOTS = 4096;

export class ChunkedStringTable implements StringTable {
  readonly count: number;
  readonly byteLength: number;
  private readonly cacheKey = new Float64Array(CACHE_SLOTS).fill(-1);
  private readonly cacheValue: string[] = new Array<string>(CACHE_SLOTS).fill('');

  /** Where each chunk starts in the concatenation. */
  private readonly bases: number[] = [];

  constructor(
    private readonly chunks: Buffer[],
    private readonly ends: Uint32Array | Float64Array,
    count: number,
  ) {
    this.count = count;
    let base = 0;
    for (const c of chunks) {
      this.bases.push(base);
      base += c.length;
    }
    this.byteLength = base + ends.byteLength;
  }

  get(i: number): string {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`string index ${i} is out of range (${this.count} strings)`);
    const slot = i & (CACHE_SLOTS - 1);
    if (this.cacheKey[slot] === i) return this.cacheValue[slot];
    const end = this.ends[i];
    const start = i > 0 ? this.ends[i - 1] : 0;
    // The last chunk starting at or before `start` holds the string (chunks may be empty).
    const bases = this.bases;
    let chunk = bases.length - 1;
    while (chunk > 0 && bases[chunk] > start) chunk--;
    const value = this.chunks[chunk].toString('utf8', start - bases[chunk], end - bases[chunk]);
    this.cacheKey[slot] = i;
    this.cacheValue[slot] = value;
    return value;
  }
}

// Scanner states.
const FIRST = 0; // after '[': a string or ']'
const NEXT = 1; // after ',': a string
const IN_STRING = 2;
const ESCAPE = 3; // after a backslash
const HEX = 4; // inside \uXXXX
const AFTER = 5; // after a string: ',' or ']'
const DONE = 6;

/** Reports a malformed byte: `at` is the index in the chunk being scanned. Must throw. */
export type ScanFailure = (message: string, at: number) => never;

/**
 * Consumes the body of a JSON array of strings (everything after its '['), unescaping each entry's
 * UTF-8 bytes into chunks. Lone UTF-16 surrogates (\uD800 without its pair) become U+FFFD, as a
 * UTF-8 decoder would make of them anyway.
 */
export class StringSectionReader {
  count = 0;
  private state = FIRST;
  private chunks: Buffer[] = [];
  private out: Buffer;
  private pos = 0; // write position in `out`
  private strStart = 0; // where the current string began in `out`
  private ends: Uint32Array | Float64Array = new Uint32Array(1 << 16);
  /** Where `out` starts in the concatenation of the chunks. */
  private base = 0;
  private hex = 0;
  private hexDigits = 0;
  private pendingHigh = 0; // a high surrogate waiting for its low half

  /**
   * `expected`: roughly how many strings to expect (the parser passes the node count). `ends` starts
   * that large: its pages are touched only as strings arrive, and the arrays a doubling leaves
   * behind would stay resident until a GC.
   */
  constructor(
    private readonly fail: ScanFailure,
    private readonly chunkBytes = DEFAULT_CHUNK_BYTES,
    expected = 0,
  ) {
    if (expected > this.ends.length) this.ends = new Uint32Array(Math.min(expected, 1 << 28));
    this.out = Buffer.allocUnsafeSlow(chunkBytes);
    this.chunks.push(this.out);
  }

  get done(): boolean {
    return this.state === DONE;
  }

  /** Scans buf from i; returns the index after the closing ']' when done, else buf.length. */
  scan(buf: Buffer, i: number): number {
    const len = buf.length;
    while (i < len) {
      const state = this.state;
      if (state === IN_STRING) {
        if (this.pendingHigh !== 0 && buf[i] !== 0x5c) this.lone();
        // The hot loop: plain bytes copied as they are.
        let out = this.out;
        let p = this.pos;
        let cap = out.length;
        let c = 0;
        while (i < len) {
          c = buf[i];
          if (c === 0x22 || c === 0x5c) break;
          if (p === cap) {
            this.pos = p;
            this.reserve(1);
            out = this.out;
            p = this.pos;
            cap = out.length;
          }
          out[p++] = c;
          i++;
        }
        this.pos = p;
        if (i === len) return i;
        i++;
        if (c === 0x5c) {
          this.state = ESCAPE;
        } else {
          if (this.pendingHigh !== 0) this.lone();
          this.endString();
          this.state = AFTER;
        }
        continue;
      }
      const c = buf[i];
      switch (state) {
        case FIRST:
        case NEXT:
          if (c === 0x22) this.state = IN_STRING;
          else if (c === 0x5d && state === FIRST) {
            this.state = DONE;
            return i + 1;
          } else if (!isSpace(c)) this.fail(`expected a string in the strings section, found ${show(c)}`, i);
          i++;
          break;
        case AFTER:
          if (c === 0x2c) this.state = NEXT;
          else if (c === 0x5d) {
            this.state = DONE;
            return i + 1;
          } else if (!isSpace(c)) this.fail(`expected ',' or ']' in the strings section, found ${show(c)}`, i);
          i++;
          break;
        case ESCAPE:
          i++;
          if (c === 0x75) {
            this.state = HEX;
            this.hex = 0;
            this.hexDigits = 0;
            break;
          }
          if (this.pendingHigh !== 0) this.lone();
          this.byte(unescapeByte(c, this.fail, i - 1));
          this.state = IN_STRING;
          break;
        case HEX: {
          const d = hexValue(c);
          if (d < 0) this.fail(`bad \\u escape in the strings section (${show(c)})`, i);
          i++;
          this.hex = this.hex * 16 + d;
          if (++this.hexDigits === 4) {
            this.codeUnit(this.hex);
            this.state = IN_STRING;
          }
          break;
        }
        default: // DONE: the caller stops calling once done
          return i;
      }
    }
    return i;
  }

  /** The finished table. The reader must not be used afterwards. */
  table(): ChunkedStringTable {
    // The last chunk's unused tail was never written, so it takes no memory (a copy of the used
    // part would, and the original would stay resident until a GC).
    this.chunks[this.chunks.length - 1] = this.out.subarray(0, this.pos);
    return new ChunkedStringTable(this.chunks, this.ends.subarray(0, this.count), this.count);
  }

  private codeUnit(u: number): void {
    if (this.pendingHigh !== 0) {
      if (u >= 0xdc00 && u <= 0xdfff) {
        const cp = 0x10000 + ((this.pendingHigh - 0xd800) << 10) + (u - 0xdc00);
        this.pendingHigh = 0;
        this.reserve(4);
        const o = this.out;
        o[this.pos++] = 0xf0 | (cp >> 18);
        o[this.pos++] = 0x80 | ((cp >> 12) & 0x3f);
        o[this.pos++] = 0x80 | ((cp >> 6) & 0x3f);
        o[this.pos++] = 0x80 | (cp & 0x3f);
        return;
      }
      this.lone();
    }
    if (u >= 0xd800 && u <= 0xdbff) this.pendingHigh = u;
    else if (u >= 0xdc00 && u <= 0xdfff) this.replacement();
    else if (u < 0x80) this.byte(u);
    else {
      this.reserve(3);
      const o = this.out;
      if (u < 0x800) {
        o[this.pos++] = 0xc0 | (u >> 6);
      } else {
        o[this.pos++] = 0xe0 | (u >> 12);
        o[this.pos++] = 0x80 | ((u >> 6) & 0x3f);
      }
      o[this.pos++] = 0x80 | (u & 0x3f);
    }
  }

  private lone(): void {
    this.pendingHigh = 0;
    this.replacement();
  }

  private replacement(): void {
    this.reserve(3);
    this.out[this.pos++] = 0xef;
    this.out[this.pos++] = 0xbf;
    this.out[this.pos++] = 0xbd;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.out[this.pos++] = b;
  }

  private endString(): void {
    const end = this.base + this.pos;
    const wide = end > MAX_U32 && this.ends instanceof Uint32Array;
    if (this.count === this.ends.length || wide) {
      const length = this.count === this.ends.length ? this.ends.length * 2 : this.ends.length;
      const bigger = wide || this.ends instanceof Float64Array ? new Float64Array(length) : new Uint32Array(length);
      bigger.set(this.ends);
      this.ends = bigger;
    }
    this.ends[this.count++] = end;
    this.strStart = this.pos;
  }

  /** Makes room for n more bytes of the current string, moving it to a new chunk if needed. */
  private reserve(n: number): void {
    if (this.pos + n <= this.out.length) return;
    const partial = this.pos - this.strStart;
    const size = Math.max(this.chunkBytes, 2 * (partial + n));
    const next = Buffer.allocUnsafeSlow(size);
    this.out.copy(next, 0, this.strStart, this.pos);
    // The old chunk keeps only complete strings.
    this.chunks[this.chunks.length - 1] = this.out.subarray(0, this.strStart);
    this.base += this.strStart;
    this.chunks.push(next);
    this.out = next;
    this.pos = partial;
    this.strStart = 0;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

function unescapeByte(c: number, fail: ScanFailure, at: number): number {
  switch (c) {
    case 0x22:
    case 0x5c:
    case 0x2f:
      return c;
    case 0x62:
      return 0x08;
    case 0x66:
      return 0x0c;
    case 0x6e:
      return 0x0a;
    case 0x72:
      return 0x0d;
    case 0x74:
      return 0x09;
    default:
      return fail(`bad escape (backslash then ${show(c)}) in the strings section`, at);
  }
}

/** A byte for a one-line message: printable ASCII as itself, anything else as hex. */
export function show(c: number): string {
  return c > 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}
