import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package root: dist/src/hook/ is three levels below it. */
export const HOOK_ROOT = join(__dirname, '..', '..', '..');
let version: string | undefined;

export function getHookVersion(): string {
  if (version === undefined) {
    try {
      version = String(JSON.parse(readFileSync(join(HOOK_ROOT, 'package.json'), 'utf8')).version);
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
