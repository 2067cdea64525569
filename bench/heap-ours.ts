/**
 * Child process of bench/heap.ts: our engine on one snapshot, the way `autopsy-ts heap` loads it:
 * parseSnapshot, then analyze() (dominators, distances, classes and the class summary in sequence on
 * one thread, with a phase for each step). With --two-threads, analyzeParallel (retainers and
 * Lengauer–Tarjan on a worker thread while this thread computes distances and classes).
 * Usage: node dist/bench/heap-ours.js <snapshot> [--two-threads] [--profile] [--count=<class>]
 *
 * Prints `@phase <name> <ms> <VmHWM MB>` on stderr as each phase ends (so a crash shows how far it
 * got), then one JSON line on stdout (HeapChildReport).
 *
 * --profile (not timed): every typed array the engine allocates is recorded with its call site and
 * phase, to say which arrays make the peak and how many bytes per node or per edge each costs. The
 * global typed-array constructors are replaced by recording subclasses; the engine looks them up at
 * call time, so nothing in src/ changes. It ignores --two-threads: arrays allocated in a worker are not seen.
 */
import { statSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { analyze, analyzeParallel, type Analysis } from '../src/heap/analysis';
import { parseSnapshot } from '../src/heap/parser';
import { countClass, Phases, procStatus, type ArraySite, type HeapChildReport } from './heap-report';

// --- allocation profile ---------------------------------------------------------------------

const sites = new Map<string, ArraySite>();
/** Buffer → its site. Weak, so that recording keeps no transient array alive. */
const siteOfBuffer = new WeakMap<ArrayBufferLike, ArraySite>();
let profilePhase = (): string => 'parse';

/** Smaller arrays are not recorded (per-string and per-class tables of small snapshots). */
const MIN_BYTES = 256 * 1024;

function siteOf(stack: string): string {
  for (const line of stack.split('\n').slice(2)) {
    const m = /at (?:(\S+) )?\(?(?:.*\/)?((?:src\/heap|src\/bundle)\/[^:]+):(\d+)/.exec(line);
    if (m) return `${m[1] ?? '<anonymous>'} (${m[2].replace(/^.*\//, '')}:${m[3]})`;
  }
  return '(outside src/heap)';
}

function installProfile(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  for (const name of ['Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array']) {
    const Base = g[name] as new (...args: unknown[]) => ArrayBufferView & { length: number };
    const Recording = class extends Base {
      constructor(...args: unknown[]) {
        super(...args);
        // A view over an existing buffer (subarray, new X(buffer)) allocates nothing.
        if (args[0] instanceof ArrayBuffer || args[0] instanceof SharedArrayBuffer || this.byteLength < MIN_BYTES) return;
        const site = siteOf(new Error().stack ?? '');
        const key = `${profilePhase()}|${site}|${name}`;
        let r = sites.get(key);
        if (!r) sites.set(key, (r = { phase: profilePhase(), site, kind: name, count: 0, bytes: 0, length: 0, kept: false }));
        r.count++;
        r.bytes += this.byteLength;
        r.length = Math.max(r.length, this.length);
        siteOfBuffer.set(this.buffer, r);
      }
    };
    Object.defineProperty(Recording, 'name', { value: name });
    g[name] = Recording;
  }
}

/** Typed arrays reachable from `root` through plain objects, arrays and class instances. */
function reachableArrays(root: unknown): Set<ArrayBufferLike> {
  const buffers = new Set<ArrayBufferLike>();
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== 'object' || seen.has(v) || depth > 6) return;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      buffers.add(v.buffer);
      return;
    }
    if (Array.isArray(v) && v.length > 64) return; // class rows, names: no typed arrays inside
    for (const key of Object.getOwnPropertyNames(v)) {
      // Skip getters: analyze()'s retainer index is built when first read, and the result does not hold it.
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d && 'value' in d) walk(d.value, depth + 1);
    }
  };
  walk(root, 0);
  return buffers;
}

// --- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const file = process.argv[2];
  const profile = process.argv.includes('--profile');
  const oneThread = profile || !process.argv.includes('--two-threads'); // the profile cannot see into the worker
  if (!file || file.startsWith('--')) throw new Error('usage: heap-ours.js <snapshot> [--two-threads] [--profile] [--count=<class>]');
  if (profile) installProfile();
  const startedMs = performance.now(); // since the process started: Node's start-up and module loading
  const phases = new Phases();
  profilePhase = () => phases.current;
  const start = performance.now();

  const s = await parseSnapshot(file);
  phases.end('analysis');
  let a: Analysis;
  if (oneThread) {
    // analyze() reports the step it starts, then 'done'.
    a = analyze(s, (phase) => {
      if (phase === phases.current) return;
      if (phases.current === 'analysis') phases.current = phase; // time before the first step is the first step's
      else phases.end(phase);
    });
  } else {
    phases.current = 'analysis (2 threads)';
    a = await analyzeParallel(s);
  }
  if (phases.current !== 'done') phases.end('done');
  const workMs = performance.now() - start;

  const counted = a.summary.filter((r) => r.name === countClass(process.argv)).reduce((sum, r) => sum + r.count, 0);
  const report: HeapChildReport = {
    tool: oneThread ? 'ours' : 'ours-2t',
    ok: true,
    fileBytes: statSync(file).size,
    nodes: s.nodeCount,
    edges: s.edgeCount,
    workMs,
    startedMs,
    phases: phases.list,
    hwmMb: procStatus().hwmMb,
    heapLimitMb: getHeapStatistics().heap_size_limit / 2 ** 20,
    classes: a.summary.length,
    check: {
      rootRetained: a.dom.retainedSize[0],
      counted: { name: countClass(process.argv), count: counted },
      top: a.summary.slice(0, 5).map((r) => ({ name: r.name, count: r.count, retained: r.retainedSize })),
    },
  };
  if (profile) {
    for (const buffer of reachableArrays(a)) {
      const site = siteOfBuffer.get(buffer);
      if (site) site.kept = true;
    }
    report.profile = { stringBytes: s.strings.byteLength, sites: [...sites.values()] };
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`heap-ours: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
