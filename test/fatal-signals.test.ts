// Fatal signals (issue 8): the process dies exactly as it would have, and `collect` turns the crash
// record left by the addon's handler into a `fatal-signal` bundle naming the signal and the JS frames.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readBundle } from '../src/bundle/reader';
import { bundlesIn, cleanup, nodeStderr, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));
const FATAL = join(SCENARIOS, 'fatal');
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

async function crashAndCollect(name: string, script: string, nodeArgs: string[], env: Record<string, string> = {}) {
  const out = join(dir, name);
  const hooked = await runNode(join(FATAL, script), { hook: true, cwd: dir, nodeArgs, env: { AUTOPSY_DIR: out, ...env } });
  const plain = await runNode(join(FATAL, script), { cwd: dir, nodeArgs });
  const recorderFiles = readdirSync(join(out, '.recorder'));
  const c = await runCli(['collect', out]);
  assert.equal(c.code, 0, c.stderr);
  const [bundle] = bundlesIn(out);
  assert.ok(bundle, `a bundle was collected: ${c.stdout}`);
  const s = JSON.parse((await runCli(['summary', bundle, '--json'])).stdout);
  const b = await readBundle(bundle);
  return { hooked, plain, recorderFiles, s, crash: b.json.get('native-crash.json') as Record<string, any> | undefined };
}

describe('fatal signals', { skip: !linuxX64 && 'Linux x64 only' }, () => {
  test('SIGSEGV from recursion under --stack-size=50000: same death, and the bundle names SIGSEGV and the recursing function', async () => {
    const r = await crashAndCollect('segv', 'segv-recursion.js', ['--stack-size=50000']);
    assert.equal(r.plain.signal, 'SIGSEGV', 'the scenario really segfaults without the hook');
    assert.equal(r.hooked.signal, r.plain.signal);
    assert.equal(r.hooked.code, r.plain.code);
    assert.equal(nodeStderr(r.hooked.stderr), r.plain.stderr, "Node's stderr is unchanged");
    assert.ok(r.recorderFiles.some((f) => f.endsWith('.crash.json')), `crash record beside the recorder: ${r.recorderFiles}`);
    assert.equal(r.s.reason, 'fatal-signal');
    assert.equal(r.crash?.signal, 'SIGSEGV');
    assert.equal(r.crash?.codeName, 'SEGV_MAPERR');
    assert.equal(r.crash?.thread, 'main');
    assert.match(r.crash?.faultAddress, /^0x[0-9a-f]+$/);
    assert.ok(r.crash?.nativeFrames.length >= 1);
    assert.match(r.crash?.nativeFrames[0].module, /node/);
    // collect names the frames from the module's symbol table (the handler can only write module + offset).
    assert.match(r.crash?.nativeFrames[0].symbol, /^\S+\+0x[0-9a-f]+$/);
    assert.match(r.s.headline, /^SIGSEGV .*in descendForever/);
    assert.equal(r.s.stack[0].function, 'descendForever');
    assert.match(r.s.stack[0].file, /segv-recursion\.js$/);
    assert.equal(r.s.stack[0].line, 3, 'the line where descendForever is defined');
    assert.match(r.s.trigger.evidence, /SIGSEGV \(SEGV_MAPERR at 0x[0-9a-f]+\); in descendForever/);
  });

  test('process.abort(): SIGABRT, same death and stderr, and the bundle names the function that aborted', async () => {
    const r = await crashAndCollect('abort', 'abort.js', []);
    assert.equal(r.plain.signal, 'SIGABRT');
    assert.equal(r.hooked.signal, 'SIGABRT');
    // Node prints its own native and JS stack traces on abort; only addresses may differ between runs.
    const shape = (s: string) => s.replace(/0x[0-9a-f]+/g, '0x').replace(/\d+:\d+\)/g, 'L:C)');
    assert.equal(shape(nodeStderr(r.hooked.stderr)), shape(r.plain.stderr));
    assert.equal(r.s.reason, 'fatal-signal');
    assert.equal(r.crash?.signal, 'SIGABRT');
    assert.equal(r.crash?.codeName, 'SI_TKILL');
    assert.equal(r.crash?.jsStack, 'captured');
    assert.deepEqual(
      r.s.stack.slice(0, 2).map((f: { function: string }) => f.function),
      ['giveUpOnCorruptState', 'checkInvariants'],
    );
  });

  test('AUTOPSY_FATAL_SIGNALS=0: no handler, no crash record, the death is a plain `killed`', async () => {
    const r = await crashAndCollect('off', 'abort.js', [], { AUTOPSY_FATAL_SIGNALS: '0' });
    assert.equal(r.hooked.signal, 'SIGABRT');
    assert.ok(!r.recorderFiles.some((f) => f.endsWith('.crash.json')));
    assert.equal(r.s.reason, 'killed');
    assert.equal(r.crash, undefined);
  });

  test('the next start of the hook collects the crash record', async () => {
    const out = join(dir, 'next-start');
    const crashed = await runNode(join(FATAL, 'abort.js'), { hook: true, cwd: dir, env: { AUTOPSY_DIR: out } });
    assert.equal(crashed.signal, 'SIGABRT');
    assert.equal(bundlesIn(out).length, 0);
    const next = await runNode('-e', { hook: true, cwd: dir, args: ['setTimeout(() => {}, 600)'], env: { AUTOPSY_DIR: out } });
    assert.match(next.stderr, /collected the recorder of a process that is gone: .* \(fatal-signal\)/);
    const [bundle] = bundlesIn(out);
    assert.ok(bundle && existsSync(bundle));
  });
});
