/**
 * A streaming V8 heap snapshot parser. The JSON is never held whole: a hand-written tokenizer walks
 * each Buffer chunk byte by byte, reads `snapshot.meta` first, pre-sizes typed arrays from
 * node_count × node_fields.length (as DevTools' HeapSnapshotLoader does), then parses the `nodes` and
 * `edges` number arrays straight into them, the `strings` into a chunked byte table and the small
 * `locations` section into a Uint32Array grown by doubling. Sections it does not need
 * (trace_function_infos, trace_tree, samples) are skipped unread.
 * So a 2 GB snapshot parses in a few hundred MB of off-heap memory, under --max-old-space-size=512.
 * With the native addon loaded, the nodes and edges numbers are read by its scanHeapRecords
 * (numbers()); the JavaScript loop stays for everything it stops at, and for parsing without it.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline, Readable, type TransformOptions } from 'node:stream';
import * as zlib from 'node:zlib';
import { BundleFormatError, openTarGzEntry, readTarGz } from '../bundle/tar';
import { loadNative } from '../native';
import { show, StringSectionReader } from './string-table';
import { HeapSnapshotError, type HeapSnapshot, type Progress } from './types';

export interface ParseOptions {
  /** Called with ('parse', fraction) as input is consumed, at most ~20 times a second, and at the end. */
  progress?: Progress;
  /** Name for messages and HeapSnapshot.source (default: the path, or "snapshot stream"). */
  source?: string;
  /** For a bundle: the entry to read (default: its first heap/*.heapsnapshot.gz). */
  entry?: string;
  /** Size of the string table's Buffers; only tests change it. */
  stringChunkBytes?: number;
  /**
   * Read the nodes and edges arrays with the native addon's number scanner when it is loaded
   * (default true); false always uses the JavaScript loop. Both give the same result.
   */
  native?: boolean;
}

/**
 * The addon's `scanHeapRecords` (native/src/heap-numbers.cc): reads whole nodes (section 0) or edges
 * (1) from buf[start] straight into `arrays`, with numbersJs's checks, and stops before anything
 * else. `io` holds the byte it stopped at and the parser's counts (see the C++ file for the layout);
 * it returns the records read, or -1 when the arrays are not the 32-bit ones it writes.
 */
export type RecordScanner = (
  buf: Uint8Array,
  start: number,
  afterNumber: boolean,
  section: number,
  arrays: ArrayLike<unknown>[],
  params: Float64Array,
  io: Float64Array,
) => number;

/** Bytes the JavaScript loop reads where the scanner stopped before the scanner is asked again. */
const JS_WINDOW = 256;

const MAX_U32 = 0xffffffff;
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
const READ_BYTES = 4 * 1024 * 1024;
const PROGRESS_MS = 50;
const HEAP_ENTRY_RE = /^heap\/[^/]+\.heapsnapshot(\.gz)?$/;

// Top-level states.
const BEGIN = 0;
const KEY_FIRST = 1; // after '{': a key or '}'
const KEY = 2; // after ',': a key
const KEY_CHARS = 3;
const COLON = 4;
const VALUE = 5;
const AFTER_VALUE = 6;
const NODES = 7;
const EDGES = 8;
const STRINGS = 9;
const SKIP = 10;
const CAPTURE = 11;
const DONE = 12;
const LOCATIONS = 13;

// States inside a number array.
const N_FIRST = 0; // after '[': a number or ']'
const N_NEXT = 1; // after ',': a number
const N_IN = 2;
const N_AFTER = 3; // after a number: ',' or ']'

// What a node or edge field is stored as.
const F_SKIP = 0;
const F_TYPE = 1;
const F_NAME = 2;
const F_ID = 3;
const F_SELF_SIZE = 4;
const F_EDGE_COUNT = 5;
const F_DETACHED = 6;
const E_TYPE = 7;
const E_NAME = 8;
const E_TO = 9;

interface Meta {
  node_fields: string[];
  node_types: unknown[];
  edge_fields: string[];
  edge_types: unknown[];
  location_fields?: unknown;
}

/** HeapSnapshot.locations' field order; meta.location_fields gives the snapshot's. */
const LOCATION_FIELDS = ['object_index', 'script_id', 'line', 'column'];
/**
 * First size of the locations array, in numbers (it doubles as needed). Sizing it for one entry per
 * node instead (touched only as entries arrive) saved the doublings' garbage, 5 MB of RSS on the
 * real 144 MB snapshot, but when that 32 MB array was freed, glibc's mmap threshold rose to its
 * size, and the next parses in the process were ~25 % slower (arrays from the brk heap, zeroed).
 */
const LOCATIONS_FIRST = 4096;

/** A Float64Array copy of a Uint32Array, for the first value over 2^32 - 1. */
function wider(a: Uint32Array): Float64Array {
  const out = new Float64Array(a.length);
  out.set(a);
  return out;
}

