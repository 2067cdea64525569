import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BUNDLE_NAME_RE } from '../bundle/names';
import { safeLine } from './sanitize';

const ROOT = join(__dirname, '..', '..', '..');

export const EXAMPLES = [
  { name: 'lost-connection', what: 'an unhandled rejection: an AggregateError of refused connections' },
  { name: 'invoice-crash', what: 'an uncaught exception with a cause chain, in TypeScript (source-mapped)' },
];

/**
 * Runs each example under the hook, for real: each crashes as it would without us, and leaves a
 * bundle in `dir`. Returns the newest bundle's path.
 */
export function runDemo(dir: string, log: (line: string) => void): string | undefined {
  const hook = join(ROOT, 'dist', 'src', 'hook', 'index.js');
  for (const ex of EXAMPLES) {
    const script = join(ROOT, 'dist', 'examples', `${ex.name}.js`);
    log(`running examples/${ex.name}.ts: ${ex.what}`);
    const r = spawnSync(process.execPath, ['--require', hook, script], {
      cwd: ROOT,
      env: { ...process.env, AUTOPSY_DIR: dir, DEMO_DB_PASSWORD: 'hunter2-demo-secret', NODE_OPTIONS: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const wrote = (r.stderr ?? '').split('\n').find((l) => l.startsWith('autopsy-ts: wrote '));
    log(`  exited with code ${r.status ?? r.signal}; ${wrote ? safeLine(wrote.slice('autopsy-ts: '.length)) : 'no bundle written'}`);
  }
  const newest = readdirSync(dir).filter((n) => BUNDLE_NAME_RE.test(n)).sort().pop();
  return newest ? resolve(dir, newest) : undefined;
}
