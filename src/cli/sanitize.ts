/**
 * Strings from a crashed app (error messages, file names, breadcrumbs) must never reach a terminal
 * raw: an ESC or CSI in a message could move the cursor, retitle the window or worse. Every string
 * printed by the CLI passes through one of these.
 */

// C0 controls, DEL, C1 controls (0x9b is a one-byte CSI), and bidi overrides that can hide text.
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_ONE_LINE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (c === '\t') return '\\t';
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of text: every control character, newlines included, becomes a visible escape. */
export function safeLine(value: unknown, max = 2000): string {
  const s = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(UNSAFE_ONE_LINE, escapeChar);
}

/** Multi-line text: keeps \n and \t, escapes everything else. */
export function safeText(value: unknown, max = 100_000): string {
  const s = typeof value === 'string' ? value : String(value ?? '');
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(/\r\n/g, '\n').replace(UNSAFE, escapeChar);
}

/**
 * JSON for stdout: JSON.stringify already escapes C0 controls, but leaves DEL, C1 and bidi
 * characters raw, so those are escaped too. The result parses back to the same value.
 */
export function safeJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent).replace(/[\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Markdown inline code that survives backticks and pipes inside the value. */
export function mdCode(value: unknown): string {
  const s = safeLine(value, 500);
  const ticks = s.includes('`') ? '``' : '`';
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${s}${pad}${ticks}`;
}

/** Markdown text: controls escaped, and the characters that would start markup or HTML escaped. */
export function mdText(value: unknown, max = 2000): string {
  return safeLine(value, max).replace(/([\\`*_[\]<>|#])/g, '\\$1');
}
