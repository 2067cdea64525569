/**
 * A synthetic V8 heap snapshot writer for tests and benchmarks: the meta and layout of Node 20's
 * `v8.writeHeapSnapshot()`, so DevTools and memlab read it too. Deterministic by seed, streamed in
 * big chunks with backpressure, never held in memory: a counting pass fixes node_count, edge_count and
 * each cluster's first node, then nodes and edges are written in two more passes over the same seeded
 * clusters (each re-derives its shape from its own seed). String contents are computed from their
 * index, so the strings section needs no table either.
 *
 * The graph: root → (GC roots) → subroots; root ⇢ global → modules → a tree of clusters. A cluster is
 * an object of one of a few dozen classes with string (some duplicated), number, object, array,
 * closure + context, concatenated string, WeakRef (weak edge) and cross-cluster properties. Classes
 * have maps, constructors, prototypes and shared function infos. With `leak`, global → app
 * (OrderService) → pendingOrders (an Array) holds `leak` Order objects.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';

export interface SyntheticOptions {
  /** Approximate node count (a few more, or more if `leak` needs them): ~70 bytes of JSON per node. */
  nodes: number;
  seed?: number;
  /** Gzip the file (level 1). */
  gzip?: boolean;
  /** Order instances held by global.app.pendingOrders (the "leak"); default 0. */
  leak?: number;
}

export interface SyntheticResult {
  /** Bytes of the file (compressed, with gzip). */
  bytes: number;
  /** Bytes of snapshot JSON. */
  rawBytes: number;
  nodes: number;
  edges: number;
}

/** Node 20's meta, field for field. */
const META = {
  node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
  node_types: [
    ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic', 'concatenated string', 'sliced string', 'symbol', 'bigint', 'object shape', 'wasm object'],
    'string', 'number', 'number', 'number', 'number', 'number',
  ],
  edge_fields: ['type', 'name_or_index', 'to_node'],
  edge_types: [['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'], 'string_or_number', 'node'],
  trace_function_info_fields: ['function_id', 'name', 'script_name', 'script_id', 'line', 'column'],
  trace_node_fields: ['id', 'function_info_index', 'count', 'size', 'children'],
  sample_fields: ['timestamp_us', 'last_assigned_id'],
  location_fields: ['object_index', 'script_id', 'line', 'column'],
};
const NF = META.node_fields.length;
// Node types
const HIDDEN = 0, ARRAY = 1, STRING = 2, OBJECT = 3, CODE = 4, CLOSURE = 5, NUMBER = 7, SYNTHETIC = 9, CONCAT = 10, SHAPE = 14;
// Edge types
const CONTEXT = 0, ELEMENT = 1, PROPERTY = 2, INTERNAL = 3, HIDDEN_E = 4, SHORTCUT = 5, WEAK = 6;

