/**
 * A small ustar writer and reader for bundles (.tar.gz).
 *
 * Our own rather than a dependency because the two sides have opposite needs: the hook writes on a
 * crashing process's fatal path (synchronous, no deps), and the analyser opens bundles that came from
 * anywhere, so the reader streams, never touches the disk beyond the one archive, and refuses anything
 * malformed or hostile with a one-line BundleFormatError.
 */
import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import type * as Zlib from 'node:zlib';

/**
 * node:crypto and node:zlib load at the first bundle, not with this module: the hook warms the capture
 * code in every process, and these two are some 2 MB of RSS in a process that uses neither.
 */
function zlib(): typeof Zlib {
  return require('node:zlib') as typeof Zlib;
}
function createHash(algorithm: string): Hash {
  return (require('node:crypto') as typeof import('node:crypto')).createHash(algorithm);
}

export interface TarInput {
  name: string;
  data: Buffer;
  /** Permission bits; default 0o600 (bundles may hold secrets). */
  mode?: number;
  mtime?: Date;
}

export interface ReadLimits {
  /** Headers (files and directories) in the archive. */
  maxEntries: number;
  /** Size of one entry buffered in memory (entries chosen by `load`). */
  maxLoadBytes: number;
  /** Uncompressed tar bytes, and the largest size a header may declare. */
  maxTotalBytes: number;
  /** Uncompressed/compressed ratio allowed once past RATIO_FLOOR uncompressed bytes (gzip-bomb guard). */
  maxRatio: number;
}

export interface TarEntry {
  name: string;
  size: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
  /** The content, only for entries the caller asked to load. */
  data?: Buffer;
}

/** A malformed or hostile archive. The message is one line starting "bad bundle: ". */
export class BundleFormatError extends Error {
  override name = 'BundleFormatError';
}

const BLOCK = 512;
const MiB = 1024 * 1024;
/** Below this the ratio is not checked: a few KB of JSON legitimately compress far beyond 200:1. */
const RATIO_FLOOR = 64 * MiB;
/** The largest value 11 octal digits hold: the writer's size and mtime ceiling. */
const MAX_OCTAL = 0o77777777777;

const DEFAULT_LIMITS: ReadLimits = {
  maxEntries: 10_000,
  maxLoadBytes: 64 * MiB,
  maxTotalBytes: 64 * 1024 * MiB,
  maxRatio: 200,
};

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  x: 'a PAX extended header',
  g: 'a PAX global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
};

function fail(message: string): BundleFormatError {
  return new BundleFormatError(`bad bundle: ${message}`);
}

/** JSON quoting keeps hostile names (newlines, NULs) from breaking the one-line message. */
const quote = (name: string): string => JSON.stringify(name);

