import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { registrationPath, replyPath, requestPath, runDir, writeJsonAtomic, type DumpReply, type Registration } from '../hook/control';
import { CliError } from './errors';

export interface DumpOptions {
  heap?: boolean;
  core?: boolean;
  embedCore?: boolean;
  timeoutMs: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Start time of a live process in ms since the epoch, from /proc (Linux), or undefined. */
function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]);
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const hz = 100; // USER_HZ is 100 on every Linux that Node supports
    return Date.now() - (uptime - startTicks / hz) * 1000;
  } catch {
    return undefined;
  }
}

/**
 * Asks a hooked process for an on-demand bundle and waits until it is complete.
 * Refuses, without sending anything, when the process has no hook registration: the signal
 * would otherwise kill it.
 */
export interface DumpResult {
  path: string;
  core?: string;
  warning?: string;
  note?: string;
}

export async function dump(pid: number, opts: DumpOptions): Promise<DumpResult> {
  if (!alive(pid)) throw new CliError(`no process with pid ${pid}`);
  const dir = runDir();
  let reg: Registration;
  try {
    reg = JSON.parse(readFileSync(registrationPath(dir, pid), 'utf8')) as Registration;
  } catch {
    throw new CliError(`pid ${pid} has no autopsy-ts hook (nothing registered in ${dir}); start it with: node --require autopsy-ts/hook ...`);
  }
  const started = processStart(pid);
  if (started !== undefined && typeof reg.startedAt === 'number' && Math.abs(started - reg.startedAt) > 5000) {
    throw new CliError(`pid ${pid} has no autopsy-ts hook (its registration belongs to an earlier process with the same pid)`);
  }
  const id = randomBytes(6).toString('hex');
  const req = requestPath(dir, pid, id);
  const rep = replyPath(dir, pid, id);
  writeJsonAtomic(req, { id, heap: !!opts.heap, core: !!opts.core || !!opts.embedCore, embedCore: !!opts.embedCore });
  try {
    process.kill(pid, reg.signal as NodeJS.Signals);
  } catch (err) {
    unlinkQuiet(req);
    throw new CliError(`cannot signal pid ${pid}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(rep)) {
      let answer: DumpReply;
      try {
        answer = JSON.parse(readFileSync(rep, 'utf8')) as DumpReply;
      } catch {
        await sleep(20);
        continue;
      }
      unlinkQuiet(rep);
      if (answer.ok && answer.path) return { path: answer.path, core: answer.core, warning: answer.warning, note: answer.note };
      throw new CliError(`pid ${pid} did not write a bundle: ${answer.error ?? 'no reason given'}`);
    }
    if (!alive(pid)) {
      unlinkQuiet(req);
      throw new CliError(`pid ${pid} exited before answering`);
    }
    await sleep(25);
  }
  unlinkQuiet(req);
  throw new CliError(`pid ${pid} did not answer within ${Math.round(opts.timeoutMs / 1000)} s: its event loop may be blocked, with the hang watchdog that answers for a blocked loop turned off (AUTOPSY_HANG_MS=0) or not started yet (it starts on the first turn of the loop)`);
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}
