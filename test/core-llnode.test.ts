// llnode, the JS backend of `autopsy-ts core`: the parsers and the merge with gdb's frames, then cores
// of a service blocked in a named JS function, taken with `dump --core`, read back through llnode.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseGdbBacktrace } from '../src/core/gdb-stack';
import { findLlnode, mergeStacks, parseFindJsObjects, parseV8Bt } from '../src/core/llnode';
import { cleanup, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

const V8_BT = [
  '(llnode) v8 bt',
  ' * thread #1: tid = 15919, 0x00007fde7f4a3f16 libc.so.6`__futex_abstimed_wait_common at futex-internal.c:57:12, name = \'node\', stop reason = signal SIGSTOP',
  '  * frame #0: 0x00007fde7f4a3f16 libc.so.6`__futex_abstimed_wait_common at futex-internal.c:57:12',
  '    frame #1: 0x00007fde7f4a3ed8 libc.so.6`__futex_abstimed_wait_common(futex_word=0x000000002e117590, expected=0, clockid=<unavailable>) at futex-internal.c:87:9',
  '    frame #2: 0x0000000002150730 node`v8::base::ConditionVariable::WaitFor(v8::base::Mutex*, v8::base::TimeDelta const&) + 96',
  '    frame #3: 0x000000000195e376 node`Builtins_CEntry_Return1_ArgvOnStack_BuiltinExit + 54',
  '    frame #4: 0x00000000018cfd1c computeInvoiceTotals(this=0x2fd7e10804e9:<undefined>, 0x300d4b1d54f1:<Array: length=4433>) at /app/blocked.js:23:30 fn=0x0000300d4b1edf11',
  '    frame #5: 0x00000000018cfd1c processImmediate(this=0x168c1aa03939:<Object: process>, 0x3be2:<function: processImmediate at node:internal/timers:1:10>) at node:internal/timers:1:10 fn=0x00003be2651bc841',
  '    frame #6: 0x00000000018ce0dc <internal>',
  '    frame #7: 0x00000000018cde03 <entry>',
  '    frame #8: 0x00007f2b4a58d654',
  '    frame #9: 0x00000000018ac92c node`uv_run(loop=0x000000000566fa00, mode=UV_RUN_DEFAULT) at core.c:461:5',
].join('\n');

describe('llnode output', () => {
  test('parseV8Bt: native frames with module, source line and C++ signature; JS frames with file, line, column; V8 markers', () => {
    const f = parseV8Bt(V8_BT);
    assert.equal(f.length, 10);
    assert.deepEqual(f[0], { index: 0, pc: '0x00007fde7f4a3f16', kind: 'native', function: '__futex_abstimed_wait_common', module: 'libc.so.6', file: 'futex-internal.c', line: 57 });
    assert.equal(f[1].function, '__futex_abstimed_wait_common');
    assert.deepEqual(f[2], { index: 2, pc: '0x0000000002150730', kind: 'native', function: 'v8::base::ConditionVariable::WaitFor(v8::base::Mutex*, v8::base::TimeDelta const&)', module: 'node', file: undefined, line: undefined });
    assert.deepEqual(f[4], { index: 4, pc: '0x00000000018cfd1c', kind: 'js', function: 'computeInvoiceTotals', file: '/app/blocked.js', line: 23, column: 30 });
    assert.deepEqual([f[5].function, f[5].file, f[5].line], ['processImmediate', 'node:internal/timers', 1]);
    assert.deepEqual([f[6].kind, f[6].function], ['v8', '<internal>']);
    assert.deepEqual([f[8].kind, f[8].function], ['unknown', '??']);
    assert.deepEqual([f[9].function, f[9].file, f[9].line], ['uv_run', 'core.c', 461]);
  });

  test('parseFindJsObjects: rows by instances, the total row left out, a blank name kept', () => {
    const text = [
      '(llnode) v8 findjsobjects',
      ' Instances  Total Size Name',
      ' ---------- ---------- ----',
      '          1         24 console',
      '         52       2048 ',
      '       1234      49360 LedgerEntry',
      '        787      47336 Object',
      ' ---------- ---------- ',
      '       2074      98808 ',
    ].join('\n');
    assert.deepEqual(parseFindJsObjects(text), [
      { instances: 1234, totalSize: 49360, name: 'LedgerEntry' },
      { instances: 787, totalSize: 47336, name: 'Object' },
      { instances: 52, totalSize: 2048, name: '(no name)' },
      { instances: 1, totalSize: 24, name: 'console' },
    ]);
    assert.deepEqual(parseFindJsObjects('error: no such command'), []);
  });

  test('mergeStacks: gdb down to the first JS frame (joined by pc), llnode from there on', () => {
    const gdb = parseGdbBacktrace(
      [
        '#0  __futex_abstimed_wait_common64 (private=0) at ./nptl/futex-internal.c:57',
        '#0  __futex_abstimed_wait_common64 (private=0) at ./nptl/futex-internal.c:57',
        '#1  __futex_abstimed_wait_common (futex_word=0x2e117590) at ./nptl/futex-internal.c:87',
        '#2  0x0000000002150730 in v8::base::ConditionVariable::WaitFor(v8::base::Mutex*, v8::base::TimeDelta const&) ()',
        '#3  0x000000000195e376 in Builtins_CEntry_Return1_ArgvOnStack_BuiltinExit ()',
        '#4  0x00000000018cfd1c in Builtins_InterpreterEntryTrampoline ()',
        '#5  0x00002fd7e10804e9 in ?? ()',
      ].join('\n'),
    );
    assert.equal(gdb.length, 6, 'the frame gdb prints on loading the core is not counted twice');
    const m = mergeStacks(gdb, parseV8Bt(V8_BT));
    assert.deepEqual(
      m.map((f) => `${f.index} ${f.from} ${f.kind} ${f.function}`),
      [
        '0 gdb native __futex_abstimed_wait_common64',
        '1 gdb native __futex_abstimed_wait_common',
        '2 gdb native v8::base::ConditionVariable::WaitFor(v8::base::Mutex*, v8::base::TimeDelta const&)',
        '3 gdb native Builtins_CEntry_Return1_ArgvOnStack_BuiltinExit',
        '4 llnode js computeInvoiceTotals',
        '5 llnode js processImmediate',
        '6 llnode v8 <internal>',
        '7 llnode v8 <entry>',
        '8 llnode unknown ??',
        '9 llnode native uv_run',
      ],
    );
    assert.deepEqual(mergeStacks(gdb, undefined).length, 6);
    assert.deepEqual(mergeStacks(undefined, parseV8Bt(V8_BT)).length, 10);
    // No JS frame in llnode's walk (an idle event loop): gdb's frames alone.
    assert.deepEqual(mergeStacks(gdb, parseV8Bt(V8_BT.split('\n').slice(0, 5).join('\n'))).map((f) => f.from), Array(6).fill('gdb'));
  });
});

const runner = linuxX64 ? findLlnode() : undefined;
const noLlnode = !linuxX64 ? 'core dumps need Linux x64' : !runner ? 'llnode not installed: lldb-16 on PATH with .cache/llnode (see .ci/run), or llnode on PATH' : false;
// llnode 4 reads the V8 of Node 20 (11.3); on Node 24 (V8 13.6) it names no JS frame and no constructor.
const llnodeReadsThisV8 = Number(process.versions.v8.split('.')[0]) <= 11;
const app = join(SCENARIOS, 'core', 'blocked-invoice.js');

/** Starts the blocked service, takes `dump --core` while it is blocked, returns the core's path. */
async function coreOfBlockedApp(mode: 'wait' | 'busy', out: string): Promise<string> {
  let dumped: Promise<Awaited<ReturnType<typeof runCli>>> | undefined;
  const run = await runNode(app, {
    hook: true,
    args: [mode],
    // The dump is answered in the gaps between blocks: one turn of the loop every BLOCK_MS.
    env: { AUTOPSY_DIR: out, AUTOPSY_HANG_MS: '0', BLOCK_MS: '1000', RUN_MS: '9000' },
    timeoutMs: 60_000,
    onOutput: { text: 'ready', then: (pid) => (dumped = runCli(['dump', String(pid), '--core'], { timeoutMs: 50_000 })) },
  });
  assert.equal(run.code, 0, run.stderr);
  const d = await dumped!;
  assert.equal(d.code, 0, d.stderr);
  const core = d.stdout.trim().split('\n')[1];
  assert.match(core, /\.core$/);
  return core;
}

describe('autopsy-ts core with llnode', { skip: noLlnode }, () => {
  test('a core taken during Atomics.wait in computeInvoiceTotals: v8 bt shows the function, findjsobjects the instances', { timeout: 180_000 }, async () => {
    const core = await coreOfBlockedApp('wait', join(dir, 'wait'));
    const r = await runCli(['core', core, '--json'], { timeoutMs: 170_000 });
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout);
    assert.equal(v.backends.llnode, 'used');
    console.log(`# llnode on ${process.version}: v8 bt ${v.llnode.btMs} ms, v8 findjsobjects ${v.llnode.objectsMs} ms, core ${(v.size / 1024 ** 2).toFixed(0)} MB`);
    if (!llnodeReadsThisV8) {
      assert.match(v.problems.join('\n'), /llnode named no JS frame/);
      return;
    }
    const top = v.stack.findIndex((f: { kind: string }) => f.kind === 'js');
    assert.ok(top > 0, JSON.stringify(v.stack.slice(0, 15)));
    assert.equal(v.stack[top].function, 'computeInvoiceTotals');
    assert.equal(v.stack[top].file, app);
    assert.equal(v.stack[top + 1].function, 'again');
    // Above it the native frames of the wait, from gdb.
    assert.ok(v.stack.slice(0, top).some((f: { function: string; from: string }) => f.from === 'gdb' && /AtomicsWait/.test(f.function)), JSON.stringify(v.stack.slice(0, top)));
    assert.deepEqual(
      v.objects.find((o: { name: string }) => o.name === 'LedgerEntry'),
      { name: 'LedgerEntry', instances: 1234, totalSize: v.objects.find((o: { name: string }) => o.name === 'LedgerEntry').totalSize },
    );

    const text = await runCli(['core', core], { timeoutMs: 170_000 });
    assert.match(text.stdout, /^Main thread, native and JS frames \(gdb: used, llnode: used\):$/m);
    assert.match(text.stdout, /^ {2}#\d+ +JS computeInvoiceTotals at .*blocked-invoice\.js:\d+:\d+$/m);
    assert.match(text.stdout, /^ +1234 +\d+ {2}LedgerEntry$/m);
  });

  test('a core taken during a busy JS loop: v8 bt shows the function on top (--no-objects skips the heap scan)', { timeout: 180_000 }, async () => {
    // A sample can land where the unwinder skips the top JS frame (seen once in 4 runs: the stack began
    // at `again`); a second core settles it.
    let js: string[] = [];
    for (let attempt = 1; attempt <= 2; attempt++) {
      const core = await coreOfBlockedApp('busy', join(dir, `busy-${attempt}`));
      const v = JSON.parse((await runCli(['core', core, '--json', '--no-objects'], { timeoutMs: 170_000 })).stdout);
      assert.equal(v.objects, undefined);
      if (!llnodeReadsThisV8) return;
      js = v.stack.filter((f: { kind: string }) => f.kind === 'js').map((f: { function: string }) => f.function);
      if (js.includes('computeInvoiceTotals')) break;
      console.log(`# attempt ${attempt}: no computeInvoiceTotals in ${JSON.stringify(v.stack.slice(0, 6))}`);
    }
    assert.ok(js.includes('computeInvoiceTotals'), js.join(' < '));
  });
});
