/**
 * Core dump of a live ~1 GB-heap service: ours (`autopsy-ts dump PID --core`) against gdb's `gcore`,
 * in the same run. Reported per tool: the event-loop freeze (largest gap of the service's 5 ms ticker
 * while the dump runs), the core's apparent size and disk use, and the write time.
 * Targets (issue 7): freeze <= 100 ms on a 1 GB heap, and >= 40x less than gcore's.
 * Run: `node dist/bench/core.js [runs]` (default 3 runs of ours, 1 of gcore).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const HOOK = join(ROOT, 'dist', 'src', 'hook', 'index.js');
const CLI = join(ROOT, 'bin', 'autopsy-ts.js');
const SERVER = join(ROOT, 'test', 'scenarios', 'core', 'big-heap-server.js');

interface Sample {
  tool: 'ours' | 'gcore';
  freezeMs: number;
  wallMs: number;
  writeMs: number;
  forkMs?: number;
  sizeMB: number;
  diskMB: number;
  rssMB: number;
}

function httpJson(port: number, path: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

function startService(dir: string): Promise<{ pid: number; port: number; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, AUTOPSY_DIR: dir, HEAP_MB: process.env.HEAP_MB ?? '1024' };
    const child = spawn(process.execPath, ['--max-old-space-size=4096', '--require', HOOK, SERVER, '3600000'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolve({ pid: child.pid!, port: Number(m[1]), stop: () => child.kill('SIGTERM') });
    });
    child.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

async function measure(tool: Sample['tool'], dir: string): Promise<Sample> {
  const svc = await startService(dir);
  try {
    await sleep(1500); // registration, warm-up
    const rssMB = Math.round(Number(/VmRSS:\s+(\d+)/.exec(require('node:fs').readFileSync(`/proc/${svc.pid}/status`, 'utf8'))![1]) / 1024);
    await httpJson(svc.port, '/reset');
    const t0 = Date.now();
    let path: string;
    let writeMs: number;
    let forkMs: number | undefined;
    if (tool === 'ours') {
      const r = spawnSync(process.execPath, [CLI, 'dump', String(svc.pid), '--core'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`dump --core: ${r.stderr}`);
      path = r.stdout.trim().split('\n')[1];
      const bundle = r.stdout.trim().split('\n')[0];
      const core = JSON.parse(spawnSync('tar', ['xzf', bundle, '-O', 'core.json'], { encoding: 'utf8' }).stdout);
      writeMs = core.writeMs;
      forkMs = core.forkMs;
    } else {
      path = join(dir, `gcore-${svc.pid}`);
      const r = spawnSync('gcore', ['-o', path, String(svc.pid)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`gcore: ${r.stderr}`);
      path = `${path}.${svc.pid}`;
      writeMs = Date.now() - t0;
    }
    const wallMs = Date.now() - t0;
    await sleep(300);
    const stats = await httpJson(svc.port, '/stats');
    const st = statSync(path);
    rmSync(path, { force: true });
    return { tool, freezeMs: stats.maxGapMs, wallMs, writeMs: Math.round(writeMs), forkMs, sizeMB: Math.round(st.size / MB), diskMB: Math.round((st.blocks * 512) / MB), rssMB };
  } finally {
    svc.stop();
    await sleep(500);
  }
}

export interface CoreBenchResult {
  bench: 'core';
  node: string;
  samples: Sample[];
  oursFreezeMaxMs: number;
  gcoreFreezeMs?: number;
  ratio?: number;
  targets: { freezeMs: number; ratio: number };
  met: boolean;
}

export async function runCoreBench(runs = 3): Promise<CoreBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'autopsy-bench-core-'));
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < runs; i++) samples.push(await measure('ours', dir));
    if (spawnSync('gcore', ['--version'], { stdio: 'ignore' }).status !== null) samples.push(await measure('gcore', dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ours = samples.filter((s) => s.tool === 'ours');
  const gcore = samples.find((s) => s.tool === 'gcore');
  const oursFreezeMaxMs = Math.max(...ours.map((s) => s.freezeMs));
  const ratio = gcore ? Math.round((gcore.freezeMs / oursFreezeMaxMs) * 10) / 10 : undefined;
  const targets = { freezeMs: 100, ratio: 40 };
  return { bench: 'core', node: process.version, samples, oursFreezeMaxMs, gcoreFreezeMs: gcore?.freezeMs, ratio, targets, met: oursFreezeMaxMs <= targets.freezeMs && (ratio ?? 0) >= targets.ratio };
}

export function printCoreBench(r: CoreBenchResult): void {
  console.log(`\ncore dump of a live service (${r.node}), event-loop freeze = largest gap of a 5 ms ticker`);
  console.log('tool    freeze ms  fork ms  write ms  wall ms  size MB  disk MB  RSS MB');
  for (const s of r.samples) {
    console.log(`${s.tool.padEnd(7)} ${String(s.freezeMs).padStart(9)} ${String(s.forkMs ?? '-').padStart(8)} ${String(s.writeMs).padStart(9)} ${String(s.wallMs).padStart(8)} ${String(s.sizeMB).padStart(8)} ${String(s.diskMB).padStart(8)} ${String(s.rssMB).padStart(7)}`);
  }
  console.log(`freeze: ours max ${r.oursFreezeMaxMs} ms (target <= ${r.targets.freezeMs}), gcore ${r.gcoreFreezeMs ?? '-'} ms, ratio ${r.ratio ?? '-'}x (target >= ${r.targets.ratio}x): ${r.met ? 'met' : 'MISSED'}`);
}

if (require.main === module) {
  runCoreBench(Number(process.argv[2] ?? 3)).then((r) => {
    printCoreBench(r);
    console.log(JSON.stringify(r));
  });
}