/** The tokenizer: push() chunks in order, then finish(). Pure (no I/O), so tests can split input anywhere. */
export class SnapshotParser {
  private state = BEGIN;
  private base = 0; // absolute offset of the current chunk
  private key = '';
  private keys = 0;
  private seen = new Set<string>();
  // SKIP and CAPTURE
  private depth = 0;
  private inStr = false;
  private esc = false;
  private header: Buffer[] = [];
  private headerBytes = 0;
  // From meta
  private nf = 0;
  private ef = 0;
  private nodeKinds: Uint8Array = new Uint8Array(0);
  private edgeKinds: Uint8Array = new Uint8Array(0);
  private nodeTypes: string[] = [];
  private edgeTypes: string[] = [];
  private nodeCount = 0;
  private edgeCount = 0;
  private snap?: Omit<HeapSnapshot, 'strings' | 'source'>;
  // Number arrays
  private numState = N_FIRST;
  private value = 0;
  private field = 0;
  private nodesDone = 0;
  private edgesDone = 0;
  private edgeSum = 0;
  private maxNodeName = 0;
  private strings?: StringSectionReader;
  // Locations: per field of meta.location_fields, its slot in a HeapSnapshot.locations entry (-1
  // unused); null when meta has no usable location_fields (the section is then skipped).
  private locSlots: Int8Array | null = null;
  private locs?: Uint32Array;
  private locLen = 0; // numbers written to locs, a multiple of 4 between entries
  // The scanner's parameters for the locations (section 2): built on first use; null: JavaScript only.
  private locParams?: Float64Array | null;
  private neg = false;

  // The native scanner's arguments (numbers()); recordParams undefined when it cannot be used
  // (a field name appears twice in meta), or once it has returned -1.
  private readonly scanIo = new Float64Array(4);
  private recordParams?: [Float64Array, Float64Array];

  constructor(
    readonly source: string,
    private readonly stringChunkBytes?: number,
    private readonly scan?: RecordScanner,
  ) {}

