/**
 * The heap engine (parseSnapshot + analysis: retainers, dominators and retained sizes, distances,
 * class summary) against memlab 2.0.5 in the same run (bench/heap-memlab.ts: what
 * `memlab heap --snapshot` computes, with the flags of memlab's bin). Targets (docs/performance.md):
 * ours at least 6 × faster than memlab; our peak RSS <= 1.5 × the snapshot file's size.
 * Ours runs two ways: `ours` = analyze(), what `autopsy-ts heap` runs, all on one thread like
 * memlab; `ours-2t` = analyzeParallel (a worker thread does the retainers and dominators while the
 * main thread does distances and classes).
 *
 * Each measurement is one fresh child process (bench/heap-runs.ts), so peak RSS (VmHWM) belongs to
 * one tool.
 *
 * 1. Synthetic snapshots (src/heap/generate.ts) of ~150 MB and ~600 MB: ROUNDS rounds, ours,
 *    ours-2t and memlab alternating (the order rotates); then one run of ours and of memlab under
 *    --max-old-space-size=512.
 *    Before the rounds, one untimed --profile run of ours records every typed array by phase and
 *    call site (bytes per node and per edge).
 * 2. ~2 GB (30M nodes): ours and ours-2t, and ours under the 512 MB limit. memlab only with
 *    BENCH_HEAP_HUGE_ANCHOR=1 (one run, 30 min at most); BENCH_HEAP_HUGE=0 skips this part.
 * 3. Real snapshots of a small HTTP server (bench/heap-app.ts): idle, and holding 150k sessions
 *    (about the size of the small synthetic one), ROUNDS rounds alternating.
 * Snapshots are written to a temp folder and deleted after use (up to 2.2 GB of disk, ~8 GB of
 * memory with the 2 GB anchor). Takes ~13 minutes on 2 cores, ~20 with BENCH_HEAP_HUGE_ANCHOR=1;
 * BENCH_HEAP_ROUNDS sets the rounds (default 3), BENCH_HEAP_SCALE=0.02 makes every snapshot small.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticSnapshot } from '../src/heap/generate';
import { REAL_APP } from './heap-app';
import { MEMLAB_NODE_FLAGS, ensureMemlab } from './heap-memlab';
import type { ArraySite } from './heap-report';
import { CHILD_SCRIPTS, figures, ratiosOf, runChild, type Round, type Tool, type ToolFigures } from './heap-runs';
import { cleanEnv, fmt, machine, printJsonLine, printTable, ROOT, rotated, type Machine } from './harness';
import { round2, type Summary } from './stats';

export const TARGET_SPEEDUP = 6;
export const TARGET_RSS_PER_FILE = 1.5;

const LIMIT = '--max-old-space-size=512';
const MEMLAB_LIMITED = ['--expose-gc', LIMIT];
const MB = 2 ** 20;
/** BENCH_HEAP_SCALE=0.02 shrinks every snapshot, to check the bench itself in seconds. */
const SCALE = Number(process.env.BENCH_HEAP_SCALE) > 0 ? Number(process.env.BENCH_HEAP_SCALE) : 1;

interface Spec {
  label: string;
  kind: 'synthetic' | 'real';
  /** Synthetic: node count and leaked Orders. Real: sessions held by the server. */
  nodes?: number;
  leak?: number;
  sessions?: number;
  count: string;
}
const SYNTHETIC: Spec[] = [
  { label: 'synthetic ~150 MB', kind: 'synthetic', nodes: 2_200_000, leak: 20_000, count: 'Order' },
  { label: 'synthetic ~600 MB', kind: 'synthetic', nodes: 8_500_000, leak: 50_000, count: 'Order' },
];
const HUGE: Spec = { label: 'synthetic ~2 GB', kind: 'synthetic', nodes: 30_000_000, leak: 100_000, count: 'Order' };
const REAL: Spec[] = [
  { label: 'real: idle HTTP server', kind: 'real', sessions: 0, count: 'Session' },
  { label: 'real: HTTP server, 150k sessions', kind: 'real', sessions: 150_000, count: 'Session' },
];

