// The pure parts of the V8 metadata walker: the v8dbg table of an ELF built in the test, the layout
// with Node 20 and Node 24 names, Smis, strings and a frame walk over a fake memory built here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Memory } from '../src/core/core-memory';
import { V8Heap } from '../src/core/v8-heap';
import { readPrefixedInts, resolveLayout, type V8Constants, type V8Layout } from '../src/core/v8-metadata';
import { scopeInfoNameAndPosition, walkJsStack, ENTRY_NEXT_EXIT_FP } from '../src/core/v8-walker';
import { calibrateCEntryFp } from '../src/core/js-frames';

/** An ELF64 with .dynsym, .dynstr and a .rodata holding the symbols' int values. */
function elfWithInts(ints: Record<string, number>): Buffer {
  const names = Object.keys(ints);
  const strtab = Buffer.from('\0' + names.map((n) => n + '\0').join('') + 'other_symbol\0');
  const rodata = Buffer.alloc(4 * (names.length + 1));
  names.forEach((n, i) => rodata.writeInt32LE(ints[n], 4 * i));
  const dynsym = Buffer.alloc(24 * (names.length + 2));
  let strOff = 1;
  names.forEach((n, i) => {
    const o = 24 * (i + 1);
    dynsym.writeUInt32LE(strOff, o);
    dynsym.writeUInt16LE(3, o + 6); // section 3: .rodata
    dynsym.writeBigUInt64LE(0x400000n + BigInt(4 * i), o + 8);
    strOff += n.length + 1;
  });
  const oOther = 24 * (names.length + 1);
  dynsym.writeUInt32LE(strOff, oOther);
  dynsym.writeUInt16LE(3, oOther + 6);
  const hdr = Buffer.alloc(64);
  hdr.writeUInt32BE(0x7f454c46, 0);
  hdr[4] = 2;
  hdr[5] = 1;
  hdr.writeUInt16LE(3, 16);
  hdr.writeUInt16LE(56, 54); // no program headers
  const dynsymOff = 64;
  const strOffFile = dynsymOff + dynsym.length;
  const roOff = strOffFile + strtab.length;
  const shOff = roOff + rodata.length;
  hdr.writeBigUInt64LE(BigInt(shOff), 40);
  hdr.writeUInt16LE(64, 58);
  hdr.writeUInt16LE(4, 60);
  const sh = Buffer.alloc(64 * 4);
  const sec = (i: number, type: number, addr: bigint, off: number, size: number, link: number) => {
    sh.writeUInt32LE(type, i * 64 + 4);
    sh.writeBigUInt64LE(addr, i * 64 + 16);
    sh.writeBigUInt64LE(BigInt(off), i * 64 + 24);
    sh.writeBigUInt64LE(BigInt(size), i * 64 + 32);
    sh.writeUInt32LE(link, i * 64 + 40);
  };
  sec(1, 11, 0n, dynsymOff, dynsym.length, 2);
  sec(2, 3, 0n, strOffFile, strtab.length, 0);
  sec(3, 1, 0x400000n, roOff, rodata.length, 0);
  return Buffer.concat([hdr, dynsym, strtab, rodata, sh]);
}

