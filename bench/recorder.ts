/**
 * What the flight recorder costs a busy service: an HTTP hello-world under keep-alive load, with the
 * hook and every recorder on (samples, GC, net/http channels, output tail, persistence, OOM watch, the
 * leak trigger, the hang watchdog) against plain node, alternating in one run. Also the RSS of both,
 * and the cost of one recorded event. Target: throughput ratio >= 0.99, RSS overhead <= 8 MB.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOOK, cleanEnv, machine, printJsonLine, printTable, rotated, type Machine } from './harness';
import { CHANNELS, EVENTS, LOAD_MULTI, SERVER } from './recorder-scripts';
import { quantile, round2 } from './stats';

const ROUNDS = Number(process.env.BENCH_RECORDER_ROUNDS ?? 6);
/**
 * Load goes to one server at a time, in SLICE_MS turns, SLICES_EACH turns per server and round. Short
 * turns in rotation put every server through the same moments of a shared VM, whose speed drifts by
 * 10-15 % over seconds (sessions 2-4 ran the servers one after another, 5 s each, and could not tell
 * 0.96 from 0.86 between two runs). Session 5, measured: one 250 ms turn varies by +-30 %, the sum of
 * 20 turns by +-1.5 %, and two plain servers side by side then agree within 1 %.
 */
const SLICE_MS = 250;
const SLICES_EACH = 40;
/**
 * Past the hook's last deferred start-up step (the capture code is loaded 3 s after start, install.ts
 * WARM_AFTER_MS): a one-time ~40 ms of CPU that a steady-state service never pays again. The servers
 * start together and share the warm-up in turns.
 */
const WARM_MS = 6000;
const CONNS = 8;
const TARGET_RATIO = 0.99;
const TARGET_RSS_MB = 8;

/**
 * plain-worker: plain node with one idle worker thread and nothing else, the floor under any watchdog
 * that lives in a worker thread (the hook's, issue 3; Sentry's ANR worker): the anchor for what a
 * worker-based watchdog can cost at the least.
 */
/**
 * plain-b: a second plain server, the A/A control. Two processes of the same program differ by a few
 * per cent in CPU per request (JIT and memory layout); plain-b against plain shows how large a
 * difference this bench can tell from that in one run, and the hook is compared with the mean of both.
 */
type Variant = 'plain' | 'plain-b' | 'hook' | 'hook-no-watchdog' | 'plain-worker';
const VARIANTS: Variant[] = ['plain', 'plain-b', 'hook', 'hook-no-watchdog', 'plain-worker'];
/**
 * More hooked servers for a bisect, side by side with the others in the same rounds:
 * BENCH_RECORDER_EXTRA='{"no-tail": {"AUTOPSY_HANG_MS": "0", "AUTOPSY_TAIL": "0"}}' adds a server named
 * "no-tail" with the hook's settings plus those. One run compares them all against the same plain
 * servers and A/A control, instead of one 12-minute run per part.
 */
const EXTRA = extraVariants(process.env.BENCH_RECORDER_EXTRA);

function extraVariants(json: string | undefined): Record<string, Record<string, string>> {
  if (!json) return {};
  const usage = 'BENCH_RECORDER_EXTRA: expected {"name": {"AUTOPSY_...": "value"}}, with names other than ' + VARIANTS.join(', ');
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(usage);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(usage);
  const extra = parsed as Record<string, unknown>;
  for (const [name, env] of Object.entries(extra)) {
    if ((VARIANTS as string[]).includes(name) || !env || typeof env !== 'object' || Object.values(env).some((v) => typeof v !== 'string')) throw new Error(usage);
  }
  return extra as Record<string, Record<string, string>>;
}
const IDLE_WORKER = "new (require('node:worker_threads').Worker)('setInterval(() => {}, 1000)', { eval: true }).unref();";

interface Run {
  variant: Variant | string;
  rps: number;
  /** Server CPU (user + system) per request, µs: unlike req/s, barely moved by other load on the machine. */
  cpuUsPerReq: number;
  rssMb: number;
  hwmMb: number;
  /** RssAnon: the process's private memory, without the shared pages of the node binary and libraries. */
  anonMb: number;
}

