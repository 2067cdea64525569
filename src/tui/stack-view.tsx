/** View 2: frames (error chain and thread stack), with the selected frame's code and locals below. */
import { useEffect, useMemo, useSyncExternalStore } from 'react';
import { coreStackRows } from './core-rows';
import type { CoreState } from './core-session';
import { filterIndices } from './filter';
import { rule } from './format';
import { inkApi } from './ink-runtime';
import { Line, ListWindow } from './list';
import { excerptFor, localsFor, stackRows } from './stack-rows';
import { useList } from './use-list';
import { useViewKeys } from './view-keys';
import type { ViewProps } from './view-props';

const CORE_IDLE: CoreState = { status: 'idle' };
const noop = () => () => {};

export function StackView(p: ViewProps) {
  const { Box } = inkApi();
  const t = p.theme;
  // A core's frames come from its inspection, after the first frame; a bundle's are in the model.
  const core = useSyncExternalStore(p.core?.subscribe ?? noop, p.core?.getState ?? (() => CORE_IDLE));
  const rows = useMemo(() => (p.model.kind === 'core' ? coreStackRows(core) : stackRows(p.model)), [p.model, core]);
  const shown = useMemo(() => filterIndices(rows.length, (i) => rows[i].text, p.query), [rows, p.query]);
  const listHeight = Math.max(3, Math.floor((p.height - 1) / 2));
  const detailHeight = Math.max(0, p.height - listHeight - 1);
  // Start on the first frame, not on the chain's header line.
  const list = useList(shown.length, listHeight, Math.max(0, rows.findIndex((r) => r.kind === 'frame')));
  useViewKeys(p.active, list.move);
  // A core's frames arrive after the first frame: then start on the first of them.
  const firstFrame = rows.findIndex((r) => r.kind === 'frame');
  useEffect(() => {
    if (p.model.kind === 'core' && core.status === 'ready' && firstFrame >= 0 && !p.query) list.select(firstFrame);
  }, [core.status]);

  const row = shown.length ? rows[shown[list.cursor.selected]] : undefined;
  const f = row?.frame;
  const detail: { text: string; color?: string; bold?: boolean }[] = [];
  const s = p.model.summary;
  const ex = excerptFor(f, s?.excerpts ?? []);
  const locals = localsFor(f, s?.hang);
  const localLines: { text: string; color?: string; bold?: boolean }[] = [];
  if (locals) {
    localLines.push({ text: 'Locals', bold: true, color: t.accent });
    for (const sc of locals) for (const [k, v] of Object.entries(sc.vars ?? {})) localLines.push({ text: `  ${sc.type.padEnd(7)} ${k} = ${v}` });
  }
  if (ex) {
    // Leave room for the locals: the excerpt shrinks around the frame's line, down to ±1 line.
    const room = Math.max(3, detailHeight - Math.min(localLines.length, Math.floor(detailHeight / 2)));
    const at = Math.max(0, f!.line - ex.startLine);
    const from = Math.max(0, Math.min(at - Math.floor((room - 1) / 2), ex.lines.length - room));
    const width = String(ex.startLine + ex.lines.length).length;
    ex.lines.slice(from, from + room).forEach((text, i) => {
      const n = ex.startLine + from + i;
      detail.push({ text: `${n === f!.line ? '>' : ' '} ${String(n).padStart(width)} | ${text}`, bold: n === f!.line, color: n === f!.line ? t.warn : undefined });
    });
  } else if (f) detail.push({ text: f.file ? 'no code excerpt in the bundle for this frame' : '', color: t.dim });
  else if (row?.detail) detail.push(...row.detail.map((text) => ({ text })));
  detail.push(...localLines);
  const title = f ? `${f.function || '<anonymous>'}${f.file ? `  ${f.file}:${f.line}` : ''}` : row && row.kind !== 'note' ? row.text.trim() : 'no frame selected';

  return (
    <Box flexDirection="column" height={p.height}>
      <ListWindow
        width={p.width}
        count={shown.length}
        cursor={list.cursor}
        height={listHeight}
        theme={t}
        empty={rows.length ? 'no frame matches the search' : 'no stack in this input'}
        row={(i) => {
          const r = rows[shown[i]];
          const fr = r.frame;
          const faint = fr && fr.origin && fr.origin !== 'app';
          return { text: r.text, style: r.kind === 'header' ? { bold: true, color: t.bad } : faint || r.dim ? { color: t.dim, dim: true } : undefined };
        }}
      />
      <Line text={rule(title, p.width)} style={{ color: t.dim }} theme={t} width={p.width} />
      <Box flexDirection="column" height={detailHeight} overflow="hidden">
        {detail.slice(0, detailHeight).map((d, i) => (
          <Line key={i} text={d.text} style={{ color: d.color, bold: d.bold }} theme={t} width={p.width} />
        ))}
      </Box>
    </Box>
  );
}
