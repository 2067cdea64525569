/**
 * Where a variable is declared in a script's source, found by a light scan (not a parser): the
 * snapshot knows which function's context holds a variable, not the line of its declaration.
 * Comments, strings, templates and regular expression literals are skipped, braces counted; the
 * declaration nearest the scope's own level wins, so a nested function's variable of the same name
 * loses to the scope's. An answer is a line that declares the name; no answer means "not found".
 */

const ID = /[\p{ID_Continue}$\u200c\u200d]/u;
const KEYWORDS = ['const', 'let', 'var', 'function', 'class'];

function isId(c: string | undefined): boolean {
  return c !== undefined && ID.test(c);
}

/** The 1-based line of offset `at`. */
export function lineAt(source: string, at: number): number {
  let line = 1;
  for (let i = source.indexOf('\n'); i >= 0 && i < at; i = source.indexOf('\n', i + 1)) line++;
  return line;
}

/** The offset of 1-based `line`, 1-based `column` (clamped to the source). */
export function offsetOf(source: string, line: number, column = 1): number {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const nl = source.indexOf('\n', at);
    if (nl < 0) return source.length;
    at = nl + 1;
  }
  return Math.min(source.length, at + column - 1);
}

/**
 * Skips a comment, string, template or regular expression starting at `i`, returning the offset
 * after it, or `i` when none starts there. `prev` is the last significant character before `i`.
 */
function skipLiteral(src: string, i: number, prev: string): number {
  const c = src[i];
  const n = src[i + 1];
  if (c === '/' && n === '/') {
    const nl = src.indexOf('\n', i);
    return nl < 0 ? src.length : nl;
  }
  if (c === '/' && n === '*') {
    const end = src.indexOf('*/', i + 2);
    return end < 0 ? src.length : end + 2;
  }
  const regex = c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev));
  if (c === '"' || c === "'" || c === '`' || regex) {
    let inClass = false;
    for (let j = i + 1; j < src.length; j++) {
      const d = src[j];
      if (d === '\\') j++;
      else if (regex && d === '[') inClass = true;
      else if (regex && d === ']') inClass = false;
      else if (d === c && !inClass) return j + 1;
      else if (d === '\n' && c !== '`') return j; // unterminated: stop at the line's end
    }
    return src.length;
  }
  return i;
}

function c0(src: string, i: number): boolean {
  return src[i] === '/' && (src[i + 1] === '/' || src[i + 1] === '*');
}

interface Match {
  at: number;
  depth: number;
}

/** Does `name` occur as a binding in the pattern or parameter list src[from, to)? */
function bindsIn(src: string, from: number, to: number, name: string): number {
  for (let at = src.indexOf(name, from); at >= 0 && at + name.length <= to; at = src.indexOf(name, at + 1)) {
    if (isId(src[at - 1]) || src[at - 1] === '.' || isId(src[at + name.length])) continue;
    const after = src.slice(at + name.length, to).trimStart();
    if (after.startsWith(':')) continue; // `{ name: other }` binds `other`
    return at;
  }
  return -1;
}

/** The offset after the bracket that closes the one at `open` (or the source's end). */
function closing(src: string, open: number): number {
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  const stack: string[] = [];
  let prev = '';
  for (let i = open; i < src.length; i++) {
    const j = skipLiteral(src, i, prev);
    if (j !== i) {
      i = j - 1;
      continue;
    }
    const c = src[i];
    if (pairs[c]) stack.push(pairs[c]);
    else if (c === stack[stack.length - 1]) {
      stack.pop();
      if (!stack.length) return i + 1;
    }
    if (c.trim()) prev = c;
  }
  return src.length;
}

