/** Synthetic inputs for the UI tests: a bundle built in memory, a timeline with samples, a heap session. */
import type { CoreView } from '../src/core/inspect';
import { CoreStore, type CoreSession } from '../src/tui/core-session';
import { summarize } from '../src/bundle/summary';
import type { Bundle } from '../src/bundle/reader';
import type { TimelineEvent } from '../src/bundle/types';
import type { NodeTable, ReadyMsg } from '../src/tui/heap-protocol';
import type { HeapSession, HeapState } from '../src/tui/heap-session';
import type { UiModel } from '../src/tui/model';
import { cleanEvents } from '../src/tui/timeline-data';
import type { RetainerPath } from '../src/heap/retainer-paths';

export const T0 = Date.UTC(2026, 0, 5, 14, 0, 0);

export function syntheticEvents(n = 60): TimelineEvent[] {
  const ev: TimelineEvent[] = [];
  for (let i = 0; i < n; i++) {
    ev.push({ time: T0 + i * 1000, kind: 'sample', rss: (100 + i * 10) * 1024 * 1024, heapUsed: (50 + i * 5) * 1024 * 1024, elu: Math.min(1, i / n + 0.1), delayP99Ms: i === 40 ? 900 : 12 });
  }
  ev.push({ time: T0 + 5000, kind: 'breadcrumb', message: 'billing job started', data: { orders: 2 } });
  ev.push({ time: T0 + 9000, kind: 'gc', gcKind: 'major', durationMs: 35 });
  ev.push({ time: T0 + 20000, kind: 'warning', name: 'MaxListenersExceededWarning', message: 'Possible EventEmitter memory leak' });
  ev.push({ time: T0 + 30000, kind: 'http', method: 'GET', host: 'db.internal', path: '/customers/42', error: 'ECONNRESET', durationMs: 31 });
  ev.push({ time: T0 + 31000, kind: 'mystery-kind', payload: 'kept as \x1b[31mdata' });
  ev.push({ time: T0 + n * 1000, kind: 'trigger', reason: 'uncaught-exception' });
  return ev;
}

export function syntheticBundle(opts: { events?: TimelineEvent[]; evil?: boolean } = {}): Bundle {
  const evil = opts.evil ? '\x1b]0;pwned\x07\x1b[2J' : '';
  const cwd = '/srv/app';
  const frames = [
    { function: 'fetchCustomer', file: '/srv/app/src/db.ts', line: 20, column: 9, origin: 'app', generated: { file: '/srv/app/dist/db.js', line: 18, column: 11 } },
    { function: 'renderInvoice', file: '/srv/app/src/invoice.ts', line: 28, column: 11, origin: 'app' },
    { function: 'processTimers', file: 'node:internal/timers', line: 519, column: 7, origin: 'node' },
    { function: 'runJob', file: '/srv/app/src/job.ts', line: 5, column: 1, origin: 'app', async: true },
  ];
  const manifest = {
    format: 'autopsy-bundle', formatVersion: 1, id: 'b1', reason: 'uncaught-exception', time: new Date(T0 + 60000).toISOString(),
    pid: 4242, ppid: 1, hostname: 'web-1', threadId: 0, uptimeSeconds: 60, cwd, node: 'v20.20.2', v8: '11', platform: 'linux', arch: 'x64',
    argv: ['/usr/bin/node', '/srv/app/dist/main.js'], execArgv: [], app: { name: 'billing', version: '1.2.3' }, hook: { version: '0.1.0', addon: 'unavailable' },
    files: [{ name: 'error.json', size: 1, sha256: '' }], redacted: ['DB_PASSWORD'], warnings: [],
  };
  const error = {
    kind: 'error', name: 'Error', message: `cannot render invoice A-1001${evil}`, frames: frames.slice(1),
    cause: { kind: 'error', name: 'DatabaseError', message: 'connection reset', code: 'ECONNRESET', frames },
  };
  const sources = { excerpts: [{ file: '/srv/app/src/db.ts', line: 20, startLine: 18, lines: ['function fetchCustomer(id) {', '  // read', `  throw new DatabaseError('connection reset');${evil}`, '}'], from: 'disk' }] };
  const report = {
    header: { reportVersion: 3, event: 'JavaScript API', trigger: 'GetReport', processId: 4242, nodejsVersion: 'v20.20.2', cwd, commandLine: ['node', 'main.js'] },
    resourceUsage: { rss: 123456789, userCpuSeconds: 1.5, kernelCpuSeconds: 0.2 },
    libuv: [{ type: 'tcp', is_active: true, is_referenced: true, localEndpoint: { host: '0.0.0.0', port: 8080 } }, { type: 'timer', is_active: false }],
    environmentVariables: { PATH: '/usr/bin', API_TOKEN: 'sekrit-value', HOME: '/root' },
    sharedObjects: ['/lib/x86_64-linux-gnu/libc.so.6', 'linux-vdso.so.1'],
  };
  const json = new Map<string, unknown>([
    ['error.json', error],
    ['sources.json', sources],
    ['report.json', report],
    ['timeline.json', { events: opts.events ?? syntheticEvents() }],
  ]);
  return { path: '/tmp/autopsy-test.tgz', manifest: manifest as never, entries: new Map(), json };
}

