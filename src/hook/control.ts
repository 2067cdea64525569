import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userTempDir } from './bundle-dir';

/**
 * The on-demand protocol between `autopsy-ts dump PID` and the hook, through a private per-user
 * run folder (0700) under the temp dir:
 *   <pid>.json              the hook's registration: which signal it listens on (written once, removed at exit)
 *   <pid>.req-<id>.json     a request from dump: {id, heap, core, embedCore}
 *   <pid>.reply-<id>.json   the hook's answer: {ok, path} or {ok: false, error}
 * A registration is what tells dump that the process has a hook, so dump never sends a signal
 * that would kill a process without one.
 */
export interface Registration {
  pid: number;
  signal: string;
  hookVersion: string;
  /** ms since the epoch at which the process started, to tell a recycled pid. */
  startedAt: number;
  node: string;
}

export interface DumpRequest {
  id: string;
  heap?: boolean;
  core?: boolean;
  /** The core also goes into the bundle, gzip-compressed (dump --embed-core). */
  embedCore?: boolean;
}

export interface DumpReply {
  ok: boolean;
  path?: string;
  /** The core written beside the bundle (dump --core). */
  core?: string;
  error?: string;
  /** Something asked for that the bundle does not have (a heap snapshot refused for lack of headroom). */
  warning?: string;
}

export function runDir(): string {
  return userTempDir('run');
}

export function registrationPath(dir: string, pid: number): string {
  return join(dir, `${pid}.json`);
}

export function requestPath(dir: string, pid: number, id: string): string {
  return join(dir, `${pid}.req-${id}.json`);
}

export function replyPath(dir: string, pid: number, id: string): string {
  return join(dir, `${pid}.reply-${id}.json`);
}

/** Writes a small JSON file atomically (tmp + rename), so a reader never sees half of it. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
  renameSync(tmp, path);
}

export function register(signal: string, hookVersion: string): string {
  const dir = runDir();
  const path = registrationPath(dir, process.pid);
  const reg: Registration = {
    pid: process.pid,
    signal,
    hookVersion,
    startedAt: Math.round(Date.now() - process.uptime() * 1000),
    node: process.version,
  };
  writeJsonAtomic(path, reg);
  pruneStale(dir);
  return path;
}

/** Registrations and requests left by processes that died without an exit handler (SIGKILL, OOM). */
function pruneStale(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = /^(\d+)\./.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
        try {
          unlinkSync(join(dir, name));
        } catch {}
      }
    }
  }
}

/** Takes (reads and removes) the pending requests for this process. */
export function takeRequests(): DumpRequest[] {
  const dir = runDir();
  const prefix = `${process.pid}.req-`;
  const out: DumpRequest[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.json')) continue;
    const path = join(dir, name);
    try {
      const req = JSON.parse(readFileSync(path, 'utf8'));
      unlinkSync(path);
      if (req && typeof req.id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(req.id)) out.push({ id: req.id, heap: req.heap === true, core: req.core === true || req.embedCore === true, embedCore: req.embedCore === true });
    } catch {
      // half-written or already taken by a concurrent signal
    }
  }
  return out;
}

export function reply(id: string, value: DumpReply): void {
  writeJsonAtomic(replyPath(runDir(), process.pid, id), value);
}
