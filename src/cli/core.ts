import { CoreInputError, inspectCore, type CoreView } from '../core/inspect';
import { CliError } from './errors';
import { safeJson, safeLine } from './sanitize';

/** `autopsy-ts core <core> [--node <binary>] [--json] [--no-objects]`: returns the text to print. */
export function coreCommand(path: string, opts: { node?: string; json?: boolean; objects?: boolean; timeout?: number }): string {
  let view: CoreView;
  try {
    view = inspectCore(path, { node: opts.node, objects: opts.objects, llnodeTimeoutMs: opts.timeout });
  } catch (err) {
    if (err instanceof CoreInputError) throw new CliError(err.message);
    throw err;
  }
  if (view.backends.gdb === 'not installed' && view.backends.llnode === 'not installed' && !view.jsStack?.frames.length) {
    const why = view.jsStack?.problems.find((p) => p.startsWith('JS frames:'))?.slice('JS frames: '.length);
    throw new CliError(
      `${path}: no stack backend installed: install gdb for native frames (apt-get install gdb), and llnode for JS frames and object counts (apt-get install lldb-16 liblldb-16-dev, then llnode into .cache/llnode: docs/native.md); the V8 walker found no JS frames${why ? ` (${safeLine(why, 300)})` : ''}`,
    );
  }
  if (opts.json) return safeJson(view) + '\n';
  return formatCoreView(view);
}

const TOP_OBJECTS = 25;

export function formatCoreView(v: CoreView): string {
  const out: string[] = [];
  const gb = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GB` : `${(n / 1024 ** 2).toFixed(1)} MB`);
  out.push(`core ${safeLine(v.core)} (${gb(v.size)} apparent, ${v.segments} segments, ${v.mappedFiles} mapped files)`);
  out.push(`process ${v.pid ?? '?'} ${safeLine(v.args ?? v.program ?? '')}`.trimEnd());
  if (v.node) out.push(`node ${safeLine(v.node)}, isolate ${safeLine(v.isolate ?? '?')}${v.cEntryFpOffset !== undefined ? `, c_entry_fp at isolate+${v.cEntryFpOffset}` : ''}`);
  if (v.nodeBinary) out.push(`binary ${safeLine(v.nodeBinary)}${v.nodeBuildId ? ` (build-id ${v.nodeBuildId})` : ''}`);
  const llJs = v.stack?.some((f) => f.kind === 'js');
  out.push('', `Main thread, ${llJs ? 'native and JS frames' : 'native frames'} (gdb: ${v.backends.gdb}, llnode: ${v.backends.llnode}):`);
  for (const f of v.stack ?? []) {
    const where = f.file ? ` at ${f.file}:${f.line}${f.column ? `:${f.column}` : ''}` : f.library ? ` from ${f.library}` : '';
    const kind = llJs ? `${f.kind === 'js' ? 'JS' : f.kind === 'native' ? 'C' : '--'} ` : '';
    out.push(`  #${String(f.index).padEnd(3)} ${kind}${safeLine(f.function, 200)}${safeLine(where, 300)}`);
  }
  // --- v8 walker (issue 8 part 4) ---
  const js = v.jsStack;
  if (js) {
    const how = js.start === 'c_entry_fp' ? `from c_entry_fp at isolate+${js.cEntryFpOffset} (${js.offsetSource})` : js.start === 'registers' ? 'from the interrupted registers' : 'none found';
    out.push('', `Main thread, JS frames (V8 metadata walker, ${how}):`);
    for (const f of js.frames) {
      const where = f.script ? ` ${safeLine(f.script, 300)}${f.line !== undefined ? `:${f.line}` : ''}` : '';
      out.push(`  #${String(f.index).padEnd(3)} ${safeLine(f.function, 200)}${f.kind === 'builtin' ? ' [builtin]' : ''}${where}`);
    }
  }
  // --- end v8 walker ---
  if (v.objects?.length) {
    out.push('', `JS objects by constructor (llnode v8 findjsobjects, top ${Math.min(TOP_OBJECTS, v.objects.length)} of ${v.objects.length}):`, '   instances       bytes  name');
    for (const o of v.objects.slice(0, TOP_OBJECTS)) out.push(`  ${String(o.instances).padStart(10)}  ${String(o.totalSize).padStart(10)}  ${safeLine(o.name, 200)}`);
  }
  if (v.backends.llnode === 'not installed') out.push('', 'JS objects: llnode not installed (docs/native.md)');
  for (const p of [...v.problems, ...(v.jsStack?.problems ?? [])]) out.push(`note: ${safeLine(p, 500)}`);
  return out.join('\n') + '\n';
}
