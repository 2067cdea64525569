/**
 * Decodes what `open` was given into the UI's model, before any terminal state changes: a bundle
 * (.tgz), an unpacked bundle folder, a heap snapshot (.heapsnapshot[.gz]), a diagnostic report
 * (.json) or an ELF core file. Bad input is a one-line BundleFormatError; the heap is parsed later,
 * and the core inspected later, in workers.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { readBundleHead, type Bundle } from '../bundle/reader';
import { summarize } from '../bundle/summary';
import { BundleFormatError, type TarEntry } from '../bundle/tar';
import { FORMAT_NAME, FORMAT_VERSION, type Manifest } from '../bundle/types';
import { ElfError, ET_CORE, readHeaders, withFile } from '../native/elf';
import type { HeapSource, UiModel } from '../tui/model';
import { cleanEvents } from '../tui/timeline-data';
import { safeLine } from './sanitize';

const MAX_JSON_BYTES = 64 * 1024 * 1024;
const HEAP_ENTRY = /^heap\/[^/]+\.heapsnapshot(\.gz)?$/;

function parseJson(name: string, data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new BundleFormatError(`bad input: ${name} is not valid JSON (${(err as Error).message.split('\n')[0].slice(0, 120)})`);
  }
}

function head(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** An unpacked bundle: the same checks as the archive reader, over files on disk. */
function readFolder(dir: string): Bundle {
  const files: string[] = [];
  const walk = (d: string, depth: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && depth < 3) walk(p, depth + 1);
      else if (e.isFile()) files.push(relative(dir, p).split('\\').join('/'));
    }
  };
  walk(dir, 0);
  if (!files.includes('manifest.json')) throw new BundleFormatError(`bad bundle: ${dir} has no manifest.json (is it an unpacked autopsy-ts bundle?)`);
  const entries = new Map<string, TarEntry>();
  const json = new Map<string, unknown>();
  let manifest: Manifest | undefined;
  for (const name of files) {
    const size = statSync(join(dir, name)).size;
    entries.set(name, { name, size, sha256: '' });
    if (!name.endsWith('.json') || name.includes('/')) continue;
    if (size > MAX_JSON_BYTES) throw new BundleFormatError(`bad bundle: ${name} is larger than 64 MiB`);
    const v = parseJson(name, readFileSync(join(dir, name)));
    if (name === 'manifest.json') manifest = v as Manifest;
    else json.set(name, v);
  }
  if (!manifest || typeof manifest !== 'object' || manifest.format !== FORMAT_NAME) throw new BundleFormatError(`bad bundle: manifest.json does not describe an ${FORMAT_NAME}`);
  if (typeof manifest.formatVersion !== 'number' || manifest.formatVersion > FORMAT_VERSION) throw new BundleFormatError(`bundle format version ${String(manifest.formatVersion).slice(0, 20)} is newer than this autopsy-ts reads (${FORMAT_VERSION}); upgrade autopsy-ts`);
  if (!Array.isArray(manifest.files)) manifest.files = [...entries.values()].filter((e) => e.name !== 'manifest.json');
  return { path: dir, manifest, entries, json };
}

function bundleModel(b: Bundle, folder: boolean): UiModel {
  const summary = summarize(b);
  const t = b.json.get('timeline.json') as { events?: unknown } | unknown[] | undefined;
  const events = cleanEvents(Array.isArray(t) ? t : (t as { events?: unknown } | undefined)?.events);
  const names = [...b.entries.keys()].filter((n) => HEAP_ENTRY.test(n));
  const heaps: HeapSource[] = names.map((n) => (folder ? { path: join(b.path, n), label: n } : { path: b.path, entry: n, label: n }));
  const report = b.json.get('report.json');
  return { title: basename(b.path), kind: 'bundle', summary, report: report && typeof report === 'object' ? (report as Record<string, unknown>) : undefined, events, heaps };
}

/** An ELF file: only a core is accepted (its headers are read now, its stacks after the first frame). */
function coreModel(path: string, size: number): UiModel {
  let type: number;
  try {
    type = withFile(path, (read) => readHeaders(read).type);
  } catch (err) {
    if (err instanceof ElfError) throw new BundleFormatError(`${safeLine(path)} is not a core file (${safeLine(err.message)})`);
    throw err;
  }
  if (type !== ET_CORE) throw new BundleFormatError(`${safeLine(path)} is an ELF file but not a core (open takes a core, a bundle, a heap snapshot or a diagnostic report)`);
  return { title: basename(path), kind: 'core', events: [], heaps: [], core: { path, size } };
}

export async function openInput(path: string, diff?: string): Promise<UiModel> {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new BundleFormatError(`cannot read ${safeLine(path)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let model: UiModel;
  if (st.isDirectory()) model = bundleModel(readFolder(path), true);
  else if (!st.isFile()) throw new BundleFormatError(`${safeLine(path)} is not a file`);
  else if (/\.heapsnapshot(\.gz)?$/i.test(path)) model = { title: basename(path), kind: 'snapshot', events: [], heaps: [{ path, label: basename(path) }] };
  else {
    const magic = head(path, 64);
    if (magic[0] === 0x1f && magic[1] === 0x8b) model = bundleModel(await readBundleHead(path), false); // JSON entries from the archive's front: snapshots are not decompressed
    else if (magic.subarray(0, 4).toString('latin1') === '\x7fELF') model = coreModel(path, st.size);
    else if (magic.toString('utf8').trimStart().startsWith('{')) {
      if (/^\s*\{\s*"snapshot"/.test(magic.toString('utf8'))) model = { title: basename(path), kind: 'snapshot', events: [], heaps: [{ path, label: basename(path) }] };
      else {
        if (st.size > MAX_JSON_BYTES) throw new BundleFormatError(`${safeLine(path)} is larger than 64 MiB`);
        const r = parseJson(basename(path), readFileSync(path)) as Record<string, unknown>;
        if (!r || typeof r !== 'object' || !r.header || typeof (r.header as Record<string, unknown>).reportVersion !== 'number') {
          throw new BundleFormatError(`${safeLine(path)} is not a bundle, a heap snapshot, a diagnostic report or a core file`);
        }
        model = { title: basename(path), kind: 'report', report: r, events: [], heaps: [] };
      }
    } else throw new BundleFormatError(`${safeLine(path)} is not a bundle, a heap snapshot, a diagnostic report or a core file`);
  }
  if (diff) {
    if (model.kind === 'core') throw new BundleFormatError('--diff compares heap snapshots; a core has none');
    try {
      statSync(diff);
    } catch {
      throw new BundleFormatError(`cannot read ${safeLine(diff)}: no such file`);
    }
    // The diff compares the first snapshot of the input with the given one, taken later.
    model.heaps = [...model.heaps.slice(0, 1), { path: diff, label: basename(diff) }];
  }
  return model;
}
