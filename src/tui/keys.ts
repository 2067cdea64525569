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
