import { spawn, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_NAME_RE } from '../src/bundle/names';

/** Repository root, from dist/test/ or test/ (tsx). */
export const ROOT = join(__dirname, __dirname.includes(`${join('dist', 'test')}`) ? '../..' : '..');
export const HOOK = join(ROOT, 'dist', 'src', 'hook', 'index.js');
export const CLI = join(ROOT, 'bin', 'autopsy-ts.js');
export const SCENARIOS = join(ROOT, 'test', 'scenarios');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  hook?: boolean;
  nodeArgs?: string[];
  args?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Called once the child's stdout contains this text. */
  onOutput?: { text: string; then: (pid: number, stdout: string) => void };
}

/** A clean environment for children: no inherited NODE_OPTIONS or AUTOPSY_* settings. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AUTOPSY_') && k !== 'NODE_OPTIONS' && !k.startsWith('NODE_TEST')) env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]; else env[k] = v;
  return env;
}

export function runNode(script: string, opts: RunOptions = {}): Promise<RunResult> {
  const args = [...(opts.hook ? ['--require', HOOK] : []), ...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])];
  return run(process.execPath, args, opts);
}

export function runCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], opts);
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] };
    const child = spawn(cmd, args, spawnOpts);
    let stdout = '';
    let stderr = '';
    let fired = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${cmd} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (opts.onOutput && !fired && stdout.includes(opts.onOutput.text)) {
        fired = true;
        opts.onOutput.then(child.pid!, stdout);
      }
    });
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function tempDir(prefix = 'autopsy-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function bundlesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => BUNDLE_NAME_RE.test(n)).sort().map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** stderr without the hook's own lines: what Node itself printed. */
export function nodeStderr(stderr: string): string {
  return stderr.split('\n').filter((l) => !l.startsWith('autopsy-ts: ')).join('\n');
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