/** Declarations of `name` in src[from, to), with their brace depth relative to `from`. */
function scan(src: string, from: number, to: number, name: string): Match[] {
  const out: Match[] = [];
  let depth = 0;
  let prev = '';
  for (let i = from; i < to; i++) {
    const j = skipLiteral(src, i, prev);
    if (j !== i) {
      const comment = c0(src, i);
      i = j - 1;
      if (!comment) prev = 'x'; // a string, template or regex is an operand
      continue;
    }
    const c = src[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (!isId(src[i - 1]) && src[i - 1] !== '.') {
      for (const k of KEYWORDS) {
        if (!src.startsWith(k, i) || isId(src[i + k.length])) continue;
        let p = i + k.length;
        while (p < to && /\s/.test(src[p])) p++;
        if (p === i + k.length && src[p] !== '{' && src[p] !== '[') break;
        if (src.startsWith(name, p) && !isId(src[p + name.length])) out.push({ at: p, depth });
        else if ((src[p] === '{' || src[p] === '[') && k !== 'function' && k !== 'class') {
          const at = bindsIn(src, p + 1, closing(src, p) - 1, name);
          if (at >= 0) out.push({ at, depth });
        }
        break;
      }
    }
    if (c.trim()) prev = c;
  }
  return out;
}

/**
 * The 1-based line declaring `name` in the scope that starts at offset `start`: a function's
 * location as V8 gives it (the start of its parameters), or 0 for a script's or module's top level
 * (`topLevel`). Parameters count as declarations. Undefined when no declaration is found.
 */
export function declarationLine(source: string, name: string, start: number, topLevel: boolean): number | undefined {
  if (!name || !source.includes(name)) return undefined;
  let from = start;
  let to = source.length;
  if (!topLevel) {
    let p = start;
    if (source[p] === '(') {
      const end = closing(source, p);
      const at = bindsIn(source, p + 1, end - 1, name);
      if (at >= 0) return lineAt(source, at);
      p = end;
    } else if (source.startsWith(name, p) && !isId(source[p + name.length])) {
      return lineAt(source, p); // `name => ...`: the lone parameter
    } else {
      while (p < source.length && isId(source[p])) p++;
    }
    while (p < source.length && /\s/.test(source[p])) p++;
    if (source.startsWith('=>', p)) p += 2;
    while (p < source.length && /\s/.test(source[p])) p++;
    if (source[p] !== '{') return undefined; // an expression body declares nothing
    from = p + 1;
    to = closing(source, p) - 1;
  }
  const found = scan(source, from, to, name);
  if (!found.length) return undefined;
  const best = found.reduce((x, y) => (y.depth < x.depth ? y : x));
  return lineAt(source, best.at);
}

/**
 * The 1-based line declaring `name` as seen from offset `at` (where a function defined in the
 * variable's scope starts): the blocks around `at` are searched from the innermost outwards, with a
 * function's parameters counting for its body, then the top level. Undefined when none declares it.
 */
export function declarationLineFrom(source: string, name: string, at: number): number | undefined {
  if (!name || !source.includes(name)) return undefined;
  const blocks: { open: number; params?: [number, number] }[] = [];
  const parens: number[] = [];
  let lastParams: [number, number] | undefined;
  let prev = '';
  for (let i = 0; i < at && i < source.length; i++) {
    const j = skipLiteral(source, i, prev);
    if (j !== i) {
      const comment = c0(source, i);
      i = j - 1;
      if (!comment) prev = 'x';
      continue;
    }
    const c = source[i];
    if (c === '(') parens.push(i);
    else if (c === ')') {
      const open = parens.pop();
      lastParams = open === undefined ? undefined : [open + 1, i];
    } else if (c === '{') blocks.push({ open: i, params: prev === ')' || prev === '>' ? lastParams : undefined });
    else if (c === '}') blocks.pop();
    if (c.trim()) prev = c;
  }
  for (let k = blocks.length - 1; k >= 0; k--) {
    const b = blocks[k];
    const found = scan(source, b.open + 1, closing(source, b.open) - 1, name).filter((m) => m.depth === 0);
    if (found.length) return lineAt(source, found[0].at);
    if (b.params) {
      const p = bindsIn(source, b.params[0], b.params[1], name);
      if (p >= 0) return lineAt(source, p);
    }
  }
  const top = scan(source, 0, source.length, name).filter((m) => m.depth === 0);
  return top.length ? lineAt(source, top[0].at) : undefined;
}
