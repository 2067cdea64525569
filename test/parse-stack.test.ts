import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Frame } from '../src/bundle/types';
import { classifyOrigin, MAX_FRAMES, parseFrameLine, parseStack } from '../src/stack/parse-stack';

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

/** 1-based line in this file of the first line containing `marker` (under tsx the stack is mapped to this .ts). */
function lineOf(marker: string): number {
  return readFileSync(__filename, 'utf8').split('\n').findIndex((l) => l.includes(marker)) + 1;
}

test('real synchronous stack: header skipped, frames in order, file and line of the throw', () => {
  function thrower(): never {
    throw new Error('sync boom'); // MARK:sync-throw
  }
  function caller(): void {
    thrower();
  }
  const err = caught(caller);
  const frames = parseStack(err.stack ?? '');
  assert.equal(frames[0].function, 'thrower');
  assert.equal(frames[0].file, __filename);
  assert.equal(frames[0].origin, 'app');
  assert.equal(frames[0].async, false);
  assert.equal(frames[0].raw, undefined);
  assert.ok(frames[0].column > 0);
  // The compiled test (dist/) has its own line numbers; only the tsx run maps back to this file.
  if (__filename.endsWith('.ts')) assert.equal(frames[0].line, lineOf('MARK:sync' + '-throw'));
  assert.equal(frames[1].function, 'caller');
  assert.ok(frames.every((f) => f.raw === undefined), JSON.stringify(frames.filter((f) => f.raw)));
  assert.ok(frames.some((f) => f.origin === 'node' && f.file.startsWith('node:')));
});

test('real stack with a multi-line message', () => {
  const err = caught(() => {
    throw new TypeError('first line\nsecond line\n   indented but not a frame\n');
  });
  const frames = parseStack(err.stack ?? '');
  assert.equal(frames[0].file, __filename);
  assert.ok(frames.every((f) => !f.raw));
});

test('real async/await chain: "at async fn" frames and Promise.all index frames', async () => {
  async function leaf(): Promise<never> {
    await null;
    throw new Error('async boom');
  }
  async function middle(): Promise<void> {
    await Promise.all([leaf()]);
  }
  async function top(): Promise<void> {
    await middle();
  }
  const err = await top().then(
    () => new Error('no throw'),
    (e: Error) => e,
  );
  const frames = parseStack(err.stack ?? '');
  assert.equal(frames[0].function, 'leaf');
  assert.equal(frames[0].async, false);
  const all = frames.find((f) => f.function === 'Promise.all');
  assert.ok(all, err.stack);
  assert.equal(all.async, true);
  assert.equal(all.origin, 'native');
  assert.equal(all.file, 'index 0');
  const mid = frames.find((f) => f.function === 'middle');
  assert.ok(mid && mid.async && mid.file === __filename && mid.line > 0, err.stack);
  const t = frames.find((f) => f.function === 'top');
  assert.ok(t && t.async, err.stack);
});

test('real class constructor, method alias and getter frames', () => {
  class Widget {
    constructor() {
      throw new Error('ctor');
    }
  }
  const ctor = parseStack(caught(() => new Widget()).stack ?? '');
  assert.equal(ctor[0].function, 'new Widget');
  assert.equal(ctor[0].file, __filename);

  const obj = {
    method(): never {
      throw new Error('m');
    },
  };
  const other = { alias: obj.method };
  const aliased = parseStack(caught(() => other.alias()).stack ?? '');
  // V8 prints "[as alias]"; Node's own source-mapped stacks (tsx runs) leave it out.
  assert.match(aliased[0].function, /^Object\.method( \[as alias\])?$/);
  assert.equal(aliased[0].file, __filename);
});

test('real eval frames keep the eval origin and are of unknown origin', () => {
  const err = caught(() => eval('(function evalFn() { throw new Error("in eval"); })()'));
  const frames = parseStack(err.stack ?? '');
  assert.equal(frames[0].function, 'evalFn');
  assert.match(frames[0].file, /^eval at .*\(.*\), <anonymous>$/);
  assert.ok(frames[0].file.includes(__filename));
  assert.equal(frames[0].line, 1);
  assert.equal(frames[0].origin, 'unknown');
  assert.ok(frames.some((f) => f.file === __filename && f.origin === 'app'));
});