// Node 20's constants (the walker's subset), by the names /usr/bin/node 20.20 exports.
const NODE20: Record<string, number> = {
  v8dbg_TaggedSize: 8, v8dbg_HeapObjectTag: 1, v8dbg_HeapObjectTagMask: 3, v8dbg_SmiTagMask: 1, v8dbg_SmiShiftSize: 31,
  v8dbg_off_fp_context: -8, v8dbg_off_fp_function: -16, v8dbg_frametype_EntryFrame: 1, v8dbg_frametype_ExitFrame: 3, v8dbg_frametype_BuiltinExitFrame: 25, v8dbg_frametype_InternalFrame: 22,
  v8dbg_class_HeapObject__map__Map: 0, v8dbg_class_Map__instance_type__uint16_t: 12, v8dbg_class_JSFunction__shared__SharedFunctionInfo: 24,
  v8dbg_class_SharedFunctionInfo__name_or_scope_info__Object: 16, v8dbg_class_SharedFunctionInfo__script_or_debug_info__HeapObject: 32,
  v8dbg_class_Script__name__Object: 16, v8dbg_class_Script__source__Object: 8, v8dbg_class_Script__line_ends__Object: 56,
  v8dbg_class_FixedArrayBase__length__SMI: 8, v8dbg_class_FixedArray__data__uintptr_t: 16,
  v8dbg_type_SharedFunctionInfo__SHARED_FUNCTION_INFO_TYPE: 262, v8dbg_type_ScopeInfo__SCOPE_INFO_TYPE: 261, v8dbg_type_Script__SCRIPT_TYPE: 167,
  v8dbg_FirstNonstringType: 128, v8dbg_class_String__length__int32_t: 12, v8dbg_StringEncodingMask: 8, v8dbg_OneByteStringTag: 8,
  v8dbg_StringRepresentationMask: 7, v8dbg_SeqStringTag: 0, v8dbg_ConsStringTag: 1, v8dbg_ThinStringTag: 5, v8dbg_SlicedStringTag: 3,
  v8dbg_class_SeqOneByteString__chars__char: 16, v8dbg_class_SeqTwoByteString__chars__char: 16, v8dbg_class_ConsString__first__String: 16,
  v8dbg_class_ConsString__second__String: 24, v8dbg_class_ThinString__actual__String: 16, v8dbg_class_SlicedString__parent__String: 16,
  v8dbg_class_SlicedString__offset__SMI: 24, v8dbg_scopeinfo_idx_ncontextlocals: 2, v8dbg_scopeinfo_idx_first_vars: 3,
};

function layoutOf(c: Record<string, number>): V8Layout {
  const r = resolveLayout(new Map(Object.entries(c)));
  if ('missing' in r) throw new Error(r.missing.join());
  return r.layout;
}

describe('v8 metadata', () => {
  test('readPrefixedInts: the v8dbg_ symbols of an ELF and their int values, other symbols ignored', () => {
    const elf = elfWithInts({ v8dbg_off_fp_function: -16, v8dbg_SmiShiftSize: 31, v8dbg_type_Script__SCRIPT_TYPE: 167 });
    const c = readPrefixedInts((o, n) => elf.subarray(o, o + n));
    assert.deepEqual([...c], [['v8dbg_off_fp_function', -16], ['v8dbg_SmiShiftSize', 31], ['v8dbg_type_Script__SCRIPT_TYPE', 167]]);
  });

  test('resolveLayout: Node 20 names; Node 24 suffixed names give the moved offsets', () => {
    const l20 = layoutOf(NODE20);
    assert.equal(l20.jsFunctionShared, 24);
    assert.equal(l20.sfiNameOrScopeInfo, 16);
    assert.equal(l20.smiShift, 32);
    assert.equal(l20.frameTypes.get(2), 'EntryFrame'); // markers are type << 1
    const n24: Record<string, number> = { ...NODE20, v8dbg_class_JSFunction__shared__SharedFunctionInfo: 32 };
    delete n24.v8dbg_class_SharedFunctionInfo__name_or_scope_info__Object;
    delete n24.v8dbg_class_SharedFunctionInfo__script_or_debug_info__HeapObject;
    n24.v8dbg_class_SharedFunctionInfo__name_or_scope_info__Tagged_NameOrScopeInfoT_ = 24;
    n24.v8dbg_class_SharedFunctionInfo__script__Tagged_HeapObject_ = 40;
    const l24 = layoutOf(n24);
    assert.deepEqual([l24.jsFunctionShared, l24.sfiNameOrScopeInfo, l24.sfiScript], [32, 24, 40]);
  });

  test('resolveLayout names what is missing instead of guessing', () => {
    const c: V8Constants = new Map(Object.entries(NODE20));
    c.delete('v8dbg_off_fp_function');
    c.delete('v8dbg_class_JSFunction__shared__SharedFunctionInfo');
    const r = resolveLayout(c);
    assert.ok('missing' in r);
    assert.deepEqual(r.missing, ['off_fp_function', 'class_JSFunction__shared__Tagged_SharedFunctionInfo_']);
    const compressed = resolveLayout(new Map(Object.entries({ ...NODE20, v8dbg_TaggedSize: 4 })));
    assert.ok('missing' in compressed && /pointer compression/.test(compressed.missing[0]));
  });
});

