// Pure modules: configuration, previews, error records, names, sanitising, summaries, retention.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { bundleFileName, stamp, timeFromName } from '../src/bundle/names';
import { frameLocation, headlineOf, topFrame } from '../src/bundle/summary';
import type { Frame } from '../src/bundle/types';
import { mdCode, mdText, safeJson, safeLine, safeText } from '../src/cli/sanitize';
import { enforceRetention, recentCount, replaceAtomically } from '../src/hook/bundle-dir';
import { DEFAULTS, parseBytes, readConfig } from '../src/hook/config';
import { toErrorRecord } from '../src/hook/error-record';
import { previewValue } from '../src/hook/preview';
import { cleanup, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));

describe('readConfig', () => {
  test('defaults with an empty environment', () => {
    const { config, problems } = readConfig({}, '/app');
    assert.deepEqual(config, { ...DEFAULTS, redact: [] });
    assert.deepEqual(problems, []);
  });
  test('every variable', () => {
    const { config, problems } = readConfig(
      { AUTOPSY_DIR: 'b', AUTOPSY_MAX_BUNDLES: '5', AUTOPSY_MAX_BYTES: '500M', AUTOPSY_RATE_LIMIT: '3', AUTOPSY_SIGNAL: 'pwr', AUTOPSY_SOURCE_MAPS: 'off', AUTOPSY_REDACT: 'A, B', AUTOPSY_HANG_MS: '150', AUTOPSY_ENABLED: 'yes' },
      '/app',
    );
    assert.deepEqual(problems, []);
    assert.equal(config.dir, '/app/b');
    assert.equal(config.maxBundles, 5);
    assert.equal(config.maxBytes, 500 * 1024 * 1024);
    assert.equal(config.ratePerMinute, 3);
    assert.equal(config.signal, 'SIGPWR');
    assert.equal(config.sourceMaps, false);
    assert.deepEqual(config.redact, ['A', 'B']);
    assert.equal(config.hangMs, 150);
  });
  test('bad values keep the default and say so once each', () => {
    const { config, problems } = readConfig({ AUTOPSY_MAX_BUNDLES: '0', AUTOPSY_SIGNAL: 'SIGTERM', AUTOPSY_HANG_MS: '50', AUTOPSY_MAX_BYTES: '10k', AUTOPSY_ENABLED: 'maybe' }, '/');
    assert.equal(problems.length, 5);
    assert.equal(config.maxBundles, DEFAULTS.maxBundles);
    assert.equal(config.signal, 'SIGUSR2');
    assert.equal(config.enabled, true);
    for (const p of problems) assert.match(p, /^ignoring AUTOPSY_\w+=".*": expected /);
  });
  test('AUTOPSY_SIGNAL=0 turns the signal off', () => {
    assert.equal(readConfig({ AUTOPSY_SIGNAL: '0' }, '/').config.signal, undefined);
  });
  test('parseBytes', () => {
    assert.equal(parseBytes('1024'), 1024);
    assert.equal(parseBytes('2G'), 2 * 1024 ** 3);
    assert.equal(parseBytes('1.5M'), 1.5 * 1024 ** 2);
    assert.equal(parseBytes('12 KiB'), 12 * 1024);
    assert.equal(parseBytes('lots'), undefined);
  });
});

