import { readHeaders, withFile, ElfError, type ReadAt } from '../native/elf';

/**
 * V8's postmortem metadata: the `v8dbg_*` int constants that a node binary exports as dynamic symbols
 * (frame offsets, field offsets, instance types, tags). Their values live in the binary's data; each
 * symbol's address is turned into a file offset through its section. Names move between V8 versions
 * (Node 24 adds type suffixes such as `__Tagged_SharedFunctionInfo_`), so each lookup takes fallbacks.
 */
export type V8Constants = Map<string, number>;

const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;

interface Section {
  type: number;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
}

function sections(read: ReadAt): Section[] {
  const h = read(0, 64);
  const shoff = Number(h.readBigUInt64LE(40));
  const shentsize = h.readUInt16LE(58);
  const shnum = h.readUInt16LE(60);
  if (!shoff || shentsize < 64 || shnum > 100_000) throw new ElfError('no section header table');
  const t = read(shoff, shentsize * shnum);
  if (t.length < shentsize * shnum) throw new ElfError('section header table is truncated');
  const out: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = i * shentsize;
    out.push({ type: t.readUInt32LE(o + 4), addr: t.readBigUInt64LE(o + 16), offset: Number(t.readBigUInt64LE(o + 24)), size: Number(t.readBigUInt64LE(o + 32)), link: t.readUInt32LE(o + 40) });
  }
  return out;
}

/** Pure over a read function: every dynamic symbol whose name starts with `prefix`, with its 4-byte int value. */
export function readPrefixedInts(read: ReadAt, prefix = 'v8dbg_'): V8Constants {
  readHeaders(read); // throws ElfError when it is not ELF64 little-endian
  const secs = sections(read);
  const dynsym = secs.find((s) => s.type === SHT_DYNSYM);
  const out: V8Constants = new Map();
  if (!dynsym || !secs[dynsym.link] || dynsym.size > 64 * 1024 * 1024) return out;
  const strtab = secs[dynsym.link];
  if (strtab.size > 256 * 1024 * 1024) return out;
  const syms = read(dynsym.offset, dynsym.size);
  const strs = read(strtab.offset, strtab.size);
  const want = Buffer.from(prefix);
  for (let o = 24; o + 24 <= syms.length; o += 24) {
    const nameOff = syms.readUInt32LE(o);
    if (nameOff + want.length > strs.length || strs.compare(want, 0, want.length, nameOff, nameOff + want.length) !== 0) continue;
    const end = strs.indexOf(0, nameOff);
    const name = strs.toString('latin1', nameOff, end < 0 ? strs.length : end);
    const shndx = syms.readUInt16LE(o + 6);
    const value = syms.readBigUInt64LE(o + 8);
    const sec = secs[shndx];
    if (!sec || value < sec.addr) continue;
    if (sec.type === SHT_NOBITS) {
      out.set(name, 0); // zero-initialised data
      continue;
    }
    const b = read(sec.offset + Number(value - sec.addr), 4);
    if (b.length === 4) out.set(name, b.readInt32LE(0));
  }
  return out;
}

/** The v8dbg constants of a node binary. Throws ElfError when it is not an ELF file. */
export function readV8Constants(binary: string): V8Constants {
  return withFile(binary, (read) => readPrefixedInts(read));
}

/** What the walker needs, resolved from the constants; offsets in bytes. */
export interface V8Layout {
  pointerSize: number;
  heapObjectTag: number;
  heapObjectTagMask: number;
  smiTagMask: number;
  smiShift: number;
  offFpContext: number;
  offFpFunction: number;
  /** marker value (type << 1) -> V8's frame type name, e.g. "ExitFrame". */
  frameTypes: Map<number, string>;
  mapOffset: number;
  instanceTypeOffset: number;
  jsFunctionShared: number;
  sfiNameOrScopeInfo: number;
  sfiScript: number;
  scriptName: number;
  scriptSource: number;
  scriptLineEnds: number;
  fixedArrayLength: number;
  fixedArrayData: number;
  typeSharedFunctionInfo: number;
  typeScopeInfo: number;
  typeScript: number;
  firstNonstringType: number;
  stringLength: number;
  stringEncodingMask: number;
  oneByteStringTag: number;
  stringRepresentationMask: number;
  seqStringTag: number;
  consStringTag: number;
  thinStringTag?: number;
  slicedStringTag?: number;
  seqOneByteChars: number;
  seqTwoByteChars: number;
  consFirst: number;
  consSecond: number;
  thinActual?: number;
  slicedParent?: number;
  slicedOffset?: number;
  scopeInfoContextLocalCount?: number;
  scopeInfoFirstVars?: number;
}

export type LayoutResult = { layout: V8Layout } | { missing: string[] };

