/**
 * The anchor of bench/heap.ts: memlab 2.0.5 on the same snapshot, through the API that
 * `memlab heap --snapshot` and @memlab/heap-analysis' getFullHeapFromFile use:
 * utils.getSnapshotFromFile(file, {buildNodeIdIndex: true}), then analysis.preparePathFinder (shortest
 * paths from the roots, dominators and retained sizes, Fiber marks), then a per-class aggregation
 * over heap.nodes (count, self size, sum of retained sizes: lighter than our Summary, which walks the
 * dominator tree so that nested instances are not counted twice).
 * Usage: node --expose-gc --max-old-space-size=4096 dist/bench/heap-memlab.js <snapshot> [--count=<class>]
 * (memlab's own bin runs with those two flags). Output as heap-ours.ts.
 *
 * memlab is installed outside the project's dependencies, in .cache/memlab (git-ignored), by
 * ensureMemlab(): npm install --ignore-scripts, so no browser download is attempted.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { ROOT } from './harness';
import { countClass, Phases, procStatus, type HeapChildReport } from './heap-report';

export const MEMLAB_VERSION = '2.0.5';
export const MEMLAB_PREFIX = join(ROOT, '.cache', 'memlab');
/** The flags of memlab's bin (`#!/usr/bin/env -S node --expose-gc --max-old-space-size=4096`). */
export const MEMLAB_NODE_FLAGS = ['--expose-gc', '--max-old-space-size=4096'];

function installedVersion(): string | undefined {
  try {
    const pkg = join(MEMLAB_PREFIX, 'node_modules', '@memlab', 'core', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** memlab in .cache/memlab, installing it if missing. Never throws: says why it is unavailable. */
export function ensureMemlab(): { ok: true; version: string; installed: boolean } | { ok: false; reason: string } {
  if (installedVersion() === MEMLAB_VERSION) return { ok: true, version: MEMLAB_VERSION, installed: false };
  process.stderr.write(`heap: installing memlab@${MEMLAB_VERSION} into ${MEMLAB_PREFIX} (once; npm registry only, no browser)\n`);
  const r = spawnSync(
    'npm',
    ['install', '--prefix', MEMLAB_PREFIX, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `memlab@${MEMLAB_VERSION}`],
    {
      // npm keeps this process's environment: it may need NODE_EXTRA_CA_CERTS (which cleanEnv drops) to reach the registry.
      env: { ...process.env, PUPPETEER_SKIP_DOWNLOAD: '1', PUPPETEER_SKIP_CHROMIUM_DOWNLOAD: '1' },
      encoding: 'utf8',
      timeout: 5 * 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const version = installedVersion();
  if (version === MEMLAB_VERSION) return { ok: true, version, installed: true };
  const why = r.error
    ? `${r.error.message}${(r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? ': no answer from the npm registry within 5 min' : ''}`
    : `npm exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  return { ok: false, reason: `memlab@${MEMLAB_VERSION} could not be installed into ${MEMLAB_PREFIX} (${why})` };
}

/** The part of memlab's API used here. */
interface MemlabNode {
  type: string;
  name: string;
  self_size: number;
  retainedSize: number;
}
interface MemlabHeap {
  nodes: { length: number; forEach(cb: (n: MemlabNode) => unknown): void; get(i: number): MemlabNode };
  edges: { length: number };
}
interface MemlabCore {
  config: { muteConsole: boolean };
  utils: { getSnapshotFromFile(file: string, opts: { buildNodeIdIndex: boolean; verbose?: boolean }): Promise<MemlabHeap> };
  analysis: { preparePathFinder(heap: MemlabHeap): unknown };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file || file.startsWith('--')) throw new Error('usage: heap-memlab.js <snapshot> [--count=<class>]');
  const core = createRequire(join(MEMLAB_PREFIX, 'index.js'))('@memlab/core') as MemlabCore;
  core.config.muteConsole = true;
  const startedMs = performance.now();
  const phases = new Phases();
  const start = performance.now();

  // What loadProcessedSnapshot (getFullHeapFromFile, `memlab heap --snapshot`) does.
  const heap = await core.utils.getSnapshotFromFile(file, { buildNodeIdIndex: true, verbose: true });
  phases.end('paths+dominators');
  core.analysis.preparePathFinder(heap);
  phases.end('classes');

  // The class of a node as DevTools' Summary names it: objects and natives by name, the rest by type.
  const rows = new Map<string, { count: number; self: number; retained: number }>();
  heap.nodes.forEach((n) => {
    const key = n.type === 'object' || n.type === 'native' ? n.name : `(${n.type})`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { count: 0, self: 0, retained: 0 }));
    r.count++;
    r.self += n.self_size;
    r.retained += n.retainedSize;
  });
  const sorted = [...rows].sort((a, b) => b[1].retained - a[1].retained);
  phases.end('done');
  const workMs = performance.now() - start;

  const report: HeapChildReport = {
    tool: 'memlab',
    ok: true,
    fileBytes: statSync(file).size,
    nodes: heap.nodes.length,
    edges: heap.edges.length,
    workMs,
    startedMs,
    phases: phases.list,
    hwmMb: procStatus().hwmMb,
    heapLimitMb: getHeapStatistics().heap_size_limit / 2 ** 20,
    classes: rows.size,
    check: {
      rootRetained: heap.nodes.get(0).retainedSize,
      counted: { name: countClass(process.argv), count: rows.get(countClass(process.argv))?.count ?? 0 },
      top: sorted.slice(0, 5).map(([name, r]) => ({ name, count: r.count, retained: r.retained })),
    },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`heap-memlab: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
