/** View 1: what happened. Headline, findings, the error chain's heads, process facts. */
import { useMemo, useSyncExternalStore } from 'react';
import type { ErrorRecord } from '../bundle/types';
import { coreOverviewRows } from './core-rows';
import type { CoreState } from './core-session';
import { findings } from './findings';
import { filterIndices } from './filter';
import { bytes, count } from './format';
import type { HeapState } from './heap-session';
import { inkApi } from './ink-runtime';
import { ListWindow, progressBar, type RowStyle } from './list';
import type { HeapFacts } from './model';
import { useList } from './use-list';
import { useViewKeys } from './view-keys';
import type { ViewProps } from './view-props';

const IDLE: HeapState = { status: 'idle' };
const CORE_IDLE: CoreState = { status: 'idle' };
const noop = () => () => {};

function errorHeads(e: ErrorRecord | undefined, out: string[], depth = 0): void {
  if (!e || depth > 8) return;
  out.push(`${depth ? '  caused by ' : ''}${e.kind === 'value' ? 'thrown ' : ''}${e.name}: ${String(e.message ?? '').split('\n')[0]}${e.code !== undefined ? ` [${e.code}]` : ''}`);
  for (const sub of e.errors?.slice(0, 5) ?? []) errorHeads(sub, out, depth + 1);
  errorHeads(e.cause, out, depth + 1);
}

export function heapFacts(st: HeapState): HeapFacts | undefined {
  const r = st.ready;
  if (!r) return undefined;
  const top = r.classes[0];
  return { nodes: r.nodes, totalSize: r.totalSize, top: top && { name: top.name, retainedSize: top.retainedSize, count: top.count }, diff: r.diff && { sizeDelta: r.diff.sizeDelta, suspects: r.diff.suspects } };
}

export function overviewRows(p: Pick<ViewProps, 'model' | 'theme'>, heap: HeapState): { text: string; style?: RowStyle }[] {
  const { model: m, theme: t } = p;
  const s = m.summary;
  const rows: { text: string; style?: RowStyle }[] = [];
  const head = (text: string) => rows.push({ text, style: { bold: true, color: t.accent } });
  // The top line says what and where; the headline itself is the first finding, below.
  if (s) rows.push({ text: `${s.reason} in ${s.app?.name ? `${s.app.name}${s.app.version ? '@' + s.app.version : ''}` : 'an app'} (pid ${s.pid} on ${s.hostname}) at ${s.time}`, style: { bold: true, color: t.bad } });
  else rows.push({ text: m.kind === 'snapshot' ? `heap snapshot ${m.title}` : `diagnostic report ${m.title}`, style: { bold: true } });
  rows.push({ text: '' });
  head('Findings');
  for (const f of findings(m, heapFacts(heap))) rows.push({ text: `- ${f}` });
  if (heap.status === 'loading') rows.push({ text: `  heap: ${heap.phase} ${heap.label ?? ''} ${progressBar(heap.done ?? 0, 20)}`, style: { color: t.dim } });
  if (heap.status === 'error') rows.push({ text: `  heap: ${heap.error}`, style: { color: t.warn } });
  if (s?.error) {
    rows.push({ text: '' });
    head('Error');
    const lines: string[] = [];
    errorHeads(s.error, lines);
    for (const l of lines) rows.push({ text: l });
  }
  rows.push({ text: '' });
  head('Process');
  if (s) {
    const app = s.app?.name ? `${s.app.name}${s.app.version ? '@' + s.app.version : ''}` : '(unknown app)';
    rows.push({ text: `reason    ${s.reason}${s.trigger ? `  ${JSON.stringify(s.trigger)}` : ''}` });
    rows.push({ text: `time      ${s.time}` });
    rows.push({ text: `app       ${app}` });
    rows.push({ text: `process   pid ${s.pid}, ppid ${s.ppid} on ${s.hostname}` });
    rows.push({ text: `runtime   node ${s.node} ${s.platform}-${s.arch}` });
    rows.push({ text: `cwd       ${s.cwd}` });
    rows.push({ text: `command   ${s.argv.join(' ')}` });
    rows.push({ text: `hook      ${s.hook?.version ?? '?'} (addon ${s.hook?.addon ?? '?'})` });
    rows.push({ text: `bundle    ${s.files.length + 1} files: ${s.files.map((f) => f.name).join(', ')}` });
    if (s.redacted.length) rows.push({ text: `redacted  ${s.redacted.join(', ')}` });
    for (const w of s.warnings) rows.push({ text: `note      ${w}`, style: { color: t.warn } });
  } else if (m.report) {
    const h = (m.report.header ?? {}) as Record<string, unknown>;
    rows.push({ text: `event     ${String(h.event ?? '?')} (${String(h.trigger ?? '?')})` });
    rows.push({ text: `time      ${String(h.dumpEventTime ?? '?')}` });
    rows.push({ text: `process   pid ${String(h.processId ?? '?')} on ${String(h.host ?? '?')}` });
    rows.push({ text: `runtime   node ${String(h.nodejsVersion ?? '?')} ${String(h.platform ?? '')}-${String(h.arch ?? '')}` });
  }
  if (heap.ready) rows.push({ text: `heap      ${count(heap.ready.nodes)} nodes, ${bytes(heap.ready.totalSize)}` });
  for (const h of m.heaps) rows.push({ text: `snapshot  ${h.label}` });
  if (m.events.length) rows.push({ text: `timeline  ${m.events.length} events` });
  return rows;
}

export function OverviewView(p: ViewProps) {
  const { Box } = inkApi();
  const heap = useSyncExternalStore(p.heap?.subscribe ?? noop, p.heap?.getState ?? (() => IDLE));
  const core = useSyncExternalStore(p.core?.subscribe ?? noop, p.core?.getState ?? (() => CORE_IDLE));
  const rows = useMemo(
    () => (p.model.kind === 'core' ? coreOverviewRows(p.model.title, p.model.core?.size ?? 0, core, p.theme) : overviewRows(p, heap)),
    [p.model, p.theme, heap, core],
  );
  const shown = useMemo(() => filterIndices(rows.length, (i) => rows[i].text, p.query), [rows, p.query]);
  const list = useList(shown.length, p.height);
  useViewKeys(p.active, list.move);
  return (
    <Box flexDirection="column" height={p.height}>
      <ListWindow width={p.width} count={shown.length} cursor={list.cursor} height={p.height} row={(i) => rows[shown[i]]} theme={p.theme} empty="no line matches the search" />
    </Box>
  );
}