const SUBROOTS = ['(Internalized strings)', '(External strings)', '(Read-only roots)', '(Strong roots)', '(Smi roots)', '(Bootstrapper)', '(Stack roots)', '(Relocatable)', '(Debugger)', '(Compilation cache)', '(Handle scope)', '(Builtins)', '(Global handles)', '(Eternal handles)', '(Thread manager)', '(Extensions)', '(Startup object cache)', '(Weak collections)'];
const CLASSES = ['Object', 'User', 'Session', 'Request', 'Response', 'Headers', 'Socket', 'Timeout', 'EventEmitter', 'Promise', 'Map', 'Set', 'Buffer', 'Logger', 'Config', 'Router', 'Route', 'Middleware', 'Connection', 'Pool', 'Query', 'Cache', 'CacheEntry', 'Token', 'Account', 'Invoice', 'Product', 'Cart', 'Customer', 'Address', 'Job', 'Queue', 'Metric', 'Span', 'WeakRef', 'Order', 'OrderItem', 'OrderService', 'Array'];
const PROPS = ['id', 'name', 'type', 'status', 'value', 'data', 'options', 'headers', 'body', 'url', 'method', 'createdAt', 'updatedAt', 'owner', 'parent', 'next', 'prev', 'handler', 'callback', 'listeners', 'items', 'count', 'total', 'key', 'label', 'meta', 'config', 'state', 'error', 'result', 'socket', 'timer', 'cache', 'queue', 'path', 'host', 'port', 'token', 'user', 'session'];
const FUNCTIONS = ['handle', 'onData', 'onEnd', 'next', 'resolve', 'reject', 'listener', 'callback', 'emit', 'process', 'run', 'tick', 'get', 'set', 'wrapped', 'bound', 'send', 'parse', 'render', 'update'];
const WORDS = ['pending', 'active', 'closed', 'error', 'application/json', 'text/html', 'USD', 'EUR', 'admin', 'guest', 'GET', 'POST', 'en-US', 'utf8', 'localhost', 'true', 'false', 'null', 'default', 'primary'];
const VOCAB = ['<dummy>', '', '(GC roots)', ...SUBROOTS, 'global', 'system / NativeContext', 'system / Map', 'system / Context', 'system / ScopeInfo', 'system / PropertyArray', '(object elements)', 'heap number', '(concatenated string)', 'map', 'elements', 'properties', 'context', 'shared', 'previous', 'scope_info', 'native_context', 'global_proxy', '__proto__', 'constructor', 'prototype', 'constructor_or_back_pointer', 'first', 'second', 'target', 'children', 'app', 'modules', 'pendingOrders', 'customer', 'order', 'globalThis', 'descriptors', 'feedback_cell', 'code', 'system / DescriptorArray', 'system / FeedbackCell', '(CompileLazy builtin handle)', 'initial_map', ...CLASSES.map((c) => `C:${c}`), ...PROPS.map((p) => `P:${p}`), ...FUNCTIONS.map((f) => `F:${f}`)];
const S = new Map(VOCAB.map((s, i) => [s, i]));
const str = (s: string): number => S.get(s)!;
const vocabText = (i: number): string => VOCAB[i].replace(/^[CPF]:/, '');
/** String indices used on every cluster (a property read, not a Map lookup). */
const K = {
  map: str('map'),
  heapNumber: str('heap number'),
  proto: str('__proto__'),
  elements: str('elements'),
  objectElements: str('(object elements)'),
  systemMap: str('system / Map'),
  descriptorArray: str('system / DescriptorArray'),
  backPointer: str('constructor_or_back_pointer'),
  prototype: str('prototype'),
  descriptors: str('descriptors'),
  systemContext: str('system / Context'),
  context: str('context'),
  shared: str('shared'),
  feedbackCell: str('feedback_cell'),
  systemFeedbackCell: str('system / FeedbackCell'),
  code: str('code'),
  state: str('P:state'),
  scopeInfo: str('scope_info'),
  previous: str('previous'),
  concat: str('(concatenated string)'),
  first: str('first'),
  second: str('second'),
  target: str('target'),
  properties: str('properties'),
  propertyArray: str('system / PropertyArray'),
  customer: str('customer'),
  total: str('P:total'),
  items: str('P:items'),
  order: str('order'),
  parent: str('P:parent'),
  children: str('children'),
  array: str('C:Array'),
};
const CLASS_STR = CLASSES.map((c) => str(`C:${c}`));
const PROP_STR = PROPS.map((p) => str(`P:${p}`));
const FN_STR = FUNCTIONS.map((f) => str(`F:${f}`));
const [C_OBJECT, C_WEAKREF, C_ORDER, C_ORDER_ITEM, C_ORDER_SERVICE, C_ARRAY] = ['Object', 'WeakRef', 'Order', 'OrderItem', 'OrderService', 'Array'].map((c) => CLASSES.indexOf(c));
/** Classes a cluster's objects are drawn from (not WeakRef, Order*, Array: the last five). */
const RANDOM_CLASSES = CLASSES.length - 5;
const POPULAR = 1000;
const FANOUT = 8;

/** A small fast PRNG (mulberry32); draw() always consumes exactly one step. */
class Rng {
  private s = 0;
  seed(a: number, b: number): void {
    this.s = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  }
  draw(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.draw() * n);
  }
}

function hash(a: number, b: number): number {
  let h = Math.imul(a ^ 0x27d4eb2f, 0x165667b1) ^ Math.imul(b, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca77);
  return (h ^ (h >>> 13)) >>> 0;
}

