import { accessSync, constants, closeSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { BUNDLE_NAME_RE, timeFromName } from '../bundle/names';

/** A per-user folder under the temp dir, refused when someone else owns it or can write into it. */
export function userTempDir(sub: string): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const base = join(tmpdir(), `autopsy-ts-${uid}`);
  ensurePrivateDir(base, true);
  const dir = join(base, sub);
  ensurePrivateDir(dir, true);
  return dir;
}

/**
 * mkdir -p with 0700. With `strict`, an existing folder must be a real directory that we own and
 * that nobody else can write to: /tmp is shared, and a planted symlink must not redirect our files.
 */
function ensurePrivateDir(dir: string, strict: boolean): void {
  makeDirs(dir, 0o700);
  if (!strict) return;
  const st = lstatSync(dir);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} is not a private directory of this user`);
  }
}

/**
 * mkdir -p, bounded. Node's own mkdirSync(dir, {recursive: true}) never returns for a path under
 * /proc (it retries ENOENT for ever), which would hang the process we are supposed to observe.
 */
export function makeDirs(dir: string, mode: number): void {
  const missing: string[] = [];
  let d = resolve(dir);
  for (let i = 0; i < 128; i++) {
    try {
      if (!statSync(d).isDirectory()) throw Object.assign(new Error(`${d} is not a directory`), { code: 'ENOTDIR' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export interface DirChoice {
  dir: string;
  /** Set when the preferred folder could not be used. */
  fellBack?: string;
}

/** The configured or default folder when writable, else the per-user temp folder. */
export function chooseBundleDir(configured: string | undefined, startCwd: string): DirChoice {
  const preferred = configured ?? resolve(startCwd, 'autopsy-bundles');
  let why: string;
  try {
    ensurePrivateDir(preferred, false);
    accessSync(preferred, constants.W_OK);
    return { dir: preferred };
  } catch (err) {
    why = `${preferred} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  return { dir: userTempDir('bundles'), fellBack: why };
}

/** Writes under a temporary name, then renames: a half-written bundle is never visible. */
export function writeAtomically(dir: string, name: string, data: Buffer, beforeRename?: (final: string) => void): string {
  let final = join(dir, name);
  for (let i = 2; existsSync(final) && i < 100; i++) final = join(dir, name.replace(/\.tgz$/, `-${i}.tgz`));
  const tmp = writeTemp(join(dir, `.${name}.${process.pid}.tmp`), data, 'wx');
  beforeRename?.(final);
  renameSync(tmp, final);
  return final;
}

/** Writes all of `data` to a new 0600 file; removes it again when the write fails. */
function writeTemp(tmp: string, data: Buffer, flags: 'w' | 'wx'): string {
  const fd = openSync(tmp, flags, 0o600);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
  closeSync(fd);
  return tmp;
}

/**
 * Writes a new version of an existing bundle: temporary name in the same folder, then rename over it.
 * The temporary name has the thread too: the main thread and the hang watchdog's can rewrite the same
 * bundle at once (a hang that ends with the exit), and must not write into one file.
 */
export function replaceAtomically(path: string, data: Buffer): void {
  const threadId = (require('./thread') as typeof import('./thread')).threadId();
  renameSync(writeTemp(join(dirname(path), `.${basename(path)}.${process.pid}-${threadId}.tmp`), data, 'w'), path);
}

interface Listed {
  name: string;
  size: number;
  time: number;
}

function listBundles(dir: string): Listed[] {
  const out: Listed[] = [];
  for (const name of readdirSync(dir)) {
    if (!BUNDLE_NAME_RE.test(name)) continue;
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) out.push({ name, size: st.size, time: timeFromName(name) ?? st.mtimeMs });
    } catch {
      // removed by another process meanwhile
    }
  }
  return out.sort((a, b) => a.time - b.time || (a.name < b.name ? -1 : 1));
}

/** How many bundles in `dir` were written during the last minute (by the time in their names). */
export function recentCount(dir: string, now: number): number {
  return listBundles(dir).filter((b) => now - b.time < 60_000 && b.time <= now + 5_000).length;
}

/** Removes the oldest bundles until at most maxBundles and maxBytes remain; never `keep`. */
export function enforceRetention(dir: string, maxBundles: number, maxBytes: number, keep: string): string[] {
  const list = listBundles(dir);
  let total = list.reduce((s, b) => s + b.size, 0);
  let count = list.length;
  const removed: string[] = [];
  for (const b of list) {
    if (count <= maxBundles && total <= maxBytes) break;
    if (join(dir, b.name) === keep) continue;
    try {
      unlinkSync(join(dir, b.name));
      removed.push(b.name);
    } catch {
      // another process removed it first
    }
    count--;
    total -= b.size;
  }
  return removed;
}