function log(text: string): void {
  process.stderr.write(`heap: ${text}\n`);
}

export interface SnapshotInfo {
  label: string;
  kind: Spec['kind'];
  fileMb: number;
  nodes: number;
  edges: number;
  /** Time to generate (synthetic) or to run the app and write the snapshot (real). */
  makeS: number;
}

async function makeSnapshot(spec: Spec, path: string): Promise<SnapshotInfo> {
  const t = process.hrtime.bigint();
  log(`writing ${spec.label} to ${path}`);
  let nodes = 0;
  let edges = 0;
  if (spec.kind === 'synthetic') {
    const r = await writeSyntheticSnapshot(path, { nodes: Math.round(spec.nodes! * SCALE), seed: 1, leak: Math.round(spec.leak! * SCALE) });
    nodes = r.nodes;
    edges = r.edges;
  } else {
    const r = spawnSync(process.execPath, ['-e', REAL_APP, path, String(Math.round(spec.sessions! * SCALE))], { env: cleanEnv(), encoding: 'utf8', timeout: 10 * 60_000 });
    if (r.status !== 0) throw new Error(`the real app failed (exit ${r.status ?? r.signal}): ${r.stderr.slice(0, 1000)}`);
  }
  const makeS = Number(process.hrtime.bigint() - t) / 1e9;
  const label = SCALE === 1 ? spec.label : `${spec.label} × ${SCALE}`;
  return { label, kind: spec.kind, fileMb: statSync(path).size / MB, nodes, edges, makeS: round2(makeS) };
}
export interface Comparison {
  snapshot: SnapshotInfo;
  rounds: number;
  ours: ToolFigures;
  oursTwoThreads: ToolFigures;
  memlab?: ToolFigures;
  /** Why there is no memlab figure. */
  memlabSkipped?: string;
  /** Median over rounds of memlab's / ours (wall, work in the child, peak RSS); twoThreads: memlab's / ours-2t. */
  ratios?: { wall: number; work: number; rss: number; twoThreads: { wall: number; work: number; rss: number } };
  /** Node and edge counts equal, and the same number of instances of the counted class. */
  agree?: boolean;
  /** One run each under --max-old-space-size=512. */
  limited?: { ours: ToolFigures; memlab?: ToolFigures };
  profile?: { sites: (ArraySite & { bytesPerNode: number; bytesPerEdge: number })[]; stringMb: number; nodes: number; edges: number };
}
interface CompareOptions {
  rounds: number;
  anchor: boolean;
  memlabSkipped?: string;
  limited: boolean;
  limitedAnchor: boolean;
  profile: boolean;
  timeoutMs?: number;
}