export interface RecorderResult {
  name: 'recorder';
  machine: Machine;
  rounds: number;
  runs: Run[];
  rps: Record<Variant, number>;
  /** Median over rounds of hook rps / plain rps of the same round. */
  ratio: number;
  ratioMin: number;
  ratioNoWatchdog: number;
  /**
   * Median over rounds of the plain servers' CPU/request (mean of plain and plain-b) ÷ the hook's: the
   * throughput ratio at saturation, robust to load.
   */
  cpuRatio: number;
  cpuRatioNoWatchdog: number;
  /** The same ratios' quartiles over rounds, [q1, q3]. */
  cpuRatioIqr: [number, number];
  cpuRatioNoWatchdogIqr: [number, number];
  /** A/A: plain ÷ plain-b per round, median and [q1, q3]: what two identical servers differ by. */
  aaRatio: number;
  aaRatioIqr: [number, number];
  /** BENCH_RECORDER_EXTRA's servers: their settings, CPU ratio against the plain servers, CPU per request, RSS and RssAnon. */
  extra: Record<string, { env: Record<string, string>; cpuRatio: number; cpuRatioIqr: [number, number]; cpuUsPerReq: number; rssMb: number; anonMb: number }>;
  cpuUsPerReq: Record<Variant, number>;
  rssMb: Record<Variant, number>;
  /** RSS overheads are against the mean of plain and plain-b; aaRssMb is plain-b's median minus plain's. */
  rssOverheadMb: number;
  aaRssMb: number;
  rssOverheadNoWatchdogMb: number;
  hwmOverheadMb: number;
  anonOverheadMb: number;
  anonOverheadNoWatchdogMb: number;
  /** plain-worker against plain: what one idle worker thread costs, RSS and RssAnon. */
  workerFloorMb: { rss: number; anon: number };
  eventNs: { record: number; persist: number; breadcrumb: number };
  /** CPU ns per HTTP request of the hook's channel subscribers, and of the bare publish without them. */
  requestNs: { hook: number; plain: number };
  targets: { ratio: number; rssMb: number };
  ratioMet: boolean;
  rssMet: boolean;
}

