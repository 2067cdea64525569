/**
 * The runs of bench/heap.ts: one fresh child process per measurement (heap-ours.js or
 * heap-memlab.js), its peak RSS, how it ended, and the figures over several runs.
 * Peak RSS is the child's own VmHWM at the end; the parent also polls /proc/<pid>/status every
 * 100 ms, which is all there is when a child dies.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { procStatus, type HeapChildReport } from './heap-report';
import { cleanEnv, fmt, ROOT } from './harness';
import { quantile, round2, roundSummary, summarize, type Summary } from './stats';

const OURS = join(ROOT, 'dist', 'bench', 'heap-ours.js');
const MEMLAB = join(ROOT, 'dist', 'bench', 'heap-memlab.js');
export const CHILD_SCRIPTS = [OURS, MEMLAB];
const MB = 2 ** 20;

export type Tool = HeapChildReport['tool'];

export interface ChildRun {
  tool: Tool;
  ok: boolean;
  wallMs: number;
  hwmMb: number;
  report?: HeapChildReport;
  /** When not ok: the exit code or signal and the telling stderr line. */
  failure?: string;
  /** Phases the child finished (its `@phase` lines), with ms. */
  phasesDone: string[];
}

export function runChild(tool: Tool, file: string, flags: string[], extra: string[], timeoutMs = 30 * 60_000): Promise<ChildRun> {
  const args = tool === 'memlab' ? [MEMLAB, file, ...extra] : [OURS, file, ...extra, ...(tool === 'ours-2t' ? ['--two-threads'] : [])];
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let end = start;
    const child = spawn(process.execPath, [...flags, ...args], { env: cleanEnv(), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let polled = 0;
    let timedOut = false;
    const poll = setInterval(() => {
      try {
        const { hwmMb } = procStatus(child.pid!);
        if (hwmMb > polled) polled = hwmMb; // NaN once it is a zombie: no Vm lines any more
      } catch {} // gone
    }, 100);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.length > 4 * MB) stderr = stderr.slice(-MB); // a V8 OOM dump is long; its head is in the phases
    });
    child.on('error', reject);
    child.on('exit', () => (end = process.hrtime.bigint()));
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      const wallMs = Number(end - start) / 1e6;
      const phasesDone = [...stderr.matchAll(/^@phase (\S+) (\d+)/gm)].map((m) => `${m[1]} ${m[2]} ms`);
      const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (code === 0 && line) {
        const report = JSON.parse(line) as HeapChildReport;
        resolve({ tool, ok: true, wallMs, hwmMb: Math.max(polled, report.hwmMb), report, phasesDone });
        return;
      }
      const telling = /^(FATAL ERROR: .*|RangeError: .*|.*Error: .*)$/m.exec(stderr)?.[1] ?? stderr.trim().split('\n').pop() ?? '';
      const how = timedOut ? `killed after ${fmt(timeoutMs / 1000, 0)} s (time limit)` : signal ? `killed by ${signal}` : `exit ${code}`;
      resolve({ tool, ok: false, wallMs, hwmMb: polled, failure: `${how}: ${telling.slice(0, 200)}`, phasesDone });
    });
  });
}

export interface ToolFigures {
  tool: Tool;
  flags: string;
  runs: number;
  failed: number;
  wallS: Summary;
  /** Parse + analysis inside the child (no Node start-up, no module loading). */
  workS: Summary;
  hwmMb: Summary;
  /** Median peak RSS / file size. */
  rssPerFile: number;
  /** Median ms of each phase, and the largest VmHWM seen when it ended. */
  phases: { name: string; ms: number; hwmMb: number }[];
  failures: string[];
  /** How far failed runs got. */
  failedAfter: { s: number; hwmMb: number; phasesDone: string[] }[];
  check?: HeapChildReport['check'] & { nodes: number; edges: number };
}

export function figures(tool: Tool, flags: string[], runs: ChildRun[], fileMb: number): ToolFigures {
  const ok = runs.filter((r) => r.ok);
  const names = ok[0]?.report?.phases.map((p) => p.name) ?? [];
  const r0 = ok[0]?.report;
  const hwm = summarize(ok.map((r) => r.hwmMb));
  return {
    tool,
    flags: flags.join(' ') || '(default)',
    runs: runs.length,
    failed: runs.length - ok.length,
    wallS: roundSummary(summarize(ok.map((r) => r.wallMs / 1000))),
    workS: roundSummary(summarize(ok.map((r) => r.report!.workMs / 1000))),
    hwmMb: roundSummary(hwm),
    rssPerFile: round2(hwm.median / fileMb),
    phases: names.map((name) => ({
      name,
      ms: round2(quantile(ok.map((r) => r.report!.phases.find((p) => p.name === name)?.ms ?? NaN), 0.5)),
      hwmMb: round2(Math.max(...ok.map((r) => r.report!.phases.find((p) => p.name === name)?.hwmMb ?? 0))),
    })),
    failures: runs.filter((r) => !r.ok).map((r) => r.failure!),
    failedAfter: runs.filter((r) => !r.ok).map((r) => ({ s: round2(r.wallMs / 1000), hwmMb: round2(r.hwmMb), phasesDone: r.phasesDone })),
    check: r0 ? { ...r0.check, nodes: r0.nodes, edges: r0.edges } : undefined,
  };
}

export type Round = Partial<Record<Tool, ChildRun>>;

/** Median over rounds of pick(memlab) / pick(ours), over rounds where both succeeded. */
function ratioOf(rounds: Round[], ours: Tool, pick: (r: ChildRun) => number): number {
  const ok = rounds.filter((r) => r[ours]?.ok && r.memlab?.ok);
  return round2(quantile(ok.map((r) => pick(r.memlab!) / pick(r[ours]!)), 0.5));
}

export function ratiosOf(rounds: Round[], ours: Tool): { wall: number; work: number; rss: number } {
  return {
    wall: ratioOf(rounds, ours, (r) => r.wallMs),
    work: ratioOf(rounds, ours, (r) => r.report!.workMs),
    rss: ratioOf(rounds, ours, (r) => r.hwmMb),
  };
}