  push(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case NODES:
        case EDGES:
          i = this.numbers(buf, i);
          break;
        case LOCATIONS:
          i = this.locations(buf, i);
          break;
        case STRINGS:
          i = this.strings!.scan(buf, i);
          if (this.strings!.done) this.state = AFTER_VALUE;
          break;
        case SKIP:
        case CAPTURE:
          i = this.skip(buf, i);
          break;
        default:
          i = this.structure(buf, i);
      }
    }
    this.base += buf.length;
  }

  /** A rough fraction done, for inputs of unknown size. */
  estimate(): number {
    const total = this.nodeCount * this.nf + this.edgeCount * this.ef;
    if (total === 0) return 0;
    return (0.95 * (this.nodesDone * this.nf + this.edgesDone * this.ef)) / total;
  }

  finish(): HeapSnapshot {
    if (this.state !== DONE) throw this.truncated();
    if (!this.snap) throw this.error('not a V8 heap snapshot (no snapshot.meta)');
    for (const section of ['nodes', 'edges', 'strings']) {
      if (!this.seen.has(section)) throw this.error(`no "${section}" section`);
    }
    const strings = this.strings!.table();
    const s = this.snap;
    if (s.nodeCount > 0 && this.maxNodeName >= strings.count) {
      throw this.error(`a node name is string ${this.maxNodeName}, but there are only ${strings.count} strings`);
    }
    // Element and hidden edges carry an index, every other edge type a string.
    const indexed = new Uint8Array(256);
    s.edgeTypes.forEach((t, k) => (indexed[k] = t === 'element' || t === 'hidden' ? 1 : 0));
    const { edgeType, edgeName } = s;
    for (let e = 0; e < s.edgeCount; e++) {
      if (edgeName[e] >= strings.count && indexed[edgeType[e]] === 0) {
        throw this.error(`edge ${e} is named by string ${edgeName[e]}, but there are only ${strings.count} strings`);
      }
    }
    const out: HeapSnapshot = { ...s, strings, source: this.source };
    // A view, not a copy: the untouched rest of the array takes no memory.
    if (this.locs) out.locations = this.locs.subarray(0, this.locLen);
    return out;
  }

  private error(message: string): HeapSnapshotError {
    return new HeapSnapshotError(`${this.source}: ${message}`);
  }

  private at(i: number): string {
    return `at byte ${this.base + i}`;
  }

  private truncated(): HeapSnapshotError {
    const cut = (detail: string) => new HeapSnapshotError(`${this.source} is truncated: ${detail}`);
    if (this.base === 0) return new HeapSnapshotError(`${this.source} is empty`);
    switch (this.state) {
      case NODES:
        return cut(`expected ${this.nodeCount} nodes, got ${this.nodesDone}`);
      case EDGES:
        return cut(`expected ${this.edgeCount} edges, got ${this.edgesDone}`);
      case STRINGS:
        return cut(`the strings section ends after ${this.strings!.count} strings`);
      case LOCATIONS:
        return cut(`the locations section ends after ${this.locLen / 4} locations`);
      default:
        if (!this.snap) return cut('it ends inside the snapshot header');
        return cut(this.key ? `it ends in or after the "${this.key}" section` : 'it ends early');
    }
  }

  /** Structural JSON between sections, one byte at a time (a few hundred bytes in all). */
  private structure(buf: Buffer, i: number): number {
    const c = buf[i];
    if (this.state === KEY_CHARS) {
      if (c === 0x22) this.state = COLON;
      else if (this.key.length < 64) this.key += String.fromCharCode(c);
      return i + 1;
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) return i + 1;
    switch (this.state) {
      case BEGIN:
        if (c !== 0x7b) throw this.error(`not a V8 heap snapshot (it starts with ${show(c)}, not a JSON object)`);
        this.state = KEY_FIRST;
        break;
      case KEY_FIRST:
      case KEY:
        if (c === 0x7d && this.state === KEY_FIRST) this.state = DONE;
        else if (c === 0x22) {
          this.state = KEY_CHARS;
          this.key = '';
        } else throw this.error(`malformed JSON: expected a key ${this.at(i)}, found ${show(c)}`);
        break;
      case COLON:
        if (c !== 0x3a) throw this.error(`malformed JSON: expected ':' ${this.at(i)}, found ${show(c)}`);
        if (this.keys++ === 0 && this.key !== 'snapshot') throw this.error('not a V8 heap snapshot (no snapshot.meta)');
        if (this.seen.has(this.key)) throw this.error(`the "${this.key}" section appears twice`);
        this.seen.add(this.key);
        this.state = VALUE;
        break;
      case VALUE:
        return this.value0(buf, i);
      case AFTER_VALUE:
        if (c === 0x2c) this.state = KEY;
        else if (c === 0x7d) this.state = DONE;
        else throw this.error(`malformed JSON: expected ',' or '}' ${this.at(i)}, found ${show(c)}`);
        break;
      default: // DONE
        throw this.error(`unexpected data after the end of the snapshot ${this.at(i)}`);
    }
    return i + 1;
  }

  /** The first byte of a top-level value: choose how to read it. */
  private value0(buf: Buffer, i: number): number {
    const c = buf[i];
    const key = this.key;
    this.depth = 0;
    this.inStr = false;
    this.esc = false;
    if (key === 'snapshot') {
      if (c !== 0x7b) throw this.error('not a V8 heap snapshot (no snapshot.meta)');
      this.state = CAPTURE;
      return i;
    }
    if (key === 'locations' && this.locSlots) {
      if (c !== 0x5b) throw this.error(`"${key}" is not an array (${show(c)} ${this.at(i)})`);
      this.locs = new Uint32Array(LOCATIONS_FIRST);
      this.locLen = 0;
      this.numState = N_FIRST;
      this.field = 0;
      this.neg = false;
      this.state = LOCATIONS;
      return i + 1;
    }
    if (key !== 'nodes' && key !== 'edges' && key !== 'strings') {
      this.state = SKIP;
      return i;
    }
    if (c !== 0x5b) throw this.error(`"${key}" is not an array (${show(c)} ${this.at(i)})`);
    if (key === 'strings') {
      this.strings = new StringSectionReader((message, at) => {
        throw this.error(`${message} ${this.at(at)}`);
      }, this.stringChunkBytes, this.nodeCount);
      this.state = STRINGS;
      return i + 1;
    }
    if (!this.snap) throw this.error(`not a V8 heap snapshot (no snapshot.meta before "${key}")`);
    this.numState = N_FIRST;
    this.field = 0;
    this.state = key === 'nodes' ? NODES : EDGES;
    return i + 1;
  }

  /** Skips (or, for the header, captures) one JSON value without materialising it. */
  private skip(buf: Buffer, i: number): number {
    const start = i;
    const len = buf.length;
    let depth = this.depth;
    let inStr = this.inStr;
    let esc = this.esc;
    let end = -1; // index after the value, once found
    for (; i < len; i++) {
      const c = buf[i];
      if (inStr) {
        if (esc) esc = false;
        else if (c === 0x5c) esc = true;
        else if (c === 0x22) {
          inStr = false;
          if (depth === 0) {
            end = i + 1;
            break;
          }
        }
      } else if (c === 0x22) inStr = true;
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (depth === 0) {
          end = i; // the end of a scalar, and of the enclosing object
          break;
        }
        if (--depth === 0) {
          end = i + 1;
          break;
        }
      } else if (depth === 0 && (c === 0x2c || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) {
        end = i;
        break;
      }
    }
    this.depth = depth;
    this.inStr = inStr;
    this.esc = esc;
    if (this.state === CAPTURE) {
      this.headerBytes += (end < 0 ? len : end) - start;
      if (this.headerBytes > MAX_HEADER_BYTES) throw this.error('not a V8 heap snapshot (snapshot header over 64 MB)');
      this.header.push(Buffer.from(buf.subarray(start, end < 0 ? len : end)));
      if (end >= 0) this.setup();
    }
    if (end < 0) return len;
    this.state = AFTER_VALUE;
    return end;
  }

  /** Reads snapshot.meta, checks it, and allocates every typed array. */
  private setup(): void {
    let header: { meta?: Meta; node_count?: unknown; edge_count?: unknown };
    try {
      header = JSON.parse(Buffer.concat(this.header).toString('utf8'));
    } catch (err) {
      throw this.error(`malformed snapshot header (${(err as Error).message.split('\n')[0].slice(0, 120)})`);
    }
    this.header = [];
    const meta = header.meta;
    if (!meta || typeof meta !== 'object') throw this.error('not a V8 heap snapshot (no snapshot.meta)');
    const list = (v: unknown, what: string): unknown[] => {
      if (!Array.isArray(v) || v.length === 0) throw this.error(`snapshot.meta.${what} is missing or not a list`);
      return v;
    };
    const names = (v: unknown[], what: string): string[] => {
      if (!v.every((x) => typeof x === 'string')) throw this.error(`snapshot.meta.${what} is not a list of names`);
      if (v.length > 255) throw this.error(`snapshot.meta.${what} has more than 255 entries`);
      return v as string[];
    };
    const nodeFields = names(list(meta.node_fields, 'node_fields'), 'node_fields');
    const edgeFields = names(list(meta.edge_fields, 'edge_fields'), 'edge_fields');
    this.nodeTypes = names(list(list(meta.node_types, 'node_types')[0], 'node_types[0]'), 'node_types[0]');
    this.edgeTypes = names(list(list(meta.edge_types, 'edge_types')[0], 'edge_types[0]'), 'edge_types[0]');
    const kinds = (fields: string[], known: Record<string, number>, required: string[], what: string): Uint8Array => {
      for (const f of required) if (!fields.includes(f)) throw this.error(`snapshot.meta.${what} has no "${f}"`);
      return Uint8Array.from(fields, (f) => known[f] ?? F_SKIP);
    };
    const nodeKnown = { type: F_TYPE, name: F_NAME, id: F_ID, self_size: F_SELF_SIZE, edge_count: F_EDGE_COUNT, detachedness: F_DETACHED };
    this.nodeKinds = kinds(nodeFields, nodeKnown, ['type', 'name', 'id', 'self_size', 'edge_count'], 'node_fields');
    this.edgeKinds = kinds(edgeFields, { type: E_TYPE, name_or_index: E_NAME, to_node: E_TO }, ['type', 'name_or_index', 'to_node'], 'edge_fields');
    this.nf = nodeFields.length;
    this.ef = edgeFields.length;
    const count = (v: unknown, what: string): number => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw this.error(`snapshot.${what} is missing or not a count`);
      if (v > MAX_U32) throw this.error(`snapshot.${what} is ${v}, over the ${MAX_U32} this parser supports`);
      return v;
    };
    const nodeCount = (this.nodeCount = count(header.node_count, 'node_count'));
    const edgeCount = (this.edgeCount = count(header.edge_count, 'edge_count'));
    const detached = nodeFields.includes('detachedness');
    if (new Set(nodeFields).size === nodeFields.length && new Set(edgeFields).size === edgeFields.length && this.nf <= 64 && this.ef <= 64) {
      const node = ['type', 'name', 'id', 'self_size', 'edge_count', 'detachedness'].map((f) => nodeFields.indexOf(f));
      const edge = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f));
      const types = [this.nodeTypes.length, this.edgeTypes.length];
      this.recordParams = [
        Float64Array.from([this.nf, ...node, nodeCount, edgeCount, types[0]]),
        Float64Array.from([this.ef, ...edge, edgeCount, this.nf, nodeCount, types[1]]),
      ];
    }
    // Old snapshots have no location_fields (and no locations): then there is nothing to read.
    const lf = meta.location_fields;
    if (Array.isArray(lf) && lf.every((x) => typeof x === 'string') && LOCATION_FIELDS.every((f) => lf.includes(f))) {
      this.locSlots = Int8Array.from(lf as string[], (f) => LOCATION_FIELDS.indexOf(f));
    }
    try {
      this.snap = {
        nodeCount,
        edgeCount,
        nodeTypes: this.nodeTypes,
        edgeTypes: this.edgeTypes,
        nodeType: new Uint8Array(nodeCount),
        nodeName: new Uint32Array(nodeCount),
        // 32 bits until a value does not fit (see wider()).
        nodeId: new Uint32Array(nodeCount),
        nodeSelfSize: new Uint32Array(nodeCount),
        nodeDetachedness: detached ? new Uint8Array(nodeCount) : undefined,
        firstEdge: new Uint32Array(nodeCount + 1),
        edgeType: new Uint8Array(edgeCount),
        edgeName: new Uint32Array(edgeCount),
        edgeTo: new Uint32Array(edgeCount),
      };
    } catch (err) {
      const mb = Math.round((nodeCount * 26 + edgeCount * 9) / 1048576);
      throw this.error(`cannot allocate ${mb} MB for ${nodeCount} nodes and ${edgeCount} edges (${(err as Error).message})`);
    }
  }

  private badNumber(buf: Buffer, i: number, where: string): HeapSnapshotError {
    return this.error(`bad number in "${where}" ${this.at(i)} (${show(buf[i])})`);
  }

  private tooLarge(v: number, i: number, where: string): HeapSnapshotError {
    return this.error(`number ${v} too large in "${where}" ${this.at(i)}`);
  }

  /**
   * The nodes or edges array. With the native scanner, whole records are read and stored in C++;
   * the JavaScript loop (numbersJs) takes what the scanner stops at (the closing ']', a record split
   * between chunks, a bad byte, a value over 2^32 - 1) a few hundred bytes at a time, so errors and
   * rare cases come from the same code with or without the addon.
   */
  private numbers(buf: Buffer, i: number): number {
    const len = buf.length;
    if (!this.scan) return this.numbersJs(buf, i, len);
    const state = this.state;
    const nodes = state === NODES;
    const io = this.scanIo;
    while (i < len && this.state === state) {
      const params = this.recordParams;
      if (params && this.field === 0 && this.numState !== N_IN) {
        const s = this.snap!;
        const arrays = nodes
          ? [s.nodeType, s.nodeName, s.nodeId, s.nodeSelfSize, s.firstEdge, s.nodeDetachedness ?? s.nodeType]
          : [s.edgeType, s.edgeName, s.edgeTo];
        io[0] = i;
        io[1] = nodes ? this.nodesDone : this.edgesDone;
        io[2] = this.edgeSum;
        io[3] = this.maxNodeName;
        const n = this.scan(buf, i, this.numState === N_AFTER, nodes ? 0 : 1, arrays, params[nodes ? 0 : 1], io);
        if (n < 0) this.recordParams = undefined; // a widened nodeId or nodeSelfSize: JavaScript from now on
        else if (n > 0) {
          i = io[0];
          if (nodes) {
            this.nodesDone = io[1];
            this.edgeSum = io[2];
            this.maxNodeName = io[3];
          } else this.edgesDone = io[1];
          this.numState = N_AFTER;
        }
      }
      i = this.numbersJs(buf, i, this.recordParams ? Math.min(len, i + JS_WINDOW) : len);
    }
    return i;
  }

  /**
   * The nodes or edges array in JavaScript, up to buf[len - 1], straight into the typed arrays: a
   * node's edge_count becomes firstEdge (CSR), an edge's to_node (a flat offset into nodes) a node
   * ordinal.
   */
  private numbersJs(buf: Buffer, i: number, len: number): number {
    const nodes = this.state === NODES;
    const where = nodes ? 'nodes' : 'edges';
    const s = this.snap!;
    const { nodeType, nodeName, firstEdge, edgeType, edgeName, edgeTo } = s;
    let { nodeId, nodeSelfSize } = s;
    const detached = s.nodeDetachedness ?? nodeType; // never written when absent (no such field)
    const kinds = nodes ? this.nodeKinds : this.edgeKinds;
    const width = nodes ? this.nf : this.ef;
    const count = nodes ? this.nodeCount : this.edgeCount;
    const { nf, nodeCount, edgeCount } = this;
    const invNf = 1 / nf;
    const nodeTypes = this.nodeTypes.length;
    const edgeTypes = this.edgeTypes.length;
    let st = this.numState;
    let v = this.value;
    let f = this.field;
    let r = nodes ? this.nodesDone : this.edgesDone; // the node or edge being read
    let sum = this.edgeSum;
    let maxName = this.maxNodeName;
    while (i < len) {
      if (st === N_IN) {
        // The hot loop: the digits of one number.
        let c = 0;
        while (i < len && (c = buf[i]) >= 0x30 && c <= 0x39) {
          v = v * 10 + (c - 0x30);
          i++;
        }
        if (i === len) break;
        if (r === count) throw this.error(`${where.slice(0, 4)}_count mismatch: snapshot.meta.${where.slice(0, 4)}_count is ${count}, but the ${where} array holds more`);
        switch (kinds[f]) {
          case F_TYPE:
            if (v >= nodeTypes) throw this.error(`node ${r} has type ${v}, but snapshot.meta lists ${nodeTypes} node types`);
            nodeType[r] = v;
            break;
          case F_NAME:
            if (v > maxName) {
              if (v > MAX_U32) throw this.tooLarge(v, i, where);
              maxName = v;
            }
            nodeName[r] = v;
            break;
          case F_ID:
            if (v > MAX_U32) {
              if (v > Number.MAX_SAFE_INTEGER) throw this.tooLarge(v, i, where);
              if (nodeId instanceof Uint32Array) s.nodeId = nodeId = wider(nodeId);
            }
            nodeId[r] = v;
            break;
          case F_SELF_SIZE:
            if (v > MAX_U32 && nodeSelfSize instanceof Uint32Array) s.nodeSelfSize = nodeSelfSize = wider(nodeSelfSize);
            nodeSelfSize[r] = v;
            break;
          case F_EDGE_COUNT:
            sum += v;
            if (sum > edgeCount) throw this.error(`edge_count mismatch: the nodes' edge counts add up to more than snapshot.meta.edge_count (${edgeCount})`);
            firstEdge[r + 1] = sum;
            break;
          case F_DETACHED:
            // Zero (unknown, every JS object's) is left unwritten: an all-zero array is never touched.
            if (v !== 0) detached[r] = v > 255 ? 255 : v;
            break;
          case E_TYPE:
            if (v >= edgeTypes) throw this.error(`edge ${r} has type ${v}, but snapshot.meta lists ${edgeTypes} edge types`);
            edgeType[r] = v;
            break;
          case E_NAME:
            if (v > MAX_U32) throw this.tooLarge(v, i, where);
            edgeName[r] = v;
            break;
          case E_TO: {
            // A multiply instead of a divide; to * nf === v checks it exactly (integers below 2^53).
            const to = Math.round(v * invNf);
            if (to >= nodeCount || to * nf !== v) {
              throw this.error(`edge ${r} points to node offset ${v}, out of range or not a multiple of ${nf} (${nodeCount} nodes)`);
            }
            edgeTo[r] = to;
            break;
          }
        }
        if (++f === width) {
          f = 0;
          r++;
        }
        st = N_AFTER;
        // Fast path: a comma (V8 puts a newline before each node's or edge's first one) and the next
        // number's first digit. Anything else is left to the state machine below.
        let j = i;
        if (c === 0x0a && j + 1 < len) c = buf[++j];
        if (c === 0x2c && j + 1 < len && (c = buf[j + 1]) >= 0x30 && c <= 0x39) {
          v = c - 0x30;
          st = N_IN;
          i = j + 2;
        }
        continue;
      }
      const c = buf[i];
      if (c >= 0x30 && c <= 0x39) {
        if (st === N_AFTER) throw this.badNumber(buf, i, where);
        st = N_IN;
        v = 0;
        continue;
      }
      if (c === 0x2c) {
        if (st !== N_AFTER) throw this.badNumber(buf, i, where);
        st = N_NEXT;
      } else if (c === 0x5d) {
        if (st === N_NEXT) throw this.badNumber(buf, i, where);
        if (f !== 0) throw this.error(`the ${where} array's length is not a multiple of ${where.slice(0, 4)}_fields (${width})`);
        if (r !== count) throw this.error(`${where.slice(0, 4)}_count mismatch: snapshot.meta.${where.slice(0, 4)}_count is ${count}, but the ${where} array holds ${r}`);
        if (nodes && sum !== edgeCount) throw this.error(`edge_count mismatch: snapshot.meta.edge_count is ${edgeCount}, but the nodes' edge counts add up to ${sum}`);
        this.state = AFTER_VALUE;
        i++;
        break;
      } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) throw this.badNumber(buf, i, where);
      i++;
    }
    this.numState = st;
    this.value = v;
    this.field = f;
    if (nodes) this.nodesDone = r;
    else this.edgesDone = r;
    this.edgeSum = sum;
    this.maxNodeName = maxName;
    return i;
  }

  /**
   * The locations array: meta.location_fields per entry, stored as [node ordinal, scriptId, line,
   * column] in a Uint32Array that doubles when full. One entry per located object: 5 MB for 300k
   * objects of a real server's heap, which took the plain JavaScript loop ~80 ms, so whole entries
   * go through the native scanner as in numbers(). V8 writes non-negative integers; a
   * negative line or column (-1: a position it could not resolve) is kept as its uint32 wrap.
   */
  private locations(buf: Buffer, i: number): number {
    const len = buf.length;
    if (!this.scan || this.locParams === null) return this.locationsJs(buf, i, len);
    const slots = this.locSlots!;
    const params = (this.locParams ??= Float64Array.from([slots.length, this.nf, this.nodeCount, ...slots]));
    const io = this.scanIo;
    // As numbers(): whole entries in C++, the rest (a '-', the end, a full array to grow, an entry
    // split between chunks, errors) in JavaScript, a window at a time.
    while (i < len && this.state === LOCATIONS) {
      if (this.field === 0 && this.numState !== N_IN && !this.neg) {
        io[0] = i;
        io[1] = this.locLen;
        let n: number;
        try {
          n = this.scan(buf, i, this.numState === N_AFTER, 2, [this.locs!], params, io);
        } catch {
          this.locParams = null; // an addon built before it read locations
          return this.locationsJs(buf, i, len);
        }
        if (n > 0) {
          i = io[0];
          this.locLen = io[1];
          this.numState = N_AFTER;
        }
      }
      i = this.locationsJs(buf, i, Math.min(len, i + JS_WINDOW));
    }
    return i;
  }

  /** The locations array in JavaScript, up to buf[len - 1]. */
  private locationsJs(buf: Buffer, i: number, len: number): number {
    const where = 'locations';
    const slots = this.locSlots!;
    const width = slots.length;
    const { nf, nodeCount } = this;
    let out = this.locs!;
    let n = this.locLen;
    let st = this.numState;
    let v = this.value;
    let f = this.field;
    let neg = this.neg;
    while (i < len) {
      const c = buf[i];
      if (st === N_IN) {
        if (c >= 0x30 && c <= 0x39) {
          v = v * 10 + (c - 0x30);
          i++;
          continue;
        }
        // The number ends here: store it, then read c again as what follows it.
        if (f === 0 && n + 4 > out.length) {
          const grown = new Uint32Array(out.length * 2);
          grown.set(out);
          out = grown;
        }
        const slot = slots[f];
        if (slot === 0) {
          const node = v / nf;
          if (neg || node >= nodeCount || node !== Math.floor(node)) {
            throw this.error(`location ${n / 4} is of node offset ${neg ? -v : v}, out of range or not a multiple of ${nf} (${nodeCount} nodes)`);
          }
          out[n] = node;
        } else if (slot > 0) {
          if (v > (neg ? 0x80000000 : MAX_U32)) throw this.tooLarge(neg ? -v : v, i, where);
          out[n + slot] = neg ? -v >>> 0 : v;
        }
        if (++f === width) {
          f = 0;
          n += 4;
        }
        st = N_AFTER;
        neg = false;
        continue;
      }
      if (c >= 0x30 && c <= 0x39) {
        if (st === N_AFTER) throw this.badNumber(buf, i, where);
        st = N_IN;
        v = 0;
        continue;
      }
      if (neg) throw this.badNumber(buf, i, where); // '-' not followed by a digit
      if (c === 0x2d) {
        if (st === N_AFTER) throw this.badNumber(buf, i, where);
        neg = true;
      } else if (c === 0x2c) {
        if (st !== N_AFTER) throw this.badNumber(buf, i, where);
        st = N_NEXT;
      } else if (c === 0x5d) {
        if (st === N_NEXT) throw this.badNumber(buf, i, where);
        if (f !== 0) throw this.error(`the locations array's length is not a multiple of location_fields (${width})`);
        this.state = AFTER_VALUE;
        i++;
        break;
      } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) throw this.badNumber(buf, i, where);
      i++;
    }
    this.locs = out;
    this.locLen = n;
    this.numState = st;
    this.value = v;
    this.field = f;
    this.neg = neg;
    return i;
  }
}

