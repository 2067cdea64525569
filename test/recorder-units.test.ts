// Pure parts of the flight recorder: leak detection, recorder files, death reasons, the output tail,
// request summaries and timeline text.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { deathReason, liveness, memoryTrend, parseRecorder } from '../src/hook/collect';
import { LeakDetector } from '../src/hook/leak-detector';
import { nearLimit, watchOom } from '../src/hook/oom';
import { loopDelays, oldGenerationLimit } from '../src/hook/recorder';
import { lookup, Symbolizer } from '../src/native/symbolize';
import { newHttpCounters, nextServerTiming, pathOnly, PROBE_EVERY, requestSummary, TIMED_PER_SECOND } from '../src/hook/recorder-http';
import { procStartTime, readBootId } from '../src/hook/recorder-file';
import { keep, type Tail } from '../src/hook/stdio-tail';
import { Ring, readRing, RING_HEADER } from '../src/hook/recorder-ring';
import { readConfig } from '../src/hook/config';
import { loadNative, type NativeAddon } from '../src/native';
import { describeEvent, filterKinds } from '../src/timeline/events';

const MB = 1024 * 1024;

/** Seeded PRNG (mulberry32), so that noisy series are the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs a detector over one reading a second; returns the actions with their times. */
function run(series: (t: number, r: () => number) => number, seconds: number, opts = { growth: 16 * MB, windowMs: 60_000 }) {
  const d = new LeakDetector(opts);
  const r = rng(7);
  const acts: { t: number; type: string }[] = [];
  for (let s = 0; s < seconds; s++) {
    const a = d.add(s * 1000, series(s, r));
    if (a.type !== 'none') acts.push({ t: s, type: a.type });
  }
  return acts;
}

describe('leak detector', () => {
  test('a steady heap with garbage sawtooth and noise never fires (2 hours)', () => {
    // 80 MB live, garbage accumulating up to 40 MB between collections, +-3 MB noise.
    const acts = run((s, r) => 80 * MB + ((s % 17) / 17) * 40 * MB + (r() - 0.5) * 6 * MB, 7200);
    assert.deepEqual(acts, []);
  });

  test('a warm-up that levels off (caches filling) does not fire', () => {
    // 20 MB in the first 40 s, then flat: more than `growth` within the first window, but it does not last.
    const acts = run((s, r) => 50 * MB + Math.min(s, 40) * 0.5 * MB + r() * 10 * MB, 3600);
    assert.deepEqual(acts, []);
  });

  test('steady growth of 0.5 MB/s fires snapshot A, then B after another `growth`', () => {
    const acts = run((s, r) => 50 * MB + s * 0.5 * MB + r() * 20 * MB, 600);
    assert.equal(acts[0].type, 'snapshot-a');
    assert.ok(acts[0].t >= 90 && acts[0].t <= 150, `A at ${acts[0].t} s`);
    assert.equal(acts[1].type, 'snapshot-b');
    assert.ok(acts[1].t - acts[0].t >= 15 && acts[1].t - acts[0].t <= 90, `B ${acts[1].t - acts[0].t} s after A`);
    assert.equal(acts.length, 2, 'one leak report per process');
  });

  test('growth that stops after A gives A up after the waiting windows', () => {
    const acts = run((s, r) => 50 * MB + Math.min(s, 100) * 0.5 * MB + r() * 2 * MB, 1200);
    assert.deepEqual(acts.map((a) => a.type), ['snapshot-a', 'give-up']);
  });

  test('growth under the threshold does not fire', () => {
    const acts = run((s, r) => 50 * MB + s * 0.1 * MB + r() * 1 * MB, 100, { growth: 16 * MB, windowMs: 60_000 });
    assert.deepEqual(acts, []);
  });
});

