/**
 * The building blocks every view draws with. `Line` is the one place text reaches Ink, and it always
 * passes through safeLine: strings from a bundle can hold terminal escapes. `ListWindow` draws only
 * the visible rows of a list of any length.
 */
import { safeLine } from '../cli/sanitize';
import { inkApi } from './ink-runtime';
import type { Theme } from './theme';
import { visibleRange, type Cursor } from './windowing';

export interface RowStyle {
  color?: string;
  bold?: boolean;
  dim?: boolean;
}

/**
 * Text longer than the screen is cut here, before Ink sees it: Ink measures every string with
 * string-width (grapheme segmentation), and a 1,000-character line cost more than the whole row.
 */
const MAX_COLUMNS = 300;

export function Line(props: { text: string; style?: RowStyle; inverse?: boolean; theme?: Theme; width?: number }) {
  const { Text } = inkApi();
  const st = props.style ?? {};
  const max = Math.min(MAX_COLUMNS, props.width ? props.width + 1 : MAX_COLUMNS);
  let text = safeLine(props.text.length > max ? props.text.slice(0, max) : props.text, max);
  // Cut to the width here with ASCII dots: Ink's own "…" is the first non-ASCII text of a screen and
  // costs string-width's cold start (~90 ms) on the first frame.
  if (props.width && text.length > props.width) text = text.slice(0, Math.max(0, props.width - 3)) + '...';
  return (
    <Text wrap="truncate-end" color={props.theme?.color === false ? undefined : st.color} bold={st.bold} dimColor={st.dim && props.theme?.color !== false} inverse={props.inverse}>
      {text || ' '}
    </Text>
  );
}

export function ListWindow(props: {
  count: number;
  cursor: Cursor;
  height: number;
  row: (i: number) => { text: string; style?: RowStyle };
  theme: Theme;
  focused?: boolean;
  empty?: string;
  width?: number;
}) {
  const { Box } = inkApi();
  const { count, cursor, height } = props;
  if (count === 0) {
    return (
      <Box height={height} flexDirection="column">
        <Line text={props.empty ?? '(nothing)'} style={{ color: props.theme.dim, dim: true }} theme={props.theme} />
      </Box>
    );
  }
  const [from, to] = visibleRange(cursor, count, height);
  const rows = [];
  for (let i = from; i < to; i++) {
    const r = props.row(i);
    rows.push(<Line key={i} text={r.text} style={r.style} inverse={props.focused !== false && i === cursor.selected} theme={props.theme} width={props.width} />);
  }
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      {rows}
    </Box>
  );
}

/** "[#####-----] 45%" for the heap worker's progress. */
export function progressBar(done: number, width: number): string {
  const w = Math.max(4, width);
  const n = Math.round(Math.min(1, Math.max(0, done)) * w);
  return `[${'#'.repeat(n)}${'-'.repeat(w - n)}] ${Math.floor(done * 100)}%`;
}
