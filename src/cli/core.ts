import { CoreInputError, inspectCore, type CoreView } from '../core/inspect';
import { CliError } from './errors';
import { safeJson, safeLine } from './sanitize';

/** `autopsy-ts core <core> [--node <binary>] [--json]`: returns the text to print. */
export function coreCommand(path: string, opts: { node?: string; json?: boolean }): string {
  let view: CoreView;
  try {
    view = inspectCore(path, { node: opts.node });
  } catch (err) {
    if (err instanceof CoreInputError) throw new CliError(err.message);
    throw err;
  }
  if (!view.nativeFrames && view.backends.gdb !== 'failed') {
    throw new CliError(`${path}: no stack backend installed: install gdb for native frames (apt-get install gdb); JS frames need llnode (docs/native.md)`);
  }
  if (opts.json) return safeJson(view) + '\n';
  return formatCoreView(view);
}

export function formatCoreView(v: CoreView): string {
  const out: string[] = [];
  const gb = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GB` : `${(n / 1024 ** 2).toFixed(1)} MB`);
  out.push(`core ${safeLine(v.core)} (${gb(v.size)} apparent, ${v.segments} segments, ${v.mappedFiles} mapped files)`);
  out.push(`process ${v.pid ?? '?'} ${safeLine(v.args ?? v.program ?? '')}`.trimEnd());
  if (v.node) out.push(`node ${safeLine(v.node)}, isolate ${safeLine(v.isolate ?? '?')}${v.cEntryFpOffset !== undefined ? `, c_entry_fp at isolate+${v.cEntryFpOffset}` : ''}`);
  if (v.nodeBinary) out.push(`binary ${safeLine(v.nodeBinary)}${v.nodeBuildId ? ` (build-id ${v.nodeBuildId})` : ''}`);
  out.push('', `Main thread, native frames (gdb: ${v.backends.gdb}):`);
  for (const f of v.nativeFrames ?? []) {
    const where = f.file ? ` at ${f.file}:${f.line}` : f.library ? ` from ${f.library}` : '';
    out.push(`  #${String(f.index).padEnd(3)} ${safeLine(f.function, 200)}${safeLine(where, 300)}`);
  }
  out.push('', `JS frames: llnode ${v.backends.llnode} (docs/native.md)`);
  for (const p of v.problems) out.push(`note: ${safeLine(p, 500)}`);
  return out.join('\n') + '\n';
}
