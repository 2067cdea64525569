import type { CoreSession } from './core-session';
import type { HeapSession } from './heap-session';
import type { UiModel } from './model';
import type { Theme } from './theme';

/** What every view gets from the app: its data, its box, whether it has the keys, the search. */
export interface ViewProps {
  model: UiModel;
  heap?: HeapSession;
  /** The core inspection, when the input is a core. */
  core?: CoreSession;
  width: number;
  height: number;
  active: boolean;
  query: string;
  /** Replaces this view's search (a drill-down starts unfiltered and Esc restores the parent's). */
  setQuery?: (q: string) => void;
  theme: Theme;
}
