/**
 * Time to write an exception bundle (no heap snapshot). Target: <= 50 ms median (docs/performance.md).
 *
 * Three measurements, all in one run:
 * - warm: one process with the hook preloaded calls captureSync N times on fresh errors; the first
 *   call and the lazy require of the capture code are reported apart from the rest;
 * - cold: fresh processes crash for real; listeners placed before and after the hook's
 *   uncaughtExceptionMonitor listener time what the hook does there (lazy load + capture);
 * - crash-to-exit: the same crashing script under plain node, node --report-uncaught-exception (the
 *   anchor: Node writing its own diagnostic report on the same crash) and our hook, alternating.
 *   The time runs from just before the throw to the parent seeing the child reaped; process.hrtime
 *   is CLOCK_MONOTONIC on Linux, shared by parent and child.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleError, bundleExcerpts, checkIntegrity, readBundle } from '../src/bundle/reader';
import { ENTRY } from '../src/bundle/types';
import { CAPTURE, HOOK, cleanEnv, fmt, machine, printJsonLine, printTable, requireBuilt, rotated, timedNode, type Machine } from './harness';
import { mean, pairedMedianDiff, round2, roundSummary, summarize, type Summary } from './stats';

export const TARGET_MEDIAN_MS = 50;
const WARM_CALLS = 30;
const CRASH_WARMUP_ROUNDS = 2;
const CRASH_ROUNDS = 15;

/** The same small "app" code in both child scripts: a TypeError two frames deep, as in a request handler. */
const APP_CODE = `
const orders = new Map();
function loadInvoice(id) {
  const invoice = orders.get(id);
  return invoice.total.toFixed(2);
}
function handleRequest(req) {
  return loadInvoice(req.id);
}
`;

export const LOOP_SCRIPT = `'use strict';
const { writeSync } = require('node:fs');
${APP_CODE}
function makeError(i) {
  try {
    handleRequest({ id: i });
  } catch (err) {
    return err;
  }
  throw new Error('expected a TypeError');
}
const ms = (a, b) => Number(b - a) / 1e6;
const t = process.hrtime.bigint();
const { captureSync } = require(process.argv[2]);
const requireMs = ms(t, process.hrtime.bigint());
const times = [];
let size = 0;
let path = '';
for (let i = 0; i < Number(process.argv[3]); i++) {
  const err = makeError(i);
  const a = process.hrtime.bigint();
  const r = captureSync({ reason: 'uncaught-exception', error: err, hasError: true });
  const b = process.hrtime.bigint();
  if (!r.path) {
    writeSync(1, JSON.stringify({ failed: r }) + '\\n');
    process.exit(2);
  }
  times.push(ms(a, b));
  size = r.size;
  path = r.path;
}
writeSync(1, JSON.stringify({ requireMs, times, size, path }) + '\\n');
`;

export const CRASH_SCRIPT = `'use strict';
const { writeSync } = require('node:fs');
const http = require('node:http');
let throwAt = 0n;
let monitorStart = 0n;
// The hook's listener was added at preload: prepend one before it, append one after it.
process.prependListener('uncaughtExceptionMonitor', () => {
  monitorStart = process.hrtime.bigint();
});
process.on('uncaughtExceptionMonitor', () => {
  const end = process.hrtime.bigint();
  writeSync(1, JSON.stringify({ throwAt: String(throwAt), monitorMs: Number(end - monitorStart) / 1e6 }) + '\\n');
});
${APP_CODE}
// Something alive, as in a real server; the crash comes a few ms after listening, past the first loop turns.
const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  setTimeout(() => {
    throwAt = process.hrtime.bigint();
    handleRequest({ id: 42 });
  }, 5);
});
`;

type CrashVariant = 'plain' | 'report' | 'hook';
const CRASH_VARIANTS: CrashVariant[] = ['plain', 'report', 'hook'];
const VARIANT_LABEL: Record<CrashVariant, string> = {
  plain: 'node app.js',
  report: 'node --report-uncaught-exception (anchor)',
  hook: 'node --require hook',
};

