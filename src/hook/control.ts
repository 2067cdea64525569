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
  /** Worth knowing, not a failure: the watchdog answered because the main thread is blocked. */
  note?: string;
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

/**
 * Takes (claims, reads and removes) the pending requests for this process. A request is claimed by
 * renaming it, so that the main thread and the watchdog thread (which answers while the main thread
 * is blocked) never both answer one.
 */
export function takeRequests(): DumpRequest[] {
  const dir = runDir();
  const prefix = `${process.pid}.req-`;
  const out: DumpRequest[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith('.json')) continue;
    const path = join(dir, name);
    const claimed = `${path}.taken-${threadTag()}`;
    try {
      renameSync(path, claimed);
    } catch {
      continue; // taken by the other thread, or by a concurrent signal
    }
    try {
      const req = JSON.parse(readFileSync(claimed, 'utf8'));
      if (req && typeof req.id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(req.id)) out.push({ id: req.id, heap: req.heap === true, core: req.core === true || req.embedCore === true, embedCore: req.embedCore === true });
    } catch {
      // not JSON: dropped
    } finally {
      try {
        unlinkSync(claimed);
      } catch {}
    }
  }
  return out;
}

/** Whether a request for this process is waiting (cheap: one readdir of the run folder). */
export function hasRequests(): boolean {
  const prefix = `${process.pid}.req-`;
  return readdirSync(runDir()).some((n) => n.startsWith(prefix) && n.endsWith('.json'));
}

function threadTag(): string {
  try {
    return String((require('./thread') as typeof import('./thread')).threadId());
  } catch {
    return '0';
  }
}

export function reply(id: string, value: DumpReply): void {
  writeJsonAtomic(replyPath(runDir(), process.pid, id), value);
}

/** The manifest's reference to a core beside the bundle (core.json has the full record). */
export function coreRef(core: import('./core').CoreOutcome): Record<string, unknown> {
  if ('skipped' in core) return { skipped: core.skipped };
  const { path, size, sha256, nodeBuildId, embedded } = core.record;
  return { path, size, sha256, nodeBuildId, ...(embedded && 'entry' in embedded ? { embedded: embedded.entry } : {}) };
}