export function syntheticModel(opts: { events?: TimelineEvent[]; evil?: boolean; heaps?: number } = {}): UiModel {
  const b = syntheticBundle(opts);
  const t = b.json.get('timeline.json') as { events: unknown };
  const heaps = Array.from({ length: opts.heaps ?? 0 }, (_, i) => ({ path: b.path, entry: `heap/${i}.heapsnapshot.gz`, label: `heap/${i}.heapsnapshot.gz` }));
  return { title: 'autopsy-test.tgz', kind: 'bundle', summary: summarize(b), report: b.json.get('report.json') as Record<string, unknown>, events: cleanEvents(t.events), heaps };
}

/** A heap session answering from memory: `instances` of any class returns `rows` objects. */
export class FakeHeapSession implements HeapSession {
  state: HeapState = { status: 'idle' };
  listeners = new Set<() => void>();
  started = 0;
  constructor(readonly sources = [{ path: 'x', label: 'heap/a.heapsnapshot.gz' }], readonly rows = 100_000, readonly withDiff = false) {}
  getState = () => this.state;
  subscribe = (l: () => void) => {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  };
  set(s: HeapState) {
    this.state = s;
    for (const l of this.listeners) l();
  }
  start() {
    this.started++;
  }
  finish() {
    const ready: ReadyMsg = {
      type: 'ready', nodes: 123456, totalSize: 64 * 1024 * 1024,
      classes: [
        { name: 'Order', count: 12000, selfSize: 960000, retainedSize: 48 * 1024 * 1024 },
        { name: 'Array', count: 300, selfSize: 50000, retainedSize: 2000000 },
        { name: '(string)', count: 9000, selfSize: 400000, retainedSize: 400000 },
        { name: 'Evil\x1b[2Jname', count: 1, selfSize: 10, retainedSize: 10 },
      ],
      diff: this.withDiff ? { sizeDelta: 48 * 1024 * 1024, rows: [{ name: 'Order', countBefore: 100, countAfter: 12100, countDelta: 12000, sizeDelta: 48 * 1024 * 1024, newCount: 12000 }], suspects: [{ name: 'Order', countDelta: 12000, sizeDelta: 48 * 1024 * 1024, heldBy: 'pendingOrders in Object' }] } : undefined,
    };
    this.set({ status: 'ready', ready });
  }
  table(n: number, name: string): NodeTable {
    const nodes = new Uint32Array(n);
    const ids = new Float64Array(n);
    const selfSize = new Float64Array(n);
    const retainedSize = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      nodes[i] = i + 1;
      ids[i] = 1000 + i * 2;
      selfSize[i] = 80;
      retainedSize[i] = 4000 - (i % 4000);
    }
    return { nodes, ids, selfSize, retainedSize, nameIndex: new Uint32Array(n), names: [name] };
  }
  async instances(name: string) {
    return this.table(this.rows, name);
  }
  async dominated(node: number) {
    return this.table(3, node === 0 ? 'Window' : 'Line');
  }
  async retainers(node: number): Promise<RetainerPath[]> {
    return [{ node, id: 1000, className: 'Order', steps: [{ node: 7, id: 77, className: 'Array', edge: '12', edgeType: 'element' }, { node: 8, id: 88, className: 'Object', edge: 'pendingOrders', edgeType: 'property' }] }];
  }
  async close() {}
}

/** What inspectCore answers for a core of a process blocked in renderInvoicePdf, gdb and the walker used. */
export function syntheticCoreView(opts: { backends?: boolean } = {}): CoreView {
  const on = opts.backends !== false;
  return {
    core: '/tmp/app.core', size: 75 * 1024 * 1024, pid: 4242, program: 'node', args: 'node /srv/app/server.js', node: 'v20.20.2', v8: '11.3.244.8',
    isolate: '0x4067cce0', cEntryFpOffset: 384, nodeBinary: '/usr/bin/node', nodeBuildId: 'ebeaf2df', threads: 1, segments: 87, mappedFiles: 9,
    backends: { gdb: on ? 'used' : 'not installed', llnode: 'not installed' },
    nativeFrames: on ? [{ index: 0, pc: '0x1', function: 'uv__io_poll', file: '../deps/uv/src/unix/linux.c', line: 1368 }] : undefined,
    stack: on ? [
      { index: 0, kind: 'native', from: 'gdb', pc: '0x1', function: 'uv__io_poll', file: '../deps/uv/src/unix/linux.c', line: 1368 },
      { index: 1, kind: 'native', from: 'gdb', pc: '0x2', function: 'node::SpinEventLoopInternal(node::Environment*)', library: '/usr/bin/node' },
    ] : undefined,
    jsStack: on
      ? { frames: [{ index: 0, kind: 'js', function: 'renderInvoicePdf', script: '/srv/app/server.js', line: 7, fp: '0x7ffd0010' }, { index: 1, kind: 'js', function: 'Server.<anonymous>\x1b]0;pwned\x07', script: '/srv/app/server.js', line: 11, fp: '0x7ffd0090' }], start: 'c_entry_fp', cEntryFpOffset: 384, offsetSource: 'known', walkMs: 3, problems: [] }
      : { frames: [], start: 'none', walkMs: 1, problems: ['JS frames: this node binary lacks V8 postmortem constants the walker needs: v8dbg_x'] },
    problems: [],
  };
}

/** A core inspection answering when told to. */
export class FakeCoreSession extends CoreStore implements CoreSession {
  started = 0;
  constructor(readonly path = '/tmp/app.core') {
    super();
  }
  start() {
    this.started++;
    if (this.getState().status === 'idle') this.set({ status: 'loading', seconds: 0 });
  }
  async close() {}
}
