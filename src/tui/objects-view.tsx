/**
 * View 3: the heap. Class summary (sortable, filterable) → instances → retainer paths → dominator
 * subtree, with Esc walking back; `d` toggles the diff of two snapshots, `t` opens the dominator tree
 * from the root. All data comes from the heap worker; lists are windowed whatever their length.
 */
import { useMemo, useState, useSyncExternalStore } from 'react';
import { filterIndices, nextSort, sortClasses, type SortKey } from './filter';
import { count } from './format';
import type { NodeTable } from './heap-protocol';
import type { HeapState } from './heap-session';
import { inkApi } from './ink-runtime';
import { Line, ListWindow, progressBar } from './list';
import { classHeader, classLine, diffHeader, diffLine, nodeHeader, nodeLabel, nodeLine, retainerRows, type PathRow } from './objects-rows';
import { clampCursor, moveCursor, START, type Cursor, type Move } from './windowing';
import { useViewKeys } from './view-keys';
import type { ViewProps } from './view-props';

type Screen =
  | { kind: 'classes' }
  | { kind: 'diff' }
  | { kind: 'instances'; name: string; onlyNew?: boolean; table?: NodeTable; error?: string }
  | { kind: 'retainers'; node: number; label: string; rows?: PathRow[]; error?: string }
  | { kind: 'dominated'; node: number; label: string; table?: NodeTable; error?: string };

interface Level {
  key: number;
  screen: Screen;
  cursor: Cursor;
  /** The search that was on this level when the user drilled further in. */
  query?: string;
}

const IDLE: HeapState = { status: 'idle' };
const noop = () => () => {};
const MOVES: Record<string, Move> = { up: 'up', down: 'down', 'page-up': 'page-up', 'page-down': 'page-down', home: 'home', end: 'end' };
let nextKey = 1;

function title(s: Screen): string {
  switch (s.kind) {
    case 'classes': return 'Classes';
    case 'diff': return 'Diff';
    case 'instances': return `${s.onlyNew ? 'new ' : ''}${s.name}`;
    case 'retainers': return `retainers of ${s.label}`;
    case 'dominated': return `dominated by ${s.label}`;
  }
}

