/**
 * The Stack view's rows (pure): the error chain with causes and aggregated errors, then the thread's
 * stack, each frame source-mapped when the bundle says so; and what the detail pane shows for a frame
 * (its code excerpt, its captured locals).
 */
import { frameLocation, type HangSummary } from '../bundle/summary';
import type { ErrorRecord, Frame, SourceExcerpt } from '../bundle/types';
import { parseFrameLine } from '../stack/parse-stack';
import type { UiModel } from './model';

export interface StackRow {
  text: string;
  kind: 'header' | 'frame' | 'note';
  frame?: Frame;
  /** Drawn faint (native frames of a core). */
  dim?: boolean;
  /** The detail pane's lines when there is no source frame (a core's frames). */
  detail?: string[];
}

export function frameText(f: Frame, cwd: string): string {
  if (f.raw && !f.file) return f.raw;
  const gen = f.generated ? `  [${frameLocation({ ...f, ...f.generated }, cwd)}]` : '';
  const origin = f.origin && f.origin !== 'app' ? `  ${f.origin}` : '';
  return `${f.async ? 'async ' : ''}${f.function || '<anonymous>'} (${frameLocation(f, cwd)})${gen}${origin}`;
}

function errorRows(e: ErrorRecord, cwd: string, out: StackRow[], prefix: string, depth: number): void {
  if (depth > 8) return;
  out.push({ kind: 'header', text: `${prefix}${e.kind === 'value' ? 'thrown ' : ''}${e.name}: ${String(e.message ?? '').split('\n')[0]}` });
  for (const f of Array.isArray(e.frames) ? e.frames : []) out.push({ kind: 'frame', frame: f, text: `  ${frameText(f, cwd)}` });
  if (e.truncated) out.push({ kind: 'note', text: `  (chain cut here: ${e.truncated})` });
  (e.errors ?? []).slice(0, 20).forEach((sub, i) => errorRows(sub, cwd, out, `${prefix}[${i}] `, depth + 1));
  if (e.cause) errorRows(e.cause, cwd, out, 'Caused by ', depth + 1);
}

export function stackRows(m: UiModel): StackRow[] {
  const out: StackRow[] = [];
  const s = m.summary;
  const cwd = s?.cwd ?? '';
  if (s?.error) errorRows(s.error, cwd, out, '', 0);
  if (s?.stack?.length) {
    out.push({ kind: 'header', text: s.hang ? 'Main thread, while blocked' : 'Main thread, at capture' });
    for (const f of s.stack) out.push({ kind: 'frame', frame: f, text: `  ${frameText(f, cwd)}` });
  }
  if (s?.hang && s.hang.jsStack !== 'captured') out.push({ kind: 'note', text: `JS stack: ${s.hang.jsStack}` });
  const js = m.report?.javascriptStack as { message?: unknown; stack?: unknown } | undefined;
  if (!s && js && Array.isArray(js.stack)) {
    out.push({ kind: 'header', text: `Report: ${String(js.message ?? 'JavaScript stack')}` });
    for (const line of js.stack) {
      const f = parseFrameLine(String(line).trim());
      out.push({ kind: 'frame', frame: f, text: `  ${frameText(f, cwd)}` });
    }
  }
  const native = m.report?.nativeStack;
  if (!s && Array.isArray(native) && native.length) {
    out.push({ kind: 'header', text: 'Native stack (report)' });
    for (const n of native as { pc?: unknown; symbol?: unknown }[]) out.push({ kind: 'note', text: `  ${String(n?.pc ?? '')} ${String(n?.symbol ?? '')}` });
  }
  return out;
}

/** The excerpt around a frame: the one at its line, else one of its file that contains the line. */
export function excerptFor(f: Frame | undefined, excerpts: SourceExcerpt[]): SourceExcerpt | undefined {
  if (!f?.file) return undefined;
  return (
    excerpts.find((x) => x.file === f.file && x.line === f.line) ??
    excerpts.find((x) => x.file === f.file && f.line >= x.startLine && f.line < x.startLine + (x.lines?.length ?? 0))
  );
}

/** Locals captured for a frame (hang bundles): matched by file URL and line. */
export function localsFor(f: Frame | undefined, hang: HangSummary | undefined): { type: string; vars: Record<string, string> }[] | undefined {
  const frames = hang?.locals?.frames;
  if (!f || !Array.isArray(frames)) return undefined;
  const hit = frames.find((l) => l.line === f.line && typeof l.url === 'string' && (l.url === f.file || l.url.endsWith(f.file) || decodeURI(l.url).endsWith(f.file)));
  return hit?.scopes;
}