// ---------------------------------------------------------------------------------------------
// Input: a .heapsnapshot[.gz] path, a bundle .tgz path, or a stream.

interface Input {
  source: string;
  chunks: AsyncIterable<Buffer>;
  /** Bytes of the input file, or 0 when unknown (progress then comes from the parser's counts). */
  total: number;
  consumed: () => number;
}

/**
 * Parses a V8 heap snapshot into typed arrays (see HeapSnapshot). `input` is a path to a
 * .heapsnapshot, a gzipped one (detected by its magic bytes), or an autopsy-ts bundle .tgz (then
 * `opts.entry`, or its first heap/*.heapsnapshot.gz); or a readable stream of snapshot JSON (gzipped
 * or not). A malformed or truncated snapshot rejects with a one-line HeapSnapshotError; an unreadable
 * file with the fs error itself.
 */
export async function parseSnapshot(input: string | NodeJS.ReadableStream, opts: ParseOptions = {}): Promise<HeapSnapshot> {
  const src = typeof input === 'string' ? await openPath(input, opts) : await openStream(input, opts.source ?? 'snapshot stream');
  const parser = new SnapshotParser(oneLine(src.source), opts.stringChunkBytes, opts.native === false ? undefined : nativeScanner());
  const progress = opts.progress;
  let last = Date.now();
  progress?.('parse', 0);
  try {
    for await (const chunk of src.chunks) {
      parser.push(chunk);
      if (progress && Date.now() - last >= PROGRESS_MS) {
        last = Date.now();
        progress('parse', Math.min(0.99, src.total > 0 ? src.consumed() / src.total : parser.estimate()));
      }
    }
  } catch (err) {
    throw inputError(err, parser.source);
  }
  const snapshot = parser.finish();
  progress?.('parse', 1);
  return snapshot;
}

