// Pure pieces of hang capture: the detector's clock, /proc parsing, headroom, debugger previews.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { beatAge, beatValue, HangDetector } from '../src/hook/hang-detector';
import { describeBlock, parseStatState, parseSyscall, probeThread, syscallName } from '../src/hook/hang-probe';
import { snapshotHeadroom, SNAPSHOT_RSS_FACTOR } from '../src/hook/headroom';
import { hangLine } from '../src/bundle/summary';

const MB = 1024 * 1024;

describe('HangDetector', () => {
  test('waits for the first beat', () => {
    const d = new HangDetector(1000, 40);
    assert.deepEqual(d.check(5000, undefined), { nextCheckMs: 40 });
  });
  test('fires at beat + threshold + interval, never before, and once per episode', () => {
    const d = new HangDetector(1000, 40);
    const beat = beatValue(10_000);
    assert.equal(d.check(10_500, beat).event, undefined);
    assert.equal(d.check(10_500, beat).nextCheckMs, 540);
    assert.equal(d.check(11_039, beat).event, undefined);
    const hit = d.check(11_040, beat);
    assert.equal(hit.event?.type, 'hang');
    assert.equal(hit.event?.episode, 1);
    assert.equal(hit.event?.lastBeatMs, 10_000);
    assert.equal(d.check(15_000, beat).event, undefined, 'one long hang is one episode');
    const back = d.check(16_000, beatValue(15_990));
    assert.equal(back.event?.type, 'recovered');
    assert.equal(back.event?.durationMs, 5990);
    const again = d.check(17_040, beatValue(15_990));
    assert.equal(again.event?.type, 'hang');
    assert.equal(again.event?.episode, 2);
  });
  test('a block just under the threshold is not a hang', () => {
    const d = new HangDetector(1000, 40);
    // The loop beat at 0, blocked from 39 to 1030 (991 ms), beat again at 1030.
    assert.equal(d.check(1000, beatValue(0)).event, undefined);
    assert.equal(d.check(1035, beatValue(1030)).event, undefined);
  });
  test('beats wrap at 2^32 ms and ages stay right', () => {
    const near = 2 ** 32 - 100;
    assert.equal(beatAge(beatValue(near + 300), beatValue(near)), 300);
  });
});

describe('/proc parsing', () => {
  test('state letter, with spaces and parens in the command name', () => {
    assert.equal(parseStatState('1234 (node (main) x) S 1 1234 1234 0 -1'), 'S');
    assert.equal(parseStatState('garbage'), undefined);
  });
  test('syscall lines', () => {
    assert.equal(parseSyscall('running\n'), 'running');
    assert.deepEqual(parseSyscall('202 0x7f00 0x80 0x0 0x0 0x0 0x0 0x7ffd 0x7f01', 'x64'), { number: 202, name: 'futex', args: ['0x7f00', '0x80', '0x0', '0x0', '0x0', '0x0'] });
    assert.equal(parseSyscall('', 'x64'), undefined);
    assert.equal(syscallName(98, 'arm64'), 'futex');
    assert.equal(syscallName(9999, 'x64'), 'syscall 9999');
  });
  test('one-line descriptions', () => {
    assert.equal(describeBlock({ syscall: 'running' }), 'running (JS or native code on the CPU)');
    assert.equal(describeBlock({ syscall: { number: 0, name: 'read', args: ['0x5'] }, fds: [{ fd: 5, target: '/mnt/nfs/report.csv' }] }), 'read on /mnt/nfs/report.csv (a synchronous read)');
    assert.equal(describeBlock({ state: 'D' }), 'uninterruptible sleep (disk or NFS I/O)');
  });
  test('probing this very thread from itself says it is running', () => {
    const p = probeThread(process.pid);
    assert.equal(p.tid, process.pid);
    assert.equal(p.state, 'R');
  });
});

describe('snapshot headroom', () => {
  test('enough room', () => {
    const v = snapshotHeadroom(50 * MB, { available: 8000 * MB }, 60_000);
    assert.equal(v.ok, true);
    assert.equal(v.needBytes, 50 * MB * SNAPSHOT_RSS_FACTOR);
  });
  test('the cgroup limit counts, and says so', () => {
    const v = snapshotHeadroom(100 * MB, { available: 20_000 * MB, cgroupLeft: 300 * MB, cgroupLimit: 512 * MB }, 60_000);
    assert.equal(v.ok, false);
    assert.match(v.reason, /needs about 1600 MB .* only 300 MB left under the cgroup limit of 512 MB/);
  });
  test('too slow is skipped too, and unknown memory is never risked', () => {
    assert.match(snapshotHeadroom(1000 * MB, { available: 1e12 }, 60_000).reason, /would take about 250 s/);
    assert.equal(snapshotHeadroom(MB, {}, 60_000).ok, false);
  });
});

describe('hang headline', () => {
  const base = { thresholdMs: 3000, blockedSince: 0, detectedAt: 3040, ongoing: false, durationMs: 4100, probe: { summary: 'running (JS or native code on the CPU)', syscall: 'running' } };
  test('with a JS stack', () => {
    const line = hangLine({ ...base, jsStack: 'captured' }, [{ function: 'Timeout.renderInvoicePdf [as _onTimeout]', file: '/srv/pdf.js', line: 88, column: 3, origin: 'app' }], '/srv');
    assert.equal(line, 'event loop blocked 4.1 s in Timeout.renderInvoicePdf (pdf.js:88)');
  });
  test('without one', () => {
    const line = hangLine({ ...base, ongoing: true, durationMs: undefined, detectedAt: 4000, jsStack: 'not available', probe: { summary: 'futex (Atomics.wait, or a lock in native code)' } }, undefined, '/');
    assert.equal(line, 'event loop blocked >= 4.0 s in futex (Atomics.wait, or a lock in native code), JS stack not available');
  });
  test('a block that the process exit ended', () => {
    const line = hangLine({ ...base, endedBy: 'exit', jsStack: 'captured' }, [{ function: 'reconcileLedger', file: '/srv/job.js', line: 8, column: 3, origin: 'app' }], '/srv');
    assert.equal(line, 'event loop blocked 4.1 s until the process exited, in reconcileLedger (job.js:8)');
  });
});
