/**
 * Parses V8 stack text ("Error: msg\n    at fn (file:line:col)\n ...") into frames. Pure, never throws.
 *
 * V8 prints a call site as `at [async ][new ]<function>[ [as <alias>]] (<location>)` or, for an unnamed
 * top-level function, `at [async ]<location>`. A location is `file:line:col`, `native`, `<anonymous>`,
 * `index N` (Promise.all and friends), or `eval at <fn> (<location>), <script>:line:col` for eval code,
 * which nests.
 */
import { fileURLToPath } from 'node:url';
import type { Frame } from '../bundle/types';

export type Origin = NonNullable<Frame['origin']>;

export const MAX_FRAMES = 200;
const MAX_RAW = 500;

const AT_INDENTED = /^\s+at\s/;
const AT_BARE = /^at\s/;
const LINE_COL = /^(.*?):(\d+)(?::(\d+))?$/;

/** Who owns the code at `file`: the app, a dependency, Node itself, the engine, or nobody we can name. */
export function classifyOrigin(file: string): Origin {
  if (!file || file === '<anonymous>' || file === 'unknown location' || file.startsWith('eval at ')) return 'unknown';
  if (file === 'native' || /^index \d+$/.test(file)) return 'native';
  if (file.startsWith('node:') || file.startsWith('internal/')) return 'node';
  if (file.startsWith('wasm://')) return 'unknown';
  if (file.includes('/node_modules/') || file.includes('\\node_modules\\')) return 'node_modules';
  return 'app';
}

/** Frames of a V8 stack, after its "Name: message" header (which may span several lines). At most 200. */
export function parseStack(stack: string): Frame[] {
  const frames: Frame[] = [];
  try {
    if (typeof stack !== 'string' || !stack) return frames;
    const lines = stack.split('\n');
    let i = firstFrameLine(lines);
    if (i < 0) return frames;
    for (; i < lines.length && frames.length < MAX_FRAMES; i++) {
      const line = lines[i].replace(/\r$/, '');
      if (!line.trim()) continue;
      frames.push(parseFrameLine(line));
    }
  } catch {
    // A parser bug must not cost the bundle: keep what was parsed.
  }
  return frames;
}

/**
 * Index of the first frame line. V8 indents frames by four spaces; a header line of the message that
 * happens to start with "at " is only taken for a frame when it also parses as one.
 */
function firstFrameLine(lines: string[]): number {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (AT_INDENTED.test(line)) return i;
    if (AT_BARE.test(line) && parseFrameLine(line).raw === undefined) return i;
  }
  return -1;
}

/** One `at ...` line as a frame; anything else becomes a frame holding only its raw text. */
export function parseFrameLine(line: string): Frame {
  const trimmed = line.trim();
  const m = /^at\s+(.*)$/.exec(trimmed);
  if (!m) return rawFrame(trimmed);
  let rest = m[1];
  let isAsync = false;
  if (rest.startsWith('async ') && !rest.startsWith('async (')) {
    isAsync = true;
    rest = rest.slice(6).trimStart();
  }

  let fn = '';
  let location = rest;
  if (rest.endsWith(')')) {
    const open = matchingOpenParen(rest);
    if (open > 0) {
      fn = rest.slice(0, open).trimEnd();
      location = rest.slice(open + 1, -1);
    }
  }

  const loc = parseLocation(location);
  const frame: Frame = { function: fn, file: loc.file, line: loc.line, column: loc.column, origin: classifyOrigin(loc.file), async: isAsync };
  if (!loc.ok) frame.raw = cutRaw(trimmed);
  return frame;
}

/** Index of the '(' that matches the final ')', counting nested parentheses (eval origins nest). */
function matchingOpenParen(s: string): number {
  let depth = 0;
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i);
    if (c === 41 /* ) */) depth++;
    else if (c === 40 /* ( */ && --depth === 0) return i;
  }
  return -1;
}

interface Location {
  file: string;
  line: number;
  column: number;
  /** false when the location is not one V8 prints, so the caller keeps the raw line. */
  ok: boolean;
}

function parseLocation(location: string): Location {
  if (location === 'native' || location === '<anonymous>' || location === 'unknown location' || /^index \d+$/.test(location)) {
    return { file: location, line: 0, column: 0, ok: true };
  }
  const lc = LINE_COL.exec(location);
  if (!lc || !lc[1]) return { file: location, line: 0, column: 0, ok: false };
  // Eval code: "eval at fn (origin), <anonymous>:1:5". Line and column are inside the eval'd text,
  // so the whole origin stays in `file` rather than pretending to be a position in the outer file.
  const file = lc[1].startsWith('file://') ? fileUrlToPath(lc[1]) : lc[1];
  return { file, line: Number(lc[2]), column: lc[3] === undefined ? 0 : Number(lc[3]), ok: true };
}

function fileUrlToPath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch {
    return url;
  }
}

function rawFrame(text: string): Frame {
  return { function: '', file: '', line: 0, column: 0, origin: 'unknown', async: false, raw: cutRaw(text) };
}

function cutRaw(s: string): string {
  return s.length > MAX_RAW ? `${s.slice(0, MAX_RAW)}…` : s;
}
