/**
 * Maps executed (generated) frame positions back to the original sources, inside the crashing process.
 * Synchronous (source-map 0.6 is pinned for its synchronous consumer), bounded in file sizes, number
 * of cached maps and time, and never throws: each failure is one line in `warnings`.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, isAbsolute, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawSourceMap, SourceMapConsumer } from 'source-map';
import type { Frame } from '../bundle/types';
import { classifyOrigin } from '../stack/parse-stack';

/** source-map loads only when a file really has a map: most crashes need none of it. */
function sourceMapLib(): typeof import('source-map') {
  return require('source-map') as typeof import('source-map');
}

export const LIMITS = {
  /** Generated files larger than this are not searched for a sourceMappingURL comment. */
  maxGeneratedBytes: 32 * 1024 * 1024,
  /** Bytes read from the end of a generated file to find the comment. */
  tailBytes: 64 * 1024,
  /** Source maps (file or decoded inline) larger than this are skipped. */
  maxMapBytes: 64 * 1024 * 1024,
  /** Generated files whose map stays loaded. */
  cacheFiles: 50,
  /** Total map text kept loaded; older maps are dropped first. */
  cacheBytes: 128 * 1024 * 1024,
  /** Time one mapFrames call may spend before it leaves the remaining frames as they are. */
  budgetMs: 3000,
};

