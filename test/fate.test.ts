// The fate-fidelity matrix: each script runs without and with the hook; exit code, signal and stdout
// must be identical, and Node's own stderr text must be unchanged once the hook's lines are removed.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { join } from 'node:path';
import { bundlesIn, cleanup, nodeStderr, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));

interface Case {
  name: string;
  script: string;
  args?: string[];
  nodeArgs?: string[];
  /** The bundle reason the hook must write, or null for none. */
  reason: string | null;
}

const cases: Case[] = [
  { name: 'sync throw at start-up', script: 'throw-sync.js', reason: 'uncaught-exception' },
  { name: 'TypeError in a timer', script: 'throw-in-timer.js', reason: 'uncaught-exception' },
  { name: 'unhandled rejection, default mode', script: 'reject-error.js', reason: 'unhandled-rejection' },
  { name: 'unhandled rejection of a primitive', script: 'reject-primitive.js', reason: 'unhandled-rejection' },
  { name: '--unhandled-rejections=warn', script: 'reject-error.js', nodeArgs: ['--unhandled-rejections=warn'], reason: 'unhandled-rejection' },
  { name: '--unhandled-rejections=none', script: 'reject-error.js', nodeArgs: ['--unhandled-rejections=none'], reason: 'unhandled-rejection' },
  { name: '--unhandled-rejections=strict', script: 'reject-error.js', nodeArgs: ['--unhandled-rejections=strict'], reason: 'unhandled-rejection' },
  { name: '--unhandled-rejections=warn-with-error-code', script: 'reject-error.js', nodeArgs: ['--unhandled-rejections=warn-with-error-code'], reason: 'unhandled-rejection' },
  { name: "the app's own uncaughtException handler", script: 'own-uncaught-handler.js', reason: 'uncaught-exception' },
  { name: "the app's own unhandledRejection handler", script: 'own-rejection-handler.js', reason: 'unhandled-rejection' },
  { name: 'throw a string', script: 'throw-values.js', args: ['string'], reason: 'uncaught-exception' },
  { name: 'throw a number', script: 'throw-values.js', args: ['number'], reason: 'uncaught-exception' },
  { name: 'throw null', script: 'throw-values.js', args: ['null'], reason: 'uncaught-exception' },
  { name: 'throw undefined', script: 'throw-values.js', args: ['undefined'], reason: 'uncaught-exception' },
  { name: 'throw a plain object', script: 'throw-values.js', args: ['object'], reason: 'uncaught-exception' },
  { name: 'throw a symbol', script: 'throw-values.js', args: ['symbol'], reason: 'uncaught-exception' },
  { name: 'an error with throwing getters', script: 'throw-values.js', args: ['hostile'], reason: 'uncaught-exception' },
  { name: 'a Proxy whose traps throw', script: 'throw-values.js', args: ['proxy'], reason: 'uncaught-exception' },
  { name: 'stack overflow', script: 'stack-overflow.js', reason: 'uncaught-exception' },
  { name: 'cause chain and AggregateError', script: 'cause-chain.js', reason: 'uncaught-exception' },
  { name: 'process.exit(7)', script: 'exit-code.js', reason: null },
  { name: 'a clean exit', script: 'clean-exit.js', reason: null },
];

describe('fate fidelity: with and without the hook', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const caseDir = join(dir, c.name.replace(/[^a-z0-9]+/gi, '-'));
      const script = join(SCENARIOS, 'fate', c.script);
      const opts = { args: c.args, nodeArgs: c.nodeArgs };
      const [plain, hooked] = await Promise.all([
        runNode(script, opts),
        runNode(script, { ...opts, hook: true, env: { AUTOPSY_DIR: caseDir } }),
      ]);
      assert.equal(hooked.code, plain.code, `exit code (stderr: ${hooked.stderr})`);
      assert.equal(hooked.signal, plain.signal);
      assert.equal(hooked.stdout, plain.stdout);
      const pids = (t: string) => t.replace(/\(node:\d+\)/g, '(node:PID)');
      assert.equal(pids(nodeStderr(hooked.stderr)), pids(plain.stderr));
      const bundles = bundlesIn(caseDir);
      if (c.reason === null) {
        assert.equal(bundles.length, 0, 'no bundle');
        assert.equal(hooked.stderr, plain.stderr, 'nothing from the hook on stderr');
      } else {
        assert.equal(bundles.length, 1, `exactly one bundle, stderr: ${hooked.stderr}`);
        assert.match(bundles[0], new RegExp(`-${c.reason}-`));
        assert.match(hooked.stderr, new RegExp(`^autopsy-ts: wrote .+ \\(${c.reason}, [\\d.]+ KB\\)$`, 'm'));
      }
    });
  }
});

describe('signals keep their default behaviour', () => {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    test(sig, async () => {
      const script = join(SCENARIOS, 'fate', 'wait-for-signal.js');
      const kill = { text: 'ready', then: (pid: number) => process.kill(pid, sig) };
      const [plain, hooked] = await Promise.all([
        runNode(script, { onOutput: kill }),
        runNode(script, { hook: true, onOutput: kill, env: { AUTOPSY_DIR: join(dir, sig) } }),
      ]);
      assert.equal(plain.signal, sig);
      assert.equal(hooked.signal, plain.signal);
      assert.equal(hooked.code, plain.code);
      assert.equal(bundlesIn(join(dir, sig)).length, 0);
    });
  }
});