describe('recorder files', () => {
  const header = { recorder: 1, pid: 4242, ppid: 1, hostname: 'h', startedAt: 1000, node: 'v20', v8: '11', platform: 'linux', arch: 'x64', argv: [], execArgv: [], cwd: '/', hook: { version: '0', addon: 'unavailable' as const }, heapLimit: 64 * MB };

  test('parse: header, events in time order, stdio joined, a torn last line counted', () => {
    const text = [
      JSON.stringify(header),
      JSON.stringify({ time: 3, kind: 'sample', rss: 1 }),
      JSON.stringify({ time: 2, kind: 'breadcrumb', message: 'a' }),
      JSON.stringify({ time: 4, kind: 'stdio', stream: 'stdout', text: 'hello ' }),
      JSON.stringify({ time: 5, kind: 'stdio', stream: 'stdout', text: 'world' }),
      '{"time": 6, "kind": "net", "eve',
    ].join('\n');
    const c = parseRecorder(text);
    assert.equal(c.header.pid, 4242);
    assert.deepEqual(c.events.map((e) => e.time), [2, 3]);
    assert.equal(c.stdio.stdout.text, 'hello world');
    assert.equal(c.badLines, 1);
  });

  test('parse: not a recorder, or empty, is an error', () => {
    assert.throws(() => parseRecorder('{"x":1}\n'), /not an autopsy-ts recorder file/);
    assert.throws(() => parseRecorder(''), /empty recorder file/);
  });

  test('death reason: crash record, fatal report, OOM evidence, else killed', () => {
    const c = parseRecorder(JSON.stringify(header));
    assert.equal(deathReason(c, undefined, { signal: 'SIGSEGV' }).reason, 'fatal-signal');
    assert.equal(deathReason(c, { event: 'Allocation failed - JavaScript heap out of memory' }, undefined).reason, 'oom');
    assert.equal(deathReason(c, { event: 'Something else fatal' }, undefined).reason, 'fatal-error');
    assert.equal(deathReason(c, undefined, undefined).reason, 'killed');
    c.events.push({ time: 9, kind: 'oom-near', ratio: 0.9 });
    const v = deathReason(c, undefined, undefined);
    assert.equal(v.reason, 'oom');
    assert.match(v.evidence, /90 % of its limit; inferred/);
    // V8's fatal OOM aborts: the SIGABRT record does not hide the OOM; another signal still wins.
    assert.equal(deathReason(c, undefined, { signal: 'SIGABRT' }).reason, 'oom');
    assert.match(deathReason(c, undefined, { signal: 'SIGABRT' }).evidence, /^the process aborted \(SIGABRT/);
    assert.equal(deathReason(c, undefined, { signal: 'SIGSEGV' }).reason, 'fatal-signal');
  });

  test('memory trend over the last 5 minutes of samples', () => {
    const ev = [0, 1, 2, 3].map((m) => ({ time: m * 60_000, kind: 'sample', rss: (100 + m * 40) * MB, heapUsed: 10 }));
    assert.deepEqual(memoryTrend(ev), { rss: 220 * MB, heapUsed: 10, rssMbPerMin: 40 });
    assert.deepEqual(memoryTrend([]), {});
  });

  test('liveness: this process is alive; a pid that started at another time, or another boot, is not', () => {
    const me = { ...header, pid: process.pid, hostname: 'here', bootId: readBootId(), procStart: procStartTime('self') };
    const now = { host: 'here', bootId: readBootId() };
    assert.equal(liveness(me, now), 'alive');
    assert.equal(liveness({ ...me, procStart: (me.procStart ?? 0) + 1 }, now), 'dead');
    assert.equal(liveness({ ...me, bootId: 'another-boot' }, now), 'dead');
    assert.equal(liveness({ ...me, hostname: 'elsewhere' }, now), 'unknown');
    assert.equal(liveness({ ...me, pid: 2 ** 22 + 7 }, now), 'dead');
  });
});

describe('recorder ring', () => {
  test('lines come back in order, before and after wrapping; the cut oldest line is dropped', () => {
    const ring = new Ring(Buffer.alloc(RING_HEADER + 100));
    assert.deepEqual(readRing(ring.buf), []);
    ring.append('{"a":1}');
    ring.append('{"b":2}');
    assert.deepEqual(readRing(ring.buf), ['{"a":1}', '{"b":2}']);
    for (let i = 0; i < 40; i++) ring.append(JSON.stringify({ i }));
    const lines = readRing(ring.buf);
    assert.equal(lines[lines.length - 1], '{"i":39}');
    assert.ok(lines.length >= 8 && lines.length <= 12, `${lines.length} lines`);
    for (let k = 1; k < lines.length; k++) assert.equal(JSON.parse(lines[k]).i, JSON.parse(lines[k - 1]).i + 1);
    ring.append('x'.repeat(30)); // over a quarter of the ring: not written
    assert.equal(readRing(ring.buf).pop(), '{"i":39}');
  });

  test('a file that is not a ring, or a damaged header, is an error', () => {
    assert.throws(() => readRing(Buffer.alloc(200)), /not an autopsy-ts ring/);
    const ring = new Ring(Buffer.alloc(RING_HEADER + 100));
    ring.buf.writeUInt32LE(7, 16);
    assert.throws(() => readRing(ring.buf), /damaged ring header/);
  });

  const native = loadNative();
  test('a mapped ring released after each flush costs the RSS a page or two, and keeps every line', { skip: !(native.loaded && native.addon.mapRing && native.addon.releaseRing) && 'needs the native addon' }, () => {
    const addon = (native as { addon: NativeAddon }).addon;
    const dir = mkdtempSync(join(tmpdir(), 'autopsy-ring-'));
    try {
      const path = join(dir, 'x.ring');
      const bytes = 2 * MB;
      const ring = new Ring(addon.mapRing!(path, bytes), addon.releaseRing);
      // This mapping's resident KB, from smaps: the line after the mapping's own line with its path.
      const residentKb = () => {
        const smaps = readFileSync('/proc/self/smaps', 'utf8').split('\n');
        const at = smaps.findIndex((l) => l.endsWith(path));
        return Number(/^Rss:\s+(\d+)/m.exec(smaps.slice(at, at + 6).join('\n'))![1]);
      };
      const line = (i: number) => JSON.stringify({ time: i, kind: 'breadcrumb', message: 'm'.repeat(200) });
      for (let i = 0; i < 6000; i++) ring.append(line(i)); // ~1.3 MB
      const before = residentKb();
      ring.release();
      const after = residentKb();
      for (let i = 6000; i < 6010; i++) ring.append(line(i));
      ring.release();
      assert.ok(before >= 1200, `${before} KB resident before`);
      assert.ok(after <= 8, `${after} KB resident after`);
      // Memory that mapRing did not map is refused: MADV_DONTNEED would zero private pages.
      const other = Buffer.alloc(64 * 1024, 1);
      assert.equal(addon.releaseRing!(other), false);
      assert.equal(addon.releaseRing!(ring.buf.subarray(4096)), false);
      assert.equal(other[0], 1);
      // The file holds every line, through the page cache: the written pages were not dropped.
      const lines = readRing(readFileSync(path));
      assert.equal(lines.length, 6010);
      assert.equal(lines[0], line(0));
      assert.equal(lines[6009], line(6009));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('parseRecorder merges the ring: lines the file lacks are added once', () => {
    const header = JSON.stringify({ recorder: 1, pid: 1, hostname: 'h', startedAt: 0 });
    const a = JSON.stringify({ time: 1, kind: 'breadcrumb', message: 'a' });
    const b = JSON.stringify({ time: 2, kind: 'breadcrumb', message: 'b' });
    const c = parseRecorder([header, a].join('\n') + '\n', [a, b]);
    assert.deepEqual(c.events.map((e) => e.message), ['a', 'b']);
  });
});

describe('recorder parts', () => {
  test('OOM threshold against the old generation limit', () => {
    assert.equal(oldGenerationLimit(112 * MB, ['--max-old-space-size=64'], 11), 64 * MB);
    assert.equal(oldGenerationLimit(256 * MB, ['--max_old_space_size=64'], 13), 64 * MB);
    assert.equal(oldGenerationLimit(112 * MB, [], 11), 64 * MB); // Node 20, flag in a place we do not read
    assert.equal(oldGenerationLimit(4144 * MB, [], 11), 4096 * MB); // the 64-bit defaults
    assert.equal(oldGenerationLimit(4288 * MB, [], 13), 4096 * MB);
    assert.deepEqual(nearLimit(55 * MB, 64 * MB, 0.85).fire, true);
    assert.deepEqual(nearLimit(50 * MB, 64 * MB, 0.85).fire, false);
    assert.equal(nearLimit(1, 0, 0.85).fire, false);
  });

  test('the OOM watch stops asking to be woken after every GC once its evidence is taken', () => {
    const { config } = readConfig({}, process.cwd());
    const w = watchOom(config);
    assert.equal(w.wakeAt, config.oomAt);
    w.onHeap(10 * MB, 64 * MB, false);
    assert.equal(w.wakeAt, config.oomAt, 'below the line: still watching');
    w.onHeap(60 * MB, 64 * MB, false); // not persisting here: nothing is written, but it is done
    assert.equal(w.wakeAt, undefined);
  });

  test("the addon's GC counts keep the collections that happen while drainGc builds its answer", { skip: !(loadNative().loaded && (loadNative() as { addon: NativeAddon }).addon.startGcWatch) && 'no addon' }, async () => {
    const a = (loadNative() as { addon: NativeAddon }).addon;
    const { PerformanceObserver } = await import('node:perf_hooks');
    let observed = 0;
    const obs = new PerformanceObserver((l) => {
      observed += l.getEntries().length;
    });
    obs.observe({ entryTypes: ['gc'] });
    assert.equal(a.startGcWatch!(() => {}, 10), true);
    a.drainGc!();
    let counted = 0;
    const t0 = Date.now();
    // drainGc allocates its answer: with nothing else allocating, most collections happen inside it.
    while (Date.now() - t0 < 1000) counted += a.drainGc!().count;
    await new Promise((r) => setTimeout(r, 100));
    counted += a.drainGc!().count;
    obs.disconnect();
    assert.ok(observed > 20, `collections: ${observed}`);
    assert.ok(counted >= observed * 0.9 && counted <= observed * 1.1, `the addon counted ${counted}, the observer ${observed}`);
  });

  test('native frame names: the function covering an address, and the node binary\'s own symbols', () => {
    const t = { starts: Float64Array.from([0x100, 0x200, 0x300]), sizes: Float64Array.from([0x10, 0, 0x20]), names: ['a', 'b', 'c'] };
    assert.deepEqual(lookup(t, 0x105), { name: 'a', plus: 5 });
    assert.equal(lookup(t, 0x150), undefined); // past a's size
    assert.deepEqual(lookup(t, 0x2f0), { name: 'b', plus: 0xf0 }); // no size: up to the next
    assert.equal(lookup(t, 0x50), undefined);
    const sym = new Symbolizer();
    assert.equal(sym.name('/no/such/module', '0x10'), undefined);
    assert.equal(sym.name(process.execPath, 'zz'), undefined);
  });

  test('loop delay from heartbeat lateness', () => {
    assert.deepEqual(loopDelays([0, 1, 2, 3, 100]), { p50: 2, p99: 100, max: 100 });
    assert.deepEqual(loopDelays([0.123]), { p50: 0.12, p99: 0.12, max: 0.12 });
  });

  test('output tail keeps the last `max` characters, and what is not saved yet', () => {
    const t: Tail = { chunks: [], length: 0, dropped: 0, unsaved: 0 };
    for (let i = 0; i < 100; i++) keep(t, `line ${i}\n`, 64);
    const text = t.chunks.join('');
    assert.ok(text.length <= 64 + 8 && text.endsWith('line 99\n'));
    assert.equal(t.dropped + t.length, Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join('').length);
    keep(t, 'x'.repeat(500), 64);
    assert.equal(t.chunks.join(''), 'x'.repeat(64));
  });

  test('request summaries and paths without queries', () => {
    assert.equal(pathOnly('/a/b?token=1#x'), '/a/b');
    assert.equal(pathOnly('/a#frag'), '/a');
    assert.equal(pathOnly(undefined), undefined);
    const c = newHttpCounters();
    assert.equal(requestSummary(c), undefined);
    c.server = { count: 4, errors: 1, totalMs: 10, maxMs: 7 };
    assert.deepEqual(requestSummary(c), { server: { count: 4, errors: 1, meanMs: 2.5, maxMs: 7 }, client: undefined });
    assert.deepEqual(requestSummary(c, 7), { server: { count: 4, errors: 1, meanMs: 2.5, maxMs: 7, onePer: 7 }, client: undefined });
  });

  test('server requests above the rate limit are timed one sample interval in PROBE_EVERY, following the load', () => {
    // Which of 30 one-second intervals are timed, for a steady rate.
    const pattern = (perSecond: number) => {
      let t = { onePer: 1, skip: 0 };
      let out = '';
      for (let i = 0; i < 30; i++) {
        const timed = t.skip === 0;
        out += timed ? 'T' : '.';
        t = nextServerTiming(t, timed ? perSecond : undefined, 1000);
      }
      return out;
    };
    assert.equal(pattern(0), 'T'.repeat(30));
    assert.equal(pattern(TIMED_PER_SECOND), 'T'.repeat(30));
    assert.equal(PROBE_EVERY, 30);
    assert.equal(pattern(TIMED_PER_SECOND + 1), 'T' + '.'.repeat(29));
    assert.equal(pattern(35_000), 'T' + '.'.repeat(29));
    assert.equal(pattern(10_000_000), 'T' + '.'.repeat(29));
    // The rate is per second of busy loop: 2,000 requests in 250 ms of work are 8,000 a second, whether
    // the interval lasted 250 ms or a second of which the loop idled 750 ms.
    assert.deepEqual(nextServerTiming({ onePer: 1, skip: 0 }, 2000, 250), { onePer: 30, skip: 29 });
    assert.deepEqual(nextServerTiming({ onePer: 1, skip: 0 }, 2000, 1000), { onePer: 1, skip: 0 });
    // The load falls: the next timed interval measures it, and every interval is timed again.
    let t = nextServerTiming({ onePer: 1, skip: 0 }, 20_000, 1000);
    for (let i = 0; i < 29; i++) t = nextServerTiming(t, undefined, 1000);
    assert.deepEqual(t, { onePer: 30, skip: 0 });
    assert.deepEqual(nextServerTiming(t, 100, 1000), { onePer: 1, skip: 0 });
    // Nonsense in (a busy time that is not a number): every request is timed.
    assert.deepEqual(nextServerTiming({ onePer: 1, skip: 0 }, 20_000, NaN), { onePer: 1, skip: 0 });
    // AUTOPSY_HTTP_TIMED=0: every request, at any rate.
    assert.deepEqual(nextServerTiming({ onePer: 1, skip: 0 }, 1e6, 1000, 0), { onePer: 1, skip: 0 });
  });

  test('configuration of the recorder', () => {
    const { config, problems } = readConfig({ AUTOPSY_SAMPLE_MS: '250', AUTOPSY_TAIL: '16K', AUTOPSY_LEAK: '1', AUTOPSY_LEAK_GROWTH: '8M', AUTOPSY_OOM_AT: '0.9', AUTOPSY_RECORDER: '0', AUTOPSY_HTTP_TIMED: '0' }, '/');
    assert.deepEqual(problems, []);
    assert.equal(config.sampleMs, 250);
    assert.equal(config.tailBytes, 16 * 1024);
    assert.equal(config.leak, true);
    assert.equal(config.leakGrowth, 8 * MB);
    assert.equal(config.oomAt, 0.9);
    assert.equal(config.persist, false);
    assert.equal(config.httpTimed, 0);
    const bad = readConfig({ AUTOPSY_SAMPLE_MS: '5', AUTOPSY_OOM_AT: '2', AUTOPSY_TAIL: 'lots', AUTOPSY_HTTP_TIMED: 'all' }, '/');
    assert.equal(bad.problems.length, 4);
    assert.equal(bad.config.httpTimed, 5000);
    assert.equal(bad.config.sampleMs, 1000);
  });

  test('timeline text and kind filters', () => {
    const ev = [
      { time: 1, kind: 'net', event: 'error', remoteAddress: '10.0.0.5', remotePort: 5432, error: 'ECONNRESET: read ECONNRESET', durationMs: 10 },
      { time: 2, kind: 'http', side: 'client', method: 'GET', host: 'api:80', path: '/x', status: 503, durationMs: 12 },
      { time: 3, kind: 'hang-start', thresholdMs: 3000 },
      { time: 4, kind: 'exit', what: 'cluster-worker', workerId: 2, pid: 99, code: null, signal: 'SIGKILL' },
      { time: 5, kind: 'sample', rss: 100 * MB, heapUsed: 50 * MB, heapTotal: 60 * MB, elu: 0.5, delayP99Ms: 12 },
    ];
    assert.equal(describeEvent(ev[0]), 'error 10.0.0.5:5432: ECONNRESET: read ECONNRESET after 10 ms');
    assert.equal(describeEvent(ev[1]), 'client GET api:80/x 503 12 ms');
    assert.equal(describeEvent(ev[3]), 'cluster-worker #2 pid 99 exited: SIGKILL');
    assert.match(describeEvent(ev[4]), /^rss 100\.0 MB, heap 50\.0 MB\/60\.0 MB, elu 50%, delay p99 12 ms/);
    const busy = { ...ev[4], http: { server: { count: 31000, errors: 2, meanMs: 0.2, maxMs: 3, onePer: 7 } } };
    assert.match(describeEvent(busy), /, http 31000 req, 2 errors \(timed 1 interval in 7\)$/);
    assert.match(describeEvent({ ...ev[4], gc: { count: 12, ms: 41.5, major: 0 } }), /, gc 12 in 41\.5 ms$/);
    assert.match(describeEvent({ ...busy, gc: { count: 90, ms: 400, major: 83, eventsDropped: 19 } }), /, gc 90 in 400 ms \(83 major, 19 not listed one by one\), http 31000 req/);
    assert.deepEqual(filterKinds(ev, ['hang', 'net']).map((e) => e.time), [1, 3]);
    assert.equal(filterKinds(ev, undefined).length, 5);
  });
});
