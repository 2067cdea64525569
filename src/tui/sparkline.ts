/**
 * Sparklines over a time span: samples are bucketed by time into `width` columns, each column shows
 * the bucket's maximum (a spike must not be averaged away), and empty buckets stay blank so gaps in
 * the recording are visible rather than interpolated.
 */
const BARS = '▁▂▃▄▅▆▇█';

export interface Point {
  time: number;
  value: number;
}

export interface Span {
  from: number;
  to: number;
}

/** The column of `time` in a chart of `width` columns over `span`. */
export function columnOf(time: number, span: Span, width: number): number {
  if (width <= 1 || span.to <= span.from) return 0;
  const x = Math.floor(((time - span.from) / (span.to - span.from)) * width);
  return Math.min(width - 1, Math.max(0, x));
}

/** Per column, the largest value in it, or NaN when no sample fell there. */
export function bucketMax(points: Point[], span: Span, width: number): number[] {
  const out = new Array<number>(Math.max(0, width)).fill(NaN);
  for (const p of points) {
    if (!Number.isFinite(p.value) || !Number.isFinite(p.time)) continue;
    const c = columnOf(p.time, span, width);
    if (!(out[c] >= p.value)) out[c] = p.value;
  }
  return out;
}

/** A row of bar characters scaled from `min` (default: the lowest value) to the highest. */
export function sparkline(points: Point[], span: Span, width: number, opts: { min?: number; max?: number } = {}): string {
  const cols = bucketMax(points, span, width);
  const vals = cols.filter((v) => !Number.isNaN(v));
  if (!vals.length) return ' '.repeat(Math.max(0, width));
  const lo = opts.min ?? Math.min(...vals);
  const hi = opts.max ?? Math.max(...vals);
  return cols
    .map((v) => {
      if (Number.isNaN(v)) return ' ';
      if (hi <= lo) return BARS[0];
      const i = Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1));
      return BARS[Math.min(BARS.length - 1, Math.max(0, i))];
    })
    .join('');
}

/** A marker row: one character per column where events fell; later marks of higher rank win. */
export function markerRow(marks: { time: number; char: string; rank?: number }[], span: Span, width: number): string {
  const row = new Array<string>(Math.max(0, width)).fill(' ');
  const rank = new Array<number>(Math.max(0, width)).fill(-1);
  for (const m of marks) {
    if (!Number.isFinite(m.time)) continue;
    const c = columnOf(m.time, span, width);
    const r = m.rank ?? 0;
    if (r >= rank[c]) {
      row[c] = m.char;
      rank[c] = r;
    }
  }
  return row.join('');
}
