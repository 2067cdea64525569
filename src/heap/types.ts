/**
 * A parsed V8 heap snapshot held in typed arrays: no JS object per node or edge (memlab's HeapNode is
 * a light view over arrays, DevTools' worker does the same), so a 2 GB snapshot with more than 2^24
 * nodes fits, and stays off the V8 heap (it works under --max-old-space-size=512).
 *
 * Nodes and edges are addressed by ORDINAL (0..nodeCount-1, 0..edgeCount-1), not by the snapshot's
 * flat field offsets. Node 0 is the synthetic root, as in every V8 snapshot.
 */
export interface StringTable {
  readonly count: number;
  /** The i-th string of the snapshot's strings section; decoded on demand, never all at once. */
  get(i: number): string;
  /** Bytes held by the table (for memory accounting). */
  readonly byteLength: number;
}

/** Per-node numbers: Uint32Array when they all fit, Float64Array otherwise. */
export type NumberArray = Float64Array | Uint32Array;

export interface HeapSnapshot {
  nodeCount: number;
  edgeCount: number;
  /** meta.node_types[0]: hidden, array, string, object, code, closure, regexp, number, native, synthetic, ... */
  nodeTypes: string[];
  /** meta.edge_types[0]: context, element, property, internal, hidden, shortcut, weak */
  edgeTypes: string[];

  /** Per node: index into nodeTypes. */
  nodeType: Uint8Array;
  /** Per node: index into strings. */
  nodeName: Uint32Array;
  /**
   * Per node: V8's object id (stable across snapshots of one process: the key of a diff). A
   * Uint32Array when every id fits in 32 bits (the usual case: half the memory), else Float64Array.
   */
  nodeId: NumberArray;
  /** Per node: V8's self size; Uint32Array or Float64Array as for nodeId. */
  nodeSelfSize: NumberArray;
  /** Per node, when the snapshot has it: 0 unknown, 1 attached, 2 detached. */
  nodeDetachedness?: Uint8Array;

  /** CSR layout: the edges of node i are firstEdge[i] .. firstEdge[i+1]-1. Length nodeCount + 1. */
  firstEdge: Uint32Array;
  /** Per edge: index into edgeTypes. */
  edgeType: Uint8Array;
  /** Per edge: string index for named edges, the element index for 'element' and 'hidden' edges. */
  edgeName: Uint32Array;
  /** Per edge: target node ordinal. */
  edgeTo: Uint32Array;

  strings: StringTable;
  /**
   * The snapshot's optional "locations" section (where the constructor of an object was defined):
   * [nodeOrdinal, scriptId, line, column] repeated, so length 4 × the number of located objects.
   * The snapshot's object_index (a flat offset into nodes) is stored as the node ORDINAL, and the
   * fields are put in this order whatever meta.location_fields says. Line and column are 0-based, as
   * V8 writes them. Undefined when the snapshot has no such section (or no meta.location_fields);
   * empty when the section is empty. DevTools splits 'object' classes by it (see summary.ts).
   */
  locations?: Uint32Array;
  /** Where it came from, for messages. */
  source: string;
}

/** Progress callback: phase name and fraction done (0..1). */
export type Progress = (phase: string, done: number) => void;

/** A malformed or truncated snapshot: one clear line. */
export class HeapSnapshotError extends Error {}