export function ObjectsView(p: ViewProps) {
  const { Box } = inkApi();
  const t = p.theme;
  const heap = useSyncExternalStore(p.heap?.subscribe ?? noop, p.heap?.getState ?? (() => IDLE));
  const [stack, setStack] = useState<Level[]>([{ key: 0, screen: { kind: 'classes' }, cursor: START }]);
  const [sort, setSort] = useState<SortKey>('retained');
  const level = stack[stack.length - 1];
  const screen = level.screen;
  const ready = heap.ready;
  const listH = Math.max(1, p.height - 3);

  const classes = useMemo(() => (ready ? sortClasses(ready.classes, sort) : []), [ready, sort]);
  const diffRows = ready?.diff?.rows ?? [];
  const table = screen.kind === 'instances' || screen.kind === 'dominated' ? screen.table : undefined;
  const paths = screen.kind === 'retainers' ? screen.rows ?? [] : [];

  // Row text by screen; the filter runs only when the list or the query changes.
  const textOf = (i: number): string => {
    if (screen.kind === 'classes') return classes[i].name;
    if (screen.kind === 'diff') return diffRows[i].name;
    if (screen.kind === 'retainers') return paths[i].text;
    return table ? nodeLabel(table, i) : '';
  };
  const total = screen.kind === 'classes' ? classes.length : screen.kind === 'diff' ? diffRows.length : screen.kind === 'retainers' ? paths.length : table?.nodes.length ?? 0;
  const shown = useMemo(() => filterIndices(total, textOf, p.query), [screen, classes, total, p.query]);
  const cursor = clampCursor(level.cursor, shown.length, listH);

  const update = (key: number, fn: (s: Screen) => Screen) => setStack((st) => st.map((l) => (l.key === key ? { ...l, screen: fn(l.screen) } : l)));
  const push = (screen: Screen): number => {
    const key = nextKey++;
    const q = p.query;
    setStack((st) => [...st.slice(0, -1), { ...st[st.length - 1], query: q }, { key, screen, cursor: START }]);
    p.setQuery?.('');
    return key;
  };
  const openInstances = (name: string, onlyNew = false) => {
    const key = push({ kind: 'instances', name, onlyNew });
    p.heap!.instances(name, onlyNew).then((table) => update(key, (s) => ({ ...s, table } as Screen)), (e: Error) => update(key, (s) => ({ ...s, error: e.message } as Screen)));
  };
  const openRetainers = (node: number, label: string) => {
    const key = push({ kind: 'retainers', node, label });
    p.heap!.retainers(node).then((paths) => update(key, (s) => ({ ...s, rows: retainerRows(paths) } as Screen)), (e: Error) => update(key, (s) => ({ ...s, error: e.message } as Screen)));
  };
  const openDominated = (node: number, label: string) => {
    const key = push({ kind: 'dominated', node, label });
    p.heap!.dominated(node).then((table) => update(key, (s) => ({ ...s, table } as Screen)), (e: Error) => update(key, (s) => ({ ...s, error: e.message } as Screen)));
  };

  useViewKeys(p.active, (a) => {
    if (!ready) return false;
    const m = MOVES[a.type];
    if (m) {
      const n = shown.length;
      setStack((st) => st.map((l, i) => (i === st.length - 1 ? { ...l, cursor: moveCursor(clampCursor(l.cursor, n, listH), m, n, listH) } : l)));
      return true;
    }
    const sel = shown.length ? shown[cursor.selected] : -1;
    if (a.type === 'back') {
      if (stack.length === 1) return false;
      p.setQuery?.(stack[stack.length - 2].query ?? '');
      setStack((st) => (st.length > 1 ? st.slice(0, -1) : st));
      return true;
    }
    if (a.type === 'sort' && (screen.kind === 'classes')) {
      setSort(nextSort);
      return true;
    }
    if (a.type === 'diff' && ready.diff) {
      setStack([{ key: 0, screen: { kind: screen.kind === 'diff' ? 'classes' : 'diff' }, cursor: START }]);
      return true;
    }
    if (a.type === 'tree') {
      if (table && sel >= 0) openDominated(table.nodes[sel], nodeLabel(table, sel));
      else if (screen.kind === 'retainers' && sel >= 0 && paths[sel].node !== undefined) openDominated(paths[sel].node!, paths[sel].text.trim());
      else openDominated(0, '(GC roots)');
      return true;
    }
    if (a.type === 'enter' && sel >= 0) {
      if (screen.kind === 'classes') openInstances(classes[sel].name);
      else if (screen.kind === 'diff') openInstances(diffRows[sel].name, true);
      else if (screen.kind === 'instances' && table) openRetainers(table.nodes[sel], nodeLabel(table, sel));
      else if (screen.kind === 'dominated' && table) openDominated(table.nodes[sel], nodeLabel(table, sel));
      else if (screen.kind === 'retainers' && paths[sel].node !== undefined) openDominated(paths[sel].node!, paths[sel].text.replace(/^\s*(← )?/, ''));
      return true;
    }
    return false;
  });

  if (!p.model.heaps.length) {
    return (
      <Box flexDirection="column" height={p.height}>
        <Line text="No heap snapshot in this input." theme={t} width={p.width} />
        <Line text="`autopsy-ts dump PID --heap`, or AUTOPSY_HANG_HEAP=1 for hangs, put one in a bundle." style={{ color: t.dim }} theme={t} width={p.width} />
      </Box>
    );
  }
  if (!ready) {
    const label = heap.label ?? p.model.heaps[0].label;
    const what =
      heap.status === 'error' ? `cannot read the heap: ${heap.error}`
      : heap.status === 'idle' ? `starting the heap worker for ${label}…`
      : heap.phase === 'parse' ? `parsing ${label}`
      : `parsed ${label}; computing ${heap.phase}…`;
    return (
      <Box flexDirection="column" height={p.height}>
        <Line text={what} style={{ color: heap.status === 'error' ? t.bad : undefined }} theme={t} width={p.width} />
        {heap.status !== 'error' ? <Line text={progressBar(heap.status === 'idle' ? 0 : heap.phase === 'parse' ? heap.done ?? 0 : 1, Math.min(50, p.width - 10))} style={{ color: t.accent }} theme={t} width={p.width} /> : null}
        <Line text="The snapshot is parsed in a worker thread: the other views work meanwhile (1, 2, 4, 5)." style={{ color: t.dim }} theme={t} width={p.width} />
      </Box>
    );
  }

  const crumbs = stack.map((l) => title(l.screen)).join(' › ');
  const pending = (screen.kind === 'instances' || screen.kind === 'dominated' ? !screen.table : screen.kind === 'retainers' ? !screen.rows : false) && !('error' in screen && screen.error);
  const err = 'error' in screen ? screen.error : undefined;
  const header = screen.kind === 'classes' ? classHeader(p.width) : screen.kind === 'diff' ? diffHeader(p.width) : screen.kind === 'retainers' ? 'Retainer paths, nearest holder first' : nodeHeader(p.width);
  const hint =
    screen.kind === 'classes' ? `Enter instances  s sort: ${sort}  t dominator tree${ready.diff ? '  d diff' : ''}`
    : screen.kind === 'diff' ? 'Enter new instances  d classes  Esc back'
    : screen.kind === 'instances' ? 'Enter retainer paths  t dominated objects  Esc back'
    : 'Enter/t dominated objects  Esc back';

  return (
    <Box flexDirection="column" height={p.height}>
      <Line text={`${crumbs}  (${count(shown.length)}${shown.length !== total ? ` of ${count(total)}` : ''})   ${hint}`} style={{ color: t.accent }} theme={t} width={p.width} />
      <Line text={header} style={{ bold: true }} theme={t} width={p.width} />
      {err ? <Line text={`error: ${err}`} style={{ color: t.bad }} theme={t} width={p.width} /> : pending ? <Line text="asking the heap worker…" style={{ color: t.dim }} theme={t} width={p.width} /> : (
        <ListWindow
          width={p.width}
          count={shown.length}
          cursor={cursor}
          height={listH}
          theme={t}
          empty={total ? 'no row matches the search' : 'empty'}
          row={(i) => {
            const k = shown[i];
            if (screen.kind === 'classes') return { text: classLine(classes[k], p.width) };
            if (screen.kind === 'diff') return { text: diffLine(diffRows[k], p.width), style: { color: diffRows[k].sizeDelta > 0 ? t.warn : undefined } };
            if (screen.kind === 'retainers') return { text: paths[k].text, style: paths[k].header ? { bold: true } : undefined };
            return { text: nodeLine(table!, k, p.width) };
          }}
        />
      )}
    </Box>
  );
}
