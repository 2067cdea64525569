// JS stacks of a main thread blocked in native code (issue 8): the watchdog's inspector path cannot
// run JS there, so the addon's signal sampler takes the frames, and the bundle is there while the
// thread is still blocked.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bundlesIn, cleanup, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));
const BLOCKED = join(SCENARIOS, 'fatal', 'blocked.js');
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function blockedRun(name: string, kind: string, env: Record<string, string> = {}) {
  const out = join(dir, name);
  let whileBlocked: string[] = [];
  const r = await runNode(BLOCKED, {
    hook: true,
    args: [kind],
    env: { AUTOPSY_DIR: out, AUTOPSY_HANG_MS: '1000', BLOCK_MS: '4000', ...env },
    timeoutMs: 20_000,
    onOutput: {
      text: 'blocking',
      then: () => {
        void (async () => {
          // The block lasts 4 s: look at 2.5 s (threshold 1 s + capture), well before it ends.
          await sleep(2500);
          whileBlocked = bundlesIn(out);
        })();
      },
    },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /unblocked/);
  assert.equal(whileBlocked.length, 1, 'the hang bundle existed while the main thread was still blocked');
  const s = JSON.parse((await runCli(['summary', bundlesIn(out)[0], '--json'])).stdout);
  return s;
}

describe('blocked-thread stacks', { skip: !linuxX64 && 'Linux x64 only' }, () => {
  test('Atomics.wait for 4 s: the bundle names futex and waitForLockSync, from the signal sampler', async () => {
    const s = await blockedRun('atomics', 'atomics', { AUTOPSY_HANG_INSPECTOR: '0' });
    assert.equal(s.hang.probe.syscall.name, 'futex');
    assert.equal(s.hang.jsStack, 'captured');
    assert.equal(s.hang.jsStackFrom, 'signal sampler');
    assert.deepEqual(s.stack.slice(0, 2).map((f: { function: string }) => f.function), ['waitForLockSync', 'runNightlyJob']);
    assert.match(s.stack[0].file, /blocked\.js$/);
    assert.equal(s.hang.sampler.signals, 1, 'one signal per capture');
    // Sane only: the <= 10 ms target is bench/blocked-stack.ts's, timings have no place in tests.
    assert.ok(s.hang.sampler.tookMs < 1000, `capture took ${s.hang.sampler.tookMs} ms`);
    assert.match(s.headline, /event loop blocked .* in waitForLockSync .*futex/);
  });

  test("execSync('sleep 4'): the inspector cannot answer, the sampler names shellOut under execSync", async () => {
    const s = await blockedRun('exec', 'exec');
    assert.match(s.hang.probe.syscall.name, /^(epoll_wait|epoll_pwait|epoll_pwait2|wait4|poll|ppoll)$/);
    assert.ok(s.hang.probe.children.some((c: { command: string }) => /sleep 4/.test(c.command)));
    assert.equal(s.hang.jsStackFrom, 'signal sampler');
    const names = s.stack.map((f: { function: string }) => f.function);
    assert.ok(names.indexOf('execSync') >= 0 && names.indexOf('shellOut') === names.indexOf('execSync') + 1, names.join(' < '));
    assert.ok(names.includes('runNightlyJob'));
    assert.equal(s.hang.ongoing, false, 'the end of the episode was written back');
  });

  test('AUTOPSY_NATIVE=0: the bundle still comes, and says why the JS stack is missing', async () => {
    const s = await blockedRun('no-addon', 'atomics', { AUTOPSY_HANG_INSPECTOR: '0', AUTOPSY_NATIVE: '0' });
    assert.match(s.hang.jsStack, /^not available: .*native addon unavailable: turned off by AUTOPSY_NATIVE=0/);
  });
});
