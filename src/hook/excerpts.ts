/**
 * ±N lines of source around the top application frames, so a bundle opens without the source tree.
 * Synchronous, bounded (files, lines, line length) and never throws.
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Frame, SourceExcerpt } from '../bundle/types';
import { classifyOrigin } from '../stack/parse-stack';
import { getSourceText } from './source-maps';

export interface ExcerptOptions {
  /** Distinct app frames (file and line) to cover; 5. */
  maxFrames?: number;
  /** Lines before and after the frame's line; 5. */
  context?: number;
  /** Longer lines are cut and end with '…'; 300. */
  maxLineLength?: number;
}

/** Files larger than this are not read from disk. */
export const MAX_SOURCE_BYTES = 8 * 1024 * 1024;
// V8 counts these as line terminators in JS source, so frame line numbers do too.
const LINE_BREAK = /\r\n|\r|\n|\u2028|\u2029/;

type Text = { lines: string[]; from: SourceExcerpt['from'] } | null;

export function excerptsFor(frames: Frame[], opts: ExcerptOptions = {}, warnings: string[] = []): SourceExcerpt[] {
  const out: SourceExcerpt[] = [];
  try {
    const maxFrames = clampInt(opts.maxFrames, 5, 0, 100);
    const context = clampInt(opts.context, 5, 0, 100);
    const maxLineLength = clampInt(opts.maxLineLength, 300, 10, 100_000);
    const texts = new Map<string, Text>();
    const seen = new Set<string>();
    for (const frame of frames) {
      if (out.length >= maxFrames) break;
      if (!frame || !frame.file || !(frame.line >= 1)) continue;
      if ((frame.origin ?? classifyOrigin(frame.file)) !== 'app') continue;
      const key = `${frame.file}:${frame.line}`;
      if (seen.has(key)) continue;
      seen.add(key);

      // For a mapped frame the map's sourcesContent is the very text the positions refer to, while
      // the file on disk may have been edited since the build: it wins when present.
      const cacheKey = `${frame.generated ? 'm' : 'd'}:${frame.file}`;
      let text = texts.get(cacheKey);
      if (text === undefined) {
        text = loadText(frame.file, !!frame.generated, warnings);
        texts.set(cacheKey, text);
      }
      if (!text) continue;
      if (frame.line > text.lines.length) {
        warnings.push(`excerpt for ${frame.file}:${frame.line}: the ${text.from === 'disk' ? 'file' : 'sourcesContent'} has only ${text.lines.length} lines`);
        continue;
      }
      const startLine = Math.max(1, frame.line - context);
      const endLine = Math.min(text.lines.length, frame.line + context);
      out.push({
        file: frame.file,
        line: frame.line,
        startLine,
        lines: text.lines.slice(startLine - 1, endLine).map((l) => cutLine(l, maxLineLength)),
        from: text.from,
      });
    }
  } catch (err) {
    warnings.push(`source excerpts: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300));
  }
  return out;
}

function loadText(file: string, mapped: boolean, warnings: string[]): Text {
  const fromMap = (): Text => {
    const t = getSourceText(file);
    if (t === undefined) return null;
    if (t.length > MAX_SOURCE_BYTES) {
      warnings.push(`excerpt for ${file}: sourcesContent is ${t.length} chars, over the ${MAX_SOURCE_BYTES} limit`);
      return null;
    }
    return { lines: t.split(LINE_BREAK), from: 'sourcesContent' };
  };
  if (mapped) {
    const t = fromMap();
    if (t) return t;
  }
  let diskProblem: string | undefined;
  if (isAbsolute(file)) {
    try {
      const st = statSync(file);
      if (!st.isFile()) diskProblem = 'not a regular file';
      else if (st.size > MAX_SOURCE_BYTES) diskProblem = `${st.size} bytes, over the ${MAX_SOURCE_BYTES} byte limit`;
      else return { lines: readFileSync(file, 'utf8').split(LINE_BREAK), from: 'disk' };
    } catch (err) {
      diskProblem = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    }
  } else {
    diskProblem = 'not a file path';
  }
  if (!mapped) {
    const t = fromMap();
    if (t) return t;
  }
  warnings.push(`excerpt for ${file}: ${diskProblem}, and no sourcesContent in a source map`.slice(0, 400));
  return null;
}

function cutLine(line: string, max: number): string {
  if (line.length <= max) return line;
  let end = max - 1;
  // Do not leave half of a surrogate pair before the ellipsis.
  const c = line.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${line.slice(0, end)}…`;
}

function clampInt(v: number | undefined, dflt: number, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return dflt;
  return Math.min(max, Math.max(min, Math.floor(v)));
}