/** Why a name is refused (a phrase following `entry "name"`), or undefined. Shared by writer and reader. */
function nameProblem(name: string, dir: boolean): string | undefined {
  if (name === '') return 'has an empty name';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'is absolute';
  const segments = (dir && name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  if (segments.includes('..')) return 'escapes the bundle';
  if (segments.some((s) => s === '' || s === '.')) return 'has an empty or "." path segment';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Writer

/**
 * Synchronous on purpose: it runs on a crashing process's fatal path. ustar headers, regular files
 * only, entries in the given order, two zero blocks at the end, gzip level 6.
 * Throws (a plain Error) on a name the reader would refuse, or one too long for ustar.
 */
export function createTarGz(files: TarInput[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  const now = new Date();
  for (const file of files) {
    const problem = nameProblem(file.name, false) ?? (seen.has(file.name) ? 'appears twice' : undefined);
    if (problem) throw new Error(`tar: entry ${quote(file.name)} ${problem}`);
    seen.add(file.name);
    if (file.data.length > MAX_OCTAL) throw new Error(`tar: entry ${quote(file.name)} is too large for ustar`);
    parts.push(fileHeader(file, now), file.data, Buffer.alloc(padding(file.data.length)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return zlib().gzipSync(Buffer.concat(parts), { level: 6 });
}

/** An entry whose content is streamed from a file: it is never whole in memory (an embedded core). */
export interface StreamedTarInput {
  name: string;
  /** The file to copy; it must not change while it is copied (its size is checked). */
  path: string;
  size: number;
  mode?: number;
}

/**
 * The archive of createTarGz plus one big entry streamed from a file, written to `out`. Two gzip
 * members (a reader sees one stream): the small entries at level 6, then the big entry's header,
 * content and the end blocks at level 0 (stored: the content is already compressed, and deflating it
 * again costs CPU for nothing). Memory: the small entries and 64 KB buffers.
 */
export async function writeTarGzStreaming(out: string, files: TarInput[], big: StreamedTarInput): Promise<void> {
  const { createWriteStream } = await import('node:fs');
  const { pipeline: pipe } = await import('node:stream/promises');
  const problem = nameProblem(big.name, false) ?? (files.some((f) => f.name === big.name) ? 'appears twice' : undefined);
  if (problem) throw new Error(`tar: entry ${quote(big.name)} ${problem}`);
  if (big.size > MAX_OCTAL) throw new Error(`tar: entry ${quote(big.name)} is too large for ustar`);
  const head = createTarGz(files);
  // createTarGz ends with two zero blocks; the first member must stop before them, so rebuild it raw.
  const small = zlib().gunzipSync(head).subarray(0, -2 * BLOCK);
  const bigHeader = fileHeader({ name: big.name, data: Buffer.alloc(0), mode: big.mode }, new Date());
  writeOctal(bigHeader, 124, 12, big.size);
  bigHeader.fill(0x20, 148, 156);
  writeOctal(bigHeader, 148, 7, checksums(bigHeader)[0]);
  let copied = 0;
  async function* body(): AsyncGenerator<Buffer> {
    yield bigHeader;
    for await (const chunk of createReadStream(big.path, { highWaterMark: 64 * 1024 })) {
      copied += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (copied !== big.size) throw new Error(`tar: ${quote(big.name)} changed while it was copied (${copied} bytes, expected ${big.size})`);
    yield Buffer.alloc(padding(big.size) + 2 * BLOCK);
  }
  const sink = createWriteStream(out, { flags: 'wx', mode: 0o600 });
  await new Promise<void>((resolve, reject) => sink.write(zlib().gzipSync(small, { level: 6 }), (err) => (err ? reject(err) : resolve())));
  await pipe(Readable.from(body()), zlib().createGzip({ level: 0 }), sink);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function fileHeader(file: TarInput, now: Date): Buffer {
  const [name, prefix] = splitName(file.name);
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  writeOctal(h, 100, 8, (file.mode ?? 0o600) & 0o7777);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, file.data.length);
  const seconds = Math.floor((file.mtime ?? now).getTime() / 1000);
  writeOctal(h, 136, 12, Math.min(Math.max(seconds, 0), MAX_OCTAL));
  h.write('0', 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  prefix.copy(h, 345);
  // Checksum: six octal digits, NUL, then the space it was computed with.
  h.fill(0x20, 148, 156);
  writeOctal(h, 148, 7, checksums(h)[0]);
  return h;
}

/** ustar stores long names as prefix (<= 155 bytes) + '/' + name (<= 100 bytes). */
function splitName(name: string): [Buffer, Buffer] {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length <= 100) return [bytes, Buffer.alloc(0)];
  // '/' never occurs inside a multi-byte UTF-8 sequence, so splitting bytes there is safe.
  for (let i = Math.min(155, bytes.length - 2); i >= bytes.length - 101 && i > 0; i--) {
    if (bytes[i] === 0x2f) return [bytes.subarray(i + 1), bytes.subarray(0, i)];
  }
  throw new Error(`tar: entry ${quote(name)} is too long for ustar`);
}

function writeOctal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

/** Unsigned and signed header sums, the checksum field counted as spaces; old tars used signed. */
function checksums(h: Buffer): [number, number] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

// ---------------------------------------------------------------------------------------------
// Reader

type TarEvent = { kind: 'entry'; name: string; size: number } | { kind: 'data'; chunk: Buffer } | { kind: 'end' };

/**
 * Streams the archive through gunzip and hashes every entry; buffers only entries for which
 * `load(name)` is true (none by default). Directories are skipped. Rejects with BundleFormatError on
 * anything malformed or hostile; an unreadable file rejects with the fs error itself. `stopBefore`,
 * asked at each entry's header with the entries read so far, ends the read there (the rest of the
 * archive is neither decompressed nor checked).
 */
export async function readTarGz(
  path: string,
  opts: { limits?: Partial<ReadLimits>; load?: (name: string) => boolean; stopBefore?: (name: string, read: TarEntry[]) => boolean } = {},
): Promise<TarEntry[]> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const load = opts.load ?? (() => false);
  const entries: TarEntry[] = [];
  let current: TarEntry | undefined;
  let hash: Hash | undefined;
  let parts: Buffer[] | undefined;
  for await (const event of tarEvents(path, limits)) {
    if (event.kind === 'entry') {
      if (opts.stopBefore?.(event.name, entries)) break; // the generator's finally closes gunzip and the file
      current = { name: event.name, size: event.size, sha256: '' };
      hash = createHash('sha256');
      parts = load(event.name) ? [] : undefined;
      if (parts && event.size > limits.maxLoadBytes) {
        const over = `over the ${limits.maxLoadBytes}-byte load limit`;
        throw fail(`entry ${quote(event.name)} is ${event.size} bytes, ${over}`);
      }
    } else if (event.kind === 'data') {
      hash?.update(event.chunk);
      parts?.push(event.chunk);
    } else if (current && hash) {
      current.sha256 = hash.digest('hex');
      if (parts) current.data = Buffer.concat(parts, current.size);
      entries.push(current);
    }
  }
  return entries;
}

/**
 * Streams one entry's content, with the same checks on every header up to it. Rejects if the entry is
 * absent; a problem inside the entry (truncation, bomb) arrives as the stream's 'error'.
 */
export async function openTarGzEntry(
  path: string,
  name: string,
  limits?: Partial<ReadLimits>,
): Promise<NodeJS.ReadableStream> {
  const events = tarEvents(path, { ...DEFAULT_LIMITS, ...limits });
  for (;;) {
    const next = await events.next();
    if (next.done) throw fail(`no entry ${quote(name)}`);
    if (next.value.kind === 'entry' && next.value.name === name) {
      return Readable.from(contentOf(events), { objectMode: false });
    }
  }
}

async function* contentOf(events: AsyncGenerator<TarEvent>): AsyncGenerator<Buffer> {
  try {
    for (;;) {
      const next = await events.next();
      if (next.done || next.value.kind === 'end') return;
      if (next.value.kind === 'data') yield next.value.chunk;
    }
  } finally {
    await events.return(undefined); // closes gunzip and the file, even when the consumer stops early
  }
}

/**
 * The parser: one pass over the gunzipped bytes, yielding entry / data / end events for regular files.
 * Every check lives here so readTarGz and openTarGzEntry refuse exactly the same archives.
 */
async function* tarEvents(path: string, limits: ReadLimits): AsyncGenerator<TarEvent> {
  const gunzip = zlib().createGunzip({ chunkSize: 64 * 1024 });
  // Errors of either stream reach us through gunzip's iterator; the callback only stops them escaping.
  pipeline(createReadStream(path), gunzip, () => {});
  const head = Buffer.alloc(BLOCK);
  let headLen = 0;
  let base = 0; // uncompressed bytes before the current chunk
  let left = 0; // content bytes of the current entry still to come
  let pad = 0; // padding bytes after it
  let flowing = false; // whether the current entry's content is reported (false for directories)
  let name = '';
  let endAt = -1; // offset of the first zero block
  let count = 0;
  const seen = new Set<string>();
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const total = base + chunk.length;
      if (total > limits.maxTotalBytes) throw fail(`more than ${limits.maxTotalBytes} bytes uncompressed`);
      if (total > RATIO_FLOOR && total > limits.maxRatio * gunzip.bytesWritten) {
        throw fail(`compression ratio over ${limits.maxRatio}:1 past ${RATIO_FLOOR / MiB} MiB (a gzip bomb?)`);
      }
      let at = 0;
      while (at < chunk.length) {
        if (endAt >= 0) {
          // After the end marker only zero fill may follow (tar pads to its record size).
          const bad = firstNonZero(chunk, at);
          if (bad >= 0) throw fail(`non-zero data after the end-of-archive blocks at byte ${base + bad}`);
          break;
        }
        if (left > 0) {
          const take = Math.min(left, chunk.length - at);
          if (flowing) yield { kind: 'data', chunk: chunk.subarray(at, at + take) };
          left -= take;
          at += take;
          if (left === 0 && flowing) {
            flowing = false;
            yield { kind: 'end' };
          }
          continue;
        }
        if (pad > 0) {
          const take = Math.min(pad, chunk.length - at);
          pad -= take;
          at += take;
          continue;
        }
        const take = Math.min(BLOCK - headLen, chunk.length - at);
        chunk.copy(head, headLen, at, at + take);
        headLen += take;
        at += take;
        if (headLen < BLOCK) continue;
        headLen = 0;
        const offset = base + at - BLOCK;
        if (firstNonZero(head, 0) < 0) {
          endAt = offset;
          continue;
        }
        if (++count > limits.maxEntries) throw fail(`more than ${limits.maxEntries} entries`);
        const header = parseHeader(head, offset, limits);
        name = header.name;
        left = header.size;
        pad = padding(header.size);
        if (header.dir) continue;
        if (seen.has(name)) throw fail(`entry ${quote(name)} appears twice`);
        seen.add(name);
        flowing = true;
        yield { kind: 'entry', name, size: header.size };
        if (left === 0) {
          flowing = false;
          yield { kind: 'end' };
        }
      }
      base = total;
    }
  } catch (err) {
    throw gzipError(err);
  }
  if (endAt < 0) {
    if (left > 0 || pad > 0) throw fail(`tar is truncated (entry ${quote(name)} cut short)`);
    if (headLen > 0) throw fail(`tar is truncated (header at byte ${base - headLen} cut short)`);
    throw fail('tar is truncated (no end-of-archive blocks)');
  }
  if (base - endAt < 2 * BLOCK) throw fail('tar is truncated (one end-of-archive block of two)');
}

function firstNonZero(buf: Buffer, from: number): number {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return i;
  return -1;
}

function gzipError(err: unknown): unknown {
  if (err instanceof BundleFormatError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'Z_BUF_ERROR') return fail('gzip stream is truncated');
  if (message === 'incorrect header check') return fail('not a gzip file');
  if (code.startsWith('Z_')) return fail(`corrupt gzip data (${message})`);
  return err; // fs errors (ENOENT, EACCES) are not about the format
}

function parseHeader(h: Buffer, offset: number, limits: ReadLimits): { name: string; size: number; dir: boolean } {
  const magic = h.toString('latin1', 257, 263);
  const posix = magic === 'ustar\0';
  // GNU tar writes "ustar  \0"; its 345..500 holds atime/ctime, not a prefix.
  if (!posix && magic !== 'ustar ') throw fail(`not a ustar archive (header at byte ${offset})`);
  const stored = readOctal(h, 148, 8);
  if (stored === undefined || !checksums(h).includes(stored)) {
    throw fail(`header checksum mismatch at byte ${offset}`);
  }
  const prefix = posix ? cString(h, 345, 155) : '';
  const name = prefix ? `${prefix}/${cString(h, 0, 100)}` : cString(h, 0, 100);
  const type = String.fromCharCode(h[156]);
  const dir = type === '5';
  if (type !== '0' && type !== '\0' && !dir) {
    const what = TYPE_NAMES[type] ?? 'of an unknown type';
    throw fail(`entry ${quote(name)} is ${what} (type ${quote(type)}); only regular files and directories are allowed`);
  }
  const problem = nameProblem(name, dir);
  if (problem) throw fail(`entry ${quote(name)} ${problem}`);
  const size = readSize(h, offset);
  if (size > limits.maxTotalBytes) {
    const shown = Number.isSafeInteger(size) ? String(size) : 'over 2^53';
    throw fail(`entry ${quote(name)} declares ${shown} bytes, over the ${limits.maxTotalBytes}-byte total limit`);
  }
  return { name, size, dir };
}

/** A field's text up to its trailing NULs; an inner NUL stays in, for nameProblem() to refuse. */
function cString(h: Buffer, offset: number, length: number): string {
  let end = offset + length;
  while (end > offset && h[end - 1] === 0) end--;
  return h.toString('utf8', offset, end);
}

/**
 * GNU base-256 sizes (high bit set; GNU tar uses them from 8 GiB) are accepted so a big heap
 * snapshot repacked by GNU tar still opens; the total limit then bounds them like any size.
 * Negative ones (0xff lead byte) and any other lead byte are refused.
 */
function readSize(h: Buffer, offset: number): number {
  if (h[124] & 0x80) {
    if (h[124] !== 0x80) throw fail(`negative or invalid base-256 size in header at byte ${offset}`);
    let value = 0;
    for (let i = 125; i < 136; i++) value = value * 256 + h[i];
    return value;
  }
  const value = readOctal(h, 124, 12);
  if (value === undefined) throw fail(`invalid size field in header at byte ${offset}`);
  return value;
}

/** Octal digits, optionally after spaces, ended by NUL or space; undefined if anything else. */
function readOctal(h: Buffer, offset: number, length: number): number | undefined {
  const end = offset + length;
  let i = offset;
  while (i < end && h[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end && h[i] >= 0x30 && h[i] <= 0x37; i++, digits++) value = value * 8 + (h[i] - 0x30);
  for (; i < end; i++) if (h[i] !== 0 && h[i] !== 0x20) return undefined;
  return digits > 0 ? value : undefined;
}
