// Core dumps of live processes (native/): `autopsy-ts dump PID --core` on a service holding about
// 1 GB of heap, which must still be alive and serving afterwards; and the refusals.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { readBundle } from '../src/bundle/reader';
import { openTarGzEntry } from '../src/bundle/tar';
import { createGunzip } from 'node:zlib';
import { cleanup, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));
const server = join(SCENARIOS, 'core', 'big-heap-server.js');
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

function stats(port: number): Promise<{ maxGapMs: number; ticks: number; records: number }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/stats', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

/** Streams through the file: a core is gigabytes. */
function fileContains(path: string, needle: string): boolean {
  const n = Buffer.from(needle);
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(16 * 1024 * 1024);
  let pos = 0;
  let carry = Buffer.alloc(0);
  try {
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, pos);
      if (got <= 0) return false;
      const hay = Buffer.concat([carry, buf.subarray(0, got)]);
      if (hay.includes(n)) return true;
      carry = hay.subarray(Math.max(0, hay.length - n.length));
      pos += got;
    }
  } finally {
    closeSync(fd);
  }
}

interface Dumped {
  dump: Awaited<ReturnType<typeof runCli>>;
  after?: { maxGapMs: number; ticks: number; records: number };
  marker: string;
}

/** Starts the service, dumps it with --core once it is ready, asks it for /stats, then ends it. */
async function dumpService(out: string, env: Record<string, string>, heapMb: number, dumpArgs = ['--core']): Promise<{ run: Awaited<ReturnType<typeof runNode>>; d: Dumped }> {
  let done: Promise<Dumped> | undefined;
  const run = await runNode(server, {
    hook: true,
    nodeArgs: ['--max-old-space-size=4096'],
    args: ['120000'],
    env: { AUTOPSY_DIR: out, HEAP_MB: String(heapMb), ...env },
    timeoutMs: 170_000,
    onOutput: {
      text: 'ready',
      then: (pid, stdout) => {
        const [, port, marker] = /ready (\d+) (\S+)/.exec(stdout)!;
        done = (async () => {
          const dump = await runCli(['dump', String(pid), ...dumpArgs], { timeoutMs: 150_000 });
          let after;
          try {
            after = await stats(Number(port));
          } finally {
            process.kill(pid, 'SIGTERM');
          }
          return { dump, after, marker };
        })();
      },
    },
  });
  return { run, d: await done! };
}