/** One cluster's nodes and edges, with absolute node ordinals; edges in any order. */
class Plan {
  n = 0;
  m = 0;
  start = 0;
  nType = new Uint8Array(256);
  nName = new Float64Array(256);
  nSize = new Float64Array(256);
  eFrom = new Uint32Array(1024);
  eType = new Uint8Array(1024);
  eName = new Float64Array(1024);
  eTo = new Float64Array(1024);

  reset(start: number): void {
    this.start = start;
    this.n = this.m = 0;
  }
  node(type: number, name: number, size: number): number {
    if (this.n === this.nType.length) [this.nType, this.nName, this.nSize] = [grow(this.nType), grow(this.nName), grow(this.nSize)];
    this.nType[this.n] = type;
    this.nName[this.n] = name;
    this.nSize[this.n] = size;
    return this.start + this.n++;
  }
  edge(from: number, type: number, name: number, to: number): void {
    if (this.m === this.eFrom.length) [this.eFrom, this.eType, this.eName, this.eTo] = [grow(this.eFrom), grow(this.eType), grow(this.eName), grow(this.eTo)];
    this.eFrom[this.m] = from - this.start;
    this.eType[this.m] = type;
    this.eName[this.m] = name;
    this.eTo[this.m++] = to;
  }
}

function grow<A extends Uint8Array | Uint32Array | Float64Array>(a: A): A {
  const b = new (a.constructor as new (n: number) => A)(a.length * 2);
  b.set(a);
  return b;
}

/** The generator's state for one file: layout first, then the three passes. */
class Synth {
  readonly rng = new Rng();
  readonly plan = new Plan();
  uniques = 0; // unique strings handed out in the current pass
  readonly numBase = VOCAB.length;
  readonly popBase: number;
  readonly uniqBase: number;
  // Fixed nodes
  readonly global = 2 + SUBROOTS.length;
  readonly nativeContext = this.global + 1;
  readonly objectMap = this.global + 2;
  readonly arrayMap = this.global + 3;
  readonly functionMap = this.global + 4;
  readonly contextMap = this.global + 5;
  readonly stringMap = this.global + 6;
  readonly numberMap = this.global + 7;
  readonly consMap = this.global + 8;
  readonly lazyCode = this.global + 9;
  readonly propNames = this.global + 10; // internalized strings, one per property name
  readonly classBase = this.propNames + PROPS.length; // per class: map, constructor, shared info, prototype
  readonly fnBase = this.classBase + 4 * CLASSES.length; // per function: shared info, scope info
  readonly app = this.fnBase + 2 * FUNCTIONS.length;
  readonly pending = this.app + 1;
  readonly pendingElements = this.app + 2;
  readonly modules = this.app + 3;
  readonly modulesElements = this.app + 4;
  readonly orderBase = this.app + 5;
  readonly clusterBase: number;
  starts = new Uint32Array(1024);
  clusters = 0;

  constructor(
    readonly seed: number,
    readonly leak: number,
  ) {
    this.popBase = this.numBase + Math.max(leak, 64);
    this.uniqBase = this.popBase + POPULAR;
    this.clusterBase = this.orderBase + 7 * leak;
  }

  cls = (i: number): number => this.classBase + 4 * i;

  text(i: number): string {
    if (i < this.numBase) return vocabText(i);
    if (i < this.popBase) return String(i - this.numBase);
    if (i < this.uniqBase) return `${WORDS[(i - this.popBase) % WORDS.length]}-${i - this.popBase}`;
    const u = i - this.uniqBase;
    const h = hash(this.seed, u);
    switch (h % 16) {
      case 0: case 1: case 2: case 3: case 4:
        return `${PROPS[(h >>> 4) % PROPS.length]}_${u.toString(36)}`;
      case 5: case 6: case 7:
        return `https://api.example.com/v1/orders/${u}?page=${h % 97}&sort=desc`;
      case 8: case 9:
        return `{"id":${u},"status":"${WORDS[h % 4]}","tags":["a","b"]}`;
      case 10:
        return `C:\\Users\\app\\logs\\file-${u}.log`;
      case 11:
        return `café ${u} 日本語 – naïve`;
      case 12:
        return `line one ${u}\nline two\ttabbed\r\u0001`;
      case 13:
        return `order ${u} 😀 ✓`;
      default:
        return (h >>> 8) % 16 === 0 ? `function f${u}() {\n  return ${'x + '.repeat(50 + (h % 200))}1;\n}` : `user${u}@example.com`;
    }
  }

