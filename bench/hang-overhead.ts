/**
 * What hang capture costs while nothing hangs, for bench/hang.ts: the heartbeat on the main thread
 * (HEARTBEAT_SCRIPT in a child) and VmRSS (/proc/<pid>/status) of idle processes 2 s and 4 s after
 * start (the hook loads its capture code at 3 s): plain node, the hook with hang capture off, the
 * hook with it on, the anchor (bench/anr-anchor.ts). The variants of a round run side by side:
 * RSS does not depend on sharing the CPUs, and it saves half a minute.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOOK, ROOT, cleanEnv } from './harness';
import { HEARTBEAT_SCRIPT } from './hang-scripts';
import { pairedMedianDiff, quantile, round2 } from './stats';

const MEMORY_ROUNDS = 8;
const MEMORY_AT_MS = [2000, 4000];

export const ANCHOR = join(ROOT, 'dist', 'bench', 'anr-anchor.js');
const HANG_DETECTOR = join(ROOT, 'dist', 'src', 'hook', 'hang-detector.js');

/** The last line of a child's output, parsed. */
export function lastJsonLine<T>(text: string, what: string): T {
  const line = text.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what}: no JSON line in ${JSON.stringify(text.slice(0, 500))}`);
  }
}

export interface HeartbeatFigures {
  /** ns per call in a tight loop (median of batches). */
  tightNs: { ours: number; anchor: number; empty: number };
  /** ns per call made alone every ~1 ms, minus an empty timed call. */
  spacedNs: { ours: number; anchor: number };
  /** Main-thread µs per second of an idle process: per-call cost (spaced) x beats per second. */
  usPerSecond: { ours: number; anchor: number };
  oursBeatsPerS: number;
  anchorBeatsPerS: number;
}

export function measureHeartbeat(work: string, thresholdMs: number): HeartbeatFigures {
  const r = spawnSync(process.execPath, ['-e', HEARTBEAT_SCRIPT, HANG_DETECTOR], { env: cleanEnv(), cwd: work, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`heartbeat timing failed (exit ${r.status}): ${r.stderr.slice(0, 1000)}`);
  const p = lastJsonLine<{ tightNs: HeartbeatFigures['tightNs']; spacedNs: { ours: number; anchor: number; empty: number } }>(r.stdout, 'heartbeat');
  const oursBeatsPerS = 1000 / Math.max(10, Math.min(40, Math.floor(thresholdMs / 10)));
  const anchorBeatsPerS = 1000 / 50;
  const spaced = { ours: round2(Math.max(0, p.spacedNs.ours - p.spacedNs.empty)), anchor: round2(Math.max(0, p.spacedNs.anchor - p.spacedNs.empty)) };
  return {
    tightNs: { ours: round2(p.tightNs.ours), anchor: round2(p.tightNs.anchor), empty: round2(p.tightNs.empty) },
    spacedNs: spaced,
    usPerSecond: { ours: round2((spaced.ours * oursBeatsPerS) / 1000), anchor: round2((spaced.anchor * anchorBeatsPerS) / 1000) },
    oursBeatsPerS,
    anchorBeatsPerS,
  };
}

type MemoryVariant = 'plain' | 'hook-off' | 'hook' | 'anchor';
const MEMORY_VARIANTS: MemoryVariant[] = ['plain', 'hook-off', 'hook', 'anchor'];
const MEMORY_LABEL: Record<MemoryVariant, string> = {
  plain: 'node idle.js',
  'hook-off': 'hook, AUTOPSY_HANG_MS=0 (no watchdog)',
  hook: 'hook, AUTOPSY_HANG_MS=<threshold>',
  anchor: 'anchor',
};

function vmRssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Starts an idle child, reads its RSS at each MEMORY_AT_MS, then kills it (by its own handle). */
function sampleRss(v: MemoryVariant, work: string, thresholdMs: number): Promise<number[]> {
  const args = v === 'plain' || v === 'hook-off' || v === 'hook' ? [join(work, 'idle.js')] : ['--require', ANCHOR, join(work, 'idle.js')];
  if (v === 'hook' || v === 'hook-off') args.unshift('--require', HOOK);
  const env = cleanEnv(
    v === 'anchor'
      ? { ANR_ANCHOR_THRESHOLD_MS: String(thresholdMs) }
      : { AUTOPSY_DIR: join(work, 'idle-bundles'), AUTOPSY_HANG_MS: v === 'hook' ? String(thresholdMs) : '0' },
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const samples: number[] = [];
    const start = Date.now();
    const next = () => {
      const at = MEMORY_AT_MS[samples.length];
      setTimeout(() => {
        try {
          samples.push(vmRssMb(child.pid!));
        } catch (err) {
          child.kill('SIGKILL');
          reject(new Error(`${v}: ${(err as Error).message}; stderr: ${stderr.slice(0, 500)}`));
          return;
        }
        if (samples.length < MEMORY_AT_MS.length) next();
        else child.kill('SIGKILL');
      }, Math.max(0, at - (Date.now() - start)));
    };
    child.on('spawn', next);
    child.on('error', reject);
    child.on('close', () => (samples.length === MEMORY_AT_MS.length ? resolve(samples) : reject(new Error(`${v} ended early: ${stderr.slice(0, 500)}`))));
  });
}

export interface MemoryFigures {
  atMs: number[];
  rounds: number;
  variants: { name: MemoryVariant; label: string; rssMb: number[] }[];
  /** Paired median differences in MB, at each MEMORY_AT_MS. */
  hookAddedMb: number[];
  watchdogAddedMb: number[];
  anchorAddedMb: number[];
}

export async function measureMemory(work: string, thresholdMs: number): Promise<MemoryFigures> {
  const samples = new Map<MemoryVariant, number[][]>(MEMORY_VARIANTS.map((v) => [v, MEMORY_AT_MS.map(() => [])]));
  for (let round = 0; round < MEMORY_ROUNDS; round++) {
    const results = await Promise.all(MEMORY_VARIANTS.map((v) => sampleRss(v, work, thresholdMs)));
    MEMORY_VARIANTS.forEach((v, i) => results[i].forEach((mb, k) => samples.get(v)![k].push(mb)));
  }
  const diff = (a: MemoryVariant, b: MemoryVariant) => MEMORY_AT_MS.map((_, k) => round2(pairedMedianDiff(samples.get(a)![k], samples.get(b)![k])));
  return {
    atMs: MEMORY_AT_MS,
    rounds: MEMORY_ROUNDS,
    variants: MEMORY_VARIANTS.map((v) => ({ name: v, label: MEMORY_LABEL[v].replace('<threshold>', String(thresholdMs)), rssMb: samples.get(v)!.map((s) => round2(quantile(s, 0.5))) })),
    hookAddedMb: diff('hook', 'plain'),
    watchdogAddedMb: diff('hook', 'hook-off'),
    anchorAddedMb: diff('anchor', 'plain'),
  };
}
