/**
 * Colours, or none: with NO_COLOR set (https://no-color.org) every colour is dropped and only
 * inverse/bold remain, which are attributes, not colours, and keep the selection visible.
 */
export interface Theme {
  color: boolean;
  accent?: string;
  dim?: string;
  warn?: string;
  bad?: string;
  good?: string;
}

export function themeFor(env: NodeJS.ProcessEnv): Theme {
  const off = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  return off ? { color: false } : { color: true, accent: 'cyan', dim: 'gray', warn: 'yellow', bad: 'red', good: 'green' };
}
