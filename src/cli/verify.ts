import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkIntegrity, readBundle } from '../bundle/reader';
import { checkSchema } from '../bundle/schema-check';
import { ENTRY } from '../bundle/types';

let schema: Record<string, unknown> | undefined;

/** docs/bundle-schema.json ships with the package: the same file the docs describe. */
export function bundleSchema(): Record<string, unknown> {
  schema ??= JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'docs', 'bundle-schema.json'), 'utf8')) as Record<string, unknown>;
  return schema;
}

export interface VerifyResult {
  file: string;
  ok: boolean;
  formatVersion?: number;
  files?: number;
  problems: string[];
}

/** Checksums of every entry, the manifest's schema, and the schema of the JSON entries v1 defines. */
export async function verifyBundle(path: string): Promise<VerifyResult> {
  const b = await readBundle(path);
  const { problems } = checkIntegrity(b);
  const s = bundleSchema();
  const defs = (s.$defs ?? {}) as Record<string, unknown>;
  problems.push(...checkSchema(s, b.manifest).map((p) => `manifest.json: ${p}`));
  const perEntry: [string, string][] = [
    [ENTRY.error, 'errorRecord'],
    [ENTRY.stack, 'stackEntry'],
    [ENTRY.timeline, 'timelineEntry'],
    [ENTRY.sources, 'sourcesEntry'],
    ['core.json', 'coreEntry'],
    ['stdio.json', 'stdioEntry'],
    ['leak.json', 'leakEntry'],
  ];
  for (const [name, def] of perEntry) {
    const value = b.json.get(name);
    if (value === undefined || !defs[def]) continue;
    problems.push(...checkSchema({ $defs: defs, $ref: `#/$defs/${def}` }, value).map((p) => `${name}: ${p}`));
  }
  return { file: path, ok: problems.length === 0, formatVersion: b.manifest.formatVersion, files: b.entries.size, problems };
}