const JS_FILE = /\.(?:[cm]?js|jsx)$/i;
const URL_COMMENT = /^\/\/[#@]\s*sourceMappingURL=(\S+)\s*$/;
const URL_BLOCK_COMMENT = /^\/\*[#@]\s*sourceMappingURL=(\S+?)\s*\*\/\s*$/;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

interface LoadedMap {
  consumer: SourceMapConsumer;
  /** Directory that relative `sources` resolve against: the map file's, or the generated file's for inline maps. */
  dir: string;
  bytes: number;
  /** Set when using the map failed once (bad mappings); the file is then left unmapped. */
  broken?: boolean;
}

/** Generated file → its loaded map, or null when it has none (remembered so it is not searched again). */
const cache = new Map<string, LoadedMap | null>();
/** Original source (as written in frames) → the map that holds it and its name inside that map. */
const sourceIndex = new Map<string, { map: LoadedMap; source: string }>();
let cachedBytes = 0;

export interface ProcessLike {
  execArgv: string[];
  env: NodeJS.ProcessEnv;
  sourceMapsEnabled?: boolean;
}

/**
 * Whether Node itself rewrites stack traces through source maps (`--enable-source-maps`, in argv or
 * NODE_OPTIONS, or `process.setSourceMapsEnabled(true)`). Then `error.stack` is already mapped and
 * must not be mapped again; the caller records this in the bundle.
 */
export function nodeMapsEnabled(proc: ProcessLike = process as ProcessLike): boolean {
  try {
    if (typeof proc.sourceMapsEnabled === 'boolean') return proc.sourceMapsEnabled;
    const flags = [...proc.execArgv, ...(proc.env.NODE_OPTIONS ?? '').split(/\s+/)];
    let on = false;
    for (const f of flags) {
      if (f === '--enable-source-maps') on = true;
      else if (f === '--no-enable-source-maps') on = false;
    }
    return on;
  } catch {
    return false;
  }
}

export interface MapOptions {
  /** Skip mapping because the stack text is already mapped; defaults to nodeMapsEnabled(). */
  alreadyMapped?: boolean;
  budgetMs?: number;
}

/**
 * Returns the frames with file/line/column moved to the original source where a source map says so,
 * keeping the executed position in `generated`. Frames without a map are returned as they were.
 */
export function mapFrames(frames: Frame[], warnings: string[], opts: MapOptions = {}): Frame[] {
  try {
    if (opts.alreadyMapped ?? nodeMapsEnabled()) return frames;
    const deadline = Date.now() + (opts.budgetMs ?? LIMITS.budgetMs);
    const out: Frame[] = [];
    let outOfTime = false;
    for (const frame of frames) {
      if (!outOfTime && Date.now() > deadline) {
        outOfTime = true;
        warnings.push(`source maps: out of time after ${opts.budgetMs ?? LIMITS.budgetMs} ms; later frames left unmapped`);
      }
      out.push(outOfTime ? frame : mapFrame(frame, warnings));
    }
    return out;
  } catch (err) {
    warnings.push(`source maps: ${message(err)}`);
    return frames;
  }
}

function mapFrame(frame: Frame, warnings: string[]): Frame {
  if (frame.generated || frame.line < 1 || !isAbsolute(frame.file) || !JS_FILE.test(frame.file)) return frame;
  if (frame.origin !== undefined && frame.origin !== 'app' && frame.origin !== 'node_modules') return frame;
  const map = mapFor(frame.file, warnings);
  if (!map || map.broken) return frame;
  let pos;
  try {
    // V8 columns are 1-based, source-map's 0-based.
    pos = map.consumer.originalPositionFor({ line: frame.line, column: Math.max(frame.column - 1, 0) });
    // Without a column, take the first mapping on the line rather than none.
    if (pos.source == null && !(frame.column > 0)) {
      pos = map.consumer.originalPositionFor({ line: frame.line, column: 0, bias: sourceMapLib().SourceMapConsumer.LEAST_UPPER_BOUND });
    }
  } catch (err) {
    map.broken = true;
    warnings.push(`source map for ${frame.file}: ${message(err)}`);
    return frame;
  }
  if (!pos || pos.source == null || pos.line == null || pos.line < 1) return frame;
  const file = resolveSource(pos.source, map.dir);
  if (!sourceIndex.has(file)) sourceIndex.set(file, { map, source: pos.source });
  // The map's `name` at a position is the identifier written there (often the callee), not the
  // enclosing function, so it is not used as the frame's function name.
  return {
    ...frame,
    file,
    line: pos.line,
    column: (pos.column ?? 0) + 1,
    generated: { file: frame.file, line: frame.line, column: frame.column },
    origin: classifyOrigin(file),
  };
}

/**
 * The original text of `originalFile` (a file name as mapFrames put it in a frame) from the
 * sourcesContent of a loaded map, when the map carries it.
 */
export function getSourceText(originalFile: string): string | undefined {
  try {
    const hit = sourceIndex.get(originalFile);
    if (!hit) return undefined;
    const text = hit.map.consumer.sourceContentFor(hit.source, true);
    return typeof text === 'string' ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Forgets every loaded map (tests, and callers that want the memory back). */
export function clearSourceMapCache(): void {
  cache.clear();
  sourceIndex.clear();
  cachedBytes = 0;
}

function mapFor(file: string, warnings: string[]): LoadedMap | null {
  if (cache.has(file)) {
    const hit = cache.get(file) ?? null;
    // Refresh its place in the LRU order.
    cache.delete(file);
    cache.set(file, hit);
    return hit;
  }
  let loaded: LoadedMap | null = null;
  try {
    loaded = loadMap(file);
  } catch (err) {
    warnings.push(`source map for ${file}: ${message(err)}`);
  }
  remember(file, loaded);
  return loaded;
}

function remember(file: string, map: LoadedMap | null): void {
  cache.set(file, map);
  if (map) {
    cachedBytes += map.bytes;
    try {
      // `sources` (joined with sourceRoot) exists in 0.6 but is missing from its typings.
      const sources = (map.consumer as unknown as { sources: string[] }).sources;
      for (const s of sources) sourceIndex.set(resolveSource(s, map.dir), { map, source: s });
    } catch {
      // The index only serves excerpts; mapping still works without it.
    }
  }
  for (const [key, old] of cache) {
    if (cache.size <= LIMITS.cacheFiles && cachedBytes <= LIMITS.cacheBytes) break;
    if (key === file) continue;
    cache.delete(key);
    if (old) forget(old);
  }
}

function forget(map: LoadedMap): void {
  cachedBytes -= map.bytes;
  for (const [src, hit] of sourceIndex) if (hit.map === map) sourceIndex.delete(src);
}

/** Finds, reads and parses the map of a generated file; null when the file has no sourceMappingURL. */
function loadMap(file: string): LoadedMap | null {
  const url = findMapUrl(file);
  if (url === undefined) return null;
  let text: string;
  let dir: string;
  if (url.startsWith('data:')) {
    text = decodeDataUrl(url);
    dir = dirname(file);
  } else {
    const mapFile = mapFilePath(url, file);
    const st = statSync(mapFile);
    if (!st.isFile()) throw new Error(`${mapFile} is not a file`);
    if (st.size > LIMITS.maxMapBytes) throw new Error(`${mapFile} is ${st.size} bytes, over the ${LIMITS.maxMapBytes} byte limit`);
    text = readFileSync(mapFile, 'utf8');
    dir = dirname(mapFile);
  }
  const raw = parseMapJson(text);
  const consumer = new (sourceMapLib().SourceMapConsumer)(raw);
  return { consumer, dir, bytes: text.length };
}

/**
 * The URL in the trailing `//# sourceMappingURL=` comment. Only the end of the file is read; when the
 * last line runs past that window it may be a large inline map, and the whole (bounded) file is read.
 */
function findMapUrl(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    if (st.size > LIMITS.maxGeneratedBytes) throw new Error(`${st.size} bytes, over the ${LIMITS.maxGeneratedBytes} byte limit for generated files`);
    const start = Math.max(0, st.size - LIMITS.tailBytes);
    const tail = readRange(fd, start, st.size - start);
    const found = urlFromTail(tail, start === 0);
    if (found !== 'read more') return found;
    const whole = readRange(fd, 0, st.size);
    const again = urlFromTail(whole, true);
    return again === 'read more' ? undefined : again;
  } finally {
    closeSync(fd);
  }
}

function readRange(fd: number, position: number, length: number): string {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.toString('utf8', 0, got);
}

/**
 * Walks the text's lines from the end over blank lines and comments (a sourceURL or debugId comment
 * may follow the map comment) and stops at the first line of code. `complete` says whether the text
 * starts at the beginning of the file; if not, its first line is partial.
 */
export function urlFromTail(text: string, complete: boolean): string | undefined | 'read more' {
  const lines = text.split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (i === 0 && !complete) {
      // A cut line made only of URL/base64 characters may be the end of a long inline map comment.
      return /^[\w+/=:;,.%-]+$/.test(line) ? 'read more' : undefined;
    }
    if (!line) continue;
    const m = URL_COMMENT.exec(line) ?? URL_BLOCK_COMMENT.exec(line);
    if (m) return m[1];
    if (line.startsWith('//')) continue;
    return undefined;
  }
  return undefined;
}

/** `data:[<type>][;charset=...][;base64],<data>` → the map text. */
export function decodeDataUrl(url: string): string {
  const comma = url.indexOf(',');
  if (comma < 0) throw new Error('inline source map: data URL without a comma');
  const meta = url.slice(5, comma).toLowerCase().split(';').map((s) => s.trim());
  const data = url.slice(comma + 1);
  const type = meta[0];
  if (type && type !== 'application/json' && type !== 'text/json' && type !== 'text/plain') {
    throw new Error(`inline source map: unexpected media type ${type.slice(0, 60)}`);
  }
  if (meta.includes('base64')) {
    if (data.length / 4 * 3 > LIMITS.maxMapBytes) throw new Error(`inline source map over the ${LIMITS.maxMapBytes} byte limit`);
    return Buffer.from(data, 'base64').toString('utf8');
  }
  if (data.length > LIMITS.maxMapBytes) throw new Error(`inline source map over the ${LIMITS.maxMapBytes} byte limit`);
  return decodeURIComponent(data);
}

function mapFilePath(url: string, generatedFile: string): string {
  if (url.startsWith('file:')) return fileURLToPath(url);
  if (SCHEME.test(url)) throw new Error(`map at ${url.slice(0, 200)} is not a local file`);
  const bare = url.replace(/[?#].*$/, '');
  let decoded = bare;
  try {
    decoded = decodeURIComponent(bare);
  } catch {}
  return resolve(dirname(generatedFile), decoded);
}

function parseMapJson(text: string): RawSourceMap {
  // Some servers prefix JSON with )]}' against XSSI; the spec allows it.
  const json: unknown = JSON.parse(text.replace(/^\)\]\}'[^\n]*\n/, ''));
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error('not a source map (not a JSON object)');
  const m = json as Record<string, unknown>;
  if (Number(m.version) !== 3) throw new Error(`unsupported source map version ${String(m.version).slice(0, 20)}`);
  if (!Array.isArray(m.sections) && (!Array.isArray(m.sources) || typeof m.mappings !== 'string')) {
    throw new Error('not a source map (no sources/mappings)');
  }
  return json as RawSourceMap;
}

/**
 * A `sources` entry (already joined with sourceRoot by the consumer) as a path: file URLs become
 * paths, relative names resolve against the map's folder, other URLs (webpack://...) stay as they are.
 */
function resolveSource(source: string, dir: string): string {
  if (source.startsWith('file:')) {
    try {
      return fileURLToPath(source);
    } catch {
      return source;
    }
  }
  if (SCHEME.test(source)) return source;
  return isAbsolute(source) ? normalize(source) : resolve(dir, source);
}

function message(err: unknown): string {
  const s = err instanceof Error ? err.message : String(err);
  const line = s.split('\n')[0];
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