/** A fake address space: objects placed at given addresses; everything else unreadable. */
class FakeMemory implements Memory {
  private regions: { at: bigint; buf: Buffer }[] = [];
  reads = 0;
  put(at: bigint, buf: Buffer): void {
    this.regions.unshift({ at, buf }); // the newest write wins
  }
  words(at: bigint, ...ws: bigint[]): void {
    const b = Buffer.alloc(ws.length * 8);
    ws.forEach((w, i) => b.writeBigUInt64LE(BigInt.asUintN(64, w), i * 8));
    this.put(at, b);
  }
  read(addr: bigint, length: number): Buffer | undefined {
    this.reads++;
    for (const r of this.regions) if (addr >= r.at && addr + BigInt(length) <= r.at + BigInt(r.buf.length)) return r.buf.subarray(Number(addr - r.at), Number(addr - r.at) + length);
    return undefined;
  }
}

const L = layoutOf(NODE20);
const smi = (n: number) => BigInt(n) << 32n;
const marker = (type: number) => BigInt(type << 1);

/** A heap builder: maps by instance type, objects at increasing addresses (tagged +1). */
class FakeHeap {
  mem = new FakeMemory();
  private next = 0x10000n;
  private maps = new Map<number, bigint>();
  alloc(size: number): bigint {
    const a = this.next;
    this.next += BigInt((size + 15) & ~15);
    return a;
  }
  map(type: number): bigint {
    let m = this.maps.get(type);
    if (!m) {
      m = this.alloc(16);
      const b = Buffer.alloc(16);
      b.writeUInt16LE(type, 12);
      this.mem.put(m, b);
      this.maps.set(type, (m = m + 1n));
    }
    return m;
  }
  seq(s: string, twoByte = false): bigint {
    const chars = Buffer.from(s, twoByte ? 'utf16le' : 'latin1');
    const at = this.alloc(16 + chars.length);
    const b = Buffer.alloc(16 + chars.length);
    b.writeBigUInt64LE(this.map(twoByte ? 0 : 8), 0);
    b.writeInt32LE(s.length, 12);
    chars.copy(b, 16);
    this.mem.put(at, b);
    return at + 1n;
  }
  obj(type: number, fields: bigint[], length = 0): bigint {
    const at = this.alloc(8 + fields.length * 8);
    this.mem.words(at, this.map(type), ...fields);
    if (length) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(length, 0);
      this.mem.put(at + 12n, b);
    }
    return at + 1n;
  }
}

describe('v8 heap reads over a fake memory', () => {
  test('Smis: shift 32, negative values, and heap object tags', () => {
    const H = new V8Heap(new FakeMemory(), L);
    assert.equal(H.smi(smi(847)), 847);
    assert.equal(H.smi(smi(-1)), -1);
    assert.equal(H.smi(0x1235n), undefined);
    assert.equal(H.isHeapObject(0x10001n), true);
    assert.equal(H.isHeapObject(0x10000n), false);
  });

  test('strings: one-byte, two-byte, cons, thin, sliced; truncation; unreadable gives undefined', () => {
    const h = new FakeHeap();
    const a = h.seq('waitFor');
    const b = h.seq('LockSync€', true);
    // ConsString: map, hash|length, first, second (length at 12 written by obj()).
    const cons = h.obj(8 | 1, [0n, a, b], 16);
    const thin = h.obj(8 | 5, [0n, cons], 16);
    const sliced = h.obj(8 | 3, [0n, a, smi(4)], 3);
    const H = new V8Heap(h.mem, L);
    assert.equal(H.string(a), 'waitFor');
    assert.equal(H.string(b), 'LockSync€');
    assert.equal(H.string(cons), 'waitForLockSync€');
    assert.equal(H.string(thin), 'waitForLockSync€');
    assert.equal(H.string(sliced), 'For');
    assert.equal(H.string(cons, 5), 'waitF');
    assert.equal(H.string(0x999991n), undefined);
    const loop = h.obj(8 | 1, [0n, 0n, 0n], 4);
    h.mem.words(loop - 1n + 16n, loop, loop); // a cons whose halves are itself: depth-bounded
    assert.equal(new V8Heap(h.mem, L).string(loop), undefined);
  });
});

