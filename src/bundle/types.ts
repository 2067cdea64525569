/**
 * Types of the bundle format v1: the contract between the hook and every analyser.
 * docs/bundle-format.md is the prose for these shapes; docs/bundle-schema.json the machine check.
 */

/** A position in a file; lines and columns are 1-based, as Node prints them. */
export interface Position {
  file: string;
  line: number;
  column: number;
}

/** One stack frame. file/line/column are the ORIGINAL position when a source map was found. */
export interface Frame {
  function: string;
  file: string;
  line: number;
  column: number;
  /** The generated (executed) position, present when a source map moved the frame. */
  generated?: Position;
  /** 'app' for the application's own code, 'node_modules' for dependencies, 'node' for node: internals, 'native' for native frames. */
  origin?: 'app' | 'node_modules' | 'node' | 'native' | 'unknown';
  /** true when the frame was an `async` continuation ("at async fn"). */
  async?: boolean;
  /** The raw line, when it could not be parsed into file/line/column. */
  raw?: string;
}

/** ±N lines of source around a frame, embedded so the bundle opens without the source tree. */
export interface SourceExcerpt {
  file: string;
  /** The line the frame points at (1-based). */
  line: number;
  /** 1-based line number of lines[0]. */
  startLine: number;
  lines: string[];
  /** Where the text came from: the file on disk, or the source map's sourcesContent. */
  from: 'disk' | 'sourcesContent';
}

/** An error, as captured. */
export interface ErrorRecord {
  /** 'error' for instances of Error (or error-like objects), 'value' for anything else that was thrown. */
  kind: 'error' | 'value';
  name: string;
  message: string;
  code?: string | number;
  /** Own properties other than name/message/stack/cause/errors, previewed and bounded. */
  props?: Record<string, unknown>;
  /** The stack as V8 formatted it (redacted, bounded). */
  stack?: string;
  frames: Frame[];
  cause?: ErrorRecord;
  /** AggregateError members. */
  errors?: ErrorRecord[];
  /** Set when a cycle or the depth bound cut the chain here. */
  truncated?: 'cycle' | 'depth';
}

export interface FileEntry {
  name: string;
  size: number;
  sha256: string;
}

export const FORMAT_NAME = 'autopsy-bundle';
export const FORMAT_VERSION = 1;

export type Reason =
  | 'uncaught-exception'
  | 'unhandled-rejection'
  | 'on-demand'
  | 'api'
  | 'hang'
  | 'oom'
  | 'memory-leak'
  | 'killed'
  | 'fatal-signal'
  | 'fatal-error';

export interface Manifest {
  format: typeof FORMAT_NAME;
  formatVersion: number;
  id: string;
  reason: Reason | string;
  time: string;
  pid: number;
  ppid: number;
  hostname: string;
  threadId: number;
  uptimeSeconds: number;
  cwd: string;
  node: string;
  v8: string;
  platform: string;
  arch: string;
  argv: string[];
  execArgv: string[];
  app?: { name?: string; version?: string; packageJson?: string };
  hook: { version: string; addon: 'loaded' | 'unavailable' };
  cluster?: { isWorker: boolean; workerId?: number };
  /** Free text given with the trigger (API capture message, signal name, ...). */
  trigger?: Record<string, unknown>;
  files: FileEntry[];
  /** Names (env vars, argv flags) whose values were replaced by [redacted]. Never the values. */
  redacted: string[];
  /** Things the capture could not do, one line each ("report: ...", "source map for x: ..."). */
  warnings?: string[];
}

/** Entry names of format v1. Later issues add the reserved ones; v1 readers accept them unread. */
export const ENTRY = {
  manifest: 'manifest.json',
  error: 'error.json',
  stack: 'stack.json',
  report: 'report.json',
  timeline: 'timeline.json',
  sources: 'sources.json',
} as const;

export const RESERVED_ENTRIES = ['hang.json', 'core.json', 'native-crash.json', 'samples.ndjson', 'leak.json', 'stdio.json'];
export const RESERVED_PREFIXES = ['heap/', 'core/', 'extra/'];

export interface TimelineEvent {
  time: number;
  kind: string;
  [key: string]: unknown;
}
