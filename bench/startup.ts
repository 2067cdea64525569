/**
 * The hook's start-up cost: wall time of `node -e 0` with and without the hook, alternating in one run.
 * Anchor: plain `node -e 0` in the same run; empty preloads show what Node's own --require/--import
 * machinery costs, so the hook's share can be told apart. Target: <= 15 ms added (docs/performance.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOOK, cleanEnv, fmt, machine, type Machine, printJsonLine, printTable, requireBuilt, rotated, timedNode } from './harness';
import { mean, pairedMedianDiff, round2, roundSummary, summarize, type Summary } from './stats';

export const TARGET_ADDED_MS = 15;
const WARMUP_ROUNDS = 5;
const ROUNDS = 40;

interface Variant {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** The variant this one is compared with, for the "added" column. */
  base?: string;
}

/** One turn of the event loop: the hook's deferred registration (a small file in the temp dir) runs then. */
const ONE_TURN = 'setTimeout(() => {}, 1)';

function variants(emptyModule: string): Variant[] {
  return [
    { name: 'node -e 0', args: ['-e', '0'] },
    { name: '--require <empty.js>', args: ['--require', emptyModule, '-e', '0'], base: 'node -e 0' },
    { name: '--require hook', args: ['--require', HOOK, '-e', '0'], base: 'node -e 0' },
    { name: '--import <empty.js>', args: ['--import', emptyModule, '-e', '0'], base: 'node -e 0' },
    { name: '--import hook', args: ['--import', HOOK, '-e', '0'], base: 'node -e 0' },
    { name: 'NODE_OPTIONS=--require hook', args: ['-e', '0'], env: { NODE_OPTIONS: `--require ${HOOK}` }, base: 'node -e 0' },
    { name: 'node -e <one loop turn>', args: ['-e', ONE_TURN] },
    { name: '--require hook -e <one loop turn>', args: ['--require', HOOK, '-e', ONE_TURN], base: 'node -e <one loop turn>' },
  ];
}

/**
 * Inside one process: require an empty file first (it pays Node's one-time cost of a first user
 * require), then time require(hook). With argv[3] = 'deps', the hook's built-in dependencies are
 * required and timed first, so what remains is the hook's own files and install().
 * `node -e code a b c` sees a, b, c as process.argv[1..3].
 */
const IN_PROCESS = `
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;
require(process.argv[2]);
let t = process.hrtime.bigint();
if (process.argv[3] === 'deps') for (const m of ['node:worker_threads', 'node:perf_hooks', 'node:os']) require(m);
const depsMs = ms(t);
t = process.hrtime.bigint();
require(process.argv[1]);
process.stdout.write(JSON.stringify({ depsMs, hookMs: ms(t) }));
`;

function measureInProcess(empty: string, work: string): StartupResult['inProcess'] {
  const env = cleanEnv();
  const whole: number[] = [];
  const deps: number[] = [];
  const rest: number[] = [];
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    for (const mode of rotated(['whole', 'deps'], round)) {
      const { result } = timedNode(['-e', IN_PROCESS, HOOK, empty, mode], env, true, work);
      if (result.status !== 0) throw new Error(`in-process require timing failed: ${result.stderr.slice(0, 500)}`);
      const r = JSON.parse(result.stdout) as { depsMs: number; hookMs: number };
      if (round < WARMUP_ROUNDS) continue;
      if (mode === 'whole') whole.push(r.hookMs);
      else {
        deps.push(r.depsMs);
        rest.push(r.hookMs);
      }
    }
  }
  return { requireHookMs: roundSummary(summarize(whole)), builtinDepsMs: roundSummary(summarize(deps)), ownFilesAndInstallMs: roundSummary(summarize(rest)) };
}

export interface StartupResult {
  bench: 'startup';
  date: string;
  machine: Machine & { load1End: number };
  rounds: number;
  variants: { name: string; ms: Summary; addedMs?: number; cpuMeanMs?: number; addedCpuMs?: number }[];
  /**
   * Wall time of --require hook minus that of node -e 0, as the median of per-round differences:
   * the figure held against the target.
   */
  addedMs: number;
  /** The same difference in mean CPU time of the child, less sensitive to other load on the machine. */
  addedCpuMs?: number;
  /** Timed inside the process, so free of spawn noise; the "added" figures include Node's --require machinery too. */
  inProcess: { requireHookMs: Summary; builtinDepsMs: Summary; ownFilesAndInstallMs: Summary };
  targetMs: number;
  ratioToTarget: number;
  met: boolean;
}

