import { dirname } from 'node:path';
import { collectDir } from './collect';
import { readConfig } from './config';
import { hookFailure, hookLog } from './log';

/**
 * The start-up collect (install.ts), in a process of its own: a restarted service turns its dead
 * predecessors' recorders into bundles without doing that work on its own heap. Run in-process, one
 * collect left the app's V8 heap 8 MB larger under its later load (docs/performance.md, session 7).
 * argv: the recorder folder. The settings come from the inherited AUTOPSY_* variables.
 */
export function collectAtStartFrom(recorderDir: string, env: NodeJS.ProcessEnv = process.env): void {
  const { config } = readConfig(env, process.cwd());
  for (const r of collectDir(dirname(recorderDir), { by: 'hook', maxBundles: config.maxBundles, maxBytes: config.maxBytes, maxSnapshotBytes: 64 * 1024 ** 2 })) {
    if (r.bundle) hookLog(`collected the recorder of a process that is gone: wrote ${r.bundle} (${r.reason})`);
    else if (r.error) hookLog(`could not collect ${r.recorder}: ${r.error}`);
    else if (r.skipped && /collect$/.test(r.skipped)) hookLog(`left ${r.recorder}: ${r.skipped}`);
  }
}

if (require.main === module) {
  try {
    collectAtStartFrom(process.argv[2]);
  } catch (err) {
    hookFailure('collecting recorders of dead processes', err);
  }
}
