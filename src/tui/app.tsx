/**
 * The application frame: tab line, the active view, a status/search line, the help overlay, and the
 * single key dispatcher. All five views stay mounted (inactive ones with display="none") so that a
 * view keeps its cursor and drill-down when the user switches away and back.
 */
import { useEffect, useRef, useState } from 'react';
import type { HeapSession } from './heap-session';
import { inkApi } from './ink-runtime';
import { editQuery, parseKeys, type Action } from './keys';
import { Line } from './list';
import type { UiModel } from './model';
import { ObjectsView } from './objects-view';
import { OverviewView } from './overview-view';
import { ReportView } from './report-view';
import { StackView } from './stack-view';
import type { Theme } from './theme';
import { TimelineView } from './timeline-view';
import { KeyContext, type KeyHandler } from './view-keys';
import type { ViewProps } from './view-props';

export const VIEWS = ['Overview', 'Stack', 'Objects', 'Timeline', 'Report'] as const;
const COMPONENTS = [OverviewView, StackView, ObjectsView, TimelineView, ReportView];

export const HELP = [
  '1-5, Tab, Shift-Tab   switch views',
  'j/k, arrows           move',
  'PgUp/PgDn, g/G        page, first, last',
  'Enter, →              drill in (class → instances → retainers → dominated)',
  'Esc, ←                back; clears the search',
  '/                     search the current view (Enter keeps it, Esc drops it)',
  's                     Objects: sort by retained, self, count, name',
  'd                     Objects: diff of the two snapshots (when there are two)',
  't                     Objects: dominator tree of the selected object, or of the roots',
  '[ ]                   Report: previous / next section',
  '?                     this help',
  'q, Ctrl-C             quit',
];

export interface AppProps {
  model: UiModel;
  heap?: HeapSession;
  theme: Theme;
  /** Terminal size; the root is kept one row short of it (Ink 6 redraws the whole screen at full height). */
  columns: number;
  rows: number;
  initialView?: number;
  onQuit: () => void;
}

export function App(props: AppProps) {
  const { Box, useInput } = inkApi();
  const { model, theme: t } = props;
  const [view, setView] = useState(props.initialView ?? 0);
  const [help, setHelp] = useState(false);
  const [editing, setEditing] = useState(false);
  const [queries, setQueries] = useState<string[]>(['', '', '', '', '']);
  const handler = useRef<KeyHandler | null>(null);

  // The heap worker starts after the first frame is out: the first screen never waits for a snapshot.
  useEffect(() => {
    const timer = setTimeout(() => props.heap?.start(), 30);
    return () => clearTimeout(timer);
  }, [props.heap]);

  const setQuery = (q: string) => setQueries((qs) => qs.map((x, i) => (i === view ? q : x)));

  const dispatch = (a: Action): void => {
    if (help) {
      if (a.type === 'quit') props.onQuit();
      else setHelp(false);
      return;
    }
    switch (a.type) {
      case 'quit': return props.onQuit();
      case 'help': return setHelp(true);
      case 'view': return setView(a.index);
      case 'search': return setEditing((live.current.editing = true));
      case 'next-view': return setView((v) => (v + 1) % VIEWS.length);
      case 'prev-view': return setView((v) => (v + VIEWS.length - 1) % VIEWS.length);
    }
    if (handler.current?.(a)) return;
    if (a.type === 'back' && live.current.queries[live.current.view]) setQuery('');
  };

  // Refs mirror the state so that several keys in one input string ("/Order\r", "3jj") see each
  // other's effects before React re-renders.
  const live = useRef({ view, editing, queries });
  live.current = { view, editing, queries };

  useInput((input, key) => {
    const L = live.current;
    const special = key.return || key.escape || key.backspace || key.delete || key.tab || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.pageUp || key.pageDown || key.ctrl || key.meta;
    const commitQuery = (q: string) => {
      const v = L.view;
      L.queries = L.queries.map((x, i) => (i === v ? q : x));
      setQueries((qs) => qs.map((x, i) => (i === v ? q : x)));
    };
    if (special) {
      if (L.editing) {
        const r = editQuery(L.queries[L.view], input, key);
        commitQuery(r.query);
        if (r.done) setEditing((L.editing = false));
      } else for (const a of parseKeys(input, key)) dispatch(a);
      return;
    }
    for (const ch of input) {
      if (L.editing) {
        const r = editQuery(L.queries[L.view], ch === '\r' || ch === '\n' ? '' : ch, { return: ch === '\r' || ch === '\n' });
        commitQuery(r.query);
        if (r.done) setEditing((L.editing = false));
        continue;
      }
      for (const a of parseKeys(ch, {})) {
        if (a.type === 'search' && !help) setEditing((L.editing = true));
        else dispatch(a);
        if (a.type === 'view') L.view = a.index;
      }
    }
  });

  const width = Math.max(20, props.columns);
  const height = Math.max(5, props.rows - 1);
  const bodyH = height - 2;
  const tabs = VIEWS.map((name, i) => ({ name, i }));
  const q = queries[view];
  const status = editing ? `/${q}█` : q ? `search: "${q}"  (Esc clears)` : `${model.title}    ? help  q quit`;

  // Only the active view registers a key handler; it is set again on every render.
  handler.current = null;
  const viewProps = (i: number): ViewProps => ({ model, heap: props.heap, width, height: bodyH, active: !help && !editing && i === view, query: queries[i], setQuery: (q: string) => setQueries((qs) => qs.map((x, k) => (k === i ? q : x))), theme: t });

  return (
    <KeyContext.Provider value={handler}>
      <Box flexDirection="column" width={width} height={height}>
        <Box height={1}>
          {tabs.map(({ name, i }) => (
            <Box key={name} marginRight={1}>
              <Line text={` ${i + 1} ${name} `} inverse={i === view} style={{ bold: i === view, color: i === view ? undefined : t.dim }} theme={t} />
            </Box>
          ))}
        </Box>
        {help ? (
          <Box flexDirection="column" height={bodyH}>
            <Line text="Keys" style={{ bold: true, color: t.accent }} theme={t} />
            {HELP.slice(0, bodyH - 1).map((h) => <Line key={h} text={h} theme={t} />)}
          </Box>
        ) : null}
        {COMPONENTS.map((C, i) => (
          <Box key={i} display={!help && i === view ? 'flex' : 'none'} height={bodyH} flexDirection="column">
            <C {...viewProps(i)} />
          </Box>
        ))}
        <Line text={status} style={{ color: editing ? t.accent : t.dim }} theme={t} />
      </Box>
    </KeyContext.Provider>
  );
}

/** The App at the terminal's size, following resizes. */
export function SizedApp(props: Omit<AppProps, 'columns' | 'rows'>) {
  const { useStdout } = inkApi();
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const on = () => setSize(read());
    stdout.on('resize', on);
    return () => void stdout.off('resize', on);
  }, [stdout]);
  return <App {...props} columns={size.columns} rows={size.rows} />;
}