export function runStartup(): StartupResult {
  requireBuilt();
  const work = mkdtempSync(join(tmpdir(), 'autopsy-bench-startup-'));
  try {
    const empty = join(work, 'empty.js');
    writeFileSync(empty, '');
    const list = variants(empty);
    const envs = new Map(list.map((v) => [v.name, cleanEnv(v.env)]));

    // A failing variant would time an error path, not start-up: check each once, with pipes.
    for (const v of list) {
      const { result } = timedNode(v.args, envs.get(v.name)!, true, work);
      if (result.status !== 0 || result.stderr.trim() !== '') {
        throw new Error(`${v.name}: exit ${result.status}, stderr: ${result.stderr.trim().slice(0, 500)}`);
      }
    }

    const startMachine = machine();
    const samples = new Map<string, number[]>(list.map((v) => [v.name, []]));
    const cpu = new Map<string, number[]>(list.map((v) => [v.name, []]));
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      for (const v of rotated(list, round)) {
        const { ms, cpuMs } = timedNode(v.args, envs.get(v.name)!, false, work);
        if (round < WARMUP_ROUNDS) continue;
        samples.get(v.name)!.push(ms);
        if (cpuMs !== undefined) cpu.get(v.name)!.push(cpuMs);
      }
    }

    const stats = new Map(list.map((v) => [v.name, summarize(samples.get(v.name)!)]));
    const cpuMean = new Map(list.map((v) => [v.name, mean(cpu.get(v.name)!)]));
    const rows = list.map((v) => {
      const s = stats.get(v.name)!;
      const added = v.base ? pairedMedianDiff(samples.get(v.name)!, samples.get(v.base)!) : undefined;
      const c = cpuMean.get(v.name)!;
      const addedCpu = v.base ? c - cpuMean.get(v.base)! : undefined;
      return {
        name: v.name,
        ms: roundSummary(s),
        addedMs: added === undefined ? undefined : round2(added),
        cpuMeanMs: Number.isFinite(c) ? round2(c) : undefined,
        addedCpuMs: addedCpu === undefined || !Number.isFinite(addedCpu) ? undefined : round2(addedCpu),
      };
    });
    const inProcess = measureInProcess(empty, work);
    const main = rows.find((r) => r.name === '--require hook')!;
    const addedMs = main.addedMs!;
    return {
      bench: 'startup',
      date: new Date().toISOString(),
      machine: { ...startMachine, load1End: machine().load1 },
      rounds: ROUNDS,
      variants: rows,
      addedMs,
      addedCpuMs: main.addedCpuMs,
      inProcess,
      targetMs: TARGET_ADDED_MS,
      ratioToTarget: round2(addedMs / TARGET_ADDED_MS),
      met: addedMs <= TARGET_ADDED_MS,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function printStartup(r: StartupResult): void {
  printTable(
    `startup: wall ms per spawnSync, ${r.rounds} rounds after ${WARMUP_ROUNDS} warm-up, variants alternating (${r.machine.node}, ${r.machine.cpus} cpus)`,
    ['variant', 'median', 'p90', 'min', 'max', 'added (paired median)', 'cpu (mean)', 'added cpu'],
    r.variants.map((v) => [
      v.name,
      fmt(v.ms.median),
      fmt(v.ms.p90),
      fmt(v.ms.min),
      fmt(v.ms.max),
      v.addedMs === undefined ? 'anchor' : signed(v.addedMs),
      v.cpuMeanMs === undefined ? '-' : fmt(v.cpuMeanMs, 1),
      v.addedCpuMs === undefined ? (v.addedMs === undefined ? 'anchor' : '-') : signed(v.addedCpuMs, 1),
    ]),
  );
  const p = r.inProcess;
  printTable(
    `inside the process (after one require of an empty file), ${p.requireHookMs.n} processes`,
    ['measurement', 'median', 'p90', 'min', 'max'],
    [
      ['require(hook)', p.requireHookMs],
      ['  worker_threads + perf_hooks + os alone', p.builtinDepsMs],
      ['  require(hook) after those', p.ownFilesAndInstallMs],
    ].map(([name, s]) => [name as string, fmt((s as Summary).median), fmt((s as Summary).p90), fmt((s as Summary).min), fmt((s as Summary).max)]),
  );
  console.log(`load average ${r.machine.load1} at start, ${r.machine.load1End} at end (${r.machine.cpus} cpus)`);
  console.log(
    `hook start-up (--require): ${signed(r.addedMs)} ms wall over node -e 0` +
      (r.addedCpuMs === undefined ? '' : `, ${signed(r.addedCpuMs, 1)} ms cpu`) +
      `; target <= ${r.targetMs} ms: ${r.met ? 'met' : 'MISSED'} (${fmt(r.ratioToTarget)} x target)`,
  );
}

function signed(n: number, digits = 2): string {
  return `${n >= 0 ? '+' : ''}${fmt(n, digits)}`;
}

if (require.main === module) {
  const r = runStartup();
  printStartup(r);
  printJsonLine(r);
}