  /** A string value: 40% from a popular set (duplicated strings), else a new one. */
  stringNode(p: Plan): number {
    const r = this.rng.draw();
    const name = r < 0.4 ? this.popBase + Math.floor(r * 2500) : this.uniqBase + this.uniques++;
    const node = p.node(STRING, name, 16 + 8 * (1 + (Math.floor(r * 997) % 8)));
    p.edge(node, INTERNAL, K.map, this.stringMap);
    return node;
  }

  numberNode(p: Plan): number {
    const node = p.node(NUMBER, K.heapNumber, 16);
    p.edge(node, INTERNAL, K.map, this.numberMap);
    return node;
  }

  /** The start of cluster k (valid after the counting pass). */
  root(k: number): number {
    return k < this.clusters ? this.starts[k] : this.clusterBase;
  }

  /** The fixed nodes: root, GC roots, global, classes, functions, app, pendingOrders, modules. */
  prefix(p: Plan): void {
    p.reset(0);
    const root = p.node(SYNTHETIC, str(''), 0);
    const gcRoots = p.node(SYNTHETIC, str('(GC roots)'), 0);
    p.edge(root, ELEMENT, 1, gcRoots);
    p.edge(root, SHORTCUT, str('global'), this.global);
    SUBROOTS.forEach((name, i) => {
      const sub = p.node(SYNTHETIC, str(name), 0);
      p.edge(gcRoots, ELEMENT, i + 1, sub);
      if (name === '(Strong roots)') {
        p.edge(sub, INTERNAL, str('native_context'), this.nativeContext);
        for (let k = 0; k < 8; k++) p.edge(sub, INTERNAL, this.numBase + k, this.objectMap + k); // the maps and lazy code
      }
      if (name === '(Global handles)') p.edge(sub, INTERNAL, str('global_proxy'), this.global);
      if (name === '(Handle scope)') p.edge(sub, HIDDEN_E, 1, this.app);
      if (name === '(Internalized strings)') PROPS.forEach((_, k) => p.edge(sub, INTERNAL, this.numBase + k, this.propNames + k));
      if (name === '(Compilation cache)') FUNCTIONS.forEach((_, k) => p.edge(sub, INTERNAL, this.numBase + k, this.fnBase + 2 * k));
    });
    const g = p.node(OBJECT, str('global'), 40);
    p.edge(g, PROPERTY, str('globalThis'), g);
    p.edge(g, PROPERTY, str('app'), this.app);
    p.edge(g, PROPERTY, str('modules'), this.modules);
    p.edge(g, INTERNAL, str('native_context'), this.nativeContext);
    p.edge(g, INTERNAL, K.map, this.objectMap);
    const nc = p.node(HIDDEN, str('system / NativeContext'), 2048);
    p.edge(nc, INTERNAL, str('global_proxy'), g);
    for (let i = 0; i < 7; i++) p.node(SHAPE, K.systemMap, 80);
    p.node(CODE, str('(CompileLazy builtin handle)'), 0);
    PROP_STR.forEach((name) => p.edge(p.node(STRING, name, 24), INTERNAL, K.map, this.stringMap));
    CLASSES.forEach((_, i) => {
      const [map, ctor, sfi, proto] = [0, 1, 2, 3].map((k) => this.classBase + 4 * i + k);
      p.node(SHAPE, K.systemMap, 80);
      p.edge(map, INTERNAL, K.backPointer, ctor);
      p.edge(map, INTERNAL, K.prototype, proto);
      p.node(CLOSURE, CLASS_STR[i], 64);
      p.edge(ctor, PROPERTY, K.prototype, proto);
      p.edge(ctor, INTERNAL, K.shared, sfi);
      p.edge(ctor, INTERNAL, K.context, nc);
      p.edge(ctor, INTERNAL, K.map, this.functionMap);
      p.edge(ctor, INTERNAL, str('initial_map'), map);
      p.node(CODE, CLASS_STR[i], 56);
      p.node(OBJECT, str('C:Object'), 32);
      p.edge(proto, PROPERTY, str('constructor'), ctor);
      p.edge(proto, INTERNAL, K.map, this.objectMap);
      p.edge(nc, INTERNAL, CLASS_STR[i], ctor);
    });
    FN_STR.forEach((name) => {
      const sfi = p.node(CODE, name, 56);
      p.edge(sfi, INTERNAL, K.scopeInfo, p.node(CODE, str('system / ScopeInfo'), 48));
    });
    const app = p.node(OBJECT, str('C:OrderService'), 32);
    const pending = p.node(OBJECT, K.array, 32);
    const elems = p.node(ARRAY, K.objectElements, 16 + 8 * this.leak);
    const modules = p.node(OBJECT, K.array, 32);
    this.instance(p, app, C_ORDER_SERVICE);
    p.edge(app, PROPERTY, str('pendingOrders'), pending);
    this.array(p, pending, elems);
    for (let i = 0; i < this.leak; i++) {
      p.edge(pending, ELEMENT, i, this.orderBase + 7 * i);
      p.edge(elems, INTERNAL, this.numBase + i, this.orderBase + 7 * i);
    }
    const melems = p.node(ARRAY, K.objectElements, 16 + 8 * FANOUT);
    this.array(p, modules, melems);
    this.children(p, modules, melems, 0);
    if (p.n !== this.orderBase) throw new Error(`generate: prefix layout is off (${p.n} nodes, expected ${this.orderBase})`);
  }