test('real node: internal and builtin frames', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const err = caught(() => require('node:fs').readFileSync('/nonexistent/autopsy-ts/file'));
  const frames = parseStack(err.stack ?? '');
  assert.equal(frames[0].origin, 'node');
  assert.match(frames[0].file, /^node:fs$/);
  assert.ok(frames[0].line > 0);
  const json = parseStack(caught(() => JSON.parse('{')).stack ?? '');
  assert.equal(json[0].function, 'JSON.parse');
  assert.equal(json[0].file, '<anonymous>');
  assert.equal(json[0].origin, 'unknown');
});

const LINE_CASES: Array<[string, Partial<Frame>]> = [
  ['    at Object.<anonymous> (/app/src/index.js:10:15)', { function: 'Object.<anonymous>', file: '/app/src/index.js', line: 10, column: 15, origin: 'app', async: false }],
  ['    at /app/src/index.js:3:7', { function: '', file: '/app/src/index.js', line: 3, column: 7, origin: 'app' }],
  ['    at async /app/src/index.js:3:7', { function: '', file: '/app/src/index.js', async: true }],
  ['    at async run (/app/src/main.js:20:3)', { function: 'run', file: '/app/src/main.js', line: 20, column: 3, async: true }],
  ['    at new Server (/app/node_modules/http-lib/server.js:1:2)', { function: 'new Server', origin: 'node_modules' }],
  ['    at Foo.bar [as baz] (/app/lib/foo.js:4:9)', { function: 'Foo.bar [as baz]', file: '/app/lib/foo.js', line: 4 }],
  ['    at get size [as size] (/app/lib/foo.js:4:9)', { function: 'get size [as size]' }],
  ['    at fn (file:///app/src/mod.mjs:4:5)', { function: 'fn', file: '/app/src/mod.mjs', line: 4, column: 5, origin: 'app' }],
  ['    at file:///app/my%20dir/mod.mjs:4:5', { function: '', file: '/app/my dir/mod.mjs', line: 4 }],
  ['    at fn (/app/with (parens)/x.js:1:2)', { function: 'fn', file: '/app/with (parens)/x.js', line: 1, column: 2 }],
  ['    at Array.forEach (native)', { function: 'Array.forEach', file: 'native', line: 0, origin: 'native' }],
  ['    at new Promise (<anonymous>)', { function: 'new Promise', file: '<anonymous>', origin: 'unknown' }],
  ['    at async Promise.all (index 3)', { function: 'Promise.all', file: 'index 3', origin: 'native', async: true }],
  ['    at Module._compile (node:internal/modules/cjs/loader:1105:14)', { file: 'node:internal/modules/cjs/loader', line: 1105, column: 14, origin: 'node' }],
  ['    at node:internal/main/run_main_module:28:49', { function: '', file: 'node:internal/main/run_main_module', origin: 'node' }],
  ['    at internal/main/run_main_module.js:17:47', { file: 'internal/main/run_main_module.js', origin: 'node' }],
  ['    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)', { function: 'process.processTicksAndRejections', origin: 'node' }],
  [
    '    at eval (eval at <anonymous> (/app/a.js:1:1), <anonymous>:1:1)',
    { function: 'eval', file: 'eval at <anonymous> (/app/a.js:1:1), <anonymous>', line: 1, column: 1, origin: 'unknown' },
  ],
  [
    '    at eval (eval at run (eval at <anonymous> (/app/a.js:2:3)), <anonymous>:4:5)',
    { function: 'eval', file: 'eval at run (eval at <anonymous> (/app/a.js:2:3)), <anonymous>', line: 4, column: 5 },
  ],
  ['    at eval at f (/app/a.js:3:1), <anonymous>:1:20', { function: '', file: 'eval at f (/app/a.js:3:1), <anonymous>', line: 1, column: 20 }],
  ['    at async (/app/a.js:1:2)', { function: 'async', file: '/app/a.js', async: false }],
  ['    at /app/a.js:7', { file: '/app/a.js', line: 7, column: 0 }],
];

