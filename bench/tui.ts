/**
 * `open` in a real pseudo-terminal (util-linux `script`), end to end:
 * - first screen: spawn → the first frame with the tab line on the pty, for a small exception bundle,
 *   a bundle with a 200-event timeline, and a bundle with a heap snapshot of 100k+ objects (the heap
 *   is parsed after the first frame, in a worker, so it must not delay it). Target <= 300 ms.
 * - key latency on a 100k-row list: the instances of a class with 100,000 objects in that snapshot;
 *   time from writing a key to the pty until the UI's next output. Target <= 50 ms.
 * Run: node dist/bench/tui.js [--runs N]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { createTarGz } from '../src/bundle/tar';
import { childCpuMs, cleanEnv, machine, printJsonLine, printTable, ROOT } from './harness';

const CLI = join(ROOT, 'bin', 'autopsy-ts.js');
const TARGET_FIRST_MS = 300;
const TARGET_KEY_MS = 50;

function manifest(reason: string) {
  return {
    format: 'autopsy-bundle', formatVersion: 1, id: 'bench', reason, time: new Date().toISOString(), pid: 1, ppid: 0, hostname: 'bench', threadId: 0,
    uptimeSeconds: 1, cwd: '/srv', node: process.version, v8: '', platform: 'linux', arch: 'x64', argv: ['node', 'app.js'], execArgv: [],
    hook: { version: '0.1.0', addon: 'unavailable' }, files: [], redacted: [],
  };
}

function bundle(dir: string, name: string, reason: string, entries: Record<string, unknown>, raw: { name: string; data: Buffer }[] = []): string {
  const files = Object.entries(entries).map(([n, v]) => ({ name: n, data: Buffer.from(JSON.stringify(v)) }));
  // As the hook writes them: the manifest lists every entry, the heap snapshot comes last.
  const listed = [...files, ...raw].map((f) => ({ name: f.name, size: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') }));
  const path = join(dir, name);
  writeFileSync(path, createTarGz([{ name: 'manifest.json', data: Buffer.from(JSON.stringify({ ...manifest(reason), files: listed })) }, ...files, ...raw]));
  return path;
}

function inputs(dir: string): { name: string; path: string }[] {
  const frames = Array.from({ length: 30 }, (_, i) => ({ function: `f${i}`, file: `/srv/app/f${i}.js`, line: i + 1, column: 1, origin: 'app' }));
  const error = { kind: 'error', name: 'Error', message: 'boom', frames };
  const t0 = Date.now() - 200_000;
  const events = Array.from({ length: 200 }, (_, i) => (i % 2 ? { time: t0 + i * 1000, kind: 'sample', rss: 1e8 + i * 1e6, heapUsed: 5e7 + i * 5e5, elu: 0.5, delayP99Ms: 10 } : { time: t0 + i * 1000, kind: 'breadcrumb', message: `step ${i}` }));
  // A snapshot with 100,000 BenchRow objects, written by a child process.
  const snap = join(dir, 'rows.heapsnapshot');
  const r = spawnSync(process.execPath, ['-e', `class BenchRow { constructor(i) { this.i = i; } }\nglobalThis.rows = Array.from({ length: 100000 }, (_, i) => new BenchRow(i));\nrequire('v8').writeHeapSnapshot(${JSON.stringify(snap)});`], { env: cleanEnv(), stdio: 'ignore' });
  if (r.status !== 0) throw new Error('could not write the benchmark heap snapshot');
  const gz = gzipSync(readFileSync(snap), { level: 1 });
  return [
    { name: 'exception bundle', path: bundle(dir, 'exception.tgz', 'uncaught-exception', { 'error.json': error, 'timeline.json': { events: events.slice(0, 3) } }) },
    { name: 'timeline, 200 events', path: bundle(dir, 'timeline.tgz', 'api', { 'stack.json': { thread: 'main', frames }, 'timeline.json': { events } }) },
    { name: `heap bundle (${(gz.length / 1e6).toFixed(1)} MB gz)`, path: bundle(dir, 'heap.tgz', 'on-demand', { 'stack.json': { thread: 'main', frames } }, [{ name: 'heap/on-demand.heapsnapshot.gz', data: gz }]) },
  ];
}

interface Pty {
  child: ChildProcess;
  out: () => string;
  /** Resolves when the output (from `from` on) matches `re`, with the time it did. */
  waitFor: (re: RegExp, from?: number, timeoutMs?: number) => Promise<number>;
  /** hrtime (ms) of every stdout chunk. */
  chunks: { at: number; len: number }[];
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

