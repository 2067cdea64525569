// `autopsy-ts core <core>`: the notes autopsy-ts wrote, gdb's native frames, and the refusals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseGdbBacktrace } from '../src/core/gdb-stack';
import { cleanup, runCli, runNode, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const hasGdb = spawnSync('gdb', ['--version'], { stdio: 'ignore' }).status === 0;

describe('parseGdbBacktrace', () => {
  test('frames with pc, source line, library, and C++ names', () => {
    const text = [
      '#0  __GI_epoll_pwait (epfd=14, events=0x7ffd, maxevents=1024) at ../sysdeps/unix/sysv/linux/epoll_pwait.c:40',
      '#1  0x00000000018c0366 in uv__io_poll (loop=loop@entry=0x566fa00 <default_loop_struct>, timeout=5) at ../deps/uv/src/unix/linux.c:1368',
      '#3  0x0000000000bbbbe6 in node::SpinEventLoopInternal(node::Environment*) ()',
      '#5  0x00007f60616a0a3b in start_thread () from /lib/x86_64-linux-gnu/libc.so.6',
      'warning: something else',
    ].join('\n');
    assert.deepEqual(parseGdbBacktrace(text), [
      { index: 0, pc: undefined, function: '__GI_epoll_pwait', file: '../sysdeps/unix/sysv/linux/epoll_pwait.c', line: 40, library: undefined },
      { index: 1, pc: '0x00000000018c0366', function: 'uv__io_poll', file: '../deps/uv/src/unix/linux.c', line: 1368, library: undefined },
      { index: 3, pc: '0x0000000000bbbbe6', function: 'node::SpinEventLoopInternal(node::Environment*)', file: undefined, line: undefined, library: undefined },
      { index: 5, pc: '0x00007f60616a0a3b', function: 'start_thread', file: undefined, line: undefined, library: '/lib/x86_64-linux-gnu/libc.so.6' },
    ]);
  });
});

describe('autopsy-ts core', { skip: !linuxX64 && 'core dumps need Linux x64' }, () => {
  const core = join(dir, 'small.core');
  before(async () => {
    // A core of a small process, written by the addon directly.
    // The addon never keeps a process alive, so this script does, until the core is written.
    const script = `const keep = setInterval(() => {}, 1000); const n = require(${JSON.stringify(require.resolve('../src/native'))}); const s = n.loadNative();
      s.addon.writeCore({ path: ${JSON.stringify(core)}, note: 'node=' + process.version + '\\nexecPath=' + process.execPath + '\\nisolate=' + s.addon.mainIsolate + '\\n' }).then((r) => { console.log(JSON.stringify(r)); clearInterval(keep); });`;
    const r = await runNode('-e', { args: [script] });
    assert.equal(JSON.parse(r.stdout).ok, true, r.stdout + r.stderr);
  });

  test('shows the process, the node version from our note, and the main thread native frames', { skip: !hasGdb && 'gdb not installed' }, async () => {
    const r = await runCli(['core', core], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^node ${process.version.replace(/\./g, '\\.')}, isolate 0x[0-9a-f]+`, 'm'));
    // The dump thread can signal the main thread before writeCore has returned (under load, while it is
    // still in pthread_create): the core then holds the JS frame of the -e script too.
    assert.match(r.stdout, /^Main thread, native (and JS )?frames \(gdb: used, llnode: (used|not installed)\):\n {2}#0 /m);
    const j = JSON.parse((await runCli(['core', core, '--json'], { timeoutMs: 180_000 })).stdout);
    assert.equal(j.threads, 1);
    assert.equal(j.node, process.version);
    assert.equal(j.nodeBinary, process.execPath);
    assert.ok(j.nativeFrames.length >= 3);
  });

  test('without gdb, llnode or a usable V8 walker: one clear line naming them, exit 1', async () => {
    // The walker may find JS frames in this core (it is taken wherever the main thread is), so it gets a binary without V8 metadata.
    const r = await runCli(['core', core, '--node', '/bin/ls'], { env: { PATH: '/nonexistent' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^autopsy-ts: .*no stack backend installed: install gdb for native frames .*, and llnode for JS frames and object counts .*\n$/);
  });

  test('a file that is not a core, and one that does not exist: one line, exit 1', async () => {
    const notCore = join(dir, 'not-a-core');
    writeFileSync(notCore, 'hello');
    const a = await runCli(['core', notCore]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /^autopsy-ts: .*not-a-core is not a core file \(not an ELF file\)\n$/);
    const b = await runCli(['core', process.execPath]);
    assert.match(b.stderr, /^autopsy-ts: .* is an ELF file but not a core\n$/);
    const c = await runCli(['core', join(dir, 'missing')]);
    assert.match(c.stderr, /^autopsy-ts: no such file: .*missing\n$/);
  });
});
