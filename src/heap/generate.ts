/**
 * A synthetic V8 heap snapshot writer for tests and benchmarks: same meta and layout as Node 20's
 * `v8.writeHeapSnapshot()`, so DevTools and memlab read it too. Deterministic by seed, streamed in
 * big chunks with backpressure, never held in memory: nodes and edges are written in two passes over
 * the same seeded "clusters" (a cluster re-derives its shape from its seed), after a counting pass
 * that fixes node_count, edge_count and every cluster's first node. String contents are computed
 * from their index, so the strings section needs no table either.
 *
 * The graph: root → (GC roots) → subroots; root ⇢ global → modules → a tree of clusters (an object
 * of one of a few dozen classes, with string, number, object, array, closure + context, concatenated
 * string, WeakRef and cross-cluster properties); classes have maps, constructors, prototypes and
 * shared function infos. With `leak`, global → app (OrderService) → pendingOrders (an Array) holds
 * `leak` Order objects.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { GraphPlan, NODE_20_META, SyntheticStrings, T, E } from './generate-parts';

export interface SyntheticOptions {
  /** Approximate node count (the result is within a cluster of it, or more if `leak` needs it). */
  nodes: number;
  seed?: number;
  /** Gzip the file (level 1). */
  gzip?: boolean;
  /** Order instances held by global.app.pendingOrders (a "leak"); default 0. */
  leak?: number;
}

export interface SyntheticResult {
  /** Bytes of the file written (compressed if gzip). */
  bytes: number;
  /** Bytes of snapshot JSON. */
  rawBytes: number;
  nodes: number;
  edges: number;
}
