/**
 * What the Overview and Stack views show for a core (pure): the process facts from the core's notes,
 * a headline, and the main thread's frames from gdb, llnode and the V8 walker, as `autopsy-ts core`
 * prints them.
 */
import type { CoreView } from '../core/inspect';
import type { CoreState } from './core-session';
import { bytes } from './format';
import type { RowStyle } from './list';
import type { StackRow } from './stack-rows';
import type { Theme } from './theme';

export function loadingLine(st: CoreState): string {
  return `reading core... ${st.seconds ?? 0} s (gdb: native frames; V8 walker, llnode: JS frames)`;
}

/**
 * The one line shown when no backend could read a stack (it fits 80 columns; the V8 walker's reason
 * follows as a note, and docs/native.md says how to install llnode).
 */
export function noBackendLine(v: CoreView): string | undefined {
  if (v.backends.gdb !== 'not installed' || v.backends.llnode !== 'not installed' || v.jsStack?.frames.length) return undefined;
  return 'no stack backend: install gdb for native frames or llnode for JS frames';
}

/** Where the main thread was: its first named JS frame, else its top native frame. */
export function coreHeadline(v: CoreView): string | undefined {
  const js = v.jsStack?.frames.find((f) => f.kind === 'js' && f.function) ?? undefined;
  if (js) return `main thread in JS: ${js.function}${js.script ? ` (${js.script}${js.line !== undefined ? `:${js.line}` : ''})` : ''}`;
  const ll = v.stack?.find((f) => f.kind === 'js' && !f.function.startsWith('<') && f.function !== '(anonymous)');
  if (ll) return `main thread in JS: ${ll.function}${ll.file ? ` (${ll.file}:${ll.line ?? '?'})` : ''}`;
  const top = v.stack?.[0] ?? v.nativeFrames?.[0];
  return top ? `main thread in native code: ${top.function}` : undefined;
}

export function coreStackRows(st: CoreState): StackRow[] {
  if (st.status === 'idle' || st.status === 'loading') return [{ kind: 'note', text: loadingLine(st) }];
  if (st.status === 'error' || !st.view) return [{ kind: 'note', text: st.error ?? 'cannot inspect the core' }];
  const v = st.view;
  const out: StackRow[] = [];
  const none = noBackendLine(v);
  if (none) out.push({ kind: 'note', text: none });
  if (v.stack?.length) {
    const llJs = v.stack.some((f) => f.kind === 'js');
    out.push({ kind: 'header', text: `Main thread, ${llJs ? 'native and JS frames' : 'native frames'} (gdb: ${v.backends.gdb}, llnode: ${v.backends.llnode})` });
    for (const f of v.stack) {
      const where = f.file ? `  ${f.file}:${f.line ?? '?'}${f.column ? `:${f.column}` : ''}` : f.library ? `  ${f.library}` : '';
      const kind = f.kind === 'js' ? 'JS' : f.kind === 'native' ? 'C ' : '--';
      out.push({
        kind: 'frame',
        text: `  #${String(f.index).padEnd(3)} ${kind} ${f.function}${where}`,
        dim: f.kind !== 'js',
        detail: [`${f.kind === 'js' ? 'JS' : f.kind === 'v8' ? 'V8' : f.kind} frame #${f.index}, from ${f.from}`, `function  ${f.function}`, ...(f.pc ? [`pc        ${f.pc}`] : []), ...(f.file ? [`source    ${f.file}:${f.line ?? '?'}${f.column ? `:${f.column}` : ''}`] : []), ...(f.library ? [`library   ${f.library}`] : [])],
      });
    }
  }
  const js = v.jsStack;
  if (js) {
    const how = js.start === 'c_entry_fp' ? `from c_entry_fp at isolate+${js.cEntryFpOffset} (${js.offsetSource})` : js.start === 'registers' ? 'from the interrupted registers' : 'none found';
    out.push({ kind: 'header', text: `Main thread, JS frames (V8 metadata walker, ${how})` });
    for (const f of js.frames) {
      const where = f.script ? `  ${f.script}${f.line !== undefined ? `:${f.line}` : ''}` : '';
      out.push({
        kind: 'frame',
        text: `  #${String(f.index).padEnd(3)} ${f.function || '(anonymous)'}${f.kind === 'builtin' ? ' [builtin]' : ''}${where}`,
        detail: [`JS frame #${f.index}${f.kind === 'builtin' ? ' (builtin)' : ''}, from the V8 walker`, `function  ${f.function || '(anonymous)'}`, ...(f.script ? [`script    ${f.script}`] : []), ...(f.line !== undefined ? [`defined   line ${f.line} (the function's start, not the executing line)`] : []), `fp        ${f.fp}`],
      });
    }
  }
  for (const p of [...v.problems, ...(js?.problems ?? [])]) out.push({ kind: 'note', text: `note: ${p}` });
  return out;
}

export function coreOverviewRows(title: string, size: number, st: CoreState, t: Theme): { text: string; style?: RowStyle }[] {
  const rows: { text: string; style?: RowStyle }[] = [];
  const head = (text: string) => rows.push({ text, style: { bold: true, color: t.accent } });
  const v = st.view;
  rows.push({ text: `core dump ${title}${v?.pid !== undefined ? ` of pid ${v.pid}` : ''}${v?.node ? ` (node ${v.node})` : ''}`, style: { bold: true, color: t.bad } });
  rows.push({ text: '' });
  head('Findings');
  if (st.status === 'idle' || st.status === 'loading') rows.push({ text: `  ${loadingLine(st)}`, style: { color: t.dim } });
  else if (st.status === 'error' || !v) rows.push({ text: `- ${st.error ?? 'cannot inspect the core'}`, style: { color: t.bad } });
  else {
    const none = noBackendLine(v);
    if (none) rows.push({ text: `- ${none}`, style: { color: t.warn } });
    const h = coreHeadline(v);
    if (h) rows.push({ text: `- ${h}` });
    const named = v.jsStack?.frames.filter((f) => f.kind === 'js').length ?? 0;
    if (v.stack?.length || named) rows.push({ text: `- ${v.stack?.length ?? 0} frames from gdb/llnode, ${named} JS frames from the V8 walker (2 Stack)` });
  }
  rows.push({ text: '' });
  head('Process');
  if (v) {
    rows.push({ text: `process   pid ${v.pid ?? '?'}  ${v.args ?? v.program ?? ''}`.trimEnd() });
    if (v.node) rows.push({ text: `runtime   node ${v.node}${v.v8 ? `, V8 ${v.v8}` : ''}` });
    if (v.nodeBinary) rows.push({ text: `binary    ${v.nodeBinary}${v.nodeBuildId ? ` (build-id ${v.nodeBuildId})` : ''}` });
    if (v.isolate) rows.push({ text: `isolate   ${v.isolate}${v.cEntryFpOffset !== undefined ? `, c_entry_fp at isolate+${v.cEntryFpOffset}` : ''}` });
    rows.push({ text: `core      ${bytes(v.size)} apparent, ${v.threads} thread${v.threads === 1 ? '' : 's'}, ${v.segments} segments, ${v.mappedFiles} mapped files` });
    rows.push({ text: `backends  gdb: ${v.backends.gdb}, llnode: ${v.backends.llnode}, V8 walker: ${v.jsStack ? `${v.jsStack.frames.length} frames` : 'not run'}` });
    for (const p of v.problems) rows.push({ text: `note      ${p}`, style: { color: t.warn } });
  } else rows.push({ text: `core      ${bytes(size)} apparent` });
  return rows;
}
