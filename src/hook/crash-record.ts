import type { Frame } from '../bundle/types';
import { parseStack } from '../stack/parse-stack';
import { stackTextOf } from './native-stack';

/**
 * Reading the crash record that the native addon's fatal-signal handler leaves beside the recorder
 * (`<base>.crash.json`, docs/bundle-format.md "native-crash.json"). Pure: the record may be damaged or
 * come from another version, so every field is checked.
 */
export interface CrashRecord {
  signal?: string;
  codeName?: string;
  faultAddress?: string;
  jsStack?: string;
  jsFrames?: { pc?: string; name?: string }[];
  nativeFrames?: { pc?: string; module?: string; offset?: string; symbol?: string }[];
}

/** The named JS frames of the record as bundle frames (lines are where each function is defined). */
export function crashFrames(record: unknown): Frame[] {
  const r = record as CrashRecord | undefined;
  if (!r || !Array.isArray(r.jsFrames)) return [];
  return parseStack(stackTextOf(r.jsFrames.map((f) => (f && typeof f.name === 'string' ? f.name : undefined))));
}

/** One line: the signal, where it hit, the innermost JS function and native frame. */
export function crashEvidence(record: unknown): string {
  const r = (record ?? {}) as CrashRecord;
  const parts = [`the native addon recorded ${typeof r.signal === 'string' ? r.signal : 'a fatal signal'}`];
  if (r.codeName || r.faultAddress) parts[0] += ` (${[r.codeName, r.faultAddress ? `at ${r.faultAddress}` : ''].filter(Boolean).join(' ')})`;
  const top = crashFrames(r)[0];
  if (top) parts.push(`in ${top.function || '<anonymous>'} (${top.file}:${top.line})`);
  else if (typeof r.jsStack === 'string' && r.jsStack !== 'captured') parts.push(`JS stack: ${r.jsStack.slice(0, 120)}`);
  const n = Array.isArray(r.nativeFrames) ? r.nativeFrames[0] : undefined;
  if (n && typeof n.module === 'string') parts.push(`native: ${typeof n.symbol === 'string' ? `${n.symbol} in ` : ''}${n.module.split('/').pop()}+${n.offset}`);
  return parts.join('; ');
}
