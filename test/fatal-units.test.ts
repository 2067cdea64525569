// Pure parts of issue 8: code-event names, the configuration, and reading a crash record.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crashEvidence, crashFrames } from '../src/hook/crash-record';
import { fatalCorePath, readFatalConfig } from '../src/hook/fatal';
import { parseCodeName, stackTextOf } from '../src/hook/native-stack';

const SIGNALS = { SIGSEGV: 11, SIGBUS: 7, SIGILL: 4, SIGFPE: 8, SIGABRT: 6, SIGTRAP: 5, SIGSYS: 31, SIGTERM: 15 };

describe('code-event names', () => {
  test('JS code of each tier, anonymous functions, builtins and unknown shapes', () => {
    assert.deepEqual(parseCodeName('JS:~waitForLockSync /tmp/app.js:9:25'), { kind: 'JS', function: 'waitForLockSync', file: '/tmp/app.js', line: 9, column: 25, tier: 'interpreted' });
    assert.equal(parseCodeName('JS:*hot /a b/x.js:1:2').tier, 'turbofan');
    assert.equal(parseCodeName('JS:^warm node:internal/timers:524:25').file, 'node:internal/timers');
    assert.deepEqual(parseCodeName('JS:~ /tmp/app.js:6:12'), { kind: 'JS', function: '', file: '/tmp/app.js', line: 6, column: 12, tier: 'interpreted' });
    assert.deepEqual(parseCodeName('Builtin:AtomicsWait'), { kind: 'Builtin', function: 'AtomicsWait', tier: undefined });
    assert.deepEqual(parseCodeName('what is this'), { kind: 'unknown', function: 'what is this' });
  });

  test('stack text keeps named JS frames only, in V8 format', () => {
    const text = stackTextOf(['Builtin:AtomicsWait', 'JS:~waitForLockSync /tmp/app.js:9:25', undefined, 'JS:~ /tmp/app.js:6:12']);
    assert.equal(text, 'Error: sampled by the native addon\n    at waitForLockSync (/tmp/app.js:9:25)\n    at /tmp/app.js:6:12');
  });
});

describe('AUTOPSY_FATAL_SIGNALS and AUTOPSY_CODE_MAP', () => {
  test('defaults, off, a list, and refused names', () => {
    assert.deepEqual(readFatalConfig({}, SIGNALS), { config: { signals: [11, 7, 4, 8, 6], codeMap: true, core: false, coreTimeoutMs: 30_000 }, problems: [] });
    assert.deepEqual(readFatalConfig({ AUTOPSY_FATAL_SIGNALS: '0', AUTOPSY_CODE_MAP: 'off' }, SIGNALS).config, { signals: [], codeMap: false, core: false, coreTimeoutMs: 30_000 });
    assert.deepEqual(readFatalConfig({ AUTOPSY_FATAL_SIGNALS: 'segv, SIGABRT' }, SIGNALS).config.signals, [11, 6]);
    assert.equal(readFatalConfig({ AUTOPSY_HANG_HEAP: '1' }, SIGNALS).config.codeMap, false);
    assert.equal(readFatalConfig({ AUTOPSY_HANG_HEAP: '1', AUTOPSY_CODE_MAP: '1' }, SIGNALS).config.codeMap, true);
    const bad = readFatalConfig({ AUTOPSY_FATAL_SIGNALS: 'SIGTERM' }, SIGNALS);
    assert.deepEqual(bad.config.signals, [11, 7, 4, 8, 6]);
    assert.match(bad.problems[0], /ignoring SIGTERM in AUTOPSY_FATAL_SIGNALS/);
  });

  test('AUTOPSY_FATAL_CORE and AUTOPSY_FATAL_CORE_TIMEOUT; the core goes beside the record', () => {
    const on = readFatalConfig({ AUTOPSY_FATAL_CORE: '1', AUTOPSY_FATAL_CORE_TIMEOUT: '7.5' }, SIGNALS);
    assert.equal(on.config.core, true);
    assert.equal(on.config.coreTimeoutMs, 7500);
    const bad = readFatalConfig({ AUTOPSY_FATAL_CORE: 'yes', AUTOPSY_FATAL_CORE_TIMEOUT: 'soon' }, SIGNALS);
    assert.equal(bad.config.core, true);
    assert.equal(bad.config.coreTimeoutMs, 30_000);
    assert.match(bad.problems[0], /ignoring AUTOPSY_FATAL_CORE_TIMEOUT="soon": expected seconds/);
    assert.equal(readFatalConfig({ AUTOPSY_FATAL_CORE: '0' }, SIGNALS).config.core, false);
    assert.equal(fatalCorePath('/b/.recorder/host-1-2.crash.json'), '/b/.recorder/host-1-2.core');
  });
});

describe('crash records', () => {
  const record = {
    signal: 'SIGSEGV',
    codeName: 'SEGV_MAPERR',
    faultAddress: '0x7ffd1000',
    jsStack: 'captured',
    jsFrames: [{ pc: '0x1' }, { pc: '0x2', name: 'JS:~descendForever /app/x.js:3:24' }, { pc: '0x3', name: 'JS:~ /app/x.js:7:12' }],
    nativeFrames: [{ pc: '0x4', module: '/usr/bin/node', offset: '0x14cfcb4' }],
  };
  test('frames come from the named JS frames', () => {
    const frames = crashFrames(record);
    assert.deepEqual(frames.map((f) => [f.function, f.file, f.line]), [['descendForever', '/app/x.js', 3], ['', '/app/x.js', 7]]);
    assert.deepEqual(crashFrames({ jsFrames: 'garbage' }), []);
    assert.deepEqual(crashFrames(undefined), []);
  });
  test('evidence names the signal, the JS function and the native frame; a damaged record still gives a line', () => {
    assert.equal(crashEvidence(record), 'the native addon recorded SIGSEGV (SEGV_MAPERR at 0x7ffd1000); in descendForever (/app/x.js:3); native: node+0x14cfcb4');
    assert.equal(crashEvidence({ signal: 'SIGABRT', jsStack: 'the fatal signal hit a thread other than the main thread' }), 'the native addon recorded SIGABRT; JS stack: the fatal signal hit a thread other than the main thread');
    assert.equal(crashEvidence(null), 'the native addon recorded a fatal signal');
  });
});