/** The addon's number scanner, when the addon is loaded and has one (see NumberScanner). */
export function nativeScanner(): RecordScanner | undefined {
  const native = loadNative();
  return native.loaded ? native.addon.scanHeapRecords : undefined;
}

async function openPath(path: string, opts: ParseOptions): Promise<Input> {
  const fh = await open(path, 'r');
  let head: Buffer;
  let total: number;
  try {
    total = (await fh.stat()).size;
    head = Buffer.alloc(Math.min(total, 64 * 1024));
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  if (opts.entry !== undefined || (gzip && isTar(head))) return openBundle(path, opts);
  const source = opts.source ?? path;
  if (!gzip) {
    const counter = { bytes: 0 };
    return { source, chunks: readFile(path, counter), total, consumed: () => counter.bytes };
  }
  const raw = createReadStream(path, { highWaterMark: 1024 * 1024 });
  return { source, chunks: gunzip(raw), total, consumed: () => raw.bytesRead };
}

/** Is this gzip the start of a tar archive? (A gzipped snapshot starts with '{' instead.) */
function isTar(head: Buffer): boolean {
  try {
    const out = zlib.gunzipSync(head.subarray(0, 4096), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return out.length >= 262 && out.toString('latin1', 257, 262) === 'ustar';
  } catch {
    return false; // corrupt gzip: the gzip path reports it
  }
}

async function openBundle(path: string, opts: ParseOptions): Promise<Input> {
  let name = opts.entry;
  const source = (entry: string) => opts.source ?? `${path}:${entry}`;
  try {
    name ??= await firstHeapEntry(path);
    if (name === undefined) throw new HeapSnapshotError(`${oneLine(path)}: the bundle has no heap/*.heapsnapshot.gz entry`);
    return await openStream(await openTarGzEntry(path, name), source(name));
  } catch (err) {
    throw inputError(err, source(name ?? ''));
  }
}

/** The name of the first heap snapshot entry, reading the archive only up to its header. */
async function firstHeapEntry(path: string): Promise<string | undefined> {
  let found: string | undefined;
  const stop = new Error('found');
  try {
    // readTarGz asks load() about each entry as its header streams by; throwing stops the read there.
    await readTarGz(path, {
      load: (name) => {
        if (!HEAP_ENTRY_RE.test(name)) return false;
        found = name;
        throw stop;
      },
    });
  } catch (err) {
    if (err !== stop) throw err;
  }
  return found;
}

async function openStream(stream: NodeJS.ReadableStream, source: string): Promise<Input> {
  const it = toBuffers(stream)[Symbol.asyncIterator]();
  const first = await it.next();
  const rest = (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await it.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await it.return?.(undefined); // stops the source when parsing stops early
    }
  })();
  const gzip = !first.done && first.value.length >= 2 && first.value[0] === 0x1f && first.value[1] === 0x8b;
  return { source, chunks: gzip ? gunzip(Readable.from(rest)) : rest, total: 0, consumed: () => 0 };
}

