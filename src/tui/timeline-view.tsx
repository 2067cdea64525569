/** View 4: sparklines of heap/RSS, ELU and loop delay over the bundle's span, marks, and the events. */
import { useMemo, useState } from 'react';
import { filterIndices } from './filter';
import { bytes, clock, ms, rule } from './format';
import { inkApi } from './ink-runtime';
import { Line, ListWindow } from './list';
import { markerRow, sparkline } from './sparkline';
import { eventLine, marksOf, seriesOf, spanOf } from './timeline-data';
import { useList } from './use-list';
import { useViewKeys } from './view-keys';
import type { ViewProps } from './view-props';

const LABEL = 7;
const VALUE = 10;

export function TimelineView(p: ViewProps) {
  const { Box } = inkApi();
  const t = p.theme;
  const events = p.model.events;
  const lines = useMemo(() => events.map(eventLine), [events]);
  const shown = useMemo(() => filterIndices(events.length, (i) => lines[i], p.query), [lines, p.query]);
  const series = useMemo(() => seriesOf(events), [events]);
  const span = spanOf(events);
  const hasSamples = series.rss.length + series.heapUsed.length + series.elu.length + series.delayP99.length > 0;
  const chartW = Math.max(10, p.width - LABEL - VALUE - 2);
  const [open, setOpen] = useState(false);

  const charts: { label: string; line: string; value: string; color?: string }[] = [];
  if (span && hasSamples) {
    const last = (a: { value: number }[]) => a.at(-1)?.value;
    charts.push({ label: 'heap', line: sparkline(series.heapUsed, span, chartW, { min: 0 }), value: bytes(last(series.heapUsed)), color: t.good });
    charts.push({ label: 'rss', line: sparkline(series.rss, span, chartW, { min: 0 }), value: bytes(last(series.rss)), color: t.accent });
    charts.push({ label: 'elu', line: sparkline(series.elu, span, chartW, { min: 0, max: 1 }), value: last(series.elu) !== undefined ? `${Math.round(last(series.elu)! * 100)}%` : '?', color: t.warn });
    charts.push({ label: 'delay', line: sparkline(series.delayP99, span, chartW, { min: 0 }), value: `p99 ${ms(last(series.delayP99))}`, color: t.bad });
  }
  const marks = span ? markerRow(marksOf(events), span, chartW) : '';
  const header = span
    ? `${clock(span.from)} → ${clock(span.to)} (${ms(span.to - span.from)}), ${events.length} events${hasSamples ? '' : ', no samples'}`
    : 'no timeline in this input';
  const top = 1 + charts.length + (marks.trim() ? 2 : 0) + 1;
  const detailH = open ? 3 : 0;
  const listH = Math.max(2, p.height - top - detailH);
  const list = useList(shown.length, listH);
  useViewKeys(p.active, (a) => {
    if (a.type === 'enter') {
      setOpen((o) => !o);
      return true;
    }
    if (a.type === 'back' && open) {
      setOpen(false);
      return true;
    }
    return list.move(a);
  });
  const sel = shown.length ? events[shown[list.cursor.selected]] : undefined;
  let detail = '';
  if (open && sel) {
    try {
      detail = JSON.stringify(sel);
    } catch {
      detail = '(cannot show this event)';
    }
  }
  const detailLines = detail ? [0, 1, 2].map((i) => detail.slice(i * p.width, (i + 1) * p.width)).filter(Boolean) : [];

  return (
    <Box flexDirection="column" height={p.height}>
      <Line text={header} style={{ bold: true }} theme={t} width={p.width} />
      {charts.map((c) => (
        <Box key={c.label}>
          <Box width={LABEL}><Line text={c.label} style={{ color: t.dim }} theme={t} width={p.width} /></Box>
          <Box width={chartW + 1}><Line text={c.line} style={{ color: c.color }} theme={t} width={p.width} /></Box>
          <Box width={VALUE}><Line text={c.value} theme={t} width={p.width} /></Box>
        </Box>
      ))}
      {marks.trim() ? (
        <>
          <Box>
            <Box width={LABEL}><Line text="marks" style={{ color: t.dim }} theme={t} width={p.width} /></Box>
            <Line text={marks} style={{ color: t.warn }} theme={t} width={p.width} />
          </Box>
          <Line text={'T trigger  S signal  E exit  H hang  W warning  B breadcrumb  G gc'} style={{ color: t.dim, dim: true }} theme={t} width={p.width} />
        </>
      ) : null}
      <Line text={rule(`events${p.query ? ` matching "${p.query}"` : ''}: ${shown.length}`, p.width)} style={{ color: t.dim }} theme={t} width={p.width} />
      <ListWindow width={p.width} count={shown.length} cursor={list.cursor} height={listH} theme={t} empty={events.length ? 'no event matches the search' : 'no events'} row={(i) => ({ text: lines[shown[i]] })} />
      {detailLines.map((d, i) => <Line key={i} text={d} style={{ color: t.accent }} theme={t} width={p.width} />)}
    </Box>
  );
}
