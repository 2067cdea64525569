/** Small number formatting shared by the views (pure). */
const KB = 1024;
const MB = 1024 * 1024;
const GB = 1024 * MB;

export function bytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '?';
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  if (a >= GB) return `${sign}${(a / GB).toFixed(1)} GB`;
  if (a >= MB) return `${sign}${(a / MB).toFixed(1)} MB`;
  if (a >= KB) return `${sign}${(a / KB).toFixed(1)} KB`;
  return `${sign}${a} B`;
}

export function ms(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '?';
  return n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function signed(n: number): string {
  return n > 0 ? `+${count(n)}` : count(n);
}

/** HH:MM:SS.mmm in UTC, as the summary prints it. */
export function clock(t: unknown, withMs = true): string {
  const d = new Date(Number(t));
  if (Number.isNaN(d.getTime())) return withMs ? '??:??:??.???' : '??:??:??';
  return d.toISOString().slice(11, withMs ? 23 : 19);
}

/** Pads or cuts to exactly `w` columns (one column per code point is good enough for our text). */
export function fit(s: string, w: number, right = false): string {
  const chars = [...s];
  if (chars.length > w) return w <= 1 ? chars.slice(0, w).join('') : chars.slice(0, w - 1).join('') + '…';
  const pad = ' '.repeat(w - chars.length);
  return right ? pad + s : s + pad;
}

/** "── title ─────" exactly `width` columns wide. */
export function rule(title: string, width: number): string {
  const head = `── ${title} `;
  return fit(head + '─'.repeat(Math.max(0, width - [...head].length)), width);
}
