import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { readBundleHead } from '../bundle/reader';
import { summarize } from '../bundle/summary';
import { BundleFormatError } from '../bundle/tar';
import { HeapSnapshotError } from '../heap/types';
import { makeDirs } from '../hook/bundle-dir';
import { getHookVersion } from '../hook/version';
import { runDemo } from './demo';
import { dump } from './dump';
import { CliError } from './errors';
import { formatJson, formatMarkdown, formatText } from './format-summary';
import { defaultBundleDir, listBundles } from './ls';
import { safeJson, safeLine } from './sanitize';
import { verifyBundle } from './verify';

function out(text: string): void {
  process.stdout.write(text);
}

function positiveInt(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('expected a positive whole number');
  return Number(v);
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('expected seconds, between 0 and 3600');
  return n;
}

async function printSummary(path: string, format: string): Promise<void> {
  const s = summarize(await readBundleHead(path));
  out(format === 'json' ? formatJson(s) : format === 'markdown' ? formatMarkdown(s) : formatText(s));
}

export function buildProgram(): Command {
  const program = new Command('autopsy-ts')
    .description('Post-mortem toolkit for Node.js: read, verify and list crash bundles; ask a hooked process for one.')
    .version(getHookVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(safeLine(str.trim()) + '\n') });

  program
    .command('summary')
    .description('what happened, from a bundle: reason, error with its causes, source-mapped frames, code excerpt, last events')
    .argument('<bundle>', 'a bundle (.tgz)')
    .addOption(new Option('-f, --format <format>', 'text for terminals, markdown for a ticket, json for scripts').choices(['text', 'markdown', 'json']).default('text'))
    .option('--json', 'same as --format json')
    .action(async (bundle: string, opts: { format: string; json?: boolean }) => {
      await printSummary(bundle, opts.json ? 'json' : opts.format);
    });

  program
    .command('verify')
    .description('check a bundle: checksums of every file and the schema (docs/bundle-schema.json); exit 0 only when intact')
    .argument('<bundle>', 'a bundle (.tgz)')
    .option('--json', 'print the result as JSON')
    .action(async (bundle: string, opts: { json?: boolean }) => {
      const r = await verifyBundle(bundle);
      if (opts.json) out(safeJson(r) + '\n');
      else if (r.ok) out(`ok: ${safeLine(bundle)} (${r.files} files, format v${r.formatVersion})\n`);
      else {
        for (const p of r.problems) process.stderr.write(`${safeLine(p, 500)}\n`);
        process.stderr.write(`autopsy-ts: ${safeLine(bundle)} is damaged: ${r.problems.length} problem(s)\n`);
      }
      if (!r.ok) process.exitCode = 1;
    });

  program
    .command('ls')
    .description('list the bundles in a folder: time, reason, pid, size and first error line')
    .argument('[dir]', 'bundle folder (default: $AUTOPSY_DIR or ./autopsy-bundles)')
    .option('--json', 'print JSON')
    .action(async (dir: string | undefined, opts: { json?: boolean }) => {
      const rows = await listBundles(dir ? resolve(dir) : defaultBundleDir());
      if (opts.json) return out(safeJson(rows) + '\n');
      if (!rows.length) return out('no bundles\n');
      for (const r of rows) {
        const size = r.size >= 1024 * 1024 ? `${(r.size / 1024 / 1024).toFixed(1)}M` : `${Math.ceil(r.size / 1024)}K`;
        const what = r.problem ? `(unreadable: ${r.problem})` : r.error ?? '';
        out(`${safeLine(r.time ?? '?').padEnd(24)} ${safeLine(r.reason ?? '?').padEnd(20)} ${String(r.pid ?? '?').padStart(7)} ${size.padStart(7)}  ${safeLine(what, 120)}\n`);
        out(`  ${safeLine(r.file)}\n`);
      }
    });

  program
    .command('dump')
    .description('ask a process running the hook for an on-demand bundle, wait until it is complete, print its path')
    .argument('<pid>', 'process id', positiveInt)
    .option('--heap', 'include a heap snapshot (refused, with the reason, when memory headroom is too small)')
    .option('--core', 'write a core dump beside the bundle (Linux x64, native addon); its path is printed on a second line')
    .option('--embed-core', 'as --core, and the core also goes into the bundle, gzip-compressed, as core/<name>.core.gz')
    .option('--timeout <seconds>', 'how long to wait for the bundle (default 30, 120 with --heap, 300 with --core, 600 with --embed-core)', seconds)
    .action(async (pid: number, opts: { heap?: boolean; core?: boolean; embedCore?: boolean; timeout?: number }) => {
      const wait = opts.timeout ?? (opts.embedCore ? 600 : opts.core ? 300 : opts.heap ? 120 : 30);
      const r = await dump(pid, { heap: opts.heap, core: opts.core, embedCore: opts.embedCore, timeoutMs: wait * 1000 });
      out(`${safeLine(r.path)}\n`);
      if (r.core) out(`${safeLine(r.core)}\n`);
      if (r.note) process.stderr.write(`autopsy-ts: ${safeLine(r.note)}\n`);
      if (r.warning) throw new CliError(`bundle written without what was asked: ${r.warning}`);
    });

  program
    .command('heap')
    .description('analyse a heap snapshot (or the one in a bundle): classes by retained size, a diff of two, retainer paths')
    .argument('<snapshot>', '.heapsnapshot, .heapsnapshot.gz, or a bundle with a heap/ entry')
    .option('--diff <snapshot>', 'compare with a later snapshot of the same process: growth per class, new objects by id, leak suspects')
    .option('--retainers <class|@id>', 'what holds the instances of a class, or the object with this id')
    .option('--top <n>', 'rows to show', positiveInt, 30)
    .option('--raw', 'raw per-class sums, without DevTools moving owned arrays and hidden nodes into their owner')
    .option('--strings', 'also list duplicated strings')
    .option('--json', 'print JSON')
    .action(async (snapshot: string, opts: { diff?: string; retainers?: string; top: number; raw?: boolean; strings?: boolean; json?: boolean }) => {
      const { heapCommand } = await import('./heap.js');
      out(await heapCommand(snapshot, opts));
    });

  program
    .command('timeline')
    .description("the flight recorder's events in a bundle: samples, GC, net, http, warnings, signals, exits, breadcrumbs, hangs")
    .argument('<bundle>', 'a bundle (.tgz)')
    .option('--kind <kinds>', 'only these kinds, comma-separated (e.g. net,http or sample)', (v: string, prev: string[] = []) => [...prev, ...v.split(',')])
    .option('--json', 'print {events: [...]} as JSON')
    .action(async (bundle: string, opts: { kind?: string[]; json?: boolean }) => {
      const { timelineCommand } = await import('./timeline.js');
      out(await timelineCommand(bundle, opts));
    });

  program
    .command('collect')
    .description('turn the flight recorders of processes that are gone (SIGKILL, OOM, fatal errors) into bundles')
    .argument('[dir]', 'bundle folder (default: $AUTOPSY_DIR or ./autopsy-bundles)')
    .option('--stale <seconds>', "collect other hosts' recorders after this long without a write (default 600)", seconds)
    .option('--json', 'print the results as JSON')
    .action(async (dir: string | undefined, opts: { stale?: number; json?: boolean }) => {
      const { collectCommand } = await import('./collect.js');
      out(collectCommand(dir ? resolve(dir) : defaultBundleDir(), opts));
    });

  program
    .command('leak-report')
    .description('compute the leak diff of a memory-leak bundle (the hook does this by itself) and add it as leak.json')
    .argument('<bundle>', 'a memory-leak bundle (.tgz) with heap/leak-a and heap/leak-b')
    .action(async (bundle: string) => {
      const { leakReport } = await import('./leak-report.js');
      const r = await leakReport(bundle);
      out(`${safeLine(bundle)}: leak.json added (${r.suspects} suspects, ${r.tookMs} ms)\n`);
    });

  program
    .command('core')
    .description('a core dump (from dump --core, gcore or the kernel): the main thread\'s native frames (gdb) and JS frames and objects (llnode), and what autopsy-ts recorded in it')
    .argument('<core>', 'an ELF core file')
    .option('--node <binary>', 'the node binary that ran the process (default: the one recorded in the core)')
    .option('--json', 'print JSON')
    .option('--no-objects', 'skip llnode\'s object counts (v8 findjsobjects scans the whole heap)')
    .option('--timeout <seconds>', 'limit for each llnode run (default 120)', seconds)
    .action(async (core: string, opts: { node?: string; json?: boolean; objects?: boolean; timeout?: number }) => {
      const { coreCommand } = await import('./core.js');
      out(coreCommand(core, { ...opts, timeout: opts.timeout === undefined ? undefined : opts.timeout * 1000 }));
    });

  program
    .command('open')
    .description('browse a bundle, heap snapshot or diagnostic report in a full-screen UI (stack, objects, timeline, report); prints the summary when stdout is not a terminal')
    .argument('<input>', 'a bundle (.tgz), an unpacked bundle folder, a .heapsnapshot[.gz] or a diagnostic report .json')
    .option('--diff <snapshot>', 'a later heap snapshot of the same process: the Objects view gets a diff mode (d)')
    .addOption(new Option('--view <n>', 'start on view 1-5').argParser(positiveInt))
    .action(async (input: string, opts: { diff?: string; view?: number }) => {
      if (opts.view !== undefined && opts.view > 5) throw new CliError('--view takes 1 to 5');
      const { openCommand } = await import('./open.js');
      await openCommand(input, opts);
    });

  program
    .command('demo')
    .description('run the example apps under the hook (they really crash), then show the newest bundle')
    .option('--dir <dir>', 'where the bundles go', 'autopsy-bundles')
    .action(async (opts: { dir: string }) => {
      const dir = resolve(opts.dir);
      makeDirs(dir, 0o700);
      const newest = runDemo(dir, (l) => process.stderr.write(l + '\n'));
      if (!newest) throw new CliError(`the examples wrote no bundle into ${dir}`);
      process.stderr.write(`\nnewest bundle: ${safeLine(newest)}\n\n`);
      await printSummary(newest, 'text');
    });

  return program;
}

/** The only place that decides exit codes: user errors are one line on stderr, never a stack. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    reportError(err);
  }
}

/** A user error is one line and exit 1 (or its own code); anything else is an internal error, exit 70. */
export function reportError(err: unknown): void {
  const known = err instanceof CliError || err instanceof BundleFormatError || err instanceof HeapSnapshotError || (err as NodeJS.ErrnoException)?.code === 'ENOENT';
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`autopsy-ts: ${safeLine(known ? msg : `internal error: ${msg}`, 1000)}\n`);
  if (!known && process.env.AUTOPSY_DEBUG) process.stderr.write(`${safeLine((err as Error).stack ?? '')}\n`);
  process.exitCode = err instanceof CliError ? err.exitCode : known ? 1 : 70;
}