function openInPty(path: string, metricsFile?: string): { pty: Pty; startedAt: number } {
  const cmd = `stty cols 100 rows 30; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} open ${JSON.stringify(path)}`;
  const startedAt = now();
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: cleanEnv({ TERM: 'xterm-256color', ...(metricsFile ? { AUTOPSY_TUI_METRICS: metricsFile } : {}) }), stdio: ['pipe', 'pipe', 'ignore'] });
  let buf = '';
  const chunks: { at: number; len: number }[] = [];
  const waiters: { re: RegExp; from: number; resolve: (t: number) => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    const at = now();
    buf += d.toString('utf8');
    chunks.push({ at, len: buf.length });
    for (const w of [...waiters]) if (w.re.test(buf.slice(w.from))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(at);
    }
  });
  const waitFor = (re: RegExp, from = 0, timeoutMs = 60_000) => new Promise<number>((resolve, reject) => {
    if (re.test(buf.slice(from))) return resolve(now());
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}`)), timeoutMs);
    waiters.push({ re, from, resolve: (t) => (clearTimeout(timer), resolve(t)) });
  });
  return { pty: { child, out: () => buf, waitFor, chunks }, startedAt };
}

async function quit(p: Pty): Promise<void> {
  p.child.stdin!.write('q');
  await new Promise((r) => p.child.once('exit', r));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +s[s.length - 1].toFixed(1) };
}

/** Time from writing `key` until the pty's next output chunk that ends a frame (output settles for 5 ms). */
async function keyLatency(p: Pty, key: string): Promise<number> {
  const before = p.chunks.length;
  const at = now();
  p.child.stdin!.write(key);
  while (p.chunks.length === before) {
    if (now() - at > 2000) throw new Error(`no output after key ${JSON.stringify(key)}`);
    await new Promise((r) => setImmediate(r));
  }
  let last = p.chunks.length;
  for (;;) {
    await sleep(5);
    if (p.chunks.length === last) break;
    last = p.chunks.length;
  }
  return p.chunks[p.chunks.length - 1].at - at;
}

export async function runTui(runs = 7) {
  const dir = mkdtempSync(join(tmpdir(), 'autopsy-bench-tui-'));
  const list = inputs(dir);
  const first: Record<string, ReturnType<typeof stats>> = {};
  // CPU of the whole run (start, first screen, 100 ms idle, quit), mean: an upper bound of the CPU to
  // the first screen that, unlike wall time, hardly moves with the machine's load.
  const cpu: Record<string, number> = {};
  // Inside the process (AUTOPSY_TUI_METRICS): process start → first frame, and the CPU used by then.
  const firstInside: Record<string, { sinceStartMs: ReturnType<typeof stats>; cpuMs: ReturnType<typeof stats> }> = {};
  for (const inp of list) {
    const times: number[] = [];
    const cpus: number[] = [];
    const inside: { sinceStartMs: number; cpuMs: number }[] = [];
    for (let i = 0; i < runs; i++) {
      const before = childCpuMs();
      const mf = join(dir, `first-${i}.json`);
      const { pty, startedAt } = openInPty(inp.path, mf);
      times.push((await pty.waitFor(/1 Overview/)) - startedAt);
      await sleep(100);
      await quit(pty);
      const after = childCpuMs();
      if (before !== undefined && after !== undefined) cpus.push(after - before);
      const m = JSON.parse(readFileSync(mf, 'utf8'));
      if (m.first) inside.push(m.first);
    }
    firstInside[inp.name] = { sinceStartMs: stats(inside.map((x) => x.sinceStartMs)), cpuMs: stats(inside.map((x) => x.cpuMs)) };
    first[inp.name] = stats(times);
    if (cpus.length) cpu[inp.name] = +(cpus.reduce((a, b) => a + b, 0) / cpus.length).toFixed(0);
  }

  // The 100k-row list: Objects → filter BenchRow → Enter.
  const metricsFile = join(dir, 'metrics.json');
  const { pty } = openInPty(list[2].path, metricsFile);
  await pty.waitFor(/1 Overview/);
  const t3 = now();
  pty.child.stdin!.write('3');
  const heapReadyAt = await pty.waitFor(/Classes {1,2}\(/, 0, 120_000);
  pty.child.stdin!.write('/BenchRow\r');
  await pty.waitFor(/Classes {1,2}\(1 of/);
  const from = pty.out().length;
  pty.child.stdin!.write('\r');
  await pty.waitFor(/BenchRow {1,2}\(100,0\d\d\)/, from, 30_000);
  await sleep(300);
  const keys: Record<string, number[]> = { 'j (down)': [], 'k (up)': [], 'PgDn': [], 'PgUp': [], 'G (last)': [], 'g (first)': [] };
  const seq: [string, string][] = [['j (down)', 'j'], ['PgDn', '\x1b[6~'], ['k (up)', 'k'], ['G (last)', 'G'], ['PgUp', '\x1b[5~'], ['g (first)', 'g']];
  for (let round = 0; round < 20; round++) {
    for (const [name, key] of seq) {
      keys[name].push(await keyLatency(pty, key));
      await sleep(20);
    }
  }
  // Ink's time per frame while the keys were pressed: the UI's own cost, apart from pty and scheduling.
  await quit(pty);
  const renderMs: number[] = JSON.parse(readFileSync(metricsFile, 'utf8')).renderMs;
  const keyFrames = renderMs.slice(-seq.length * 20);
  const keyStats = Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, stats(v)]));
  const all = stats(Object.values(keys).flat());
  rmSync(dir, { recursive: true, force: true });
  const firstMax = Math.max(...Object.values(first).map((s) => s.median));
  return {
    bench: 'tui',
    machine: machine(),
    runs,
    firstScreenMs: first,
    firstFrameInProcess: firstInside,
    heapReadyMsAfterKey3: Math.round(heapReadyAt - t3),
    keyLatencyMs: keyStats,
    keyLatencyAllMs: all,
    inkRenderMsPerKeyFrame: stats(keyFrames),
    cpuMsPerOpen: cpu,
    targets: { firstScreenMs: TARGET_FIRST_MS, keyMs: TARGET_KEY_MS },
    firstMet: firstMax <= TARGET_FIRST_MS,
    keyMet: all.p95 <= TARGET_KEY_MS,
  };
}

export function printTui(r: Awaited<ReturnType<typeof runTui>>): void {
  printTable(`open: first screen (ms, ${r.runs} runs, pty 100x30; target <= ${r.targets.firstScreenMs}; load ${r.machine.load1} on ${r.machine.cpus} cpus)`, ['input', 'median', 'p95', 'max', 'CPU ms/run'],
    Object.entries(r.firstScreenMs).map(([k, s]) => [k, s.median, s.p95, s.max, r.cpuMsPerOpen[k] ?? '-']));
  printTable('open: inside the process, start → first frame written (median ms) and CPU used by then (median ms)', ['input', 'wall', 'CPU'],
    Object.entries(r.firstFrameInProcess).map(([k, s]) => [k, s.sinceStartMs.median, s.cpuMs.median]));
  printTable(`open: key press → next frame on a 100,000-row list (ms; target <= ${r.targets.keyMs})`, ['key', 'n', 'median', 'p95', 'max'],
    [...Object.entries(r.keyLatencyMs), ['all', r.keyLatencyAllMs] as const].map(([k, s]) => [k, s.n, s.median, s.p95, s.max]));
  console.log(`\nInk's render time per frame during those keys: median ${r.inkRenderMsPerKeyFrame.median} ms, p95 ${r.inkRenderMsPerKeyFrame.p95} ms, max ${r.inkRenderMsPerKeyFrame.max} ms`);
  console.log(`heap parsed and analysed in the worker: class list on screen ${r.heapReadyMsAfterKey3} ms after pressing 3`);
}

if (require.main === module) {
  const i = process.argv.indexOf('--runs');
  runTui(i > 0 ? Number(process.argv[i + 1]) : 7).then((r) => {
    printTui(r);
    printJsonLine(r);
  }, (err) => {
    console.error(err);
    // A pty child may still be open: do not wait for it.
    process.exit(1);
  });
}