describe('previewValue', () => {
  test('bounds depth, keys, items and strings', () => {
    const v = previewValue({ a: { b: { c: { d: 1 } } }, s: 'x'.repeat(2000), arr: Array.from({ length: 30 }, (_, i) => i) }) as Record<string, unknown>;
    assert.deepEqual(v.a, { b: '[Object]' });
    assert.match(v.s as string, /… \(2000 chars\)$/);
    assert.equal((v.arr as unknown[]).length, 21);
  });
  test('never calls getters, and survives cycles and hostile proxies', () => {
    let called = false;
    const o: Record<string, unknown> = { get g() { called = true; return 1; } };
    o.self = o;
    assert.deepEqual(previewValue(o), { g: '[Getter]', self: '[Circular]' });
    assert.equal(called, false);
    const p = new Proxy({}, { ownKeys() { throw new Error('trap'); } });
    assert.equal(previewValue(p), '[Unreadable]');
  });
  test('special values', () => {
    assert.equal(previewValue(undefined), '[undefined]');
    assert.equal(previewValue(10n), '10n');
    assert.equal(previewValue(NaN), 'NaN');
    assert.equal(previewValue(function named() {}), '[Function named]');
    assert.equal(previewValue(new Map([[1, 2]])), '[Map(1)]');
    assert.equal(previewValue(new Date(0)), '1970-01-01T00:00:00.000Z');
  });
});

describe('toErrorRecord', () => {
  const id = (f: Frame[]) => f;
  test('an Error with code, props, cause and members', () => {
    const e = new AggregateError([new Error('a')], 'agg', { cause: Object.assign(new Error('root'), { code: 'E1', extra: { n: 1 } }) });
    const r = toErrorRecord(e, id);
    assert.equal(r.name, 'AggregateError');
    assert.equal(r.errors?.[0].message, 'a');
    assert.equal(r.cause?.code, 'E1');
    assert.deepEqual(r.cause?.props, { extra: { n: 1 } });
    assert.ok(r.frames.length > 0);
    assert.equal(r.frames[0].origin, 'app');
  });
  test('depth bound', () => {
    let e = new Error('0');
    for (let i = 1; i < 20; i++) e = new Error(String(i), { cause: e });
    let r = toErrorRecord(e, id);
    let depth = 0;
    while (r.cause) {
      r = r.cause;
      depth++;
    }
    assert.equal(r.truncated, 'depth');
    assert.equal(depth, 8);
  });
  test('values that are not errors', () => {
    assert.deepEqual(toErrorRecord(undefined, id), { kind: 'value', name: 'undefined', message: '[undefined]', props: undefined, frames: [] });
    assert.equal(toErrorRecord({ message: 'looks like', stack: 'Error: looks like\n    at f (/a.js:1:2)' }, id).frames[0].file, '/a.js');
  });
});

describe('bundle names', () => {
  test('sortable, safe, and the time reads back', () => {
    const t = new Date('2026-11-22T08:45:00.123Z');
    const name = bundleFileName(t, 'uncaught-exception', 'web/01 prod', 42);
    assert.equal(name, 'autopsy-20261122T084500123Z-uncaught-exception-web_01_prod-42.tgz');
    assert.equal(stamp(t), '20261122T084500123Z');
    assert.equal(timeFromName(name), t.getTime());
    assert.equal(timeFromName('other.tgz'), undefined);
  });
});