async function compare(spec: Spec, work: string, o: CompareOptions): Promise<Comparison> {
  const path = join(work, `${spec.label.replace(/\W+/g, '-')}.heapsnapshot`);
  try {
    const snapshot = await makeSnapshot(spec, path);
    const extra = [`--count=${spec.count}`];
    const result = { snapshot, rounds: o.rounds } as Comparison;
    if (o.profile) {
      log(`${spec.label}: allocation profile of ours (untimed)`);
      const p = await runChild('ours', path, ['--enable-source-maps'], [...extra, '--profile']);
      if (p.ok && p.report?.profile) {
        const { nodes, edges } = p.report;
        result.profile = {
          nodes,
          edges,
          stringMb: round2(p.report.profile.stringBytes / MB),
          sites: p.report.profile.sites.map((s) => ({ ...s, bytesPerNode: round2(s.bytes / nodes), bytesPerEdge: round2(s.bytes / edges) })),
        };
      } else log(`profile run failed: ${p.failure}`);
    }
    const rounds: Round[] = [];
    const tools: Tool[] = o.anchor ? ['ours', 'ours-2t', 'memlab'] : ['ours', 'ours-2t'];
    for (let round = 0; round < o.rounds; round++) {
      const got: Round = {};
      for (const tool of rotated(tools, round)) {
        log(`${spec.label}: round ${round + 1}/${o.rounds}, ${tool}`);
        const run = await runChild(tool, path, tool === 'memlab' ? MEMLAB_NODE_FLAGS : [], extra, o.timeoutMs);
        if (!run.ok) log(`${tool} failed: ${run.failure}`);
        got[tool] = run;
      }
      rounds.push(got);
    }
    const runsOf = (tool: Tool) => rounds.map((r) => r[tool]!);
    result.ours = figures('ours', [], runsOf('ours'), snapshot.fileMb);
    result.oursTwoThreads = figures('ours-2t', [], runsOf('ours-2t'), snapshot.fileMb);
    snapshot.nodes ||= result.ours.check?.nodes ?? 0;
    snapshot.edges ||= result.ours.check?.edges ?? 0;
    if (o.anchor) {
      result.memlab = figures('memlab', MEMLAB_NODE_FLAGS, runsOf('memlab'), snapshot.fileMb);
      result.ratios = { ...ratiosOf(rounds, 'ours'), twoThreads: ratiosOf(rounds, 'ours-2t') };
      const a = result.ours.check;
      const b = result.memlab.check;
      if (a && b) result.agree = a.nodes === b.nodes && a.edges === b.edges && a.counted.count === b.counted.count;
    } else result.memlabSkipped = o.memlabSkipped;
    if (o.limited) {
      log(`${spec.label}: ours under ${LIMIT}`);
      const l: Comparison['limited'] = { ours: figures('ours', [LIMIT], [await runChild('ours', path, [LIMIT], extra)], snapshot.fileMb) };
      if (o.limitedAnchor) {
        log(`${spec.label}: memlab under ${LIMIT}`);
        l.memlab = figures('memlab', MEMLAB_LIMITED, [await runChild('memlab', path, MEMLAB_LIMITED, extra, o.timeoutMs)], snapshot.fileMb);
      }
      result.limited = l;
    }
    return result;
  } finally {
    rmSync(path, { force: true });
  }
}

export interface HeapResult {
  bench: 'heap';
  machine: Machine & { load1End: number; totalMemMb: number };
  /** git revision, and whether src/heap had uncommitted changes (the figures are of the working tree). */
  revision: string;
  anchor: string;
  comparisons: Comparison[];
  targets: { speedup: number; rssPerFile: number };
  /** Per synthetic comparison with the anchor: speed-up (wall) >= target, our RSS / file <= target. */
  met: { label: string; speed?: boolean; rss: boolean; limited512?: boolean }[];
}

function revision(): string {
  const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout ?? '';
  const rev = git(['rev-parse', '--short', 'HEAD']).trim() || 'unknown';
  const dirty = git(['status', '--porcelain', '--', 'src/heap']).split('\n').filter(Boolean).map((l) => l.slice(3));
  return dirty.length ? `${rev} + uncommitted changes in ${dirty.join(', ')}` : rev;
}

