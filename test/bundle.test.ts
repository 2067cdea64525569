// What goes into a bundle, checked through the real hook and the real CLI.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bundlesIn, cleanup, ROOT, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));

async function crashAndSummarize(name: string, script: string, opts: Parameters<typeof runNode>[1] = {}) {
  const out = join(dir, name);
  const r = await runNode(script, { hook: true, ...opts, env: { AUTOPSY_DIR: out, ...opts.env } });
  const bundles = bundlesIn(out);
  assert.equal(bundles.length, 1, `one bundle; stderr: ${r.stderr}`);
  const s = await runCli(['summary', bundles[0], '--format', 'json']);
  assert.equal(s.code, 0, s.stderr);
  return { run: r, bundle: bundles[0], summary: JSON.parse(s.stdout) };
}

function compileTs(outDir: string, options: Record<string, unknown>): string {
  const ts = require('typescript');
  const srcFile = join(outDir, 'src', 'orders.ts');
  mkdirSync(join(outDir, 'src'), { recursive: true });
  mkdirSync(join(outDir, 'dist'), { recursive: true });
  writeFileSync(srcFile, readFileSync(join(SCENARIOS, 'ts-app', 'src', 'orders.ts')));
  const program = ts.createProgram([srcFile], { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, outDir: join(outDir, 'dist'), rootDir: join(outDir, 'src'), ...options });
  const emit = program.emit();
  assert.equal(emit.emitSkipped, false);
  return join(outDir, 'dist', 'orders.js');
}

describe('source-mapped frames', () => {
  for (const [label, options] of [
    ['a .js.map file', { sourceMap: true }],
    ['an inline map', { inlineSourceMap: true, inlineSources: true }],
  ] as const) {
    test(`compiled TypeScript with ${label}: the first frame is the .ts line`, async () => {
      const app = compileTs(join(dir, `ts-${label.replace(/\W+/g, '-')}`), options);
      const { summary } = await crashAndSummarize(`ts-${label.replace(/\W+/g, '-')}`, app);
      const top = summary.error.frames[0];
      assert.match(top.file, /src[/\\]orders\.ts$/);
      assert.equal(top.line, 9);
      assert.equal(top.function, 'priceOf');
      assert.match(top.generated.file, /dist[/\\]orders\.js$/);
      assert.equal(summary.error.name, 'RangeError');
      const ex = summary.excerpts[0];
      assert.match(ex.file, /orders\.ts$/);
      assert.match(ex.lines[ex.line - ex.startLine], /throw new RangeError/);
      assert.match(summary.headline, /RangeError: order o-2 has no total at priceOf \(.*orders\.ts:9:\d+\)/);
    });
  }

  test('with --enable-source-maps, Node maps the frames and the bundle keeps them', async () => {
    const app = compileTs(join(dir, 'ts-node-maps'), { sourceMap: true });
    const { summary } = await crashAndSummarize('ts-node-maps', app, { nodeArgs: ['--enable-source-maps'] });
    assert.match(summary.error.frames[0].file, /orders\.ts$/);
    assert.equal(summary.error.frames[0].line, 9);
  });
});

describe('error records', () => {
  test('cause chain, AggregateError members, codes and own properties', async () => {
    const { summary } = await crashAndSummarize('cause', join(SCENARIOS, 'fate', 'cause-chain.js'));
    const e = summary.error;
    assert.equal(e.message, 'request failed');
    assert.equal(e.cause.name, 'AggregateError');
    assert.deepEqual(e.cause.errors.map((x: { name: string }) => x.name), ['TypeError', 'RangeError']);
    assert.equal(e.cause.cause.message, 'query failed');
    assert.equal(e.cause.cause.props.query, 'SELECT 1');
    assert.equal(e.cause.cause.cause.code, 'ECONNRESET');
    assert.equal(e.frames[0].line, 8);
  });

  test('a cause cycle is cut, not followed', async () => {
    const { summary } = await crashAndSummarize('cycle', join(SCENARIOS, 'fate', 'cause-chain.js'), { args: ['cycle'] });
    assert.equal(summary.error.cause.message, 'cyclic');
    assert.equal(summary.error.cause.cause.truncated, 'cycle');
  });

  for (const [kind, name, message] of [
    ['number', 'number', '42'],
    ['string', 'string', 'a plain string'],
    ['null', 'null', 'null'],
    ['object', 'Object', '{"code":"E_OBJ","detail":{"nested":true}}'],
  ]) {
    test(`a thrown ${kind} is recorded as a value`, async () => {
      const { summary } = await crashAndSummarize(`value-${kind}`, join(SCENARIOS, 'fate', 'throw-values.js'), { args: [kind] });
      assert.equal(summary.error.kind, 'value');
      assert.equal(summary.error.name, name);
      assert.equal(summary.error.message, message);
    });
  }

  test('an error whose getters throw is still captured, without calling them', async () => {
    const { summary } = await crashAndSummarize('hostile', join(SCENARIOS, 'fate', 'throw-values.js'), { args: ['hostile'] });
    assert.equal(summary.error.message, 'hostile');
    assert.equal(summary.error.props.code, '[Getter]');
  });
});