  instance(p: Plan, obj: number, cls: number): void {
    p.edge(obj, PROPERTY, K.proto, this.cls(cls) + 3);
    p.edge(obj, INTERNAL, K.map, this.cls(cls));
  }

  array(p: Plan, arr: number, elements: number): void {
    p.edge(arr, PROPERTY, K.proto, this.cls(C_ARRAY) + 3);
    p.edge(arr, INTERNAL, K.elements, elements);
    p.edge(arr, INTERNAL, K.map, this.arrayMap);
  }

  /** Element edges to clusters first..first+7 (those that exist). */
  children(p: Plan, arr: number, elements: number, first: number): void {
    for (let i = 0; i < FANOUT && first + i < this.clusters; i++) {
      p.edge(arr, ELEMENT, i, this.root(first + i));
      p.edge(elements, INTERNAL, this.numBase + i, this.root(first + i));
    }
  }

  order(p: Plan, i: number): void {
    p.reset(this.orderBase + 7 * i);
    this.rng.seed(this.seed ^ 0x4f726472, i);
    const o = p.node(OBJECT, str('C:Order'), 48);
    const customer = this.stringNode(p);
    const total = this.numberNode(p);
    const items = p.node(OBJECT, K.array, 32);
    const elems = p.node(ARRAY, K.objectElements, 32);
    this.instance(p, o, C_ORDER);
    p.edge(o, PROPERTY, K.customer, customer);
    p.edge(o, PROPERTY, K.total, total);
    p.edge(o, PROPERTY, K.items, items);
    this.array(p, items, elems);
    for (let k = 0; k < 2; k++) {
      const item = p.node(OBJECT, str('C:OrderItem'), 40);
      this.instance(p, item, C_ORDER_ITEM);
      p.edge(item, PROPERTY, K.order, o);
      p.edge(items, ELEMENT, k, item);
      p.edge(elems, INTERNAL, this.numBase + k, item);
    }
  }