async function* toBuffers(stream: NodeJS.ReadableStream): AsyncGenerator<Buffer> {
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  }
}

/**
 * Read buffers kept for the next parse once their pages are given back (with the addon). Freed,
 * they would raise glibc's mmap threshold to their size, and later arrays below it would come
 * from the brk heap, where freed pages stay resident: +3 MB of peak RSS on the 143 MB synthetic
 * snapshot (and 256 KB reads cost ~15 % more parse CPU).
 */
const spareReadBuffers: Buffer[] = [];

/** Reads a file into two alternating buffers: the next read runs while the parser works on a chunk. */
async function* readFile(path: string, counter: { bytes: number }): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  const bufs = [0, 1].map(() => spareReadBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES));
  let k = 0;
  let pending = fh.read(bufs[0], 0, READ_BYTES, null);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return;
      const current = bufs[k];
      k ^= 1;
      pending = fh.read(bufs[k], 0, READ_BYTES, null);
      counter.bytes += bytesRead;
      yield current.subarray(0, bytesRead);
    }
  } finally {
    await pending.catch(() => undefined);
    await fh.close();
    // Unused from here on, but resident until a GC frees them, which need not come before the
    // analysis' peak: with the addon, their pages go back at once, and they are kept (see above).
    const native = loadNative();
    const release = native.loaded ? native.addon.releasePages : undefined;
    if (release) {
      for (const b of bufs) release(b);
      spareReadBuffers.push(...bufs);
    }
  }
}

async function* gunzip(raw: NodeJS.ReadableStream): AsyncGenerator<Buffer> {
  // A deep readable buffer lets gunzip (on the thread pool) run ahead while the parser works.
  const options: zlib.ZlibOptions & TransformOptions = { chunkSize: 1024 * 1024, readableHighWaterMark: 16 * 1024 * 1024 };
  const gz = zlib.createGunzip(options);
  // Errors of either stream reach us through gz's iterator; the callback only stops them escaping.
  pipeline(raw as Readable, gz, () => {});
  yield* gz as AsyncIterable<Buffer>;
}

/** zlib and bundle errors become one-line HeapSnapshotErrors; fs errors stay as they are. */
function inputError(err: unknown, source: string): unknown {
  if (err instanceof HeapSnapshotError) return err;
  if (err instanceof BundleFormatError) return new HeapSnapshotError(`${oneLine(source)}: ${err.message}`);
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'Z_BUF_ERROR') return new HeapSnapshotError(`${oneLine(source)} is truncated: the gzip stream ends early`);
  if (code.startsWith('Z_')) return new HeapSnapshotError(`${oneLine(source)}: corrupt gzip data (${oneLine(message)})`);
  return err;
}

function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, '?');
}