export interface ExceptionBundleResult {
  bench: 'exception-bundle';
  date: string;
  machine: Machine & { load1End: number };
  warm: { calls: number; requireMs: number; firstCallMs: number; rest: Summary; bundleBytes: number };
  cold: { processes: number; monitor: Summary };
  crashToExit: {
    rounds: number;
    variants: { name: CrashVariant; label: string; ms: Summary; cpuMeanMs?: number; outputBytes?: number }[];
    /** Crash-to-exit over plain node (median of per-round differences), for the anchor and for us. */
    anchorAddedMs: number;
    hookAddedMs: number;
    /** hookAddedMs / anchorAddedMs: what our bundle costs next to Node writing its own report. */
    ratioAdded: number;
    /** Median crash-to-exit with the hook / with the anchor. */
    ratioTotal: number;
    /** Mean CPU of the whole child over plain node; the hook's includes its start-up. */
    anchorAddedCpuMs?: number;
    hookAddedCpuMs?: number;
  };
  targetMs: number;
  warmMet: boolean;
  coldMet: boolean;
}

/**
 * A capture that silently lost part of its work (no frames, no excerpts, no report) would look fast.
 * Refuse to report figures for bundles that are not complete.
 */
async function checkComplete(path: string): Promise<void> {
  const b = await readBundle(path);
  const problems = [...checkIntegrity(b).problems];
  const frames = bundleError(b)?.frames ?? [];
  if (!frames.some((f) => f.origin === 'app' && f.function === 'loadInvoice')) problems.push('error.json has no app frame for loadInvoice');
  if (bundleExcerpts(b).length === 0) problems.push('no source excerpts');
  if (!b.entries.has(ENTRY.report)) problems.push('no report.json');
  if (problems.length) throw new Error(`incomplete bundle ${path}: ${problems.join('; ')}`);
}

