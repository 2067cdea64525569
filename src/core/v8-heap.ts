import type { Memory } from './core-memory';
import type { V8Layout } from './v8-metadata';

/**
 * Reads V8 heap objects from a memory image with the postmortem layout: tagged values, Smis,
 * instance types, strings, and the names and scripts of functions. Pure over `Memory`; every read
 * may fail (undefined), and every loop is bounded. No pointer compression (8-byte fields).
 */
export class V8Heap {
  /** Reads left before the heap stops answering: a corrupt object graph cannot make a walk slow. */
  budget: number;

  constructor(readonly mem: Memory, readonly L: V8Layout, budget = 200_000) {
    this.budget = budget;
  }

  private bytes(addr: bigint, n: number): Buffer | undefined {
    if (this.budget <= 0) return undefined;
    this.budget--;
    return this.mem.read(addr, n);
  }

  u64(addr: bigint): bigint | undefined {
    return this.bytes(addr, 8)?.readBigUInt64LE(0);
  }

  i32(addr: bigint): number | undefined {
    return this.bytes(addr, 4)?.readInt32LE(0);
  }

  u16(addr: bigint): number | undefined {
    return this.bytes(addr, 2)?.readUInt16LE(0);
  }

  isSmi(v: bigint): boolean {
    return (v & BigInt(this.L.smiTagMask)) === 0n;
  }

  isHeapObject(v: bigint): boolean {
    return (v & BigInt(this.L.heapObjectTagMask)) === BigInt(this.L.heapObjectTag) && v > 0x1000n;
  }

  /** Smi value (shift 32 without pointer compression); undefined for a non-Smi. */
  smi(v: bigint): number | undefined {
    return this.isSmi(v) ? Number(BigInt.asIntN(64, v) >> BigInt(this.L.smiShift)) : undefined;
  }

  /** A tagged field of a heap object. */
  field(obj: bigint, offset: number): bigint | undefined {
    return this.u64(obj - BigInt(this.L.heapObjectTag) + BigInt(offset));
  }

  instanceType(obj: bigint): number | undefined {
    if (!this.isHeapObject(obj)) return undefined;
    const map = this.field(obj, this.L.mapOffset);
    if (map === undefined || !this.isHeapObject(map)) return undefined;
    return this.u16(map - BigInt(this.L.heapObjectTag) + BigInt(this.L.instanceTypeOffset));
  }

  isString(obj: bigint): boolean {
    const t = this.instanceType(obj);
    return t !== undefined && t < this.L.firstNonstringType;
  }

  /**
   * The text of a String: sequential (one- or two-byte), cons, thin and sliced strings. External
   * strings (their characters are outside the heap) give undefined. At most `max` characters.
   */
  string(obj: bigint, max = 1000, depth = 0): string | undefined {
    const L = this.L;
    const t = this.instanceType(obj);
    if (t === undefined || t >= L.firstNonstringType || depth > 64) return undefined;
    const len = this.i32(obj - BigInt(L.heapObjectTag) + BigInt(L.stringLength));
    if (len === undefined || len < 0 || len > 1 << 30) return undefined;
    const rep = t & L.stringRepresentationMask;
    const oneByte = (t & L.stringEncodingMask) === L.oneByteStringTag;
    if (rep === L.seqStringTag) {
      const n = Math.min(len, max);
      const base = obj - BigInt(L.heapObjectTag) + BigInt(oneByte ? L.seqOneByteChars : L.seqTwoByteChars);
      const b = this.bytes(base, oneByte ? n : n * 2);
      if (!b) return undefined;
      return oneByte ? b.toString('latin1') : b.toString('utf16le');
    }
    if (rep === L.consStringTag) {
      const first = this.field(obj, L.consFirst);
      const a = first === undefined ? undefined : this.string(first, max, depth + 1);
      if (a === undefined) return undefined;
      if (a.length >= max) return a.slice(0, max);
      const second = this.field(obj, L.consSecond);
      const b = second === undefined ? undefined : this.string(second, max - a.length, depth + 1);
      return b === undefined ? undefined : a + b;
    }
    if (rep === L.thinStringTag && L.thinActual !== undefined) {
      const actual = this.field(obj, L.thinActual);
      return actual === undefined ? undefined : this.string(actual, max, depth + 1);
    }
    if (rep === L.slicedStringTag && L.slicedParent !== undefined && L.slicedOffset !== undefined) {
      const parent = this.field(obj, L.slicedParent);
      const off = this.smi(this.field(obj, L.slicedOffset) ?? 1n);
      if (parent === undefined || off === undefined || off < 0) return undefined;
      const whole = this.string(parent, off + Math.min(len, max), depth + 1);
      return whole?.slice(off, off + Math.min(len, max));
    }
    return undefined;
  }

  /** Elements of a FixedArray (Smis or pointers), at most `max`. */
  fixedArray(obj: bigint, max: number): bigint[] | undefined {
    const len = this.smi(this.field(obj, this.L.fixedArrayLength) ?? 1n);
    if (len === undefined || len < 0) return undefined;
    const n = Math.min(len, max);
    const b = this.bytes(obj - BigInt(this.L.heapObjectTag) + BigInt(this.L.fixedArrayData), n * 8);
    if (!b) return undefined;
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(b.readBigUInt64LE(i * 8));
    return out;
  }
}
