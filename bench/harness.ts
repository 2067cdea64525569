/**
 * What every benchmark needs around its measurements: where the built hook is, a clean environment
 * for children, a timed spawnSync, and the output shape (a small table, then one JSON line).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** Repository root, from dist/bench/ (compiled) or bench/ (tsx). */
export const ROOT = resolve(__dirname, basename(dirname(__dirname)) === 'dist' ? '../..' : '..');
export const HOOK = join(ROOT, 'dist', 'src', 'hook', 'index.js');
export const CAPTURE = join(ROOT, 'dist', 'src', 'hook', 'capture.js');

export function requireBuilt(): void {
  for (const f of [HOOK, CAPTURE]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: build first (npx tsc -p tsconfig.json)`);
  }
}

/**
 * Variables that change what a child node does at start-up. NODE_EXTRA_CA_CERTS is among them because
 * Node 20 parses the whole file before running any code: with a system CA bundle that is ~80 ms of
 * CPU per process (Node 22+ loads it lazily), which would drown the differences being measured.
 */
const DROPPED = new Set(['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'NODE_COMPILE_CACHE', 'NODE_V8_COVERAGE', 'NODE_DEBUG']);

/** The parent's environment without DROPPED, AUTOPSY_* or node:test settings, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (DROPPED.has(k) || k.startsWith('AUTOPSY_') || k.startsWith('NODE_TEST')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

let clockTicks: number | undefined;

/**
 * CPU ms (user + system) of all children this process has waited for, from /proc/self/stat
 * (Linux only, else undefined). Counted in clock ticks (10 ms), so only a mean over many runs means
 * anything; unlike wall time it barely moves when other work shares the machine.
 */
export function childCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); cutime and cstime are fields 16 and 17.
    const ticks = Number(fields[13]) + Number(fields[14]);
    if (clockTicks === undefined) {
      const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
      clockTicks = Number(out.stdout) > 0 ? Number(out.stdout) : 100;
    }
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicks : undefined;
  } catch {
    return undefined;
  }
}

export interface Timed {
  ms: number;
  /** CPU ms of the child (see childCpuMs), when known. */
  cpuMs?: number;
  /** process.hrtime.bigint() right after the child was reaped (CLOCK_MONOTONIC, shared by all processes). */
  endedAt: bigint;
  result: SpawnSyncReturns<string>;
}

/** spawnSync of the current node binary, timed with process.hrtime around the call. */
export function timedNode(args: string[], env: NodeJS.ProcessEnv, pipe = false, cwd = ROOT): Timed {
  const cpuBefore = childCpuMs();
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, {
    env,
    cwd,
    encoding: 'utf8',
    stdio: pipe ? ['ignore', 'pipe', 'pipe'] : 'ignore',
    timeout: 60_000,
  });
  const endedAt = process.hrtime.bigint();
  if (result.error) throw result.error;
  const cpuAfter = childCpuMs();
  const cpuMs = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
  return { ms: Number(endedAt - start) / 1e6, cpuMs, endedAt, result };
}

/** Round r runs the variants starting at a different one, so no variant always goes first. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export interface Machine {
  node: string;
  cpus: number;
  cpu: string;
  platform: string;
  /** 1-minute load average when the benchmark started: above the cpu count, wall times are inflated. */
  load1: number;
}

export function machine(): Machine {
  const list = cpus();
  return {
    node: process.version,
    cpus: list.length,
    cpu: list[0]?.model.trim() ?? 'unknown',
    platform: `${process.platform}-${process.arch}`,
    load1: Math.round(loadavg()[0] * 100) / 100,
  };
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** A plain aligned table on stdout: first column left-aligned, the others right-aligned. */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

/** The machine-readable result: always the last line a benchmark prints. */
export function printJsonLine(value: unknown): void {
  console.log(JSON.stringify(value));
}