describe('secrets', () => {
  test('secret env values, argv values and URL passwords appear nowhere in the bundle', async () => {
    const secrets = {
      MY_API_TOKEN: 'tok-7d1e0c9b5a4f3e2d',
      DATABASE_URL: 'postgres://app:pw-9f8e7d6c5b@db.internal:5432/orders',
      STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef',
    };
    const out = join(dir, 'secrets');
    const r = await runNode(join(SCENARIOS, 'fate', 'throw-sync.js'), {
      hook: true,
      args: ['--password=hunter2-from-argv', '--db', 'mysql://root:argv-url-pass@localhost/x'],
      env: { ...secrets, AUTOPSY_DIR: out },
    });
    assert.equal(r.code, 1);
    const [bundle] = bundlesIn(out);
    const raw = gunzipSync(readFileSync(bundle)).toString('latin1');
    for (const needle of ['tok-7d1e0c9b5a4f3e2d', 'pw-9f8e7d6c5b', 'sk_live_0123456789abcdef', 'hunter2-from-argv', 'argv-url-pass']) {
      assert.equal(raw.includes(needle), false, `${needle} leaked into the bundle`);
    }
    assert.ok(raw.includes('[redacted]'));
    const { stdout } = await runCli(['summary', bundle, '--json']);
    const s = JSON.parse(stdout);
    for (const name of ['MY_API_TOKEN', 'DATABASE_URL', 'STRIPE_SECRET_KEY']) assert.ok(s.redacted.includes(name), `${name} listed as redacted`);
    assert.ok(s.argv.some((a: string) => a === '--password=[redacted]'));
    const verify = await runCli(['verify', bundle]);
    assert.equal(verify.code, 0, verify.stderr);
  });
});

describe('where bundles go', () => {
  test('files are 0600 in a 0700 folder, named by time, reason, host and pid', async () => {
    const out = join(dir, 'modes');
    const r = await runNode(join(SCENARIOS, 'fate', 'throw-sync.js'), { hook: true, env: { AUTOPSY_DIR: out } });
    const [bundle] = bundlesIn(out);
    assert.equal(statSync(out).mode & 0o777, 0o700);
    assert.equal(statSync(bundle).mode & 0o777, 0o600);
    assert.match(bundle, /autopsy-\d{8}T\d{9}Z-uncaught-exception-.+-\d+\.tgz$/);
    assert.ok(r.stderr.includes(`autopsy-ts: wrote ${bundle} (uncaught-exception, `));
  });

  test('the default folder is ./autopsy-bundles in the working directory', async () => {
    const cwd = join(dir, 'default-cwd');
    mkdirSync(cwd);
    await runNode(join(SCENARIOS, 'fate', 'throw-sync.js'), { hook: true, cwd });
    assert.equal(bundlesIn(join(cwd, 'autopsy-bundles')).length, 1);
  });

  test('an unwritable folder falls back to the per-user temp folder', async () => {
    const ro = join(dir, 'read-only');
    mkdirSync(ro, { mode: 0o500 });
    const blocked = join(ro, 'sub'); // cannot be created
    const r = await runNode(join(SCENARIOS, 'fate', 'throw-sync.js'), { hook: true, env: { AUTOPSY_DIR: process.getuid?.() === 0 ? '/proc/autopsy-nope' : blocked } });
    const m = /autopsy-ts: wrote (\S+) /.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.match(m[1], /autopsy-ts-\d+[/\\]bundles[/\\]/);
    cleanup(m[1]);
  });

  test('at most AUTOPSY_MAX_BUNDLES bundles are kept, oldest removed first', async () => {
    const out = join(dir, 'retention');
    for (let i = 0; i < 4; i++) await runNode(join(SCENARIOS, 'fate', 'throw-sync.js'), { hook: true, env: { AUTOPSY_DIR: out, AUTOPSY_MAX_BUNDLES: '2' } });
    assert.equal(bundlesIn(out).length, 2);
  });

  test('a crash storm is rate limited, with one line on stderr', async () => {
    const out = join(dir, 'storm');
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await runNode(join(SCENARIOS, 'fate', 'throw-sync.js'), { hook: true, env: { AUTOPSY_DIR: out, AUTOPSY_RATE_LIMIT: '2' } }));
    assert.equal(bundlesIn(out).length, 2);
    assert.match(results[2].stderr, /^autopsy-ts: not writing a uncaught-exception bundle: 2 bundles in .+ during the last minute/m);
    assert.equal(results[2].code, 1);
  });

  test('a bad setting is one line on stderr, and the default stands', async () => {
    const out = join(dir, 'bad-config');
    const r = await runNode(join(SCENARIOS, 'fate', 'clean-exit.js'), { hook: true, env: { AUTOPSY_DIR: out, AUTOPSY_MAX_BUNDLES: 'lots' } });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'done\n');
    assert.match(r.stderr, /^autopsy-ts: ignoring AUTOPSY_MAX_BUNDLES="lots": expected a whole number >= 1\n$/);
  });
});

