// AUTOPSY_FATAL_CORE=1 (issue 8): the fatal-signal handler also writes a core, with the faulting thread's
// registers from the handler's ucontext; the process still dies exactly as it would have, and the
// collected `fatal-signal` bundle references the core as `dump --core` does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readBundle } from '../src/bundle/reader';
import { bundlesIn, cleanup, nodeStderr, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));
const FATAL = join(SCENARIOS, 'fatal');
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

async function crashWithCore(name: string, script: string, nodeArgs: string[]) {
  const out = join(dir, name);
  const t0 = Date.now();
  const hooked = await runNode(join(FATAL, script), { hook: true, cwd: dir, nodeArgs, env: { AUTOPSY_DIR: out, AUTOPSY_FATAL_CORE: '1', AUTOPSY_CORE_MIN_FREE: '10M' }, timeoutMs: 90_000 });
  const crashMs = Date.now() - t0;
  const plain = await runNode(join(FATAL, script), { cwd: dir, nodeArgs });
  const recorderFiles = readdirSync(join(out, '.recorder'));
  const c = await runCli(['collect', out], { timeoutMs: 90_000 });
  assert.equal(c.code, 0, c.stderr);
  const [bundle] = bundlesIn(out);
  assert.ok(bundle, `a bundle was collected: ${c.stdout}`);
  const b = await readBundle(bundle);
  return { hooked, plain, recorderFiles, crashMs, bundle, manifest: b.manifest, crash: b.json.get('native-crash.json') as Record<string, any>, core: b.json.get('core.json') as Record<string, any> };
}

function checkCore(path: string, signal: string) {
  assert.ok(existsSync(path), path);
  if (has('readelf')) {
    const notes = spawnSync('readelf', ['-n', path], { encoding: 'utf8' }).stdout;
    assert.match(notes, /NT_PRSTATUS/);
    assert.match(notes, /NT_FILE/);
  }
  if (has('gdb')) {
    const g = spawnSync('gdb', ['-batch', '-ex', 'bt', process.execPath, path], { encoding: 'utf8', timeout: 120_000 });
    assert.match(g.stdout, new RegExp(`Program terminated with signal ${signal}`), g.stdout + g.stderr);
    assert.match(g.stdout, /^#0 /m, g.stdout + g.stderr);
    return g.stdout;
  }
  return '';
}

describe('fatal signals with AUTOPSY_FATAL_CORE=1', { skip: !linuxX64 && 'Linux x64 only' }, () => {
  test('a real SIGSEGV (recursion under --stack-size): same death, a core with the faulting registers, referenced by the bundle', { timeout: 240_000 }, async () => {
    const r = await crashWithCore('segv', 'segv-recursion.js', ['--stack-size=50000']);
    assert.equal(r.plain.signal, 'SIGSEGV');
    assert.equal(r.hooked.signal, r.plain.signal, r.hooked.stderr);
    assert.equal(r.hooked.code, r.plain.code);
    assert.equal(nodeStderr(r.hooked.stderr), r.plain.stderr, "Node's stderr is unchanged");
    assert.ok(r.recorderFiles.some((f) => f.endsWith('.core')), `the core beside the record: ${r.recorderFiles}`);
    assert.equal(r.crash.core.state, 'written', JSON.stringify(r.crash.core));
    assert.equal(r.manifest.reason, 'fatal-signal');
    // Moved beside the bundle, named like it; referenced as dump --core references its core.
    assert.equal(r.crash.core.path, r.bundle.replace(/\.tgz$/, '.core'));
    assert.equal(r.core.path, r.crash.core.path);
    assert.equal(r.core.size, statSync(r.core.path).size);
    assert.match(r.core.sha256, /^[0-9a-f]{64}$/);
    assert.equal(r.core.nodePath, process.execPath);
    const ref = r.manifest.trigger?.core as Record<string, unknown>;
    assert.deepEqual(ref, { path: r.core.path, size: r.core.size, sha256: r.core.sha256, nodeBuildId: r.core.nodeBuildId });
    const bt = checkCore(r.core.path, 'SIGSEGV');
    // NT_PRSTATUS is the handler's ucontext: the faulting pc, not the handler's own frames.
    if (bt) {
      const pc = BigInt(r.crash.registers.rip);
      const m = /^#0 +(0x[0-9a-f]+)/m.exec(bt);
      if (m) assert.equal(BigInt(m[1]), pc, bt);
      assert.doesNotMatch(bt.split('\n').slice(0, 3).join('\n'), /OnFatal|WriteCore/, bt);
    }
  });

  test('process.abort(): SIGABRT, same death, a core referenced by the bundle', { timeout: 240_000 }, async () => {
    const r = await crashWithCore('abort', 'abort.js', []);
    assert.equal(r.plain.signal, 'SIGABRT');
    assert.equal(r.hooked.signal, 'SIGABRT', r.hooked.stderr);
    const shape = (s: string) => s.replace(/0x[0-9a-f]+/g, '0x').replace(/\d+:\d+\)/g, 'L:C)');
    assert.equal(shape(nodeStderr(r.hooked.stderr)), shape(r.plain.stderr));
    assert.equal(r.crash.signal, 'SIGABRT');
    assert.equal(r.crash.core.state, 'written', JSON.stringify(r.crash.core));
    assert.equal(r.core.path, r.bundle.replace(/\.tgz$/, '.core'));
    assert.deepEqual(r.manifest.trigger?.core, { path: r.core.path, size: r.core.size, sha256: r.core.sha256, nodeBuildId: r.core.nodeBuildId });
    const bt = checkCore(r.core.path, 'SIGABRT');
    if (bt) assert.match(bt, /abort|raise|pthread_kill/, bt);
  });

  test('a core that cannot fit: skipped with the reason, the death unchanged, the bundle says so', { timeout: 120_000 }, async () => {
    const out = join(dir, 'nodisk');
    const hooked = await runNode(join(FATAL, 'abort.js'), { hook: true, cwd: dir, env: { AUTOPSY_DIR: out, AUTOPSY_FATAL_CORE: '1', AUTOPSY_CORE_MIN_FREE: '100T' }, timeoutMs: 60_000 });
    assert.equal(hooked.signal, 'SIGABRT');
    assert.ok(!readdirSync(join(out, '.recorder')).some((f) => f.includes('.core')));
    const c = await runCli(['collect', out]);
    assert.equal(c.code, 0, c.stderr);
    const b = await readBundle(bundlesIn(out)[0]);
    const crash = b.json.get('native-crash.json') as Record<string, any>;
    assert.equal(crash.core.state, 'skipped');
    assert.match(crash.core.error, /not enough disk space/);
    assert.match(String((b.manifest.trigger?.core as { skipped?: string }).skipped), /wrote no core: not enough disk space/);
    assert.equal(b.json.get('core.json'), undefined);
  });
});
