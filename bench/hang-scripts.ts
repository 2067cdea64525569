/**
 * The child-side code of bench/hang.ts, written to a temp folder and run under plain node, the hook
 * or the anchor (bench/anr-anchor.ts). Plain JavaScript: the children must not depend on the build.
 */

/**
 * The hanging app, the same for the hook and the anchor. argv: modules folder, how many of its
 * generated modules to require first, the delay before the block, the block's length (ms).
 * It prints `{"blockStart"}` (Date.now() just before the busy loop) and, after the loop, the gaps:
 * every stretch of more than 1 ms between two iterations is time taken from the loop by someone
 * else (a capture running in V8's interrupt, the debugger, or the OS scheduler), as
 * [ms after blockStart, length ms]. A capture finds spin on top, or Node's performance.now() code above it.
 */
export const HANG_APP = `'use strict';
const { writeSync } = require('node:fs');
// Bound once: the global \`performance\` is a lazy getter, which would sit on top of every stack.
const { performance } = require('node:perf_hooks');
const [modules, count, delay, block] = process.argv.slice(2);
for (let i = 0; i < Number(count); i++) require(modules + '/m' + i + '.js');
function spin(ms) {
  const t0 = performance.now();
  const gaps = [];
  let last = t0;
  for (;;) {
    const now = performance.now();
    if (now - last > 1) gaps.push([Math.round((last - t0) * 100) / 100, Math.round((now - last) * 100) / 100]);
    last = now;
    if (now - t0 >= ms) return gaps;
  }
}
setTimeout(function blockTheLoop() {
  const blockStart = Date.now();
  writeSync(1, JSON.stringify({ blockStart }) + '\\n');
  const gaps = spin(Number(block));
  writeSync(1, JSON.stringify({ blockStart, gaps }) + '\\n');
  // A few free turns, so that the hook records the end of the hang in its bundle.
  setTimeout(() => {}, 200);
}, Number(delay));
`;

/** One of the small modules the "+N scripts" variants require: one script each for the debugger. */
export function generatedModule(i: number): string {
  return `'use strict';\nmodule.exports = function f${i}(x) {\n  return x + ${i};\n};\n`;
}

/** An idle process for the memory measurement: alive until the bench kills it. */
export const IDLE_APP = `setTimeout(() => {}, 60000);\n`;

/**
 * Main-thread cost of one heartbeat. argv[1]: dist/src/hook/hang-detector.js (the hook's beatValue).
 * "ours" is the body of beat() in src/hook/hang.ts without its rare end-of-hang branch; "anchor" is
 * the postMessage of Sentry's anrIntegration, to a worker that counts the messages as its poll does.
 * Two ways: a tight loop (ns per call, median of batches), and spaced calls (one every ~1 ms, each
 * timed alone with hrtime, minus the cost of an empty timed call), which pays the cold caches and,
 * for postMessage, the wake-up of an idle worker, as the real 40-50 ms timers do. The spaced figure
 * is coarse: an empty timed call alone costs ~1 µs there, and is subtracted.
 * Prints one JSON line.
 */
export const HEARTBEAT_SCRIPT = `'use strict';
const { Worker } = require('node:worker_threads');
const { beatValue } = require(process.argv[1]);
const BEATS = 1e6;
const MESSAGES = 2e4;
const BATCHES = 9;
const SPACED = 1000;

const hb = new Int32Array(new SharedArrayBuffer(16));
const thresholdMs = 1000;
let lastBeatMs = process.uptime() * 1000;
let freed = 0;
function ours() {
  const now = process.uptime() * 1000;
  Atomics.store(hb, 0, beatValue(now));
  const gap = now - lastBeatMs;
  lastBeatMs = now;
  if (gap > thresholdMs) freed++;
}

const worker = new Worker(
  "const { parentPort } = require('node:worker_threads'); let n = 0; parentPort.on('message', (m) => { if (m === 'count?') parentPort.postMessage(n); else n++; });",
  { eval: true },
);
function anchor() {
  try {
    worker.postMessage({ session: undefined, debugImages: {} });
  } catch {}
}
function drained() {
  return new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage('count?');
  });
}
function empty() {}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function tight(fn, n) {
  const perCall = [];
  for (let b = 0; b < BATCHES; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    perCall.push(Number(process.hrtime.bigint() - t) / n);
    if (fn === anchor) await drained();
  }
  return median(perCall.slice(1));
}

/** One call at a time, every ~1 ms, the three functions in turn so that they share conditions. */
async function spaced() {
  const fns = { ours, anchor, empty };
  const each = { ours: [], anchor: [], empty: [] };
  for (let i = 0; i < SPACED; i++) {
    for (const name of Object.keys(fns)) {
      await sleep(1);
      const t = process.hrtime.bigint();
      fns[name]();
      each[name].push(Number(process.hrtime.bigint() - t));
    }
  }
  return { ours: median(each.ours), anchor: median(each.anchor), empty: median(each.empty) };
}

(async () => {
  await drained();
  const r = {
    tightNs: { ours: await tight(ours, BEATS), anchor: await tight(anchor, MESSAGES), empty: await tight(empty, BEATS) },
    spacedNs: await spaced(),
    freed,
  };
  await drained();
  process.stdout.write(JSON.stringify(r) + '\\n');
  process.exit(0);
})();
`;
