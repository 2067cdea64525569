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
  if (view.backends.gdb === 'not installed' && view.backends.llnode === 'not installed') {
    throw new CliError(
      `${path}: no stack backend installed: install gdb for native frames (apt-get install gdb), and llnode for JS frames and object counts (apt-get install lldb-16 liblldb-16-dev, then llnode into .cache/llnode: docs/native.md)`,
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
  const js = v.stack?.some((f) => f.kind === 'js');
  out.push('', `Main thread, ${js ? 'native and JS frames' : 'native frames'} (gdb: ${v.backends.gdb}, llnode: ${v.backends.llnode}):`);
  for (const f of v.stack ?? []) {
    const where = f.file ? ` at ${f.file}:${f.line}${f.column ? `:${f.column}` : ''}` : f.library ? ` from ${f.library}` : '';
    const kind = js ? `${f.kind === 'js' ? 'JS' : f.kind === 'native' ? 'C' : '--'} ` : '';
    out.push(`  #${String(f.index).padEnd(3)} ${kind}${safeLine(f.function, 200)}${safeLine(where, 300)}`);
  }
  if (v.objects?.length) {
    out.push('', `JS objects by constructor (llnode v8 findjsobjects, top ${Math.min(TOP_OBJECTS, v.objects.length)} of ${v.objects.length}):`, '   instances       bytes  name');
    for (const o of v.objects.slice(0, TOP_OBJECTS)) out.push(`  ${String(o.instances).padStart(10)}  ${String(o.totalSize).padStart(10)}  ${safeLine(o.name, 200)}`);
  }
  if (v.backends.llnode === 'not installed') out.push('', 'JS frames and objects: llnode not installed (docs/native.md)');
  for (const p of v.problems) out.push(`note: ${safeLine(p, 500)}`);
  return out.join('\n') + '\n';
}
