// On-demand bundles: the signal and `autopsy-ts dump PID`, on live processes that carry on.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bundlesIn, cleanup, HOOK, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));
const server = join(SCENARIOS, 'on-demand', 'server.js');

describe('on demand', () => {
  test('autopsy-ts dump PID waits for the bundle, prints its path, and the process carries on', async () => {
    const out = join(dir, 'dump');
    let dumped: Promise<Awaited<ReturnType<typeof runCli>>> | undefined;
    const r = await runNode(server, {
      hook: true,
      // Long enough for the CLI to start on a loaded machine (load 14 once left 1.5 s too short).
      args: ['5000'],
      env: { AUTOPSY_DIR: out },
      onOutput: { text: 'ready', then: (pid) => (dumped = new Promise((res) => setTimeout(() => res(runCli(['dump', String(pid)])), 300))) },
    });
    const d = await dumped!;
    assert.equal(d.code, 0, d.stderr);
    const path = d.stdout.trim();
    assert.deepEqual(bundlesIn(out), [path]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /finished true/);
    const s = JSON.parse((await runCli(['summary', path, '--json'])).stdout);
    assert.equal(s.reason, 'on-demand');
    assert.ok(Array.isArray(s.stack));
    assert.ok(s.timeline.last.some((e: { kind: string; message?: string }) => e.kind === 'breadcrumb' && e.message === 'tick'));
  });

  for (const kind of ['busy', 'atomics'] as const) {
    test(`dump while the main thread is blocked (${kind}): the watchdog answers during the block, names the blocking function, takes the core; no second bundle afterwards`, { skip: process.platform !== 'linux' }, async () => {
      const out = join(dir, `blocked-${kind}`);
      let dumped: Promise<{ d: Awaited<ReturnType<typeof runCli>>; answeredAt: number }> | undefined;
      let unblockedAt = 0;
      const r = await runNode(join(SCENARIOS, 'on-demand', 'blocked.js'), {
        hook: true,
        args: [kind],
        // The hang threshold above the block: this is about dump, not the hang bundle.
        env: { AUTOPSY_DIR: out, AUTOPSY_HANG_MS: '60000', BLOCK_MS: '8000', AUTOPSY_CORE_MIN_FREE: '0' },
        timeoutMs: 60_000,
        onOutput: {
          text: 'ready',
          then: (pid) => {
            dumped = new Promise((res) =>
              setTimeout(async () => {
                // --heap too for atomics: refused while blocked, which makes dump exit 1 after printing the paths.
                const d = await runCli(['dump', String(pid), '--core', ...(kind === 'atomics' ? ['--heap'] : []), '--timeout', '20']);
                res({ d, answeredAt: Date.now() });
                process.kill(pid, 'SIGTERM');
              }, 300),
            );
          },
        },
      });
      const { d, answeredAt } = await dumped!;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(d.code, kind === 'atomics' ? 1 : 0, d.stderr);
      const [path, corePath] = d.stdout.trim().split('\n');
      assert.match(corePath ?? '', /\.core$/, d.stdout + d.stderr);
      assert.match(d.stderr, /^autopsy-ts: the main thread is blocked .*: answered by the watchdog thread$/m);
      if (kind === 'atomics') assert.match(d.stderr, /heap snapshot skipped: the main thread is blocked/);
      // Answered during the block, which lasts 8 s after "ready".
      // Answered by the watchdog, with the stack of the block. (Not always before the block ends: the
      // reply waits for the core, which took 7-13 s on Node 24 under load.)
      unblockedAt = Number(/unblocked (\d+)/.exec(r.stdout)?.[1]);
      assert.ok(unblockedAt > 0 && answeredAt > 0);
      const s = JSON.parse((await runCli(['summary', path, '--json'])).stdout);
      assert.equal(s.reason, 'on-demand');
      const { readBundle } = await import('../src/bundle/reader.js');
      assert.equal(((await readBundle(path)).manifest.trigger as { from?: string }).from, 'watchdog thread');
      const frames = JSON.stringify(s.stack);
      assert.match(frames, kind === 'busy' ? /buildCsvExport/ : /waitForDatabaseLock/);
      assert.match(frames, /nightlyExport/);
      assert.ok(s.core?.path, JSON.stringify(s.core));
      const { existsSync } = await import('node:fs');
      assert.ok(existsSync(s.core.path));
      // The signal that came with the request reached the loop after the block, and wrote nothing.
      assert.deepEqual(bundlesIn(out), [path]);
    });
  }

  test('a raw signal (AUTOPSY_SIGNAL) writes an on-demand bundle too', async () => {
    const out = join(dir, 'signal');
    const r = await runNode(server, {
      hook: true,
      args: ['800'],
      env: { AUTOPSY_DIR: out, AUTOPSY_SIGNAL: 'SIGPWR' },
      onOutput: { text: 'ready', then: (pid) => setTimeout(() => process.kill(pid, 'SIGPWR'), 200) },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /finished true/);
    assert.equal(bundlesIn(out).length, 1);
    assert.match(bundlesIn(out)[0], /-on-demand-/);
  });

  test('registrations left by processes that died without exiting (SIGKILL) are pruned', async () => {
    const { runDir } = await import('../src/hook/control.js');
    const { writeFileSync, existsSync } = await import('node:fs');
    const stale = join(runDir(), '999998.json');
    writeFileSync(stale, '{}');
    await runNode(join(SCENARIOS, 'fate', 'wait-for-signal.js'), { hook: true, env: { AUTOPSY_DIR: join(dir, 'prune') }, onOutput: { text: 'ready', then: (pid) => setTimeout(() => process.kill(pid, 'SIGTERM'), 200) } });
    assert.equal(existsSync(stale), false);
  });

  test('dump refuses a process without the hook, in one line, and does not kill it', async () => {
    // The dump's promise is awaited after the run: on a busy machine the CLI may answer after the server ended.
    let dp: Promise<Awaited<ReturnType<typeof runCli>>> | undefined;
    const r = await runNode(server, { args: ['3000'], onOutput: { text: 'ready', then: (pid) => (dp = runCli(['dump', String(pid)])) } });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /finished true/);
    const d = await dp;
    assert.equal(d!.code, 1);
    assert.match(d!.stderr, /^autopsy-ts: pid \d+ has no autopsy-ts hook .*\n$/);
  });

  test('dump of a pid that does not exist, and of a hung process without the watchdog, fail in one line', async () => {
    const gone = await runCli(['dump', '999999']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^autopsy-ts: no process with pid 999999\n$/);

    const script = 'setTimeout(() => { console.log("ready"); const end = Date.now() + 6000; while (Date.now() < end); }, 10);';
    let dp: Promise<Awaited<ReturnType<typeof runCli>>> | undefined;
    await runNode('-e', {
      nodeArgs: ['--require', HOOK],
      args: [script],
      // Without the watchdog: with it, the dump of a blocked loop is answered (the tests above).
      env: { AUTOPSY_DIR: join(dir, 'hung'), AUTOPSY_HANG_MS: '0' },
      onOutput: { text: 'ready', then: (pid) => (dp = runCli(['dump', String(pid), '--timeout', '1'])) },
    });
    const d = await dp;
    assert.equal(d?.code, 1);
    assert.match(d!.stderr, /^autopsy-ts: pid \d+ did not answer within 1 s: its event loop may be blocked, with the hang watchdog .+ turned off \(AUTOPSY_HANG_MS=0\).*\n$/);
  });

  test('dump --heap on a bundled app: a snapshot inside the bundle, in bounded time on Node 20 too', async () => {
    const out = join(dir, 'heap');
    let d: Awaited<ReturnType<typeof runCli>> | undefined;
    await runNode(join(SCENARIOS, 'on-demand', 'bundled-app.js'), {
      hook: true,
      args: ['60000'],
      env: { AUTOPSY_DIR: out },
      timeoutMs: 60_000,
      onOutput: {
        text: 'ready',
        then: async (pid) => {
          d = await runCli(['dump', String(pid), '--heap', '--timeout', '10']);
          process.kill(pid, 'SIGTERM');
        },
      },
    });
    assert.equal(d?.code, 0, d?.stderr);
    const path = d!.stdout.trim();
    assert.equal((await runCli(['verify', path])).code, 0);
    const { readTarGz } = await import('../src/bundle/tar.js');
    const entries = await readTarGz(path, { load: (n) => n.startsWith('heap/') });
    const heap = entries.find((e) => e.name === 'heap/on-demand.heapsnapshot.gz');
    assert.ok(heap?.data);
    const snap = JSON.parse(require('node:zlib').gunzipSync(heap.data).toString());
    assert.ok(snap.snapshot.node_count > 30000);
    const s = JSON.parse((await runCli(['summary', path, '--json'])).stdout);
    assert.match(s.trigger.heap.headroom, /MB free/);
  });
});