export async function runExceptionBundle(): Promise<ExceptionBundleResult> {
  requireBuilt();
  const work = mkdtempSync(join(tmpdir(), 'autopsy-bench-exception-'));
  try {
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0' }));
    writeFileSync(join(app, 'capture-loop.js'), LOOP_SCRIPT);
    writeFileSync(join(app, 'crash.js'), CRASH_SCRIPT);
    const startMachine = machine();
    const warm = measureWarm(work, app);
    const crash = measureCrashes(work, app);
    await checkComplete(warm.lastBundle);
    await checkComplete(crash.lastBundle);
    const hookMonitor = summarize(crash.monitorMs);
    return {
      bench: 'exception-bundle',
      date: new Date().toISOString(),
      machine: { ...startMachine, load1End: machine().load1 },
      warm: { calls: warm.calls, requireMs: warm.requireMs, firstCallMs: warm.firstCallMs, rest: warm.rest, bundleBytes: warm.bundleBytes },
      cold: { processes: crash.monitorMs.length, monitor: roundSummary(hookMonitor) },
      crashToExit: crash.summary,
      targetMs: TARGET_MEDIAN_MS,
      warmMet: warm.rest.median <= TARGET_MEDIAN_MS,
      coldMet: hookMonitor.median <= TARGET_MEDIAN_MS,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Settings so that neither the rate limit nor retention interferes with repeated captures. */
function hookEnv(bundleDir: string): NodeJS.ProcessEnv {
  return cleanEnv({ AUTOPSY_DIR: bundleDir, AUTOPSY_RATE_LIMIT: '1000000', AUTOPSY_MAX_BUNDLES: '1000000' });
}

function measureWarm(work: string, app: string): ExceptionBundleResult['warm'] & { lastBundle: string } {
  const bundles = join(work, 'warm-bundles');
  const { result } = timedNode(['--require', HOOK, join(app, 'capture-loop.js'), CAPTURE, String(WARM_CALLS)], hookEnv(bundles), true, app);
  const line = result.stdout.trim().split('\n').pop() ?? '';
  let parsed: { requireMs: number; times: number[]; size: number; path: string; failed?: unknown };
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`capture loop printed no result (exit ${result.status}): ${result.stderr.slice(0, 1000)}`);
  }
  if (parsed.failed || result.status !== 0) throw new Error(`capture loop failed: ${JSON.stringify(parsed.failed)} ${result.stderr.slice(0, 1000)}`);
  const written = readdirSync(bundles).filter((n) => n.endsWith('.tgz')).length;
  if (written !== WARM_CALLS) throw new Error(`capture loop wrote ${written} bundles, expected ${WARM_CALLS}`);
  return {
    calls: WARM_CALLS,
    requireMs: round2(parsed.requireMs),
    firstCallMs: round2(parsed.times[0]),
    rest: roundSummary(summarize(parsed.times.slice(1))),
    bundleBytes: parsed.size,
    lastBundle: parsed.path,
  };
}

function measureCrashes(work: string, app: string): { monitorMs: number[]; lastBundle: string; summary: ExceptionBundleResult['crashToExit'] } {
  const script = join(app, 'crash.js');
  const wall = new Map<CrashVariant, number[]>(CRASH_VARIANTS.map((v) => [v, []]));
  const cpu = new Map<CrashVariant, number[]>(CRASH_VARIANTS.map((v) => [v, []]));
  const outputBytes = new Map<CrashVariant, number>();
  const monitorMs: number[] = [];
  let lastBundle = '';
  let run = 0;

  for (let round = 0; round < CRASH_WARMUP_ROUNDS + CRASH_ROUNDS; round++) {
    for (const variant of rotated(CRASH_VARIANTS, round)) {
      // A fresh output folder per run: every crash writes into an empty folder, as a first crash would.
      const out = join(work, `run-${run++}`);
      mkdirSync(out);
      const args =
        variant === 'plain' ? [script] : variant === 'report' ? ['--report-uncaught-exception', `--report-directory=${out}`, script] : ['--require', HOOK, script];
      const { endedAt, cpuMs, result } = timedNode(args, hookEnv(out), true, app);

      const line = result.stdout.trim().split('\n').pop() ?? '';
      let child: { throwAt: string; monitorMs: number };
      try {
        child = JSON.parse(line);
      } catch {
        throw new Error(`${variant}: crash script printed no timing (exit ${result.status}): ${result.stderr.slice(0, 1000)}`);
      }
      if (result.status !== 1) throw new Error(`${variant}: exit ${result.status}, expected 1: ${result.stderr.slice(0, 1000)}`);
      const produced = readdirSync(out);
      if (variant !== 'plain' && produced.length !== 1) throw new Error(`${variant}: expected one file in ${out}, found [${produced.join(', ')}]: ${result.stderr.slice(0, 1000)}`);
      if (variant === 'hook' && !/autopsy-ts: wrote /.test(result.stderr)) throw new Error(`hook: no "wrote" line on stderr: ${result.stderr.slice(0, 1000)}`);
      if (produced.length === 1) outputBytes.set(variant, statSync(join(out, produced[0])).size);
      if (variant === 'hook') lastBundle = join(out, produced[0]);

      if (round < CRASH_WARMUP_ROUNDS) continue;
      wall.get(variant)!.push(Number(endedAt - BigInt(child.throwAt)) / 1e6);
      if (cpuMs !== undefined) cpu.get(variant)!.push(cpuMs);
      if (variant === 'hook') monitorMs.push(child.monitorMs);
    }
  }

  const med = (v: CrashVariant) => summarize(wall.get(v)!).median;
  const cpuMean = (v: CrashVariant) => mean(cpu.get(v)!);
  const anchorAdded = pairedMedianDiff(wall.get('report')!, wall.get('plain')!);
  const hookAdded = pairedMedianDiff(wall.get('hook')!, wall.get('plain')!);
  const finite = (n: number) => (Number.isFinite(n) ? round2(n) : undefined);
  return {
    monitorMs,
    lastBundle,
    summary: {
      rounds: CRASH_ROUNDS,
      variants: CRASH_VARIANTS.map((v) => ({
        name: v,
        label: VARIANT_LABEL[v],
        ms: roundSummary(summarize(wall.get(v)!)),
        cpuMeanMs: finite(cpuMean(v)),
        outputBytes: outputBytes.get(v),
      })),
      anchorAddedMs: round2(anchorAdded),
      hookAddedMs: round2(hookAdded),
      ratioAdded: round2(hookAdded / anchorAdded),
      ratioTotal: round2(med('hook') / med('report')),
      anchorAddedCpuMs: finite(cpuMean('report') - cpuMean('plain')),
      hookAddedCpuMs: finite(cpuMean('hook') - cpuMean('plain')),
    },
  };
}

export function printExceptionBundle(r: ExceptionBundleResult): void {
  const w = r.warm;
  printTable(
    `exception bundle, in-process captureSync (${r.machine.node}, ${r.machine.cpus} cpus); bundle ${fmt(w.bundleBytes / 1024, 1)} KB`,
    ['measurement', 'n', 'median', 'p90', 'max', `target <= ${r.targetMs} ms`],
    [
      ['require(capture) (lazy load)', 1, fmt(w.requireMs), '', '', ''],
      ['first captureSync in process', 1, fmt(w.firstCallMs), '', '', ''],
      [`captureSync calls 2..${w.calls}`, w.rest.n, fmt(w.rest.median), fmt(w.rest.p90), fmt(w.rest.max), r.warmMet ? 'met' : 'MISSED'],
      ['cold: hook monitor in a real crash', r.cold.processes, fmt(r.cold.monitor.median), fmt(r.cold.monitor.p90), fmt(r.cold.monitor.max), r.coldMet ? 'met' : 'MISSED'],
    ],
  );
  const c = r.crashToExit;
  const plain = c.variants.find((v) => v.name === 'plain')!;
  printTable(
    `crash-to-exit wall ms (throw -> child reaped), ${c.rounds} rounds, variants alternating`,
    ['variant', 'median', 'p90', 'max', 'added (paired median)', 'process cpu (mean)', 'added cpu', 'file'],
    c.variants.map((v) => [
      v.label,
      fmt(v.ms.median),
      fmt(v.ms.p90),
      fmt(v.ms.max),
      v.name === 'plain' ? '-' : `+${fmt(v.name === 'hook' ? c.hookAddedMs : c.anchorAddedMs)}`,
      v.cpuMeanMs === undefined ? '-' : fmt(v.cpuMeanMs, 1),
      v.name === 'plain' || v.cpuMeanMs === undefined || plain.cpuMeanMs === undefined ? '-' : `+${fmt(v.cpuMeanMs - plain.cpuMeanMs, 1)}`,
      v.outputBytes === undefined ? '-' : `${fmt(v.outputBytes / 1024, 1)} KB`,
    ]),
  );
  console.log('(cpu covers the whole child process, so the hook\'s row also carries its start-up cost)');
  console.log(`load average ${r.machine.load1} at start, ${r.machine.load1End} at end (${r.machine.cpus} cpus)`);
  console.log(
    `ours/anchor: added crash-to-exit ${fmt(c.hookAddedMs)} ms vs ${fmt(c.anchorAddedMs)} ms = ${fmt(c.ratioAdded)}x; ` +
      `total ${fmt(c.ratioTotal)}x. Target median <= ${r.targetMs} ms: warm ${r.warmMet ? 'met' : 'MISSED'} (${fmt(w.rest.median)} ms), ` +
      `cold ${r.coldMet ? 'met' : 'MISSED'} (${fmt(r.cold.monitor.median)} ms)`,
  );
}

if (require.main === module) {
  runExceptionBundle().then(
    (r) => {
      printExceptionBundle(r);
      printJsonLine(r);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