describe('frame walk over a fake stack', () => {
  function build() {
    const h = new FakeHeap();
    const script = h.obj(167, [h.seq('line1\nline2\nfunction run() {}\n'), h.seq('/srv/app.js'), 0n, 0n, 0n, 0n, 1n /* line_ends: undefined-ish */]);
    // ScopeInfo (Node 20 order): flags, params, context locals 0, function name, slot -1, inferred, start, end.
    const scope = h.obj(261, [smi(0), smi(0), smi(0), h.seq('runNightlyJob'), smi(-1), 0x20001n, smi(12), smi(30)]);
    const sfi = h.obj(262, [0n, scope, 0n, script]); // fields from offset 8: name_or_scope_info at 16, script at 32
    const fn = h.obj(2066, [0n, 0n, sfi]); // shared at 24
    const stack = 0x7ff000000000n;
    return { h, fn, stack };
  }

  test('from c_entry_fp: exit frame, a JS frame named from its ScopeInfo with script and line, then the outermost entry frame', () => {
    const { h, fn, stack } = build();
    const iso = 0x500000n;
    const exit = stack + 0x100n;
    const js = stack + 0x200n;
    const entry = stack + 0x300n;
    h.mem.words(iso, 0n, exit);
    h.mem.words(exit - 16n, 0n, marker(3), js, 0x1234n);
    h.mem.words(js - 16n, fn, 0x20001n /* a context: tagged */, entry, 0x1234n);
    h.mem.words(entry + BigInt(ENTRY_NEXT_EXIT_FP), 0n, 0n, 0n, 0n, 0n, 0n, 0n, marker(1), stack + 0x400n, 0x1234n);
    const r = walkJsStack(h.mem, L, { isolate: iso, cEntryFpOffset: 8, regs: { rbp: 0n, rsp: stack } });
    assert.equal(r.start, 'c_entry_fp');
    assert.deepEqual(r.frames.map((f) => [f.function, f.script, f.line, f.position]), [['runNightlyJob', '/srv/app.js', 3, 12]]);
    assert.deepEqual(r.otherFrames, ['ExitFrame', 'EntryFrame']);
    assert.deepEqual(calibrateCEntryFp(new V8Heap(h.mem, L), iso, stack), [8]);
  });

  test('a frame pointing at itself or downwards, garbage, and unreadable memory end the walk without throwing', () => {
    const { h, fn, stack } = build();
    const js = stack + 0x200n;
    h.mem.words(js - 16n, fn, 0x20001n, js, 0n); // caller fp == fp
    const r = walkJsStack(h.mem, L, { regs: { rbp: js, rsp: stack } });
    assert.equal(r.start, 'registers');
    assert.equal(r.frames.length, 1);
    const g = walkJsStack(h.mem, L, { regs: { rbp: 0xdead0n, rsp: 0xd0000n } });
    assert.equal(g.frames.length, 0);
    const none = walkJsStack(new FakeMemory(), L, { isolate: 0x1000n, cEntryFpOffset: 8 });
    assert.equal(none.start, 'none');
    assert.deepEqual(none.problems, ['the isolate is not in the core']);
  });

  test('ScopeInfo with context locals (Node 20) and position before locals (Node 24 order)', () => {
    const h = new FakeHeap();
    const H = new V8Heap(h.mem, L);
    const s20 = h.obj(261, [smi(0), smi(1), smi(2), h.seq('a'), h.seq('b'), smi(5), smi(6), h.seq('reconcileLedger'), smi(-1), 0x20001n, smi(100), smi(200)]);
    assert.deepEqual(scopeInfoNameAndPosition(H, s20), { name: 'reconcileLedger', position: 100 });
    const L24 = { ...L, scopeInfoFirstVars: 5 };
    const s24 = h.obj(261, [smi(0), smi(0), smi(0), smi(847), smi(944), h.seq('waitForLockSync'), smi(-1), 0x20001n]);
    assert.deepEqual(scopeInfoNameAndPosition(new V8Heap(h.mem, L24), s24), { name: 'waitForLockSync', position: 847 });
  });
});