describe('loading the hook', () => {
  const pkgCwd = join(dir, 'pkg-cwd');
  mkdirSync(join(pkgCwd, 'node_modules'), { recursive: true });
  symlinkSync(ROOT, join(pkgCwd, 'node_modules', 'autopsy-ts'));
  for (const [label, nodeArgs, env] of [
    ['--require autopsy-ts/hook', ['--require', 'autopsy-ts/hook'], {}],
    ['--import autopsy-ts/hook', ['--import', 'autopsy-ts/hook'], {}],
    ['NODE_OPTIONS=--require autopsy-ts/hook', [], { NODE_OPTIONS: '--require autopsy-ts/hook' }],
  ] as const) {
    test(label, async () => {
      const out = join(dir, `load-${label.replace(/\W+/g, '-')}`);
      const r = await runNode(join(SCENARIOS, 'fate', 'throw-in-timer.js'), { nodeArgs: [...nodeArgs], cwd: pkgCwd, env: { ...env, AUTOPSY_DIR: out } });
      assert.equal(r.code, 1);
      assert.equal(bundlesIn(out).length, 1, r.stderr);
    });
  }

  test('the hook loads once even when both --require and the API install it', async () => {
    const out = join(dir, 'twice');
    const script = join(dir, 'twice.js');
    writeFileSync(script, `require(${JSON.stringify(join(ROOT, 'dist/src/index.js'))}).configure(); throw new Error('once');`);
    await runNode(script, { hook: true, env: { AUTOPSY_DIR: out } });
    assert.equal(bundlesIn(out).length, 1);
  });

  test('AUTOPSY_ENABLED=0 turns it off', async () => {
    const out = join(dir, 'disabled');
    const r = await runNode(join(SCENARIOS, 'fate', 'throw-sync.js'), { hook: true, env: { AUTOPSY_DIR: out, AUTOPSY_ENABLED: '0' } });
    assert.equal(r.code, 1);
    assert.equal(bundlesIn(out).length, 0);
  });
});

describe('the API', () => {
  test('configure, breadcrumb and capture', async () => {
    const out = join(dir, 'api');
    const script = join(dir, 'api.js');
    writeFileSync(
      script,
      `const a = require(${JSON.stringify(join(ROOT, 'dist/src/index.js'))});
       a.configure({ dir: ${JSON.stringify(out)} });
       a.breadcrumb('cart loaded', { items: 3, user: { id: 7 } });
       const p = a.capture('checkpoint', new Error('not fatal'));
       console.log(JSON.stringify({ p }));`,
    );
    const r = await runNode(script);
    assert.equal(r.code, 0, r.stderr);
    const { p } = JSON.parse(r.stdout);
    assert.match(p, /-checkpoint-/);
    const s = JSON.parse((await runCli(['summary', p, '--json'])).stdout);
    assert.equal(s.reason, 'checkpoint');
    assert.equal(s.error.message, 'not fatal');
    assert.ok(s.stack.length > 0, 'the caller stack');
    const tl = s.timeline.last.find((e: { kind: string }) => e.kind === 'breadcrumb');
    assert.deepEqual(tl.data, { items: 3, user: { id: 7 } });
  });
});

describe('processes that are not alone', () => {
  test('a cluster whose two workers crash at the same moment: two intact bundles, and the primary lives on', async () => {
    const out = join(dir, 'cluster');
    const r = await runNode(join(SCENARIOS, 'cluster', 'app.js'), { hook: true, env: { AUTOPSY_DIR: out } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /primary still alive/);
    const pids = [...r.stdout.matchAll(/worker (\d+) exited with 1/g)].map((m) => Number(m[1])).sort();
    assert.equal(pids.length, 2);
    const bundles = bundlesIn(out);
    assert.equal(bundles.length, 2);
    const seen: number[] = [];
    for (const b of bundles) {
      assert.equal((await runCli(['verify', b])).code, 0);
      const s = JSON.parse((await runCli(['summary', b, '--json'])).stdout);
      assert.equal(s.cluster.isWorker, true);
      seen.push(s.pid);
    }
    assert.deepEqual(seen.sort(), pids);
  });

  for (const variant of ['plain', 'crash']) {
    test(`worker_threads keep working (${variant})`, async () => {
      const out = join(dir, `workers-${variant}`);
      const script = join(SCENARIOS, 'workers', 'app.js');
      const [plain, hooked] = await Promise.all([runNode(script, { args: [variant] }), runNode(script, { args: [variant], hook: true, env: { AUTOPSY_DIR: out } })]);
      assert.equal(hooked.code, plain.code);
      assert.equal(hooked.stdout.split('\n').sort().join('\n'), plain.stdout.split('\n').sort().join('\n'));
      assert.match(hooked.stdout, /fib 6765/);
      assert.equal(hooked.stderr, plain.stderr);
    });
  }
});
