/**
 * The application frame: tab line, the active view, a status/search line, the help overlay, and the
 * single key dispatcher. A view is mounted the first time it is shown (the first frame builds only
 * one) and then stays mounted, hidden with display="none", so that it keeps its cursor and drill-down
 * when the user switches away and back.
 */
import { useEffect, useRef, useState } from 'react';
import type { CoreSession } from './core-session';
import type { HeapSession } from './heap-session';
import { inkApi } from './ink-runtime';
import { editQuery, isMoveOnly, parseKeys, splitKeys, type Action, type KeyItem } from './keys';
import { Line } from './list';
import type { UiModel } from './model';
import { ObjectsView } from './objects-view';
import { OverviewView } from './overview-view';
import { ReportView } from './report-view';
import { StackView } from './stack-view';
import type { Theme } from './theme';
import { TimelineView } from './timeline-view';
import { KeyContext, type KeyRef } from './view-keys';
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
  core?: CoreSession;
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
  const seen = useRef<boolean[]>([false, false, false, false, false]).current;
  seen[view] = true;
  const handler = useRef<KeyRef>({ current: null, version: 0 }).current;

  // The heap worker and the core inspection start after the first frame is out: the first screen
  // never waits for a snapshot or a debugger.
  // Then, idle, the first non-ASCII text (the status line's "·"): Ink's string-width compiles its
  // emoji regex and loads ICU's segmenter on first use (~100 ms of CPU). The first screen is ASCII so
  // that this cost comes after it, not before.
  const [warm, setWarm] = useState(false);
  useEffect(() => {
    const timer = setTimeout(() => {
      props.heap?.start();
      props.core?.start();
    }, 30);
    const warmTimer = setTimeout(() => setWarm(true), 60);
    return () => {
      clearTimeout(timer);
      clearTimeout(warmTimer);
    };
  }, [props.heap, props.core]);

  // Refs mirror the state: keys are handled from a queue, between renders, and must see the newest.
  const live = useRef({ view, editing, queries, help });
  live.current = { view, editing, queries, help };

  const setQuery = (q: string) => {
    const v = live.current.view;
    live.current.queries = live.current.queries.map((x, i) => (i === v ? q : x));
    setQueries((qs) => qs.map((x, i) => (i === v ? q : x)));
  };

  const dispatch = (a: Action): void => {
    const L = live.current;
    if (L.help) {
      if (a.type === 'quit') props.onQuit();
      else setHelp((L.help = false));
      return;
    }
    switch (a.type) {
      case 'quit': return props.onQuit();
      case 'help': return setHelp((L.help = true));
      case 'view': return setView((L.view = a.index));
      case 'search': return setEditing((L.editing = true));
      case 'next-view': return setView((L.view = (L.view + 1) % VIEWS.length));
      case 'prev-view': return setView((L.view = (L.view + VIEWS.length - 1) % VIEWS.length));
    }
    if (handler.current?.(a)) return;
    if (a.type === 'back' && L.queries[L.view]) setQuery('');
  };

  const handle = (it: KeyItem): void => {
    const L = live.current;
    if (L.editing) {
      const r = editQuery(L.queries[L.view], it.input, it.key);
      setQuery(r.query);
      if (r.done) setEditing((L.editing = false));
      return;
    }
    for (const a of parseKeys(it.input, it.key)) dispatch(a);
  };

  // Keys arrive several to a read ("jjj\r" from a fast typist, a paste or tmux). Moves compose, so a
  // run of them is handled at once; any other key waits until the view has rendered what came before
  // (its key handler's version moves), or Enter would open the row selected before the j's. A key
  // that changed nothing renders nothing: after 50 ms the queue goes on anyway.
  const queue = useRef<KeyItem[]>([]);
  const since = useRef({ any: false, other: false, version: 0 });
  const pump = useRef<() => void>(() => {});
  pump.current = () => {
    const q = queue.current;
    const s = since.current;
    if (s.any && handler.version !== s.version) Object.assign(s, { any: false, other: false });
    while (q.length) {
      const moveOnly = isMoveOnly(q[0], live.current.editing);
      if (s.other || (!moveOnly && s.any)) {
        const start = Date.now();
        const wait = () => {
          if (handler.version !== s.version || Date.now() - start > 50) {
            Object.assign(s, { any: false, other: false });
            pump.current();
          } else setTimeout(wait, 1);
        };
        setImmediate(wait);
        return;
      }
      if (!s.any) s.version = handler.version;
      handle(q.shift()!);
      s.any = true;
      if (!moveOnly) s.other = true;
    }
  };

  useInput((input, key) => {
    const idle = queue.current.length === 0;
    queue.current.push(...splitKeys(input, key));
    if (idle) pump.current();
  });

  const width = Math.max(20, props.columns);
  const height = Math.max(5, props.rows - 1);
  const bodyH = height - 2;
  const tabs = VIEWS.map((name, i) => ({ name, i }));
  const q = queries[view];
  const status = editing ? `/${q}█` : q ? `search: "${q}"  (Esc clears)` : `${model.title}  ${warm ? '·' : ' '}  ? help  q quit`;

  // Only the active view registers a key handler; it is set again on every render.
  handler.current = null;
  handler.version++;
  const viewProps = (i: number): ViewProps => ({ model, heap: props.heap, core: props.core, width, height: bodyH, active: !help && !editing && i === view, query: queries[i], setQuery: (q: string) => setQueries((qs) => qs.map((x, k) => (k === i ? q : x))), theme: t });

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
        {COMPONENTS.map((C, i) =>
          seen[i] ? (
            <Box key={i} display={!help && i === view ? 'flex' : 'none'} height={bodyH} flexDirection="column">
              <C {...viewProps(i)} />
            </Box>
          ) : null,
        )}
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