  /** Cluster k: draws only from its own seed, so every pass sees the same shape. */
  cluster(p: Plan, k: number, start: number): void {
    const rng = this.rng;
    rng.seed(this.seed, k);
    p.reset(start);
    const cls = rng.int(RANDOM_CLASSES);
    const props = 2 + rng.int(9);
    const first = rng.int(PROPS.length);
    const root = p.node(OBJECT, CLASS_STR[cls], 16 + 8 * props);
    const kids = p.node(OBJECT, K.array, 32);
    const kidElems = p.node(ARRAY, K.objectElements, 16 + 8 * FANOUT);
    p.edge(root, PROPERTY, K.children, kids);
    this.array(p, kids, kidElems);
    this.children(p, kids, kidElems, FANOUT * (k + 1));
    if (rng.draw() < 0.35) {
      // Its own hidden class: a map with a descriptor array naming its properties.
      const map = p.node(SHAPE, K.systemMap, 80);
      const descriptors = p.node(SHAPE, K.descriptorArray, 16 + 24 * props);
      p.edge(root, PROPERTY, K.proto, this.cls(cls) + 3);
      p.edge(root, INTERNAL, K.map, map);
      p.edge(map, INTERNAL, K.backPointer, this.cls(cls) + 1);
      p.edge(map, INTERNAL, K.prototype, this.cls(cls) + 3);
      p.edge(map, INTERNAL, K.descriptors, descriptors);
      for (let j = 0; j < props; j++) p.edge(descriptors, INTERNAL, this.numBase + j, this.propNames + ((first + j) % PROPS.length));
    } else this.instance(p, root, cls);
    for (let j = 0; j < props; j++) {
      const name = PROP_STR[(first + j) % PROPS.length];
      const r = rng.draw();
      let value: number;
      if (r < 0.35) value = this.stringNode(p);
      else if (r < 0.42) value = this.numberNode(p);
      else if (r < 0.62) {
        const c2 = rng.int(RANDOM_CLASSES);
        value = p.node(OBJECT, CLASS_STR[c2], 32);
        this.instance(p, value, c2);
        for (let q = 1 + rng.int(3); q > 0; q--) p.edge(value, PROPERTY, PROP_STR[rng.int(PROPS.length)], this.stringNode(p));
        if (rng.draw() < 0.3) p.edge(value, PROPERTY, K.parent, root);
      } else if (r < 0.74) {
        value = p.node(OBJECT, K.array, 32);
        const len = 1 + rng.int(8);
        const elems = p.node(ARRAY, K.objectElements, 16 + 8 * len);
        this.array(p, value, elems);
        for (let q = 0; q < len; q++) {
          const item = rng.draw() < 0.7 ? this.stringNode(p) : this.numberNode(p);
          p.edge(value, ELEMENT, q, item);
          p.edge(elems, INTERNAL, this.numBase + q, item);
        }
      } else if (r < 0.88) {
        const fn = rng.int(FUNCTIONS.length);
        value = p.node(CLOSURE, FN_STR[fn], 64);
        const ctx = p.node(OBJECT, K.systemContext, 48);
        p.edge(value, INTERNAL, K.context, ctx);
        p.edge(value, INTERNAL, K.shared, this.fnBase + 2 * fn);
        p.edge(value, INTERNAL, K.map, this.functionMap);
        p.edge(value, INTERNAL, K.feedbackCell, p.node(CODE, K.systemFeedbackCell, 16));
        p.edge(value, INTERNAL, K.code, this.lazyCode);
        p.edge(value, PROPERTY, K.proto, this.cls(C_OBJECT) + 3);
        p.edge(ctx, CONTEXT, PROP_STR[rng.int(PROPS.length)], root);
        if (rng.draw() < 0.5) p.edge(ctx, CONTEXT, K.state, this.stringNode(p));
        p.edge(ctx, INTERNAL, K.scopeInfo, this.fnBase + 2 * fn + 1);
        p.edge(ctx, INTERNAL, K.previous, this.nativeContext);
        p.edge(ctx, INTERNAL, K.map, this.contextMap);
      } else if (r < 0.93) {
        value = p.node(CONCAT, K.concat, 32);
        p.edge(value, INTERNAL, K.first, this.stringNode(p));
        p.edge(value, INTERNAL, K.second, this.stringNode(p));
        p.edge(value, INTERNAL, K.map, this.consMap);
      } else if (r < 0.97) {
        value = p.node(OBJECT, str('C:WeakRef'), 32);
        this.instance(p, value, C_WEAKREF);
        p.edge(value, WEAK, K.target, this.root(rng.int(Math.max(1, this.clusters))));
      } else {
        value = this.root(rng.int(Math.max(1, this.clusters)));
      }
      p.edge(root, PROPERTY, name, value);
    }
    if (props > 6) {
      const backing = p.node(HIDDEN, K.propertyArray, 16 + 8 * (props - 6));
      p.edge(root, INTERNAL, K.properties, backing);
    }
  }
}

