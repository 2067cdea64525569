import { createHash } from 'node:crypto';
import { createTarGz } from './tar';
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
