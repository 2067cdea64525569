/**
 * Node's diagnostic report, cut into the sections the Report view lists. The report of a bundle is
 * redacted by the hook; a report opened directly is not, so environment values whose names look
 * secret are hidden here too.
 */
import { looksSecret, REDACTED } from '../bundle/redact';
import { bytes } from './format';

export interface Section {
  title: string;
  lines: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function pairs(o: unknown, keys: string[], fmt: Record<string, (v: unknown) => string> = {}): string[] {
  if (!isObj(o)) return [];
  return keys.filter((k) => o[k] !== undefined).map((k) => `${k}: ${(fmt[k] ?? text)(o[k])}`);
}

function handleLine(h: Obj): string {
  const flags = `${h.is_active ? 'active' : 'inactive'}${h.is_referenced === false ? ', unref' : ''}`;
  const ep = (e: unknown) => (isObj(e) ? `${text(e.host)}:${text(e.port)}` : '');
  const detail = [
    h.localEndpoint ? `local ${ep(h.localEndpoint)}` : '',
    h.remoteEndpoint ? `remote ${ep(h.remoteEndpoint)}` : '',
    h.filename ? `file ${text(h.filename)}` : '',
    h.signal ? `signal ${text(h.signal)}` : '',
    h.timeout !== undefined ? `timeout ${text(h.timeout)} ms` : '',
    h.fd !== undefined ? `fd ${text(h.fd)}` : '',
  ].filter(Boolean).join(', ');
  return `${text(h.type).padEnd(10)} ${flags}${detail ? `  ${detail}` : ''}`;
}

export function reportSections(r: Obj | undefined): Section[] {
  if (!isObj(r)) return [];
  const out: Section[] = [];
  const h = r.header;
  if (isObj(h)) {
    out.push({
      title: 'Process',
      lines: [
        ...pairs(h, ['event', 'trigger', 'dumpEventTime', 'processId', 'threadId', 'nodejsVersion', 'cwd', 'arch', 'platform', 'osName', 'osRelease', 'host', 'glibcVersionRuntime']),
        ...(Array.isArray(h.commandLine) ? [`commandLine: ${h.commandLine.map(text).join(' ')}`] : []),
        ...(Array.isArray(h.cpus) ? [`cpus: ${h.cpus.length}${isObj(h.cpus[0]) ? ` × ${text(h.cpus[0].model)}` : ''}`] : []),
      ],
    });
  }
  const js = r.javascriptStack;
  if (isObj(js)) {
    out.push({ title: 'JavaScript stack', lines: [text(js.message), ...(Array.isArray(js.stack) ? js.stack.map((l) => `  ${text(l).trim()}`) : [])].filter(Boolean) });
  }
  if (Array.isArray(r.nativeStack) && r.nativeStack.length) {
    out.push({ title: 'Native stack', lines: r.nativeStack.map((f) => (isObj(f) ? `${text(f.pc)} ${text(f.symbol)}` : text(f))) });
  }
  const heap = r.javascriptHeap;
  if (isObj(heap)) {
    const lines = pairs(heap, ['totalMemory', 'usedMemory', 'availableMemory', 'memoryLimit'], { totalMemory: bytes, usedMemory: bytes, availableMemory: bytes, memoryLimit: bytes });
    if (isObj(heap.heapSpaces)) {
      for (const [name, sp] of Object.entries(heap.heapSpaces)) if (isObj(sp)) lines.push(`  ${name.padEnd(24)} used ${bytes(sp.used).padStart(9)} of ${bytes(sp.memorySize)}`);
    }
    out.push({ title: 'JavaScript heap', lines });
  }
  const ru = r.resourceUsage;
  if (isObj(ru)) {
    out.push({
      title: 'Resource usage',
      lines: pairs(ru, ['rss', 'maxRss', 'free_memory', 'total_memory', 'constrained_memory', 'available_memory', 'userCpuSeconds', 'kernelCpuSeconds', 'cpuConsumptionPercent', 'pageFaults', 'fsActivity'], {
        rss: bytes, free_memory: bytes, total_memory: bytes, constrained_memory: bytes, available_memory: bytes,
        maxRss: (v) => (typeof v === 'number' ? bytes(v * 1024) : text(v)),
      }),
    });
  }
  if (Array.isArray(r.libuv)) {
    const handles = r.libuv.filter(isObj);
    const byType = new Map<string, number>();
    for (const x of handles) byType.set(text(x.type), (byType.get(text(x.type)) ?? 0) + 1);
    out.push({
      title: `libuv handles (${handles.length})`,
      lines: [[...byType].map(([t, n]) => `${t} ${n}`).join(', '), ...handles.map(handleLine)].filter(Boolean),
    });
  }
  if (Array.isArray(r.workers) && r.workers.length) out.push({ title: `Workers (${r.workers.length})`, lines: r.workers.map((w) => (isObj(w) && isObj(w.header) ? `thread ${text(w.header.threadId)}` : 'worker')) });
  if (isObj(r.environmentVariables)) {
    const env = r.environmentVariables;
    out.push({
      title: 'Environment (redacted)',
      lines: Object.keys(env).sort().map((k) => `${k}=${looksSecret(k) ? REDACTED : text(env[k])}`),
    });
  }
  if (isObj(r.userLimits)) {
    out.push({ title: 'User limits', lines: Object.entries(r.userLimits).map(([k, v]) => `${k}: ${isObj(v) ? `soft ${text(v.soft)}, hard ${text(v.hard)}` : text(v)}`) });
  }
  if (Array.isArray(r.sharedObjects)) out.push({ title: `Shared objects (${r.sharedObjects.length})`, lines: r.sharedObjects.map(text) });
  return out;
}

/** Flattened for the view's list: a header row per section, then its lines indented. */
export function reportRows(sections: Section[]): { text: string; header: boolean }[] {
  const rows: { text: string; header: boolean }[] = [];
  for (const s of sections) {
    rows.push({ text: s.title, header: true });
    for (const l of s.lines) rows.push({ text: `  ${l}`, header: false });
  }
  return rows;
}
