import { statSync } from 'node:fs';
import { BundleFormatError, readTarGz, type TarEntry } from './tar';
import { ENTRY, FORMAT_NAME, FORMAT_VERSION, RESERVED_ENTRIES, RESERVED_PREFIXES, type ErrorRecord, type Frame, type Manifest, type SourceExcerpt, type TimelineEvent } from './types';

export { BundleFormatError };

/** JSON entries are read into memory; anything bigger than this is refused. */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export interface Bundle {
  path: string;
  manifest: Manifest;
  entries: Map<string, TarEntry>;
  /** Parsed JSON entries, by name (only the ones this reader knows). */
  json: Map<string, unknown>;
}

export interface Integrity {
  ok: boolean;
  problems: string[];
}

function parseStrict(name: string, data: Buffer): unknown {
  const text = data.toString('utf8');
  if (text.includes('\ufffd') && !Buffer.from(text, 'utf8').equals(data)) throw new BundleFormatError(`bad bundle: ${name} is not valid UTF-8`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BundleFormatError(`bad bundle: ${name} is not valid JSON (${(err as Error).message.split('\n')[0].slice(0, 120)})`);
  }
}

export function isKnownEntry(name: string): boolean {
  return (Object.values(ENTRY) as string[]).includes(name) || RESERVED_ENTRIES.includes(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * Opens a bundle for reading: the archive is parsed with the hostile-input limits of tar.ts,
 * JSON entries are parsed strictly, and the manifest must name format v1 (or an older minor).
 */
export async function readBundle(path: string): Promise<Bundle> {
  statFile(path);
  const list = await readTarGz(path, { load: (name) => name.endsWith('.json') && !name.includes('/'), limits: { maxLoadBytes: MAX_JSON_BYTES } });
  return bundleOf(path, list);
}

function statFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new BundleFormatError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (!st.isFile()) throw new BundleFormatError(`${path} is not a file`);
}

/** The bundle an archive's entries make, with the manifest's checks. */
function bundleOf(path: string, list: TarEntry[]): Bundle {
  const entries = new Map(list.map((e) => [e.name, e]));
  const m = entries.get(ENTRY.manifest);
  if (!m || !m.data) throw new BundleFormatError(`bad bundle: ${path} has no manifest.json (is it an autopsy-ts bundle?)`);
  const manifest = parseStrict(ENTRY.manifest, m.data) as Manifest;
  if (!manifest || typeof manifest !== 'object' || manifest.format !== FORMAT_NAME) throw new BundleFormatError(`bad bundle: manifest.json does not describe an ${FORMAT_NAME}`);
  if (typeof manifest.formatVersion !== 'number' || manifest.formatVersion > FORMAT_VERSION) {
    throw new BundleFormatError(`bundle format version ${String(manifest.formatVersion).slice(0, 20)} is newer than this autopsy-ts reads (${FORMAT_VERSION}); upgrade autopsy-ts`);
  }
  if (!Array.isArray(manifest.files)) throw new BundleFormatError('bad bundle: manifest.json has no file list');
  const json = new Map<string, unknown>();
  for (const e of list) {
    if (e.name === ENTRY.manifest || !e.data) continue;
    json.set(e.name, parseStrict(e.name, e.data));
  }
  return { path, manifest, entries, json };
}

/**
 * The manifest and the JSON entries, read from the front of the archive: the read stops at the first
 * entry after them (heap snapshots come last), so a bundle holding a 1 GB snapshot reads as fast as
 * one without. Entries not read are listed as the manifest gives them (size, sha256): `verify` and
 * readBundle() check the whole archive. For `open`, `summary`, `ls` and `timeline`.
 */
export async function readBundleHead(path: string): Promise<Bundle> {
  statFile(path);
  let listed: Set<string> | undefined;
  const isJson = (name: string) => name.endsWith('.json') && !name.includes('/');
  const list = await readTarGz(path, {
    load: isJson,
    limits: { maxLoadBytes: MAX_JSON_BYTES },
    stopBefore: (name, read) => {
      if (!listed) {
        const m = read.find((e) => e.name === ENTRY.manifest);
        if (!m?.data) return false;
        let files: unknown;
        try {
          files = (JSON.parse(m.data.toString('utf8')) as Manifest).files;
        } catch {
          return false; // bundleOf() names the problem
        }
        // A manifest that lists nothing (made by hand) or something odd: read everything.
        if (!Array.isArray(files) || !files.length) return false;
        listed = new Set(files.map((f: { name?: unknown }) => String(f?.name)).filter(isJson));
      }
      if (isJson(name)) return false;
      return [...listed].every((n) => read.some((e) => e.name === n));
    },
  });
  const b = bundleOf(path, list);
  for (const f of b.manifest.files) {
    if (f && typeof f.name === 'string' && !b.entries.has(f.name)) b.entries.set(f.name, { name: f.name, size: Number(f.size) || 0, sha256: String(f.sha256 ?? '') });
  }
  return b;
}

/** Checks every file the manifest lists against the archive, and the archive against the manifest. */
export function checkIntegrity(b: Bundle): Integrity {
  const problems: string[] = [];
  const listed = new Set<string>();
  for (const f of b.manifest.files) {
    if (!f || typeof f.name !== 'string') {
      problems.push('manifest lists a file without a name');
      continue;
    }
    listed.add(f.name);
    const e = b.entries.get(f.name);
    if (!e) problems.push(`${f.name}: listed in the manifest but missing from the archive`);
    else if (e.size !== f.size) problems.push(`${f.name}: size ${e.size} differs from the manifest's ${f.size}`);
    else if (e.sha256 !== f.sha256) problems.push(`${f.name}: sha256 differs from the manifest (the file was changed or corrupted)`);
  }
  for (const name of b.entries.keys()) {
    if (name !== ENTRY.manifest && !listed.has(name)) problems.push(`${name}: in the archive but not listed in the manifest`);
  }
  return { ok: problems.length === 0, problems };
}

export function bundleError(b: Bundle): ErrorRecord | undefined {
  return b.json.get(ENTRY.error) as ErrorRecord | undefined;
}

export function bundleStack(b: Bundle): Frame[] | undefined {
  const s = b.json.get(ENTRY.stack) as { frames?: Frame[] } | undefined;
  return Array.isArray(s?.frames) ? s.frames : undefined;
}

export function bundleTimeline(b: Bundle): TimelineEvent[] {
  const t = b.json.get(ENTRY.timeline) as { events?: TimelineEvent[] } | TimelineEvent[] | undefined;
  const list = Array.isArray(t) ? t : Array.isArray(t?.events) ? t.events : [];
  // A hostile or damaged bundle may hold anything here: keep only well-formed events.
  return list.filter((e): e is TimelineEvent => !!e && typeof e === 'object' && typeof e.kind === 'string' && typeof e.time === 'number');
}

export function bundleExcerpts(b: Bundle): SourceExcerpt[] {
  const s = b.json.get(ENTRY.sources) as { excerpts?: SourceExcerpt[] } | undefined;
  return Array.isArray(s?.excerpts) ? s.excerpts : [];
}
