/**
 * Blocked-thread stacks (issue 8): the time to capture the JS stack of a main thread blocked in native
 * code, against an anchor in the same run, and the code map's start-up and throughput cost.
 * Target (docs/performance.md, "Blocked-thread stacks"): capture <= 10 ms.
 *
 * 1. Capture. One child per block kind (execSync('sleep 1'), Atomics.wait 1 s); ROUNDS blocks each.
 *    While the main thread is blocked, its watchdog-like worker takes, alternately first:
 *    - ours: the addon's sampleMainThread (one real-time signal, GetStackSample, names from the code map);
 *    - anchor: what an in-process capture does (Sentry's ANR / eventLoopBlock style): an inspector
 *      session to the main thread and Runtime.evaluate of `new Error().stack`, which V8 runs in an
 *      interrupt of the blocked thread, waited for up to ANCHOR_WAIT_MS.
 *    Time is the worker's performance.now() around each call; "frames" counts named JS frames.
 * 2. Code map cost. The same compile-heavy script (COMPILE_FNS distinct functions, each compiled and
 *    called until optimized) with and without the code map, alternating, ROUNDS each: wall time of the
 *    workload, the code map's own start-up time (existing code enumerated), entries and memory.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, __dirname.includes(join('dist', 'bench')) ? '../..' : '..');
const ADDON = join(ROOT, 'native', 'build', 'Release', 'autopsy_native.node');
const ROUNDS = Number(process.env.ROUNDS || 7);
const ANCHOR_WAIT_MS = 1000;
const COMPILE_FNS = 3000;

const CAPTURE_APP = `
const addon = require(${JSON.stringify(ADDON)});
const { Worker } = require('node:worker_threads');
const kind = process.argv[1];
const rounds = Number(process.argv[2]);
const map = addon.startCodeMap();
const sab = new SharedArrayBuffer(8);
const flag = new Int32Array(sab);
const results = [];
const w = new Worker(\`
const { workerData, parentPort } = require('node:worker_threads');
const addon = require(${JSON.stringify(ADDON)});
const inspector = require('node:inspector');
const flag = new Int32Array(workerData.sab);
function anchor() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = new inspector.Session();
    s.connectToMainThread();
    const timer = setTimeout(() => { try { s.disconnect(); } catch {} resolve({ ms: performance.now() - t0, frames: 0, timedOut: true }); }, ${ANCHOR_WAIT_MS});
    s.post('Runtime.evaluate', { expression: 'new Error().stack', returnByValue: true }, (err, r) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      try { s.disconnect(); } catch {}
      const text = (r && r.result && r.result.value) || '';
      resolve({ ms, frames: (text.match(/\\\\n\\\\s+at /g) || []).length, timedOut: false });
    });
  });
}
function ours() {
  const t0 = performance.now();
  const r = addon.sampleMainThread({ timeoutMs: 300, attempts: 3 });
  const ms = performance.now() - t0;
  const named = (r.frames || []).filter((f) => f.name && f.name.startsWith('JS:'));
  return { ms, frames: named.length, inner: r.tookMs, top: named[0] && named[0].name };
}
parentPort.on('message', async (round) => {
  while (Atomics.load(flag, 0) !== round) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 150));
  const order = round % 2 ? ['ours', 'anchor'] : ['anchor', 'ours'];
  const out = {};
  for (const which of order) out[which] = which === 'ours' ? ours() : await anchor();
  parentPort.postMessage(out);
});
\`, { eval: true, workerData: { sab } });
function blockedInNative() {
  if (kind === 'exec') require('node:child_process').execSync('sleep 1.2');
  else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1200);
}
let round = 0;
w.on('message', (m) => { results.push(m); next(); });
function next() {
  if (round === rounds) { console.log(JSON.stringify({ map, results })); w.terminate(); return; }
  round++;
  w.postMessage(round);
  setTimeout(() => { Atomics.store(flag, 0, round); blockedInNative(); }, 20);
}
next();
`;

const COMPILE_APP = `
const withMap = process.argv[1] === 'map';
let map;
if (withMap) map = require(${JSON.stringify(ADDON)}).startCodeMap();
const t0 = performance.now();
let sum = 0;
for (let i = 0; i < ${COMPILE_FNS}; i++) {
  const f = new Function('a', 'b', 'let s = 0; for (let k = 0; k < a; k++) s += (k * ' + i + ') % (b + 1); return s;');
  for (let j = 0; j < 200; j++) sum += f(50, j);
}
const workMs = performance.now() - t0;
const stats = withMap ? require(${JSON.stringify(ADDON)}).codeMapStats() : undefined;
console.log(JSON.stringify({ workMs, map, stats, rss: process.memoryUsage().rss, sum }));
`;

function child(script: string, args: string[]): any {
  const r = spawnSync(process.execPath, ['-e', script, ...args], { encoding: 'utf8', timeout: 120_000 });
  const line = (r.stdout || '').trim().split('\n').pop() || '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`bench child failed: ${r.stderr?.slice(0, 500)}`);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
};
const r2 = (n: number) => Math.round(n * 100) / 100;

export function runBlockedStack() {
  const capture: Record<string, unknown> = {};
  for (const kind of ['exec', 'atomics']) {
    const { map, results } = child(CAPTURE_APP, [kind, String(ROUNDS)]);
    const ours = results.map((r: any) => r.ours);
    const anchor = results.map((r: any) => r.anchor);
    capture[kind] = {
      codeMapStartMs: r2(map.tookMs),
      ours: { medianMs: r2(median(ours.map((o: any) => o.ms))), maxMs: r2(Math.max(...ours.map((o: any) => o.ms))), namedFrames: median(ours.map((o: any) => o.frames)), top: ours[0]?.top },
      anchor: { medianMs: r2(median(anchor.map((a: any) => a.ms))), timedOut: anchor.filter((a: any) => a.timedOut).length, frames: median(anchor.map((a: any) => a.frames)) },
      rounds: results.length,
    };
  }
  const plain: number[] = [];
  const mapped: number[] = [];
  let start: number[] = [];
  let stats: any;
  const rss: Record<string, number[]> = { plain: [], map: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const v of i % 2 ? ['map', 'plain'] : ['plain', 'map']) {
      const r = child(COMPILE_APP, [v]);
      (v === 'map' ? mapped : plain).push(r.workMs);
      rss[v].push(r.rss);
      if (v === 'map') {
        start.push(r.map.tookMs);
        stats = r.stats;
      }
    }
  }
  const codeMap = {
    workload: `${COMPILE_FNS} new functions, each called 200 times`,
    plainMs: r2(median(plain)),
    withMapMs: r2(median(mapped)),
    overheadPct: r2((median(mapped) / median(plain) - 1) * 100),
    startMs: r2(median(start)),
    entries: stats?.entries,
    events: stats?.events,
    approxMb: r2((stats?.approxBytes ?? 0) / 1024 ** 2),
    rssDeltaMb: r2((median(rss.map) - median(rss.plain)) / 1024 ** 2),
  };
  start = [];
  return { bench: 'blocked-stack', node: process.version, rounds: ROUNDS, targetMs: 10, capture, codeMap };
}

if (require.main === module) {
  const r = runBlockedStack();
  console.log(JSON.stringify(r, null, 1));
}
