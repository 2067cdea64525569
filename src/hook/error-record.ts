import { types } from 'node:util';
import type { ErrorRecord, Frame } from '../bundle/types';
import { parseStack } from '../stack/parse-stack';
import { cut, previewValue } from './preview';

const MAX_DEPTH = 8;
const MAX_AGGREGATE = 20;
const MAX_STACK_CHARS = 64 * 1024;
const SKIP_PROPS = new Set(['name', 'message', 'stack', 'cause', 'errors']);

/** Reads an own or inherited data property without calling getters or Proxy get traps. */
function dataProp(obj: object, key: string): unknown {
  let o: object | null = obj;
  for (let i = 0; o && i < 10; i++) {
    const d = Object.getOwnPropertyDescriptor(o, key);
    if (d) return 'value' in d ? d.value : undefined;
    o = Object.getPrototypeOf(o);
  }
  return undefined;
}

let v8StackGetter: (() => unknown) | undefined | null = null;

/**
 * error.stack: a data property up to V8 12, an own accessor from V8 13 (Node 24). V8's own getter
 * is safe to call; an app's getter is not, so only the one that V8 installs on every error is used.
 */
function readStack(err: object): unknown {
  const d = Object.getOwnPropertyDescriptor(err, 'stack');
  if (!d) return dataProp(err, 'stack');
  if ('value' in d) return d.value;
  if (v8StackGetter === null) v8StackGetter = Object.getOwnPropertyDescriptor(new Error(), 'stack')?.get;
  return d.get && d.get === v8StackGetter ? d.get.call(err) : undefined;
}

function isErrorLike(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false;
  if (types.isNativeError(v) || v instanceof Error) return true;
  return typeof dataProp(v, 'message') === 'string' && typeof readStack(v) === 'string';
}

export type FrameMapper = (frames: Frame[]) => Frame[];

/**
 * Turns any thrown value into an ErrorRecord: name, message, code, own properties, cause chain,
 * AggregateError members and frames. Bounded in depth, and never throws.
 */
export function toErrorRecord(value: unknown, mapFrames: FrameMapper, depth = 0, seen: Set<unknown> = new Set()): ErrorRecord {
  try {
    if (!isErrorLike(value)) {
      const preview = previewValue(value);
      return {
        kind: 'value',
        name: value === null ? 'null' : typeof value === 'object' ? 'Object' : typeof value,
        message: cut(typeof preview === 'string' ? preview : safeJson(preview), 4000),
        props: typeof value === 'object' && value !== null ? { value: preview } : undefined,
        frames: [],
      };
    }
    seen.add(value);
    const name = String(dataProp(value, 'name') ?? 'Error');
    const message = String(dataProp(value, 'message') ?? '');
    const stackRaw = readStack(value);
    const stack = typeof stackRaw === 'string' ? cut(stackRaw, MAX_STACK_CHARS) : undefined;
    const rec: ErrorRecord = { kind: 'error', name: cut(name, 200), message: cut(message, 8000), frames: [] };
    const code = dataProp(value, 'code');
    if (typeof code === 'string' || typeof code === 'number') rec.code = code;
    if (stack) {
      rec.stack = stack;
      rec.frames = mapFrames(parseStack(stack));
    }
    const props: Record<string, unknown> = {};
    let any = false;
    for (const key of Object.keys(value).slice(0, 30)) {
      if (SKIP_PROPS.has(key) || (key === 'code' && rec.code !== undefined)) continue;
      const d = Object.getOwnPropertyDescriptor(value, key);
      props[key] = d && 'value' in d ? previewValue(d.value) : '[Getter]';
      any = true;
    }
    if (any) rec.props = props;

    const causeDesc = Object.getOwnPropertyDescriptor(value, 'cause');
    if (causeDesc && 'value' in causeDesc) {
      rec.cause = child(causeDesc.value, mapFrames, depth, seen);
    }
    const errors = dataProp(value, 'errors');
    if (Array.isArray(errors)) {
      rec.errors = errors.slice(0, MAX_AGGREGATE).map((e) => child(e, mapFrames, depth, seen));
    }
    return rec;
  } catch (err) {
    return { kind: 'value', name: 'Unreadable', message: `the thrown value could not be read: ${safeMessage(err)}`, frames: [] };
  }
}

function child(v: unknown, mapFrames: FrameMapper, depth: number, seen: Set<unknown>): ErrorRecord {
  if (seen.has(v)) return { kind: 'error', name: '[Circular]', message: '', frames: [], truncated: 'cycle' };
  if (depth + 1 >= MAX_DEPTH) return { kind: 'error', name: '[Truncated]', message: '', frames: [], truncated: 'depth' };
  return toErrorRecord(v, mapFrames, depth + 1, seen);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return '[Unserialisable]';
  }
}

function safeMessage(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unknown';
  }
}
