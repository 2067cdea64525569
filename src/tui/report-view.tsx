/** View 5: the diagnostic report by section (process, stacks, heap, resources, handles, environment, libraries). */
import { useMemo } from 'react';
import { filterIndices } from './filter';
import { inkApi } from './ink-runtime';
import { ListWindow } from './list';
import { reportRows, reportSections } from './report-sections';
import { useList } from './use-list';
import { useViewKeys } from './view-keys';
import type { ViewProps } from './view-props';

export function ReportView(p: ViewProps) {
  const { Box } = inkApi();
  const rows = useMemo(() => reportRows(reportSections(p.model.report)), [p.model.report]);
  // A search keeps the section headers, so a matching line still says which section it is in.
  const shown = useMemo(() => filterIndices(rows.length, (i) => (rows[i].header ? p.query : rows[i].text), p.query), [rows, p.query]);
  const list = useList(shown.length, p.height);
  // ] and [ jump between sections: the environment and the shared objects are long.
  useViewKeys(p.active, (a) => {
    if (a.type === 'char' && (a.char === ']' || a.char === '[')) {
      const dir = a.char === ']' ? 1 : -1;
      for (let i = list.cursor.selected + dir; i >= 0 && i < shown.length; i += dir) {
        if (rows[shown[i]].header) {
          list.select(i);
          break;
        }
      }
      return true;
    }
    return list.move(a);
  });
  return (
    <Box flexDirection="column" height={p.height}>
      <ListWindow
        width={p.width}
        count={shown.length}
        cursor={list.cursor}
        height={p.height}
        theme={p.theme}
        empty={rows.length ? 'no line matches the search' : 'no diagnostic report in this input'}
        row={(i) => {
          const r = rows[shown[i]];
          return { text: r.text, style: r.header ? { bold: true, color: p.theme.accent } : undefined };
        }}
      />
    </Box>
  );
}