/** Pure: resolves the layout; names every constant that none of its names provides. */
export function resolveLayout(c: V8Constants): LayoutResult {
  const missing: string[] = [];
  const pick = (names: string[], optional = false): number => {
    for (const n of names) {
      const v = c.get(n.startsWith('v8dbg_') ? n : `v8dbg_${n}`);
      if (v !== undefined) return v;
    }
    if (!optional) missing.push(names[0]);
    return NaN;
  };
  // A class field under any type suffix: class_JSFunction__shared__SharedFunctionInfo (Node 20),
  // ..__Tagged_SharedFunctionInfo_ (Node 24). Listed names first, then any one suffix.
  const field = (cls: string, names: string[], optional = false): number => {
    for (const f of names) {
      const exact = c.get(`v8dbg_class_${cls}__${f}`);
      if (exact !== undefined) return exact;
    }
    for (const f of names) {
      const head = `v8dbg_class_${cls}__${f.split('__')[0]}__`;
      const hits = [...c.keys()].filter((k) => k.startsWith(head));
      const values = new Set(hits.map((k) => c.get(k)));
      if (values.size === 1) return c.get(hits[0])!;
    }
    if (!optional) missing.push(`class_${cls}__${names[0]}`);
    return NaN;
  };
  const opt = (v: number) => (Number.isNaN(v) ? undefined : v);
  const frameTypes = new Map<number, string>();
  for (const [k, v] of c) if (k.startsWith('v8dbg_frametype_')) frameTypes.set(v << 1, k.slice('v8dbg_frametype_'.length));
  if (!frameTypes.size) missing.push('frametype_*');
  const smiShiftSize = pick(['SmiShiftSize']);
  const layout: V8Layout = {
    pointerSize: pick(['TaggedSize', 'PointerSize'], true) || 8,
    heapObjectTag: pick(['HeapObjectTag']),
    heapObjectTagMask: pick(['HeapObjectTagMask']),
    smiTagMask: pick(['SmiTagMask']),
    smiShift: smiShiftSize + 1,
    offFpContext: pick(['off_fp_context_or_frame_type', 'off_fp_context']),
    offFpFunction: pick(['off_fp_function']),
    frameTypes,
    mapOffset: field('HeapObject', ['map__Map']),
    instanceTypeOffset: field('Map', ['instance_type__uint16_t']),
    jsFunctionShared: field('JSFunction', ['shared__Tagged_SharedFunctionInfo_', 'shared__SharedFunctionInfo']),
    sfiNameOrScopeInfo: field('SharedFunctionInfo', ['name_or_scope_info__Tagged_NameOrScopeInfoT_', 'name_or_scope_info__Object']),
    // Node 20 keeps the script or a DebugInfo in one field; Node 24 has script/raw_script.
    sfiScript: field('SharedFunctionInfo', ['script__Tagged_HeapObject_', 'raw_script__Tagged_Object_', 'script_or_debug_info__HeapObject']),
    scriptName: field('Script', ['name__Object']),
    scriptSource: field('Script', ['source__Object']),
    scriptLineEnds: field('Script', ['line_ends__Object']),
    fixedArrayLength: field('FixedArrayBase', ['length__SMI']),
    fixedArrayData: field('FixedArray', ['data__uintptr_t']),
    typeSharedFunctionInfo: pick(['type_SharedFunctionInfo__SHARED_FUNCTION_INFO_TYPE']),
    typeScopeInfo: pick(['type_ScopeInfo__SCOPE_INFO_TYPE']),
    typeScript: pick(['type_Script__SCRIPT_TYPE']),
    firstNonstringType: pick(['FirstNonstringType']),
    stringLength: field('String', ['length__int32_t']),
    stringEncodingMask: pick(['StringEncodingMask']),
    oneByteStringTag: pick(['OneByteStringTag']),
    stringRepresentationMask: pick(['StringRepresentationMask']),
    seqStringTag: pick(['SeqStringTag']),
    consStringTag: pick(['ConsStringTag']),
    thinStringTag: opt(pick(['ThinStringTag'], true)),
    slicedStringTag: opt(pick(['SlicedStringTag'], true)),
    seqOneByteChars: field('SeqOneByteString', ['chars__char']),
    seqTwoByteChars: field('SeqTwoByteString', ['chars__char']),
    consFirst: field('ConsString', ['first__String']),
    consSecond: field('ConsString', ['second__String']),
    thinActual: opt(field('ThinString', ['actual__String'], true)),
    slicedParent: opt(field('SlicedString', ['parent__String'], true)),
    slicedOffset: opt(field('SlicedString', ['offset__SMI'], true)),
    scopeInfoContextLocalCount: opt(pick(['scopeinfo_idx_ncontextlocals'], true)),
    scopeInfoFirstVars: opt(pick(['scopeinfo_idx_first_vars'], true)),
  };
  if (layout.pointerSize !== 8) missing.push(`TaggedSize 8 (this build has ${layout.pointerSize}: pointer compression is not supported)`);
  return missing.length ? { missing } : { layout };
}
