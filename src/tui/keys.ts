/**
 * Key parsing for the UI, apart from Ink so it is unit-tested alone. Ink 6's useInput hands over
 * what one read() returned: pasted or fast-typed keys arrive together ("jjjj"), so printable input
 * is split into one action per character.
 */
export type Action =
  | { type: 'view'; index: number }
  | { type: 'next-view' }
  | { type: 'prev-view' }
  | { type: 'up' }
  | { type: 'down' }
  | { type: 'page-up' }
  | { type: 'page-down' }
  | { type: 'home' }
  | { type: 'end' }
  | { type: 'enter' }
  | { type: 'back' }
  | { type: 'search' }
  | { type: 'help' }
  | { type: 'quit' }
  | { type: 'sort' }
  | { type: 'diff' }
  | { type: 'tree' }
  | { type: 'char'; char: string };

/** The subset of Ink's Key this needs. */
export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  tab?: boolean;
  shift?: boolean;
  ctrl?: boolean;
  meta?: boolean;
  backspace?: boolean;
  delete?: boolean;
}

const CHAR_ACTIONS: Record<string, Action> = {
  j: { type: 'down' },
  k: { type: 'up' },
  g: { type: 'home' },
  G: { type: 'end' },
  '/': { type: 'search' },
  '?': { type: 'help' },
  q: { type: 'quit' },
  s: { type: 'sort' },
  d: { type: 'diff' },
  t: { type: 'tree' },
  '\t': { type: 'next-view' },
  '\r': { type: 'enter' },
  '\n': { type: 'enter' },
};

/** Actions for one useInput call: special keys first, else one action per character. */
export function parseKeys(input: string, key: KeyInfo): Action[] {
  if (key.ctrl && input === 'c') return [{ type: 'quit' }];
  if (key.tab) return [{ type: key.shift ? 'prev-view' : 'next-view' }];
  if (key.upArrow) return [{ type: 'up' }];
  if (key.downArrow) return [{ type: 'down' }];
  if (key.pageUp) return [{ type: 'page-up' }];
  if (key.pageDown) return [{ type: 'page-down' }];
  if (key.home) return [{ type: 'home' }];
  if (key.end) return [{ type: 'end' }];
  if (key.return) return [{ type: 'enter' }];
  if (key.escape) return [{ type: 'back' }];
  if (key.leftArrow) return [{ type: 'back' }];
  if (key.rightArrow) return [{ type: 'enter' }];
  if (key.ctrl || key.meta) return [];
  const out: Action[] = [];
  for (const ch of input) {
    if (ch >= '1' && ch <= '5') out.push({ type: 'view', index: Number(ch) - 1 });
    else out.push(CHAR_ACTIONS[ch] ?? { type: 'char', char: ch });
  }
  return out;
}

/** Editing a search query: printable characters append, backspace deletes; Enter/Esc end it. */
export function editQuery(query: string, input: string, key: KeyInfo): { query: string; done?: 'accept' | 'cancel' } {
  if (key.escape) return { query: '', done: 'cancel' };
  if (key.return) return { query, done: 'accept' };
  if (key.backspace || key.delete) return { query: query.slice(0, -1) };
  if (key.ctrl || key.meta || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.tab) return { query };
  // Printable characters only: a query is shown on screen, so controls never enter it.
  const printable = [...input].filter((c) => c >= ' ' && c !== '\x7f').join('');
  return { query: (query + printable).slice(0, 200) };
}

/** One key as the UI handles it: printable input is split per character, special keys stay whole. */
export interface KeyItem {
  input: string;
  key: KeyInfo;
}

const SPECIAL: (keyof KeyInfo)[] = ['return', 'escape', 'backspace', 'delete', 'tab', 'upArrow', 'downArrow', 'leftArrow', 'rightArrow', 'pageUp', 'pageDown', 'home', 'end', 'ctrl', 'meta'];

export function splitKeys(input: string, key: KeyInfo): KeyItem[] {
  // Esc and a key typed quickly after it arrive in one read, which Ink reports as Alt+key ("\x1b1" is
  // meta with "1"). The UI binds nothing to Alt, so it is what was typed: Esc, then the key.
  if (key.meta && !key.ctrl && !SPECIAL.some((k) => k !== 'meta' && key[k]) && input.length === 1 && input >= ' ') return [{ input: '', key: { escape: true } }, ...splitKeys(input, {})];
  if (SPECIAL.some((k) => key[k])) return [{ input, key }];
  return [...input].map((ch) => (ch === '\r' || ch === '\n' ? { input: '', key: { return: true } } : ch === '\t' ? { input: '', key: { tab: true } } : { input: ch, key: {} }));
}

const MOVES = new Set(['up', 'down', 'page-up', 'page-down', 'home', 'end']);

/** True when the key only moves a cursor (or edits a search): such keys can be handled in one batch. */
export function isMoveOnly(it: KeyItem, editing: boolean): boolean {
  if (editing) return !it.key.return && !it.key.escape;
  const actions = parseKeys(it.input, it.key);
  return actions.length > 0 && actions.every((a) => MOVES.has(a.type));
}
