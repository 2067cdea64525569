import { createTarGz, writeTarGzStreaming } from './tar';
import { ENTRY, type FileEntry, type Manifest } from './types';

export interface BundleFile {
  name: string;
  data: Buffer;
}

/**
 * Assembles a bundle in memory, synchronously: manifest.json first (so a reader finds it at once),
 * listing size and sha256 of every other entry.
 */
export function assembleBundle(manifest: Omit<Manifest, 'files'>, files: BundleFile[]): { tgz: Buffer; manifest: Manifest } {
  const entries: FileEntry[] = files.map((f) => ({
    name: f.name,
    size: f.data.length,
    sha256: createHash('sha256').update(f.data).digest('hex'),
  }));
  const full: Manifest = { ...manifest, files: entries };
  const manifestData = Buffer.from(JSON.stringify(full, null, 2) + '\n');
  const tgz = createTarGz([{ name: ENTRY.manifest, data: manifestData }, ...files.map((f) => ({ name: f.name, data: f.data }))]);
  return { tgz, manifest: full };
}

/**
 * assembleBundle with one more entry streamed from a file (an embedded core: gigabytes), written to
 * `out`. The caller hashed the file while writing it: its size and sha256 go into the manifest.
 */
export async function writeBundleWithStreamedEntry(
  out: string,
  manifest: Omit<Manifest, 'files'>,
  files: BundleFile[],
  big: { name: string; path: string; size: number; sha256: string },
): Promise<Manifest> {
  const entries: FileEntry[] = files.map((f) => ({ name: f.name, size: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') }));
  entries.push({ name: big.name, size: big.size, sha256: big.sha256 });
  const full: Manifest = { ...manifest, files: entries };
  const manifestData = Buffer.from(JSON.stringify(full, null, 2) + '\n');
  await writeTarGzStreaming(out, [{ name: ENTRY.manifest, data: manifestData }, ...files], big);
  return full;
}

/** node:crypto loads with the first bundle (see tar.ts). */
function createHash(algorithm: string): import('node:crypto').Hash {
  return (require('node:crypto') as typeof import('node:crypto')).createHash(algorithm);
}