for (const [line, expected] of LINE_CASES) {
  test(`frame line: ${line.trim()}`, () => {
    const frame = parseFrameLine(line);
    assert.equal(frame.raw, undefined);
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(frame[k as keyof Frame], v, `${k} of ${line}`);
  });
}

test('unparsable lines keep their raw text', () => {
  const wasm = parseFrameLine('    at run (wasm://wasm/8d7a1b2e:wasm-function[3]:0x1a)');
  assert.equal(wasm.function, 'run');
  assert.equal(wasm.raw, 'at run (wasm://wasm/8d7a1b2e:wasm-function[3]:0x1a)');
  assert.equal(wasm.origin, 'unknown');

  const frames = parseStack('Error: x\n    at a (/app/a.js:1:2)\n    something else entirely\n\n    at b (/app/b.js:3:4)\n');
  assert.equal(frames.length, 3);
  assert.deepEqual(frames[1], { function: '', file: '', line: 0, column: 0, origin: 'unknown', async: false, raw: 'something else entirely' });
  assert.equal(frames[2].function, 'b');
  assert.equal(parseFrameLine('x'.repeat(2000)).raw?.length, 501);
});

test('header lines: multi-line messages, a message line starting with "at", no frames at all', () => {
  const multi = 'Error: one\ntwo\n  three: 4\nat the end of the message\n    at a (/app/a.js:1:2)';
  assert.deepEqual(
    parseStack(multi).map((f) => f.function),
    ['a'],
  );
  // An unindented "at" line that parses is taken for a frame (stacks handed over already trimmed).
  assert.equal(parseStack('at a (/app/a.js:1:2)\nat b (/app/b.js:1:2)').length, 2);
  assert.deepEqual(parseStack('Error: only a message'), []);
  assert.deepEqual(parseStack(''), []);
  assert.deepEqual(parseStack(undefined as unknown as string), []);
  assert.deepEqual(parseStack(42 as unknown as string), []);
});

test('CRLF stacks', () => {
  const frames = parseStack('Error: x\r\n    at a (/app/a.js:1:2)\r\n    at b (/app/b.js:3:4)\r\n');
  assert.deepEqual(
    frames.map((f) => [f.function, f.file, f.line, f.column]),
    [
      ['a', '/app/a.js', 1, 2],
      ['b', '/app/b.js', 3, 4],
    ],
  );
});

test(`at most ${MAX_FRAMES} frames`, () => {
  const stack = ['Error: deep', ...Array.from({ length: 500 }, (_, i) => `    at f${i} (/app/a.js:${i + 1}:1)`)].join('\n');
  const frames = parseStack(stack);
  assert.equal(frames.length, MAX_FRAMES);
  assert.equal(frames[MAX_FRAMES - 1].function, `f${MAX_FRAMES - 1}`);
});

test('classifyOrigin', () => {
  assert.equal(classifyOrigin('/srv/app/src/x.js'), 'app');
  assert.equal(classifyOrigin('webpack://app/./src/x.ts'), 'app');
  assert.equal(classifyOrigin('/srv/app/node_modules/express/lib/router.js'), 'node_modules');
  assert.equal(classifyOrigin('webpack:///./node_modules/lodash/x.js'), 'node_modules');
  assert.equal(classifyOrigin('node:internal/process/task_queues'), 'node');
  assert.equal(classifyOrigin('node:fs'), 'node');
  assert.equal(classifyOrigin('internal/timers.js'), 'node');
  assert.equal(classifyOrigin('native'), 'native');
  assert.equal(classifyOrigin('index 0'), 'native');
  assert.equal(classifyOrigin('<anonymous>'), 'unknown');
  assert.equal(classifyOrigin('eval at f (/app/a.js:1:1), <anonymous>'), 'unknown');
  assert.equal(classifyOrigin('wasm://wasm/abc'), 'unknown');
  assert.equal(classifyOrigin(''), 'unknown');
});