export async function runHeap(): Promise<HeapResult> {
  for (const f of CHILD_SCRIPTS) if (!existsSync(f)) throw new Error(`${f} is missing: build first (npx tsc -p tsconfig.json)`);
  const m0 = machine();
  const rev = revision();
  const rounds = Math.max(1, Number(process.env.BENCH_HEAP_ROUNDS) || 3);
  const memlab = ensureMemlab();
  const anchor = memlab.ok ? `memlab ${memlab.version}` : `none: ${memlab.reason}`;
  if (!memlab.ok) log(`${memlab.reason}. Measuring ours alone; there is no ratio to the anchor in this run.`);
  const work = mkdtempSync(join(tmpdir(), 'autopsy-heap-bench-'));
  const comparisons: Comparison[] = [];
  try {
    for (const [i, spec] of SYNTHETIC.entries()) {
      comparisons.push(await compare(spec, work, {
        rounds, anchor: memlab.ok, memlabSkipped: anchor, limited: true, limitedAnchor: memlab.ok, profile: i === 0,
      }));
    }
    if (process.env.BENCH_HEAP_HUGE !== '0') {
      const hugeAnchor = memlab.ok && process.env.BENCH_HEAP_HUGE_ANCHOR === '1';
      comparisons.push(await compare(HUGE, work, {
        rounds: 1,
        anchor: hugeAnchor,
        memlabSkipped: memlab.ok ? 'skipped (BENCH_HEAP_HUGE_ANCHOR=1 runs it, once, for up to 30 min)' : anchor,
        limited: true,
        limitedAnchor: false,
        profile: false,
      }));
    }
    for (const spec of REAL) {
      comparisons.push(await compare(spec, work, { rounds, anchor: memlab.ok, memlabSkipped: anchor, limited: false, limitedAnchor: false, profile: false }));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const met = comparisons.filter((c) => c.snapshot.kind === 'synthetic').map((c) => ({
    label: c.snapshot.label,
    speed: c.ratios ? c.ratios.wall >= TARGET_SPEEDUP : undefined,
    rss: c.ours.rssPerFile <= TARGET_RSS_PER_FILE,
    limited512: c.limited ? c.limited.ours.failed === 0 : undefined,
  }));
  return {
    bench: 'heap',
    machine: { ...m0, load1End: machine().load1, totalMemMb: Math.round(totalmem() / MB) },
    revision: rev,
    anchor,
    comparisons,
    targets: { speedup: TARGET_SPEEDUP, rssPerFile: TARGET_RSS_PER_FILE },
    met,
  };
}

// --- output ----------------------------------------------------------------------------------

const s1 = (x: Summary) => (x.n > 1 ? `${fmt(x.median, 1)} (${fmt(x.min, 1)}–${fmt(x.max, 1)})` : fmt(x.median, 1));
const mb = (x: Summary) => (x.n > 1 ? `${fmt(x.median, 0)} (${fmt(x.min, 0)}–${fmt(x.max, 0)})` : fmt(x.median, 0));

function toolRow(c: Comparison, f: ToolFigures, ratio?: string): string[] {
  if (f.runs === f.failed) return [c.snapshot.label, f.tool, 'FAILED', '-', '-', '-', f.failures[0] ?? ''];
  return [c.snapshot.label, f.tool, s1(f.wallS), s1(f.workS), mb(f.hwmMb), fmt(f.rssPerFile), ratio ?? ''];
}

export function printHeap(r: HeapResult): void {
  printTable(
    `heap: parse + dominators + class summary, one fresh process per run, ours, ours-2t (2 threads) and ${r.anchor} alternating (${r.machine.node}, ${r.machine.cpus} cpus, revision ${r.revision})`,
    ['snapshot', 'tool', 'wall s, median (min–max)', 'work s', 'peak RSS MB', 'RSS / file', 'memlab / this: wall, work, RSS'],
    r.comparisons.flatMap((c) => {
      const ratio = (x?: { wall: number; work: number; rss: number }) => (x ? `${fmt(x.wall)} ×, ${fmt(x.work)} ×, ${fmt(x.rss)} ×` : '');
      const rows = [toolRow(c, c.ours, ratio(c.ratios)), toolRow(c, c.oursTwoThreads, ratio(c.ratios?.twoThreads))];
      if (c.memlab) rows.push(toolRow(c, c.memlab));
      else rows.push([c.snapshot.label, 'memlab', '-', '-', '-', '-', c.memlabSkipped ?? '']);
      return rows;
    }),
  );
  printTable(
    'snapshots',
    ['snapshot', 'file MB', 'nodes', 'edges', 'written in s', 'rounds', 'tools agree (nodes, edges, counted class)'],
    r.comparisons.map((c) => [
      c.snapshot.label, fmt(c.snapshot.fileMb, 1), c.snapshot.nodes, c.snapshot.edges, fmt(c.snapshot.makeS, 1), c.rounds,
      c.agree === undefined ? '-' : `${c.agree ? 'yes' : 'NO'} (${c.ours.check?.counted.name}: ${c.ours.check?.counted.count} / ${c.memlab?.check?.counted.count})`,
    ]),
  );
  printTable(
    'phases: median ms, and VmHWM (MB) when the phase ended',
    ['snapshot', 'tool', 'phases'],
    r.comparisons.flatMap((c) => [c.ours, c.oursTwoThreads, c.memlab].filter((f): f is ToolFigures => !!f && f.phases.length > 0).map((f) => [
      c.snapshot.label, f.tool, f.phases.map((p) => `${p.name} ${fmt(p.ms, 0)} (${fmt(p.hwmMb, 0)})`).join(', '),
    ])),
  );
  printTable(
    `under ${LIMIT} (memlab also with --expose-gc), one run each`,
    ['snapshot', 'tool', 'result', 'wall s', 'peak RSS MB', 'how it ended / how far it got'],
    r.comparisons.flatMap((c) => {
      const l = c.limited;
      if (!l) return [];
      return [l.ours, l.memlab].filter((f): f is ToolFigures => !!f).map((f) => {
        if (f.failed === 0) return [c.snapshot.label, f.tool, 'ok', fmt(f.wallS.median, 1), fmt(f.hwmMb.median, 0), `RSS / file ${fmt(f.rssPerFile)}`];
        const a = f.failedAfter[0];
        return [c.snapshot.label, f.tool, 'FAILED', fmt(a.s, 1), `>= ${fmt(a.hwmMb, 0)}`, `${f.failures[0]}; finished: ${a.phasesDone.join(', ') || 'nothing'}`];
      });
    }),
  );
  const p = r.comparisons.find((c) => c.profile)?.profile;
  if (p) {
    printTable(
      `typed arrays of ours by phase and call site (>= 256 KB), ${p.nodes} nodes, ${p.edges} edges; string table ${fmt(p.stringMb, 1)} MB; kept = still referenced by the result`,
      ['phase', 'call site', 'array', 'MB', 'B / node', 'B / edge', 'kept'],
      p.sites.map((s) => [s.phase, s.site, s.kind, fmt(s.bytes / MB, 1), fmt(s.bytesPerNode), fmt(s.bytesPerEdge), s.kept ? 'kept' : '']),
    );
    const perPhase = new Map<string, { kept: number; scratch: number }>();
    for (const s of p.sites) {
      const e = perPhase.get(s.phase) ?? { kept: 0, scratch: 0 };
      if (s.kept) e.kept += s.bytes;
      else e.scratch += s.bytes;
      perPhase.set(s.phase, e);
    }
    console.log(`by phase, bytes per node (kept + scratch): ${[...perPhase].map(([ph, e]) => `${ph} ${fmt(e.kept / p.nodes, 1)} + ${fmt(e.scratch / p.nodes, 1)}`).join('; ')}`);
  }
  console.log(`load average ${r.machine.load1} at start, ${r.machine.load1End} at end (${r.machine.cpus} cpus, ${r.machine.totalMemMb} MB)`);
  for (const m of r.met) {
    const c = r.comparisons.find((x) => x.snapshot.label === m.label)!;
    console.log(
      `${m.label}: ` +
        (c.ratios
          ? `memlab / ours ${fmt(c.ratios.wall)} × wall (target >= ${r.targets.speedup}: ${m.speed ? 'met' : 'MISSED'}; 2 threads: ${fmt(c.ratios.twoThreads.wall)} ×); `
          : 'no anchor; ') +
        `our peak RSS ${fmt(c.ours.rssPerFile)} × the file (target <= ${r.targets.rssPerFile}: ${m.rss ? 'met' : 'MISSED'})` +
        (m.limited512 === undefined ? '' : `; under ${LIMIT}: ${m.limited512 ? 'ok' : 'FAILED'}`),
    );
  }
}

if (require.main === module) {
  runHeap()
    .then((r) => {
      printHeap(r);
      printJsonLine(r);
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    });
}