/** A quoted JSON string with V8's escapes. */
function escaped(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += `\\${s[i]}`;
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c >= 0x7f) out += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/** Writes a non-negative integer (< 2^53) as ASCII at b[p]; returns the position after it. */
function putUint(b: Buffer, p: number, v: number): number {
  if (v < 10) {
    b[p] = 0x30 + v;
    return p + 1;
  }
  let digits = 2;
  while (digits < 16 && v >= POW10[digits]) digits++;
  let end = p + digits;
  const after = end;
  while (v >= 2147483648) {
    const q = Math.floor(v / 10);
    b[--end] = 0x30 + v - q * 10;
    v = q;
  }
  while (v >= 10) {
    const q = (v / 10) | 0;
    b[--end] = 0x30 + v - q * 10;
    v = q;
  }
  b[--end] = 0x30 + v;
  return after;
}
const POW10 = Array.from({ length: 17 }, (_, i) => 10 ** i);

/** Buffers output in big chunks and writes them with backpressure. */
class Out {
  private buf = Buffer.allocUnsafe(OUT_BYTES);
  private pos = 0;
  private full: Buffer[] = [];
  private queued = 0;
  /** Whether the next array element is the first (no separator). */
  first = true;
  bytes = 0;
  constructor(private readonly sink: Writable) {}

  private room(need: number): void {
    if (this.pos + need > this.buf.length) this.cut(need);
  }
  /** Queues what the current buffer holds and starts a new one. */
  private cut(need: number): void {
    if (this.pos > 0) {
      this.full.push(this.buf.subarray(0, this.pos));
      this.queued += this.pos;
    }
    this.buf = Buffer.allocUnsafe(Math.max(OUT_BYTES, need));
    this.pos = 0;
  }
  ascii(s: string): void {
    this.room(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }
  /** Reserves room for one number record and writes the "\n," that separates it from the previous one; returns the write position. */
  private record(bytes: number): number {
    this.room(bytes);
    let p = this.pos;
    if (this.first) this.first = false;
    else (this.buf[p++] = 0x0a), (this.buf[p++] = 0x2c);
    return p;
  }
  /** One node of Node 20's layout: type,name,id,self_size,edge_count,trace_node_id,detachedness. */
  node(type: number, name: number, id: number, size: number, edges: number): void {
    let p = this.record(96); // may start a new buffer: read this.buf after it
    const b = this.buf;
    p = putUint(b, p, type);
    b[p++] = 0x2c;
    p = putUint(b, p, name);
    b[p++] = 0x2c;
    p = putUint(b, p, id);
    b[p++] = 0x2c;
    p = putUint(b, p, size);
    b[p++] = 0x2c;
    p = putUint(b, p, edges);
    b[p++] = 0x2c;
    b[p++] = 0x30;
    b[p++] = 0x2c;
    b[p++] = 0x30;
    this.pos = p;
  }
  edge(type: number, name: number, toNode: number): void {
    let p = this.record(64);
    const b = this.buf;
    p = putUint(b, p, type);
    b[p++] = 0x2c;
    p = putUint(b, p, name);
    b[p++] = 0x2c;
    this.pos = putUint(b, p, toNode);
  }
  /**
   * A strings-section entry the way V8 writes it (non-ASCII as \uXXXX, pairs for astral
   * characters), then ",\n" or, for the last, "]}".
   */
  jsonString(s: string, last: boolean): void {
    this.room(s.length + 2);
    const b = this.buf;
    let p = this.pos;
    b[p++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
        this.ascii(escaped(s)); // from this.pos again: what the loop wrote is overwritten
        return this.separator(last);
      }
      b[p++] = c;
    }
    b[p++] = 0x22;
    this.pos = p;
    this.separator(last);
  }
  private separator(last: boolean): void {
    this.room(2);
    this.buf[this.pos++] = last ? 0x5d : 0x2c;
    this.buf[this.pos++] = last ? 0x7d : 0x0a;
  }
  async drain(force = false): Promise<void> {
    if (force) this.cut(0);
    if (!force && this.queued < OUT_BYTES) return;
    for (const b of this.full) {
      this.bytes += b.length;
      if (!this.sink.write(b)) await once(this.sink, 'drain');
    }
    this.full = [];
    this.queued = 0;
  }
}
const OUT_BYTES = 4 * 1024 * 1024;

