import { analyze } from '../heap/analysis';
import { diffSnapshots } from '../heap/diff';
import { leakSuspects } from '../heap/leaks';
import { parseSnapshot } from '../heap/parser';
import { readTarGz } from '../bundle/tar';
import { assembleBundle } from '../bundle/writer';
import type { Manifest } from '../bundle/types';

/**
 * Adds leak.json to a `memory-leak` bundle: the diff of its two snapshots, top growing classes and what
 * holds their new instances. The hook runs this as a separate, low-priority process (src/hook/leak.ts);
 * `autopsy-ts leak-report <bundle>` runs it by hand. Rewrites the bundle atomically.
 */
export const LEAK_A = 'heap/leak-a.heapsnapshot.gz';
export const LEAK_B = 'heap/leak-b.heapsnapshot.gz';

/** At most this much of a script is read to find a declaration's line (locations.ts). */
const MAX_SOURCE_BYTES = 8 * 1024 * 1024;

/**
 * The app's source file, for the line of a holding variable's declaration when the snapshot's copy
 * of the script was cut short. Read only when it is a regular file of a sane size; the locator uses
 * it only if it starts with the snapshot's copy.
 */
export function readSourceFile(file: string): string | undefined {
  const fs = require('node:fs') as typeof import('node:fs');
  try {
    if (!file.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(file)) return undefined;
    const st = fs.statSync(file);
    return st.isFile() && st.size <= MAX_SOURCE_BYTES ? fs.readFileSync(file, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

export async function leakReport(bundle: string, top = 20): Promise<{ suspects: number; tookMs: number }> {
  const t0 = Date.now();
  const before = analyze(await parseSnapshot(bundle, { entry: LEAK_A }));
  const after = analyze(await parseSnapshot(bundle, { entry: LEAK_B }));
  const diff = diffSnapshots(before, after);
  const suspects = leakSuspects(diff, after, { top: 5, readSource: readSourceFile });
  const rows = diff.rows
    .filter((r) => r.countDelta !== 0 || r.sizeDelta !== 0)
    .slice(0, top)
    .map((r) => ({ name: r.name, countBefore: r.countBefore, countAfter: r.countAfter, countDelta: r.countDelta, sizeDelta: r.sizeDelta, newCount: r.newCount }));
  const tookMs = Date.now() - t0;
  const leak = { before: LEAK_A, after: LEAK_B, tookMs, diff: rows, suspects };

  const entries = await readTarGz(bundle, { load: () => true, limits: { maxLoadBytes: 2 ** 32 } });
  const manifestEntry = entries.find((e) => e.name === 'manifest.json');
  if (!manifestEntry?.data) throw new Error(`${bundle} has no manifest.json`);
  const { files: _files, ...manifest } = JSON.parse(manifestEntry.data.toString('utf8')) as Manifest;
  const files = entries.filter((e) => e.name !== 'manifest.json' && e.name !== 'leak.json').map((e) => ({ name: e.name, data: e.data! }));
  // Before the snapshots: `open` reads JSON entries from the front of the archive, and one behind two
  // snapshots could only be reached by decompressing them (seconds for a big heap).
  const firstHeap = files.findIndex((f) => f.name.startsWith('heap/'));
  files.splice(firstHeap < 0 ? files.length : firstHeap, 0, { name: 'leak.json', data: Buffer.from(JSON.stringify(leak, null, 1) + '\n') });
  const { tgz } = assembleBundle(manifest, files);
  const fs = require('node:fs') as typeof import('node:fs');
  const tmp = `${bundle}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, tgz, { mode: 0o600 });
  fs.renameSync(tmp, bundle);
  return { suspects: suspects.length, tookMs };
}

if (require.main === module) {
  // Run by the hook: bounded in time, one line on stderr when it fails.
  const timer = setTimeout(() => {
    process.stderr.write('autopsy-ts: leak report: gave up after 10 minutes\n');
    process.exit(1);
  }, 10 * 60_000);
  timer.unref();
  // --wait: started by the hook just before the bundle is renamed into place; wait up to a minute for it.
  const bundle = process.argv[2];
  const waitFor = async (): Promise<void> => {
    if (process.argv[3] !== '--wait') return;
    const { existsSync } = require('node:fs') as typeof import('node:fs');
    for (let i = 0; i < 600 && !existsSync(bundle); i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(bundle)) throw new Error('the bundle never appeared');
  };
  waitFor().then(() => leakReport(bundle)).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`autopsy-ts: leak report for ${process.argv[2]} failed: ${String((err as Error).message).split('\n')[0]}\n`);
      process.exit(1);
    },
  );
}
