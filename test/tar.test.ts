import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { BundleFormatError, createTarGz, openTarGzEntry, readTarGz, type ReadLimits } from '../src/bundle/tar';

const MiB = 1024 * 1024;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autopsy-tar-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const hasTar = spawnSync('tar', ['--version']).status === 0;

let counter = 0;
function writeTemp(contents: Buffer): string {
  const file = path.join(dir, `t${counter++}.tar.gz`);
  fs.writeFileSync(file, contents);
  return file;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface RawHeader {
  name?: string | Buffer;
  size?: number;
  type?: string;
  prefix?: string;
  magic?: string;
  sizeField?: Buffer;
  checksum?: number;
}

/** A ustar header written by hand, so hostile archives need no tool and no fixture file. */
function rawHeader(o: RawHeader): Buffer {
  const h = Buffer.alloc(512);
  const name = typeof o.name === 'string' ? Buffer.from(o.name) : (o.name ?? Buffer.from('a.txt'));
  name.copy(h, 0, 0, 100);
  h.write('0000600\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (o.sizeField) o.sizeField.copy(h, 124);
  else h.write(`${(o.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('14000000000\0', 136, 'latin1');
  h.write(o.type ?? '0', 156, 'latin1');
  h.write(o.magic ?? 'ustar\x0000', 257, 'latin1');
  if (o.prefix) h.write(o.prefix, 345);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${(o.checksum ?? sum).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** Header + content + padding. */
function rawEntry(o: RawHeader & { data?: Buffer }): Buffer {
  const data = o.data ?? Buffer.alloc(0);
  const header = rawHeader({ size: data.length, ...o });
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

const END = Buffer.alloc(1024);
const gzFile = (...parts: Buffer[]): string => writeTemp(zlib.gzipSync(Buffer.concat(parts)));

/** Asserts a one-line BundleFormatError matching `pattern`. */
async function refuses(
  promise: Promise<unknown>,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof BundleFormatError, `expected BundleFormatError, got ${String(err)}`);
    assert.match(err.message, /^bad bundle: /);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'message is one line');
    return true;
  });
}

const refusesFile = (file: string, pattern: RegExp, limits?: Partial<ReadLimits>): Promise<void> =>
  refuses(readTarGz(file, { limits, load: () => true }), pattern);

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const longName = `heap/${'a'.repeat(90)}/${'b'.repeat(60)}/snapshot.heapsnapshot`;
const inputs = [
  { name: 'manifest.json', data: Buffer.from('{"format":"autopsy-bundle"}\n') },
  { name: 'empty.txt', data: Buffer.alloc(0) },
  { name: 'extra/binary.bin', data: Buffer.concat([Buffer.from([...Array(256).keys()]), randomBytes(100_000)]) },
  { name: longName, data: Buffer.from('x'.repeat(513)) },
  { name: 'extra/naïve-名前.txt', data: Buffer.from('unicode name') },
];

// ---------------------------------------------------------------------------------------------
// Round trip and API

test('round trip: order, content, sizes, sha256, long names via the ustar prefix', async () => {
  assert.ok(Buffer.byteLength(longName) > 100);
  const file = writeTemp(createTarGz(inputs));
  const before = fs.readdirSync(dir);
  const entries = await readTarGz(file, { load: () => true });
  assert.deepEqual(fs.readdirSync(dir), before, 'reading creates nothing on disk');
  assert.deepEqual(
    entries.map((e) => e.name),
    inputs.map((i) => i.name),
  );
  for (const [i, entry] of entries.entries()) {
    assert.equal(entry.size, inputs[i].data.length);
    assert.equal(entry.sha256, sha256(inputs[i].data));
    assert.deepEqual(entry.data, inputs[i].data);
  }
});

test('sha256 matches known vectors', async () => {
  const abcInput = { name: 'abc', data: Buffer.from('abc') };
  const file = writeTemp(createTarGz([abcInput, { name: 'e', data: Buffer.alloc(0) }]));
  const [abc, empty] = await readTarGz(file);
  assert.equal(abc.sha256, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(empty.sha256, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('createTarGz writes gzip level 6, ending in two zero blocks', () => {
  const gz = createTarGz([{ name: 'a', data: Buffer.from('hi') }]);
  assert.deepEqual(gz, zlib.gzipSync(zlib.gunzipSync(gz), { level: 6 }));
  const tar = zlib.gunzipSync(gz);
  assert.equal(tar.length, 512 + 512 + 1024);
  assert.ok(tar.subarray(1024).every((b) => b === 0));
});

test('createTarGz refuses names the reader would refuse', () => {
  const data = Buffer.alloc(1);
  assert.throws(() => createTarGz([{ name: '../x', data }]), /escapes the bundle/);
  assert.throws(() => createTarGz([{ name: '/x', data }]), /is absolute/);
  assert.throws(() => createTarGz([{ name: 'a', data }, { name: 'a', data }]), /appears twice/);
  assert.throws(() => createTarGz([{ name: 'x'.repeat(101), data }]), /too long for ustar/);
  assert.throws(() => createTarGz([{ name: `${'p'.repeat(156)}/x`, data }]), /too long for ustar/);
});

test('tar -tvzf lists our archive with mode 0600 by default', { skip: !hasTar }, () => {
  const file = writeTemp(
    createTarGz([...inputs, { name: 'public.txt', data: Buffer.from('p'), mode: 0o644, mtime: new Date(0) }]),
  );
  const out = spawnSync('tar', ['-tvzf', file], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trim().split('\n');
  assert.equal(lines.length, inputs.length + 1);
  for (const line of lines.slice(0, -1)) assert.match(line, /^-rw------- /);
  assert.match(lines[lines.length - 1], /^-rw-r--r-- .* 1970-01-01 .*public\.txt$/);
  assert.ok(out.stdout.includes(longName));
});

test('reads archives made by GNU tar (ustar and gnu formats), skipping directories', { skip: !hasTar }, async () => {
  const src = fs.mkdtempSync(path.join(dir, 'src-'));
  fs.mkdirSync(path.join(src, 'sub'));
  fs.writeFileSync(path.join(src, 'a.txt'), 'a');
  fs.writeFileSync(path.join(src, 'sub', 'b.txt'), 'bb');
  for (const format of ['ustar', 'gnu']) {
    const file = path.join(dir, `gnu-${format}.tar.gz`);
    const out = spawnSync('tar', [`--format=${format}`, '-czf', file, '-C', src, 'a.txt', 'sub']);
    assert.equal(out.status, 0, String(out.stderr));
    const entries = await readTarGz(file, { load: () => true });
    assert.deepEqual(
      entries.map((e) => [e.name, e.data?.toString()]),
      [
        ['a.txt', 'a'],
        ['sub/b.txt', 'bb'],
      ],
    );
  }
});

test('load filter buffers only the chosen entries but hashes all', async () => {
  const file = writeTemp(createTarGz(inputs));
  const asked: string[] = [];
  const entries = await readTarGz(file, {
    load: (name) => {
      asked.push(name);
      return name.endsWith('.json');
    },
  });
  assert.deepEqual(asked, inputs.map((i) => i.name));
  for (const [i, entry] of entries.entries()) {
    assert.equal(entry.sha256, sha256(inputs[i].data));
    assert.equal(entry.data === undefined, !inputs[i].name.endsWith('.json'));
  }
  const none = await readTarGz(file);
  assert.ok(none.every((e) => e.data === undefined), 'nothing is loaded by default');
});

test('openTarGzEntry streams one entry, and rejects an absent one', async () => {
  const big = randomBytes(5 * MiB + 7);
  const file = writeTemp(createTarGz([inputs[0], { name: 'heap/big.heapsnapshot', data: big }, inputs[1]]));
  assert.deepEqual(await collect(await openTarGzEntry(file, 'heap/big.heapsnapshot')), big);
  assert.deepEqual(await collect(await openTarGzEntry(file, 'empty.txt')), Buffer.alloc(0));
  await refuses(openTarGzEntry(file, 'nope.json'), /no entry "nope.json"/);
});

test('openTarGzEntry applies the same checks on the way to the entry', async () => {
  const file = gzFile(rawEntry({ name: 'link', type: '2' }), rawEntry({ name: 'a.txt', data: Buffer.from('a') }), END);
  await refuses(openTarGzEntry(file, 'a.txt'), /symbolic link/);
});

test('a missing file rejects with the fs error, not a format error', async () => {
  await assert.rejects(readTarGz(path.join(dir, 'absent.tar.gz')), { code: 'ENOENT' });
});

// ---------------------------------------------------------------------------------------------
// Gzip layer

test('hostile: not gzip', async () => {
  await refusesFile(writeTemp(Buffer.from('this is not a gzip file at all')), /not a gzip file/);
});

test('hostile: empty file', async () => {
  await refusesFile(writeTemp(Buffer.alloc(0)), /gzip stream is truncated/);
});

test('hostile: truncated gzip', async () => {
  const gz = createTarGz([{ name: 'r.bin', data: randomBytes(50_000) }]);
  await refusesFile(writeTemp(gz.subarray(0, gz.length / 2)), /gzip stream is truncated/);
});

test('hostile: corrupt gzip data (CRC mismatch)', async () => {
  const gz = createTarGz([{ name: 'r.bin', data: randomBytes(50_000) }]);
  gz[gz.length - 8] ^= 0xff; // the CRC-32 in the gzip trailer
  await refusesFile(writeTemp(gz), /corrupt gzip data \(incorrect data check\)/);
});

test('hostile: gzip of something that is not tar', async () => {
  await refusesFile(writeTemp(zlib.gzipSync(randomBytes(4096))), /not a ustar archive \(header at byte 0\)/);
});

// ---------------------------------------------------------------------------------------------
// Tar structure

test('hostile: header cut short', async () => {
  const cut = rawHeader({ name: 'b' }).subarray(0, 200);
  const tar = Buffer.concat([rawEntry({ name: 'a', data: Buffer.from('a') }), cut]);
  await refusesFile(gzFile(tar), /tar is truncated \(header at byte 1024 cut short\)/);
});

test('hostile: content cut short', async () => {
  await refusesFile(gzFile(rawHeader({ name: 'a', size: 1000 }), Buffer.alloc(100, 1)), /entry "a" cut short/);
});

test('hostile: no end-of-archive blocks, or only one', async () => {
  const a = rawEntry({ name: 'a', data: Buffer.from('a') });
  await refusesFile(gzFile(a), /no end-of-archive blocks/);
  await refusesFile(gzFile(a, Buffer.alloc(512)), /one end-of-archive block of two/);
});

test('hostile: bad header checksum', async () => {
  await refusesFile(gzFile(rawEntry({ name: 'a', checksum: 1234 }), END), /header checksum mismatch at byte 0/);
  const flipped = rawEntry({ name: 'a', data: Buffer.from('a') });
  flipped[0] = 'b'.charCodeAt(0);
  await refusesFile(gzFile(flipped, END), /checksum mismatch/);
});

test('trailing zero fill after the end blocks is tolerated; non-zero garbage is not', async () => {
  const a = rawEntry({ name: 'a', data: Buffer.from('a') });
  const ok = await readTarGz(gzFile(a, END, Buffer.alloc(8704)));
  assert.deepEqual(ok.map((e) => e.name), ['a']);
  const garbage = gzFile(a, END, Buffer.from('garbage'));
  await refusesFile(garbage, /non-zero data after the end-of-archive blocks at byte 2048/);
  // A header after a single zero block is past the end marker too.
  await refusesFile(gzFile(a, Buffer.alloc(512), rawEntry({ name: 'b' }), END), /non-zero data after/);
});

// ---------------------------------------------------------------------------------------------
// Entry types

test('regular files with a NUL type byte are accepted, directories skipped', async () => {
  const entries = await readTarGz(
    gzFile(rawEntry({ name: 'd/', type: '5' }), rawEntry({ name: 'd/a', type: '\0', data: Buffer.from('x') }), END),
  );
  assert.deepEqual(entries.map((e) => e.name), ['d/a']);
});

const badTypes: [string, RegExp][] = [
  ['1', /is a hard link \(type "1"\)/],
  ['2', /is a symbolic link \(type "2"\)/],
  ['3', /is a character device/],
  ['4', /is a block device/],
  ['6', /is a FIFO/],
  ['x', /is a PAX extended header/],
  ['g', /is a PAX global header/],
  ['L', /is a GNU long name/],
  ['K', /is a GNU long link name/],
  ['Z', /is of an unknown type/],
];
for (const [type, pattern] of badTypes) {
  test(`hostile: entry type '${type}'`, async () => {
    await refusesFile(gzFile(rawEntry({ name: 'e', type, data: Buffer.from('target') }), END), pattern);
  });
}

test('hostile: symlink, hard link and GNU long name made by /usr/bin/tar', { skip: !hasTar }, async () => {
  const src = fs.mkdtempSync(path.join(dir, 'links-'));
  fs.symlinkSync('/etc/passwd', path.join(src, 'passwd'));
  fs.writeFileSync(path.join(src, 'f'), 'f');
  fs.linkSync(path.join(src, 'f'), path.join(src, 'g'));
  fs.writeFileSync(path.join(src, 'n'.repeat(120)), 'n');
  const cases: [string[], RegExp][] = [
    [['passwd'], /entry "passwd" is a symbolic link/],
    [['f', 'g'], /entry "g" is a hard link/],
    [['n'.repeat(120)], /is a GNU long name/],
  ];
  for (const [names, pattern] of cases) {
    const file = path.join(dir, `links-${counter++}.tar.gz`);
    assert.equal(spawnSync('tar', ['--format=gnu', '-czf', file, '-C', src, ...names]).status, 0);
    await refusesFile(file, pattern);
  }
});

// ---------------------------------------------------------------------------------------------
// Names

const badNames: [RawHeader, RegExp][] = [
  [{ name: '/etc/passwd' }, /entry "\/etc\/passwd" is absolute/],
  [{ name: '../x' }, /entry "..\/x" escapes the bundle/],
  [{ name: 'a/../../x' }, /escapes the bundle/],
  [{ name: 'x', prefix: '..' }, /entry "..\/x" escapes the bundle/],
  [{ name: 'a\\..\\x' }, /contains a backslash/],
  [{ name: Buffer.from('a\0b') }, /entry "a\\u0000b" contains a NUL byte/],
  [{ name: '' }, /has an empty name/],
  [{ name: 'a//b' }, /empty or "\." path segment/],
  [{ name: './a' }, /empty or "\." path segment/],
  [{ name: 'evil\nname/../../x' }, /entry "evil\\nname\/..\/..\/x" escapes/],
];
for (const [header, pattern] of badNames) {
  const shown = JSON.stringify((header.prefix ? `${header.prefix}/` : '') + String(header.name));
  test(`hostile: name ${shown}`, async () => {
    await refusesFile(gzFile(rawEntry(header), END), pattern);
  });
}

test('hostile: duplicate names', async () => {
  await refusesFile(gzFile(rawEntry({ name: 'a' }), rawEntry({ name: 'a' }), END), /entry "a" appears twice/);
});

// ---------------------------------------------------------------------------------------------
// Numeric fields

test('hostile: size field that is not octal', async () => {
  const file = gzFile(rawHeader({ sizeField: Buffer.from('12a4\0') }), END);
  await refusesFile(file, /invalid size field in header at byte 0/);
});

test('GNU base-256 size is accepted', async () => {
  const sizeField = Buffer.alloc(12);
  sizeField[0] = 0x80;
  sizeField[11] = 5;
  const data = Buffer.from('hello');
  const [entry] = await readTarGz(gzFile(rawHeader({ sizeField }), data, Buffer.alloc(507), END), { load: () => true });
  assert.deepEqual(entry.data, data);
});

test('hostile: absurd base-256 size, and negative base-256 size', async () => {
  const huge = Buffer.alloc(12, 0xff);
  huge[0] = 0x80;
  const absurd = /declares over 2\^53 bytes, over the 68719476736-byte total limit/;
  await refusesFile(gzFile(rawHeader({ sizeField: huge }), END), absurd);
  await refusesFile(gzFile(rawHeader({ sizeField: Buffer.alloc(12, 0xff) }), END), /negative or invalid base-256 size/);
});

// ---------------------------------------------------------------------------------------------
// Limits

test('limit: entry count', async () => {
  const parts = ['a', 'b', 'c', 'd'].map((name) => rawEntry({ name }));
  await refusesFile(gzFile(...parts, END), /more than 3 entries/, { maxEntries: 3 });
  assert.equal((await readTarGz(gzFile(...parts, END), { limits: { maxEntries: 4 } })).length, 4);
});

test('limit: size of one loaded entry', async () => {
  const file = writeTemp(createTarGz([{ name: 'big', data: Buffer.alloc(2000) }]));
  await refusesFile(file, /entry "big" is 2000 bytes, over the 1000-byte load limit/, { maxLoadBytes: 1000 });
  const [entry] = await readTarGz(file, { limits: { maxLoadBytes: 1000 }, load: () => false });
  assert.equal(entry.size, 2000, 'an entry only hashed may exceed the load limit');
});

test('limit: total uncompressed bytes, declared and streamed', async () => {
  // The limit is above gunzip's first 64 KiB chunk, so the header is parsed before the running total trips.
  const limits = { maxTotalBytes: 100_000 };
  const file = writeTemp(createTarGz([{ name: 'big', data: Buffer.alloc(200_000) }]));
  await refusesFile(file, /entry "big" declares 200000 bytes, over the 100000-byte total limit/, limits);
  const many = writeTemp(createTarGz(['a', 'b', 'c'].map((name) => ({ name, data: Buffer.alloc(50_000) }))));
  await refusesFile(many, /more than 100000 bytes uncompressed/, limits);
});

/** Streams `zeros` zero bytes after `prefix` through gzip into a file; never holds more than 1 MiB. */
async function writeBomb(prefix: Buffer, zeros: number): Promise<string> {
  const file = path.join(dir, `bomb-${counter++}.tar.gz`);
  const gzip = zlib.createGzip({ level: 9, strategy: zlib.constants.Z_RLE }); // RLE: fast on zeros, same ~1000:1
  const done = pipeline(gzip, fs.createWriteStream(file));
  gzip.write(prefix);
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < zeros / MiB; i++) if (!gzip.write(block)) await once(gzip, 'drain');
  gzip.end();
  await done;
  return file;
}

/** Runs `fn`, sampling RSS; returns elapsed ms and the peak RSS growth. */
async function measure(fn: () => Promise<void>): Promise<{ ms: number; rssGrowth: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const t0 = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { ms: performance.now() - t0, rssGrowth: peak - start };
}

test('limit: a 1 GiB gzip bomb is refused quickly and in little memory', async () => {
  const file = await writeBomb(rawHeader({ name: 'zeros', size: 1024 * MiB }), 1024 * MiB);
  assert.ok(fs.statSync(file).size < 2 * MiB, 'the bomb is small on disk');
  const bombMessage = /compression ratio over 200:1 past 64 MiB \(a gzip bomb\?\)/;
  const { ms, rssGrowth } = await measure(() => refuses(readTarGz(file), bombMessage));
  assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`);
  assert.ok(rssGrowth < 256 * MiB, `RSS grew by ${(rssGrowth / MiB).toFixed(0)} MiB`);
  // Streaming the entry hits the same guard, as an error on the stream.
  const stream = await openTarGzEntry(file, 'zeros');
  await refuses(collect(stream), /compression ratio/);
});

test('limit: a bomb of zero fill after the end blocks is refused too', async () => {
  const file = await writeBomb(Buffer.concat([rawEntry({ name: 'a' }), END]), 128 * MiB);
  await refuses(readTarGz(file), /compression ratio over 200:1/);
});