function waitFor(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const on = (d: Buffer) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.startsWith(prefix));
      if (line) {
        child.stdout!.off('data', on);
        resolve(line.slice(prefix.length));
      }
    };
    child.stdout!.on('data', on);
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before "${prefix}"`)));
  });
}

/** CPU time of every thread of a process, µs, from /proc/<pid>/task/<tid>/schedstat (ns resolution, unlike /proc/<pid>/stat's 10 ms ticks). */
function cpuUsOf(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {} // a thread that ended between the listing and the read
  }
  return ns / 1000;
}

/**
 * With taskset and two CPUs or more, every server shares CPU 1 and the load generator has CPU 0: the
 * servers then meet the same caches, frequency and neighbours, and the scheduler does not move them.
 */
function pinned(): { server: string[]; load: string[] } {
  const ok = cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return ok ? { server: ['taskset', '-c', '1'], load: ['taskset', '-c', '0'] } : { server: [], load: [] };
}

/**
 * One round: the servers are up side by side, and one load generator (LOAD_MULTI) gives its load
 * to each in turn. A server's CPU per request is its CPU time during its own turns over the requests it
 * served in them; its req/s, those requests over the length of its turns.
 */
async function oneRound(round: number, dir: string, pin: ReturnType<typeof pinned>): Promise<Run[]> {
  const order = rotated<string>([...VARIANTS, ...Object.keys(EXTRA)], round);
  const children = order.map((variant) => {
    // hook-no-watchdog: the recorder alone, without the hang watchdog's worker thread (issue 3).
    const bare = variant === 'plain' || variant === 'plain-b' || variant === 'plain-worker';
    const settings = variant === 'hook-no-watchdog' ? { AUTOPSY_HANG_MS: '0' } : (EXTRA[variant] ?? {});
    const env = bare ? cleanEnv() : cleanEnv({ AUTOPSY_DIR: join(dir, variant), AUTOPSY_LEAK: '1', ...settings });
    const args = [...(bare ? [] : ['--require', HOOK]), '-e', variant === 'plain-worker' ? IDLE_WORKER + SERVER : SERVER];
    const [cmd, ...rest] = [...pin.server, process.execPath, ...args];
    return spawn(cmd, rest, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  });
  try {
    const ports = await Promise.all(children.map((c) => waitFor(c, 'port ')));
    const slices = SLICES_EACH * children.length;
    const [cmd, ...rest] = [...pin.load, process.execPath, '-e', LOAD_MULTI, String(WARM_MS), String(SLICE_MS), String(slices), String(CONNS), ...ports];
    const load = spawn(cmd, rest, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    const cpuUs = children.map(() => 0);
    const served = children.map(() => 0);
    let marks = 0;
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      let prev: { cpu: number[]; done: number[] } | undefined;
      load.stdout!.on('data', (d: Buffer) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.startsWith('mark ')) continue;
          const m = JSON.parse(line.slice(5)) as { k: number; done: number[] };
          const now = { cpu: children.map((c) => cpuUsOf(c.pid!)), done: m.done };
          if (prev && m.k >= 0) {
            cpuUs[m.k] += now.cpu[m.k] - prev.cpu[m.k];
            served[m.k] += now.done[m.k] - prev.done[m.k];
          }
          prev = now;
          marks++;
        }
      });
      load.once('exit', (code) => (code === 0 && marks === slices + 1 ? resolve() : reject(new Error(`load generator exited with ${code} after ${marks} marks`))));
    });
    const runs: Run[] = [];
    for (let k = 0; k < children.length; k++) {
      const mem = waitFor(children[k], 'rss ');
      children[k].stdin!.write('\n');
      const { rss, hwm, anon } = JSON.parse(await mem) as { rss: number; hwm: number; anon: number };
      runs.push({
        variant: order[k],
        rps: round2(served[k] / ((SLICES_EACH * SLICE_MS) / 1000)),
        cpuUsPerReq: round2(cpuUs[k] / Math.max(1, served[k])),
        rssMb: round2(rss / 1024),
        hwmMb: round2(hwm / 1024),
        anonMb: round2(anon / 1024),
      });
    }
    return runs;
  } finally {
    for (const c of children) {
      c.stdin!.write('exit\n');
      setTimeout(() => c.kill('SIGKILL'), 2000).unref();
    }
  }
}

function channelCost(dir: string, hook: boolean): number {
  const r = spawnSync(process.execPath, ['-e', CHANNELS, hook ? HOOK : '', '200000'], { env: cleanEnv({ AUTOPSY_DIR: dir }), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`channel cost failed: ${r.stderr.slice(0, 500)}`);
  return round2((JSON.parse(r.stdout.trim().split('\n').pop()!) as { ns: number }).ns);
}

function eventCost(dir: string): RecorderResult['eventNs'] {
  const r = spawnSync(process.execPath, ['-e', EVENTS, HOOK, '100000'], { env: cleanEnv({ AUTOPSY_DIR: dir }), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`event cost failed: ${r.stderr.slice(0, 500)}`);
  const p = JSON.parse(r.stdout.trim().split('\n').pop()!) as { recordNs: number; persistNs: number; breadcrumbNs: number };
  return { record: round2(p.recordNs), persist: round2(p.persistNs), breadcrumb: round2(p.breadcrumbNs) };
}

export async function runRecorder(): Promise<RecorderResult> {
  const dir = mkdtempSync(join(tmpdir(), 'autopsy-bench-recorder-'));
  try {
    const m = machine();
    const runs: Run[] = [];
    const ratios: number[] = [];
    const ratiosNoWatchdog: number[] = [];
    const cpuRatios: number[] = [];
    const cpuRatiosNoWatchdog: number[] = [];
    const aaRatios: number[] = [];
    const extraRatios: Record<string, number[]> = {};
    const pin = pinned();
    for (let round = 0; round < ROUNDS; round++) {
      const byVariant: Partial<Record<string, Run>> = {};
      for (const r of await oneRound(round, dir, pin)) byVariant[r.variant] = r;
      for (const v of VARIANTS) runs.push(byVariant[v]!);
      ratios.push(byVariant.hook!.rps / byVariant.plain!.rps);
      ratiosNoWatchdog.push(byVariant['hook-no-watchdog']!.rps / byVariant.plain!.rps);
      const plainCpu = (byVariant.plain!.cpuUsPerReq + byVariant['plain-b']!.cpuUsPerReq) / 2;
      cpuRatios.push(plainCpu / byVariant.hook!.cpuUsPerReq);
      cpuRatiosNoWatchdog.push(plainCpu / byVariant['hook-no-watchdog']!.cpuUsPerReq);
      aaRatios.push(byVariant['plain-b']!.cpuUsPerReq / byVariant.plain!.cpuUsPerReq);
      for (const v of Object.keys(EXTRA)) {
        runs.push(byVariant[v]!);
        (extraRatios[v] ??= []).push(plainCpu / byVariant[v]!.cpuUsPerReq);
      }
    }
    const med = (v: string, k: 'rps' | 'rssMb' | 'hwmMb' | 'anonMb' | 'cpuUsPerReq') => round2(quantile(runs.filter((r) => r.variant === v).map((r) => r[k]), 0.5));
    const ratio = Math.round(quantile(ratios, 0.5) * 1000) / 1000;
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const iqr = (xs: number[]): [number, number] => [r3(quantile(xs, 0.25)), r3(quantile(xs, 0.75))];
    // Memory is compared with the mean of the two plain servers too: their medians differ by up to 3 MB on Node 24.
    const base = (k: 'rssMb' | 'hwmMb' | 'anonMb') => (med('plain', k) + med('plain-b', k)) / 2;
    const over = (v: string, k: 'rssMb' | 'hwmMb' | 'anonMb') => round2(med(v, k) - base(k));
    const rssOverheadMb = over('hook', 'rssMb');
    const eventNs = eventCost(dir);
    const requestNs = { hook: channelCost(dir, true), plain: channelCost(dir, false) };
    return {
      name: 'recorder',
      machine: m,
      rounds: ROUNDS,
      runs,
      rps: Object.fromEntries(VARIANTS.map((v) => [v, med(v, 'rps')])) as Record<Variant, number>,
      ratio,
      ratioMin: Math.round(Math.min(...ratios) * 1000) / 1000,
      ratioNoWatchdog: Math.round(quantile(ratiosNoWatchdog, 0.5) * 1000) / 1000,
      cpuRatio: Math.round(quantile(cpuRatios, 0.5) * 1000) / 1000,
      cpuRatioNoWatchdog: Math.round(quantile(cpuRatiosNoWatchdog, 0.5) * 1000) / 1000,
      cpuRatioIqr: iqr(cpuRatios),
      cpuRatioNoWatchdogIqr: iqr(cpuRatiosNoWatchdog),
      aaRatio: r3(quantile(aaRatios, 0.5)),
      aaRatioIqr: iqr(aaRatios),
      extra: Object.fromEntries(Object.entries(extraRatios).map(([v, xs]) => [v, { env: EXTRA[v], cpuRatio: r3(quantile(xs, 0.5)), cpuRatioIqr: iqr(xs), cpuUsPerReq: med(v, 'cpuUsPerReq'), rssMb: med(v, 'rssMb'), anonMb: med(v, 'anonMb') }])),
      cpuUsPerReq: Object.fromEntries(VARIANTS.map((v) => [v, med(v, 'cpuUsPerReq')])) as Record<Variant, number>,
      rssMb: Object.fromEntries(VARIANTS.map((v) => [v, med(v, 'rssMb')])) as Record<Variant, number>,
      rssOverheadMb,
      rssOverheadNoWatchdogMb: over('hook-no-watchdog', 'rssMb'),
      hwmOverheadMb: over('hook', 'hwmMb'),
      anonOverheadMb: over('hook', 'anonMb'),
      anonOverheadNoWatchdogMb: over('hook-no-watchdog', 'anonMb'),
      aaRssMb: round2(med('plain-b', 'rssMb') - med('plain', 'rssMb')),
      workerFloorMb: { rss: over('plain-worker', 'rssMb'), anon: over('plain-worker', 'anonMb') },
      eventNs,
      requestNs,
      targets: { ratio: TARGET_RATIO, rssMb: TARGET_RSS_MB },
      // Judged on CPU per request: req/s on a machine shared with other work varies by 2x between runs.
      ratioMet: quantile(cpuRatios, 0.5) >= TARGET_RATIO,
      rssMet: rssOverheadMb <= TARGET_RSS_MB,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printRecorder(r: RecorderResult): void {
  printTable(
    `Flight recorder: HTTP hello-world, ${CONNS} keep-alive connections, servers side by side with the load in ${SLICE_MS} ms turns, ${(SLICES_EACH * SLICE_MS) / 1000} s each per round, ${r.rounds} rounds (${r.machine.node}, ${r.machine.cpus} cpus, load ${r.machine.load1})`,
    ['variant', 'req/s (median)', 'server CPU µs/req (median)', 'RSS MB (median)', 'VmHWM MB (median)'],
    VARIANTS.map((v) => [v, r.rps[v], r.cpuUsPerReq[v], r.rssMb[v], round2(quantile(r.runs.filter((x) => x.variant === v).map((x) => x.hwmMb), 0.5))]),
  );
  console.log(`throughput ratio hook/plain by server CPU per request: median ${r.cpuRatio} (quartiles ${r.cpuRatioIqr.join('-')}; target >= ${r.targets.ratio}: ${r.ratioMet ? 'met' : 'MISSED'}); without the hang watchdog ${r.cpuRatioNoWatchdog} (${r.cpuRatioNoWatchdogIqr.join('-')})`);
  for (const [v, x] of Object.entries(r.extra)) console.log(`  ${v} (${JSON.stringify(x.env)}): ratio ${x.cpuRatio} (quartiles ${x.cpuRatioIqr.join('-')}), ${x.cpuUsPerReq} µs/req, RSS ${x.rssMb} MB, RssAnon ${x.anonMb} MB`);
  console.log(`A/A control, plain-b against plain (the same program twice): median ${r.aaRatio}, quartiles ${r.aaRatioIqr.join('-')}`);
  console.log(`throughput ratio hook/plain by req/s: median ${r.ratio}, min ${r.ratioMin}; without the hang watchdog ${r.ratioNoWatchdog} (load ${r.machine.load1}: wall-clock rates are noisy)`);
  console.log(`RSS overhead: ${r.rssOverheadMb} MB (target <= ${r.targets.rssMb}: ${r.rssMet ? 'met' : 'MISSED'}); without the hang watchdog ${r.rssOverheadNoWatchdogMb} MB; VmHWM overhead ${r.hwmOverheadMb} MB (against the mean of the two plain servers, which differ by ${r.aaRssMb} MB)`);
  console.log(`private memory (RssAnon) overhead: ${r.anonOverheadMb} MB; without the hang watchdog ${r.anonOverheadNoWatchdogMb} MB (the rest of RSS is shared pages of the node binary and libraries)`);
  console.log(`anchor: one idle worker thread in plain node costs ${r.workerFloorMb.rss} MB RSS, ${r.workerFloorMb.anon} MB RssAnon: the least any worker-thread watchdog can cost`);
  const est = Math.round((r.cpuUsPerReq.plain / (r.cpuUsPerReq.plain + (r.requestNs.hook - r.requestNs.plain) / 1000)) * 1000) / 1000;
  console.log(`HTTP subscribers: ${r.requestNs.hook} ns CPU per request (bare publish ${r.requestNs.plain} ns); against plain's ${r.cpuUsPerReq.plain} µs per request: ratio ${est}`);
  console.log(`cost per recorded event: ${r.eventNs.record} ns to record, ${r.eventNs.persist} ns to persist; breadcrumb() with its data preview ${r.eventNs.breadcrumb} ns`);
}

if (require.main === module) {
  runRecorder().then(
    (r) => {
      printRecorder(r);
      printJsonLine(r);
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