describe('core dumps of a live process', { skip: !linuxX64 && 'core dumps need Linux x64' }, () => {
  test('dump --core on a ~1 GB heap: the service keeps serving; the core has the heap, notes, and a gdb backtrace', { timeout: 240_000 }, async () => {
    const out = join(dir, 'big');
    const { run, d } = await dumpService(out, {}, 1024);
    assert.equal(d.dump.code, 0, d.dump.stderr);
    const [bundlePath, corePath] = d.dump.stdout.trim().split('\n');
    assert.match(corePath, /autopsy-\d{8}T\d{9}Z-on-demand-.+\.core$/);
    // Alive and serving after the dump, then ended normally by our SIGTERM.
    assert.equal(d.after!.records, 50000);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(d.after!.maxGapMs < 2000, `event loop gap ${d.after!.maxGapMs} ms`);
    assert.deepEqual(readdirSync(out).filter((n) => n.includes('.tmp')), []);

    const b = await readBundle(bundlePath);
    assert.equal(b.manifest.hook.addon, 'loaded');
    const core = b.json.get('core.json') as { path: string; size: number; sha256: string; nodeBuildId?: string; forkMs: number };
    assert.equal(core.path, corePath);
    assert.equal(core.size, statSync(corePath).size);
    assert.match(core.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual((b.manifest.trigger as { core: unknown }).core, { path: core.path, size: core.size, sha256: core.sha256, nodeBuildId: core.nodeBuildId });
    assert.equal((await runCli(['verify', bundlePath])).code, 0);
    const s = JSON.parse((await runCli(['summary', bundlePath, '--json'])).stdout);
    assert.equal(s.core.path, corePath);
    // The text summary says where the core is and what reads it.
    assert.ok((await runCli(['summary', bundlePath])).stdout.includes(`\nCore: ${corePath} (`), 'summary names the core');

    // The V8 heap is in the core (Node marks it MADV_DONTFORK; the writer re-marks it for the fork).
    assert.ok(statSync(corePath).blocks * 512 > 900 * 1024 * 1024, `core holds ${statSync(corePath).blocks * 512} bytes`);
    assert.ok(fileContains(corePath, d.marker), 'the heap marker string is in the core');

    if (has('readelf')) {
      const notes = execFileSync('readelf', ['-n', corePath], { encoding: 'utf8' });
      assert.match(notes, /NT_PRSTATUS/);
      assert.match(notes, /NT_FILE/);
      assert.match(notes, /NT_FPREGSET/);
      assert.match(notes, /NT_AUXV/);
    }
    if (has('gdb')) {
      const bt = spawnSync('gdb', ['-batch', '-nx', '-ex', 'bt', process.execPath, corePath], { encoding: 'utf8', timeout: 120_000 });
      assert.match(bt.stdout, /^#0\s+0x[0-9a-f]+ in \S+/m, bt.stdout + bt.stderr);
      assert.match(bt.stdout, /^#2\s/m, bt.stdout);
      assert.match(bt.stdout, /uv_run|main/, bt.stdout);
    }
  });

  test('dump --embed-core: the core, gzip-compressed, is in the bundle as core/<name>.core.gz, and core.json says so', { timeout: 240_000 }, async () => {
    const out = join(dir, 'embed');
    const { run, d } = await dumpService(out, {}, 256, ['--embed-core']);
    assert.equal(d.dump.code, 0, d.dump.stderr);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(d.after!.records, 50000);
    const [bundlePath, corePath] = d.dump.stdout.trim().split('\n');
    const b = await readBundle(bundlePath);
    const core = b.json.get('core.json') as { path: string; sha256: string; size: number; embedded: { entry: string; gzipBytes: number; gzipSha256: string; gzipMs: number } };
    const entry = `core/${corePath.slice(out.length + 1)}.gz`;
    assert.equal(core.embedded.entry, entry);
    assert.equal((b.manifest.trigger as { core: { embedded: string } }).core.embedded, entry);
    const listed = b.manifest.files.find((f) => f.name === entry)!;
    assert.deepEqual(listed, { name: entry, size: core.embedded.gzipBytes, sha256: core.embedded.gzipSha256 });
    assert.equal((await runCli(['verify', bundlePath])).code, 0);
    // The entry, gunzipped, is the core beside the bundle, byte for byte (streamed: a core is big).
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of (await openTarGzEntry(bundlePath, entry)).pipe(createGunzip())) {
      h.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
    assert.equal(n, core.size);
    assert.equal(h.digest('hex'), core.sha256);
    assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp')), []);
    console.log(`# embed-core on ${process.version}: core ${(core.size / 1024 ** 2).toFixed(0)} MB apparent, gzip ${(core.embedded.gzipBytes / 1024 ** 2).toFixed(1)} MB in ${core.embedded.gzipMs} ms, bundle ${(statSync(bundlePath).size / 1024 ** 2).toFixed(1)} MB`);
  });

  test('AUTOPSY_HANG_CORE=1: a hang bundle gets a core of the blocked process (core.json, hang.json), taken during the block', { timeout: 120_000 }, async () => {
    const out = join(dir, 'hang-core');
    const app = join(SCENARIOS, 'core', 'blocked-invoice.js');
    const run = await runNode(app, { hook: true, args: ['wait'], env: { AUTOPSY_DIR: out, AUTOPSY_HANG_CORE: '1', AUTOPSY_HANG_MS: '1000', BLOCK_MS: '6000', RUN_MS: '100', LINGER_MS: '15000' }, timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    const bundles = readdirSync(out).filter((n) => n.endsWith('.tgz'));
    assert.equal(bundles.length, 1, run.stderr);
    const b = await readBundle(join(out, bundles[0]));
    const hang = b.json.get('hang.json') as { core?: { path: string } };
    const core = b.json.get('core.json') as { path: string; size: number; forkMs: number };
    assert.ok(core, `no core.json: ${JSON.stringify(hang.core)} ${run.stderr}`);
    assert.equal(hang.core!.path, core.path);
    assert.match(core.path, /autopsy-\d{8}T\d{9}Z-hang-.+\.core$/);
    assert.equal(statSync(core.path).size, core.size);
    assert.deepEqual((b.manifest.trigger as { core: unknown }).core, { path: core.path });
    assert.equal((await runCli(['verify', join(out, bundles[0])])).code, 0);
    if (has('gdb')) {
      // The main thread was in the block: the futex wait of Atomics.wait.
      const bt = spawnSync('gdb', ['-batch', '-nx', '-ex', 'bt', process.execPath, core.path], { encoding: 'utf8', timeout: 120_000 });
      assert.match(bt.stdout, /AtomicsWait|FutexEmulation/, bt.stdout);
    }
  });

  test('capture({core: true}) in the API: a promise of the bundle and the core; the options form without core stays synchronous', { timeout: 120_000 }, async () => {
    const out = join(dir, 'api-core');
    const index = JSON.stringify(join(__dirname, '..', 'src', 'index.js'));
    const script = `const a = require(${index});
      a.configure({ dir: ${JSON.stringify(out)} });
      const keep = setInterval(() => {}, 1000);
      function settleInvoices() {
        const plain = a.capture({ reason: 'plain-options', error: new Error('not fatal') });
        const p = a.capture({ reason: 'checkpoint', core: true });
        return { plain, isPromise: p instanceof Promise, p };
      }
      const r = settleInvoices();
      r.p.then((res) => { console.log(JSON.stringify({ plain: r.plain, isPromise: r.isPromise, res })); clearInterval(keep); });`;
    const r = await runNode('-e', { args: [script], timeoutMs: 100_000 });
    assert.equal(r.code, 0, r.stderr);
    const { plain, isPromise, res } = JSON.parse(r.stdout);
    assert.match(plain, /-plain-options-/);
    assert.equal(isPromise, true);
    assert.match(res.path, /-checkpoint-/);
    assert.match(res.core, /-checkpoint-.+\.core$/);
    const b = await readBundle(res.path);
    const core = b.json.get('core.json') as { path: string; size: number };
    assert.equal(core.path, res.core);
    assert.equal(statSync(res.core).size, core.size);
    assert.equal((b.manifest.trigger as { api: boolean }).api, true);
    // The stack is the caller's, taken when capture() was called, not the promise's continuation.
    const stack = b.json.get('stack.json') as { frames: { function: string }[] };
    assert.ok(stack.frames.some((f) => f.function === 'settleInvoices'), JSON.stringify(stack.frames));
    const p = await readBundle(plain);
    assert.equal((p.json.get('error.json') as { message: string }).message, 'not fatal');
  });

  test('without the addon (AUTOPSY_NATIVE=0), dump --core writes the bundle, says why there is no core, exits 1', { timeout: 60_000 }, async () => {
    const out = join(dir, 'no-addon');
    const { run, d } = await dumpService(out, { AUTOPSY_NATIVE: '0' }, 16);
    assert.equal(d.dump.code, 1);
    const lines = d.dump.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(d.dump.stderr, /^autopsy-ts: bundle written without what was asked: core dump skipped: native addon unavailable: turned off by AUTOPSY_NATIVE=0\n$/);
    assert.equal(run.code, 0);
    const b = await readBundle(lines[0]);
    assert.equal(b.manifest.hook.addon, 'unavailable');
    assert.equal(b.json.get('core.json'), undefined);
    assert.deepEqual(readdirSync(out).filter((n) => n.endsWith('.core')), []);
  });

  test('the disk-space check comes first: no core, no temporary file, the reason in one line', { timeout: 60_000 }, async () => {
    const out = join(dir, 'disk');
    const { d } = await dumpService(out, { AUTOPSY_CORE_MIN_FREE: '100000T' }, 16);
    assert.equal(d.dump.code, 1);
    assert.match(d.dump.stderr, /core dump skipped: not enough disk space: .*AUTOPSY_CORE_MIN_FREE/);
    assert.deepEqual(readdirSync(out).filter((n) => !n.endsWith('.tgz') && n !== '.recorder'), []);
    assert.ok(existsSync(d.dump.stdout.trim()));
  });
});
