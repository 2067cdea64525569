import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BUNDLE_NAME_RE } from '../bundle/names';
import { bundleError, readBundleHead } from '../bundle/reader';
import { CliError } from './errors';

export interface ListedBundle {
  file: string;
  time?: string;
  reason?: string;
  pid?: number;
  size: number;
  error?: string;
  problem?: string;
}

export function defaultBundleDir(): string {
  return resolve(process.env.AUTOPSY_DIR || 'autopsy-bundles');
}

export async function listBundles(dir: string): Promise<ListedBundle[]> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no bundle folder at ${dir}` : `cannot read ${dir}: ${code ?? (err as Error).message}`);
  }
  const out: ListedBundle[] = [];
  for (const name of names.filter((n) => BUNDLE_NAME_RE.test(n)).sort()) {
    const file = join(dir, name);
    let size = 0;
    try {
      size = statSync(file).size;
      const b = await readBundleHead(file);
      const e = bundleError(b);
      out.push({
        file,
        time: b.manifest.time,
        reason: String(b.manifest.reason),
        pid: b.manifest.pid,
        size,
        error: e ? `${e.name}: ${e.message.split('\n')[0]}`.slice(0, 300) : undefined,
      });
    } catch (err) {
      out.push({ file, size, problem: (err as Error).message });
    }
  }
  return out;
}