describe('retention', () => {
  test('keeps the newest, never the one just written, and counts the last minute', () => {
    const d = join(dir, 'ret');
    mkdirSync(d);
    const now = Date.parse('2026-11-22T09:00:00.000Z');
    const names = [0, 1, 2, 3].map((i) => bundleFileName(new Date(now - (3 - i) * 30_000), 'api', 'h', i + 1));
    for (const n of names) writeFileSync(join(d, n), Buffer.alloc(1000));
    writeFileSync(join(d, 'unrelated.txt'), 'x');
    assert.equal(recentCount(d, now), 2);
    const removed = enforceRetention(d, 2, 1e9, join(d, names[0]));
    assert.deepEqual(removed, [names[1], names[2]]);
    assert.deepEqual(readdirSync(d).sort(), [names[0], names[3], 'unrelated.txt'].sort());
    enforceRetention(d, 10, 1500, join(d, names[3]));
    assert.deepEqual(readdirSync(d).sort(), [names[3], 'unrelated.txt'].sort());
  });

  test('a bundle rewritten by two threads at once (a hang ended by the exit) is one version whole, never a mix', async () => {
    const d = join(dir, 'rewrite');
    mkdirSync(d);
    const path = join(d, 'autopsy-x.tgz');
    writeFileSync(path, 'old');
    const size = 4 * 1024 * 1024;
    // A worker and this thread replace the same file 30 times each, as close together as they can.
    const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { replaceAtomically } = require(workerData.mod);
      const a = Atomics, flag = new Int32Array(workerData.sab);
      const data = Buffer.alloc(workerData.size, 'w');
      let failed = 0;
      parentPort.postMessage('ready');
      for (let i = 0; i < 30; i++) {
        a.wait(flag, 0, i, 2000);
        try { replaceAtomically(workerData.path, data); } catch { failed++; }
      }
      parentPort.postMessage(failed);`;
    const sab = new SharedArrayBuffer(4);
    const flag = new Int32Array(sab);
    const w = new Worker(script, { eval: true, workerData: { mod: require.resolve('../src/hook/bundle-dir'), sab, size, path } });
    try {
      const next = () => new Promise((res) => w.once('message', res));
      assert.equal(await next(), 'ready');
      const done = next();
      const mine = Buffer.alloc(size, 'm');
      let failed = 0;
      for (let i = 0; i < 30; i++) {
        Atomics.store(flag, 0, i + 1);
        Atomics.notify(flag, 0);
        try {
          replaceAtomically(path, mine);
        } catch {
          failed++;
        }
        const now = readFileSync(path);
        assert.ok(now.equals(mine) || now.equals(Buffer.alloc(size, 'w')), `round ${i}: a mix of both versions`);
      }
      assert.equal(failed + Number(await done), 0, 'no rewrite failed');
      assert.deepEqual(readdirSync(d), ['autopsy-x.tgz'], 'no temporary file left');
    } finally {
      await w.terminate();
    }
  });
});

describe('sanitize', () => {
  test('safeLine escapes every control character, newlines too', () => {
    assert.equal(safeLine('a\x1b[31mb\nc\x9bd\u202e'), 'a\\x1b[31mb\\nc\\x9bd\\u202e');
    assert.equal(safeLine('x'.repeat(10), 4), 'xxxx…');
  });
  test('safeText keeps newlines and tabs', () => {
    assert.equal(safeText('a\n\tb\r\n\x07'), 'a\n\tb\n\\x07');
  });
  test('safeJson round-trips and leaves no raw C1 or DEL', () => {
    const v = { m: 'x\x1b\x7f\x9b\u202e' };
    const s = safeJson(v);
    assert.doesNotMatch(s, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
    assert.deepEqual(JSON.parse(s), v);
  });
  test('markdown helpers', () => {
    assert.equal(mdCode('a`b'), '``a`b``');
    assert.equal(mdText('*x* <b>|'), '\\*x\\* \\<b\\>\\|');
  });
});

describe('summary helpers', () => {
  const frames: Frame[] = [
    { function: 'emit', file: 'node:events', line: 1, column: 1, origin: 'node' },
    { function: 'handler', file: '/srv/app/src/x.ts', line: 3, column: 7, origin: 'app' },
  ];
  test('topFrame prefers app code', () => assert.equal(topFrame(frames)?.function, 'handler'));
  test('frameLocation is relative to the cwd', () => assert.equal(frameLocation(frames[1], '/srv/app'), 'src/x.ts:3:7'));
  test('headlines', () => {
    assert.equal(headlineOf('uncaught-exception', { kind: 'error', name: 'TypeError', message: 'x is undefined\nmore', frames }, undefined, '/srv/app'), 'TypeError: x is undefined at handler (src/x.ts:3:7)');
    assert.equal(headlineOf('on-demand', undefined, frames, '/srv/app'), 'on-demand at handler (src/x.ts:3:7)');
    assert.equal(headlineOf('on-demand', undefined, undefined, ''), 'on-demand');
  });
});