/** Writes a plan's nodes (mode 'nodes') or edges (mode 'edges'), edges grouped by node in order. */
function emit(out: Out, p: Plan, mode: 'nodes' | 'edges'): void {
  if (counts.length <= p.n) counts = new Uint32Array(2 * p.n + 2);
  counts.fill(0, 0, p.n + 1);
  for (let e = 0; e < p.m; e++) counts[p.eFrom[e] + 1]++;
  if (mode === 'nodes') {
    for (let j = 0; j < p.n; j++) out.node(p.nType[j], p.nName[j], 2 * (p.start + j) + 1, p.nSize[j], counts[j + 1]);
    return;
  }
  for (let j = 1; j <= p.n; j++) counts[j] += counts[j - 1];
  if (order.length < p.m) order = new Uint32Array(p.m * 2);
  for (let e = 0; e < p.m; e++) order[counts[p.eFrom[e]]++] = e;
  for (let k = 0; k < p.m; k++) {
    const e = order[k];
    out.edge(p.eType[e], p.eName[e], p.eTo[e] * NF);
  }
}
let counts = new Uint32Array(1024);
let order = new Uint32Array(1024);

/**
 * Writes a synthetic snapshot of about `opts.nodes` nodes to `path`: ~70 bytes per node, so 2.2M
 * nodes make ~150 MB, 8.5M ~600 MB and 30M ~2.1 GB.
 * Deterministic: the same options give the same bytes.
 */
export async function writeSyntheticSnapshot(path: string, opts: SyntheticOptions): Promise<SyntheticResult> {
  const leak = Math.max(0, Math.floor(opts.leak ?? 0));
  const g = new Synth((opts.seed ?? 1) >>> 0, leak);
  const p = g.plan;
  // Pass 1: count. Clusters are added until the node target is met.
  let nodes = g.clusterBase;
  let edges = 0;
  for (let i = 0; i < leak; i++) g.order(p, i), (edges += p.m);
  while (nodes < opts.nodes || g.clusters === 0) {
    if (g.clusters === g.starts.length) g.starts = grow(g.starts);
    g.starts[g.clusters] = nodes;
    g.cluster(p, g.clusters, nodes);
    g.clusters++;
    nodes += p.n;
    edges += p.m; // children edges are left out: there were no clusters yet to point to
  }
  edges += 2 * Math.max(0, g.clusters - FANOUT); // every cluster past the first 8 has a parent
  g.prefix(p);
  edges += p.m;
  const uniques = g.uniques;

  const file = createWriteStream(path, { highWaterMark: 4 * OUT_BYTES });
  const gz = opts.gzip ? zlib.createGzip({ level: 1 }) : undefined;
  const done = gz ? pipeline(gz, file) : finished(file);
  done.catch(() => undefined); // awaited at the end; a write error also rejects the drain wait
  const sink = gz ?? file;
  const out = new Out(sink);
  const header = { meta: META, node_count: nodes, edge_count: edges, trace_function_count: 0 };
  out.ascii(`{"snapshot":${JSON.stringify(header)},\n"nodes":[`);
  for (const mode of ['nodes', 'edges'] as const) {
    out.first = true;
    g.uniques = 0;
    const all = (plan: Plan) => emit(out, plan, mode);
    g.prefix(p);
    all(p);
    for (let i = 0; i < leak; i++) {
      g.order(p, i);
      all(p);
      if ((i & 1023) === 0) await out.drain();
    }
    for (let k = 0; k < g.clusters; k++) {
      g.cluster(p, k, g.starts[k]);
      all(p);
      if ((k & 255) === 0) await out.drain();
    }
    out.ascii(mode === 'nodes' ? '\n],\n"edges":[' : '\n],\n"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n"locations":[],\n"strings":[');
  }
  const strings = g.uniqBase + uniques;
  for (let i = 0; i < strings; i++) {
    out.jsonString(g.text(i), i + 1 === strings);
    if ((i & 4095) === 0) await out.drain();
  }
  await out.drain(true);
  sink.end();
  await done;
  return { bytes: (await stat(path)).size, rawBytes: out.bytes, nodes, edges };
}
