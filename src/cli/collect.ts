import { existsSync } from 'node:fs';
import { collectDir } from '../hook/collect';
import { CliError } from './errors';
import { safeJson, safeLine } from './sanitize';

/** `autopsy-ts collect [dir]`: one line per recorder: the bundle written, or why it was left. */
export function collectCommand(dir: string, opts: { stale?: number; json?: boolean }): string {
  if (!existsSync(dir)) throw new CliError(`no such folder: ${safeLine(dir)}`);
  const results = collectDir(dir, { by: 'cli', staleMs: opts.stale === undefined ? undefined : opts.stale * 1000 });
  if (opts.json) return safeJson(results) + '\n';
  if (!results.length) return `no recorders in ${safeLine(dir)}\n`;
  return (
    results
      .map((r) => (r.bundle ? `${safeLine(r.reason ?? '?').padEnd(12)} ${safeLine(r.bundle)}` : r.error ? `error        ${safeLine(r.recorder)}: ${safeLine(r.error)}` : `left         ${safeLine(r.recorder)}: ${safeLine(r.skipped ?? '')}`))
      .join('\n') + '\n'
  );
}
