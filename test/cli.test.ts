// The CLI on good and hostile bundles: one line on stderr and a non-zero exit for anything bad,
// never a stack trace, and nothing from the crashed app reaches the terminal raw.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, symlinkSync, mkdirSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { createTarGz, readTarGz } from '../src/bundle/tar';
import { bundlesIn, cleanup, runCli, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
after(() => cleanup(dir));

/** A raw ustar header, for archives our own writer refuses to make. */
function header(name: string, size: number, type = '0', linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000600\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(linkname, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function rawTar(entries: { name: string; data?: Buffer; type?: string; link?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    parts.push(header(e.name, data.length, e.type, e.link));
    parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

function sha(b: Buffer) {
  return createHash('sha256').update(b).digest('hex');
}

/** A well-formed bundle around the given error record, with a correct manifest. */
function craftBundle(error: Record<string, unknown>, extra: Record<string, unknown> = {}): Buffer {
  const errorJson = Buffer.from(JSON.stringify(error));
  const manifest = {
    format: 'autopsy-bundle', formatVersion: 1, id: 'x', reason: 'uncaught-exception', time: '2026-11-22T08:00:00.000Z',
    pid: 4242, ppid: 1, hostname: 'host', threadId: 0, uptimeSeconds: 1, cwd: '/app', node: 'v20.20.2', v8: '11', platform: 'linux', arch: 'x64',
    argv: ['node', 'app.js'], execArgv: [], hook: { version: '0.1.0', addon: 'unavailable' }, redacted: [],
    files: [{ name: 'error.json', size: errorJson.length, sha256: sha(errorJson) }], ...extra,
  };
  return createTarGz([{ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }, { name: 'error.json', data: errorJson }]);
}

const hostile: Record<string, () => Buffer | Promise<Buffer>> = {
  'path traversal': () => rawTar([{ name: 'manifest.json', data: Buffer.from('{}') }, { name: '../../etc/evil', data: Buffer.from('x') }]),
  'an absolute path': () => rawTar([{ name: '/tmp/evil', data: Buffer.from('x') }]),
  'a symlink': () => rawTar([{ name: 'manifest.json', type: '2', link: '/etc/passwd' }]),
  'a hard link': () => rawTar([{ name: 'manifest.json', type: '1', link: '/etc/passwd' }]),
  garbage: () => Buffer.from('this is not a bundle at all, just text\n'.repeat(20)),
  'an empty file': () => Buffer.alloc(0),
  truncated: () => {
    const b = craftBundle({ kind: 'error', name: 'E', message: 'm', frames: [] });
    return b.subarray(0, Math.floor(b.length / 2));
  },
  'bad JSON': () => rawTar([{ name: 'manifest.json', data: Buffer.from('{"format": "autopsy-bundle", oops}') }]),
  'JSON with a trailing comma': () => rawTar([{ name: 'manifest.json', data: Buffer.from('{"format": "autopsy-bundle",}') }]),
  'no manifest': () => rawTar([{ name: 'error.json', data: Buffer.from('{}') }]),
  'a newer format version': () => rawTar([{ name: 'manifest.json', data: Buffer.from('{"format":"autopsy-bundle","formatVersion":99,"files":[]}') }]),
  'a gzip bomb': async () => {
    // 2 GiB of zeros in one entry, streamed through gzip: about 2 MB on disk.
    const path = join(dir, 'bomb-src.tgz');
    await new Promise<void>((resolve, reject) => {
      const gz = createGzip({ level: 9 });
      const out = createWriteStream(path);
      gz.pipe(out).on('finish', resolve).on('error', reject);
      gz.write(header('manifest.json', 2 * 1024 ** 3));
      const zeros = Buffer.alloc(1024 * 1024);
      let left = 2048;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!gz.write(zeros)) return void gz.once('drain', pump);
        }
        gz.end(Buffer.alloc(1024));
      };
      pump();
    });
    return readFileSync(path);
  },
};

describe('hostile bundles', () => {
  const files: Record<string, string> = {};
  before(async () => {
    for (const [name, make] of Object.entries(hostile)) {
      files[name] = join(dir, `hostile-${name.replace(/\W+/g, '-')}.tgz`);
      writeFileSync(files[name], await make());
    }
  });
  for (const name of Object.keys(hostile)) {
    for (const cmd of ['summary', 'verify']) {
      test(`${cmd} on ${name}: one line, non-zero exit, no stack`, async () => {
        const r = await runCli([cmd, files[name]]);
        assert.notEqual(r.code, 0);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /^autopsy-ts: [^\n]+\n$/, `stderr was: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
      });
    }
  }

  test('a symlink to a bundle given by the user is read, but a link inside never is', async () => {
    const real = join(dir, 'real.tgz');
    writeFileSync(real, craftBundle({ kind: 'error', name: 'Error', message: 'fine', frames: [] }));
    const link = join(dir, 'link.tgz');
    symlinkSync(real, link);
    assert.equal((await runCli(['verify', link])).code, 0);
  });

  test('a missing file and a folder are one line each', async () => {
    for (const p of [join(dir, 'nope.tgz'), dir]) {
      const r = await runCli(['summary', p]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^autopsy-ts: [^\n]+\n$/);
    }
  });
});

describe('escape sequences from the crashed app', () => {
  const evil = 'boom \x1b]0;pwned\x07 \x1b[2J\x1b[31mred \x9b31m c1 \u202eevil\r\nline2\x00';
  const path = join(dir, 'escapes.tgz');
  before(() => {
    writeFileSync(path, craftBundle({ kind: 'error', name: 'Error\x1b[1m', message: evil, frames: [{ function: 'f\x1b[0m', file: '/app/\x1b[31mx.js', line: 1, column: 1 }], props: { ['k\x1b[2J']: 'v\x9b' } }, { hostname: 'h\x1b]2;x\x07', argv: ['node', '\x1b[8m'] }));
  });
  for (const format of ['text', 'markdown', 'json']) {
    test(`summary --format ${format} prints no raw control characters`, async () => {
      const r = await runCli(['summary', path, '--format', format]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
      assert.match(r.stdout, /\\x1b|\\u001b/);
      if (format === 'json') assert.equal(JSON.parse(r.stdout).error.message, evil, 'JSON keeps the exact value, escaped');
    });
  }
  test('ls prints no raw control characters', async () => {
    const d = join(dir, 'ls-escapes');
    mkdirSync(d);
    writeFileSync(join(d, 'autopsy-20261122T080000000Z-uncaught-exception-host-4242.tgz'), readFileSync(path));
    for (const args of [[d], [d, '--json']]) {
      const r = await runCli(['ls', ...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    }
  });
});

describe('commands', () => {
  const out = join(dir, 'real');
  let bundle = '';
  before(async () => {
    await runNode(join(SCENARIOS, 'fate', 'cause-chain.js'), { hook: true, env: { AUTOPSY_DIR: out } });
    [bundle] = bundlesIn(out);
  });

  test('summary text names the error, the cause chain and the code excerpt', async () => {
    const r = await runCli(['summary', bundle]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^uncaught-exception in /);
    assert.match(r.stdout, /Error: request failed/);
    assert.match(r.stdout, /Caused by:\nAggregateError: all replicas failed/);
    assert.match(r.stdout, /> +8 \| setTimeout/);
  });

  test('summary markdown is pasteable: a heading, a table and fenced stacks', async () => {
    const r = await runCli(['summary', bundle, '--format', 'markdown']);
    assert.match(r.stdout, /^### autopsy-ts: uncaught-exception/);
    assert.match(r.stdout, /\| pid \d+ \(ppid \d+\)/);
    assert.match(r.stdout, /```text\nError: request failed/);
  });

  test('summary json has reason, pid, time and the error with frames', async () => {
    const s = JSON.parse((await runCli(['summary', bundle, '--json'])).stdout);
    assert.equal(s.reason, 'uncaught-exception');
    assert.equal(typeof s.pid, 'number');
    assert.match(s.time, /^\d{4}-/);
    assert.equal(s.error.name, 'Error');
    assert.ok(s.error.frames.length > 0);
    for (const f of s.error.frames) for (const k of ['function', 'file', 'line', 'column']) assert.ok(k in f);
  });

  test('verify: 0 when intact, 1 with the reason when a file was changed', async () => {
    assert.equal((await runCli(['verify', bundle])).code, 0);
    const entries = await readTarGz(bundle, { load: () => true });
    const tampered = entries.map((e) => ({ name: e.name, data: e.name === 'error.json' ? Buffer.from(e.data!.toString().replace('request failed', 'request passed')) : e.data! }));
    const bad = join(dir, 'tampered.tgz');
    writeFileSync(bad, createTarGz(tampered));
    const r = await runCli(['verify', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error\.json: sha256 differs/);
    const j = await runCli(['verify', bad, '--json']);
    assert.equal(JSON.parse(j.stdout).ok, false);
  });

  test('summary, timeline, ls and open read the archive only up to its snapshots; verify reads it all', async () => {
    // A bundle whose 8 MB snapshot was cut short (a disk filled up while it was copied): what comes
    // before the snapshot is readable, and only verify, which checks everything, says it is damaged.
    const entries = await readTarGz(bundle, { load: () => true });
    const snapshot = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < snapshot.length; i += 4) snapshot.writeUInt32LE((i * 2654435761) >>> 0, i);
    const files = entries.filter((e) => e.name !== 'manifest.json').map((e) => ({ name: e.name, data: e.data! }));
    files.push({ name: 'heap/on-demand.heapsnapshot', data: snapshot });
    const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.data!.toString());
    manifest.files = files.map((f) => ({ name: f.name, size: f.data.length, sha256: sha(f.data) }));
    const whole = createTarGz([{ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }, ...files]);
    const cutDir = join(dir, 'cut');
    mkdirSync(cutDir, { recursive: true });
    const cut = join(cutDir, 'autopsy-20261122T080000000Z-uncaught-exception-host-4242.tgz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const s = await runCli(['summary', cut, '--json']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(JSON.parse(s.stdout).reason, 'uncaught-exception');
    assert.equal((await runCli(['timeline', cut, '--json'])).code, 0);
    assert.match((await runCli(['ls', cutDir])).stdout, /uncaught-exception +\d+ +[\d.]+M +Error: request failed/);
    const v = await runCli(['verify', cut]);
    assert.equal(v.code, 1);
    assert.equal(v.stderr.trim().split('\n').length, 1, v.stderr);
    assert.match(v.stderr, /truncated|unexpected end/i);
  });

  test('ls lists time, reason, pid, size and the first error line', async () => {
    const r = await runCli(['ls', out]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /uncaught-exception +\d+ +\d+K +Error: request failed/);
    const j = JSON.parse((await runCli(['ls', out, '--json'])).stdout);
    assert.equal(j[0].reason, 'uncaught-exception');
    assert.equal(j[0].error, 'Error: request failed');
  });

  test('ls of a missing folder, and bad arguments, are one line', async () => {
    const r = await runCli(['ls', join(dir, 'missing')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^autopsy-ts: no bundle folder at .+\n$/);
    const bad = await runCli(['dump', 'abc']);
    assert.equal(bad.code, 1);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
  });

  test('--help on every command, and --version', async () => {
    for (const cmd of ['summary', 'verify', 'ls', 'dump', 'demo']) {
      const r = await runCli([cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`Usage: autopsy-ts ${cmd}`));
    }
    const v = await runCli(['--version']);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
