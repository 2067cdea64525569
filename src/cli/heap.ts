import { analyze, type Analysis } from '../heap/analysis';
import { diffSnapshots } from '../heap/diff';
import { leakSuspects } from '../heap/leaks';
import { parseSnapshot } from '../heap/parser';
import { classRetainers, nodeById, retainerPaths, stepLabel, type RetainerPath } from '../heap/retainer-paths';
import { duplicatedStrings } from '../heap/strings';
import { classSummary } from '../heap/summary';
import { holderLocation } from '../bundle/summary';
import { CliError } from './errors';
import { readSourceFile } from './leak-report';
import { safeJson, safeLine } from './sanitize';

export interface HeapOptions {
  diff?: string;
  retainers?: string;
  top: number;
  raw?: boolean;
  strings?: boolean;
  json?: boolean;
}

function progressLine(label: string): (phase: string, done: number) => void {
  let last = '';
  return (phase, done) => {
    const text = phase === 'parse' ? `parsing ${label}: ${Math.floor(done * 100)}%` : `${phase}…`;
    if (text === last) return;
    last = text;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}${phase === 'done' ? '\n' : ''}`);
    else if (phase !== 'parse' || done === 1) process.stderr.write(`${text}\n`);
  };
}

async function load(path: string): Promise<Analysis> {
  const progress = progressLine(safeLine(path, 200));
  const s = await parseSnapshot(path, { progress });
  // One thread: bench/heap.ts measured the worker-thread variant at +9-26 % peak RSS for 3-12 % of time.
  return analyze(s, progress);
}

const MB = 1024 * 1024;
function size(n: number): string {
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  return a >= MB ? `${sign}${(a / MB).toFixed(1)} MB` : a >= 1024 ? `${sign}${(a / 1024).toFixed(1)} KB` : `${sign}${a} B`;
}
function signed(n: number): string {
  return n > 0 ? `+${n.toLocaleString('en-US')}` : n.toLocaleString('en-US');
}

function pathText(p: RetainerPath): string {
  const parts = [`${p.className} @${p.id}`];
  for (const st of p.steps) parts.push(`${stepLabel(st)} in ${st.className} @${st.id}`);
  return parts.map((x) => safeLine(x, 200)).join('\n    ← ');
}

/** `autopsy-ts heap`: class summary, diff, retainers, duplicated strings, for terminals or --json. */
export async function heapCommand(input: string, opts: HeapOptions): Promise<string> {
  const a = await load(input);
  const out: Record<string, unknown> = { snapshot: input, nodes: a.s.nodeCount, edges: a.s.edgeCount };
  const text: string[] = [];

  if (opts.diff) {
    const b = await load(opts.diff);
    const diff = diffSnapshots(a, b);
    const rows = diff.rows.filter((r) => r.countDelta !== 0 || r.sizeDelta !== 0).slice(0, opts.top);
    const suspects = leakSuspects(diff, b, { readSource: readSourceFile });
    Object.assign(out, { after: opts.diff, diff: rows, suspects });
    text.push(`${'Class'.padEnd(40)} ${'Before'.padStart(10)} ${'After'.padStart(10)} ${'# Delta'.padStart(10)} ${'Size delta'.padStart(12)} ${'# New'.padStart(8)}`);
    for (const r of rows) {
      text.push(`${safeLine(r.name, 40).padEnd(40)} ${String(r.countBefore).padStart(10)} ${String(r.countAfter).padStart(10)} ${signed(r.countDelta).padStart(10)} ${size(r.sizeDelta).padStart(12)} ${String(r.newCount).padStart(8)}`);
    }
    for (const sus of suspects) {
      text.push('', `leak suspect: ${safeLine(sus.name, 80)} ${signed(sus.countDelta)} (${size(sus.sizeDelta)})`);
      for (const h of sus.heldBy) {
        // The app's cwd is not known here (a bare snapshot): the path stays absolute.
        const at = holderLocation(h.location);
        text.push(`  ${h.count} held by ${safeLine(h.chain, 300)}`);
        const l = h.location;
        if (l && at) text.push(`    ${safeLine(l.variable, 80)} ${l.of === 'declaration' ? 'declared at' : `is a variable of ${l.function ? `function ${safeLine(l.function, 80)}` : 'the top level'} at`} ${safeLine(at, 300)}`);
      }
    }
  } else if (opts.retainers) {
    const target = opts.retainers;
    if (target.startsWith('@')) {
      const id = Number(target.slice(1));
      const node = Number.isInteger(id) ? nodeById(a, id) : -1;
      if (node < 0) throw new CliError(`no object with id ${safeLine(target, 40)} in ${safeLine(input)}`);
      const paths = retainerPaths(a, node, opts.top > 10 ? 5 : opts.top);
      Object.assign(out, { retainers: paths });
      for (const p of paths) text.push(pathText(p), '');
    } else {
      const groups = classRetainers(a, target);
      if (!groups.length) throw new CliError(`no instances of class ${safeLine(target, 80)} in ${safeLine(input)}`);
      Object.assign(out, { class: target, retainers: groups.slice(0, opts.top) });
      for (const g of groups.slice(0, opts.top)) text.push(`${g.count} held by ${safeLine(g.chain, 300)}`, `    e.g. ${pathText(g.example)}`, '');
    }
  } else {
    const rows = (opts.raw ? classSummary(a.s, a.dom, { raw: true, classes: a.classes, distances: a.distances }) : a.summary).slice(0, opts.top);
    out.classes = rows.map((r) => ({ name: r.name, count: r.count, selfSize: r.selfSize, retainedSize: r.retainedSize, distance: r.distance }));
    text.push(`${'Class'.padEnd(40)} ${'Count'.padStart(10)} ${'Self size'.padStart(12)} ${'Retained'.padStart(12)}`);
    for (const r of rows) text.push(`${safeLine(r.name, 40).padEnd(40)} ${String(r.count).padStart(10)} ${size(r.selfSize).padStart(12)} ${size(r.retainedSize).padStart(12)}`);
  }
  if (opts.strings) {
    const dups = duplicatedStrings(a, opts.top);
    out.duplicatedStrings = dups;
    text.push('', 'Duplicated strings:');
    for (const d of dups) text.push(`  ${String(d.count).padStart(7)} x ${safeLine(JSON.stringify(d.value), 80)} (${size(d.wastedBytes)} wasted)`);
  }
  return opts.json ? safeJson(out) + '\n' : text.join('\n') + '\n';
}
