/**
 * `autopsy-ts open`: the full-screen UI. Everything that can fail on bad input runs before the
 * terminal is touched; then the alternate screen is entered and its restoration is tied to
 * signal-exit, so SIGINT, SIGTERM and SIGHUP leave the terminal as they found it, not only a clean q.
 * Without a terminal on stdout it prints the summary instead.
 */
import { writeFileSync } from 'node:fs';
import { onExit } from 'signal-exit';
import type { UiModel } from '../tui/model';
import { formatText } from './format-summary';
import { openInput } from './open-input';
import { safeLine } from './sanitize';

const ENTER_ALT = '\x1b[?1049h\x1b[H';
const LEAVE_ALT = '\x1b[?25h\x1b[?1049l';

export interface OpenOptions {
  diff?: string;
  /** Start on this view (1-5). */
  view?: number;
}

/**
 * V8's code cache for the modules loaded from here on (Ink's bundle, React, the views): Node >= 22.1
 * has it built in (node:module enableCompileCache, kept in the OS temp folder). Node 20 has no such
 * API; there this does nothing.
 */
function enableCompileCache(): void {
  const mod = require('node:module') as { enableCompileCache?: () => unknown };
  try {
    mod.enableCompileCache?.();
  } catch {
    // a read-only temp folder: start without the cache
  }
}

function plainSummary(m: UiModel): string {
  if (m.summary) return formatText(m.summary);
  if (m.kind === 'report') {
    // Loaded lazily: the report sections are only needed here and in the UI.
    const { reportSections } = require('../tui/report-sections') as typeof import('../tui/report-sections');
    return reportSections(m.report).map((s) => [s.title, ...s.lines.slice(0, 40).map((l) => `  ${safeLine(l, 300)}`)].join('\n')).join('\n\n') + '\n';
  }
  return '';
}

export async function openCommand(path: string, opts: OpenOptions = {}): Promise<void> {
  const model = await openInput(path, opts.diff);
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    if (model.kind === 'core') {
      // What `autopsy-ts core` prints (without llnode's object scan), or its one-line refusal.
      const { coreCommand } = require('./core') as typeof import('./core');
      process.stdout.write(coreCommand(model.core!.path, { objects: false }));
    } else if (model.kind === 'snapshot') {
      const { heapCommand } = await import('./heap.js');
      process.stdout.write(await heapCommand(model.heaps[0].path, { top: 30, diff: model.heaps[1]?.path }));
    } else process.stdout.write(plainSummary(model));
    return;
  }

  // React's development build costs ~30 ms a frame here against a few ms; and the bundled Ink
  // (scripts/bundle-ink.mjs) has the production reconciler, which React must match. This process is
  // ours and React is not loaded yet, so the choice is made here, whatever the shell says.
  process.env.NODE_ENV = 'production';
  // Ink renders only its last frame when it thinks it runs in CI (is-in-ci: CI, CONTINUOUS_INTEGRATION or
  // any CI_* variable). Here stdin and stdout are a terminal, so someone is looking: a CI=true inherited
  // from a build shell must not leave them a blank screen (seen in .ci/run's tmux test).
  for (const k of Object.keys(process.env)) if (k === 'CI' || k === 'CONTINUOUS_INTEGRATION' || k.startsWith('CI_')) delete process.env[k];
  enableCompileCache();
  // require(), not import(): a CommonJS module imported from ESM is first scanned by cjs-module-lexer
  // for its export names (~30 ms of CPU here for React and the views). Only Ink needs import().
  const { createElement } = require('react') as typeof import('react');
  const { loadInk } = require('../tui/ink-runtime') as typeof import('../tui/ink-runtime');
  const { SizedApp } = require('../tui/app') as typeof import('../tui/app');
  const { themeFor } = require('../tui/theme') as typeof import('../tui/theme');
  const { WorkerHeapSession } = require('../tui/heap-session') as typeof import('../tui/heap-session');
  const { ProcessCoreSession } = require('../tui/core-session') as typeof import('../tui/core-session');
  const ink = await loadInk({ bundled: true });
  const heap = model.heaps.length ? new WorkerHeapSession(model.heaps) : undefined;
  const core = model.core ? new ProcessCoreSession(model.core.path) : undefined;

  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    // gdb or lldb may still be reading the core: a signal must not leave them behind.
    void core?.close();
    try {
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
    } catch {
      // the terminal may already be gone (SIGHUP)
    }
    try {
      process.stdout.write(LEAVE_ALT);
    } catch {
      // EPIPE/EIO after a hangup: nothing left to restore
    }
  };
  const removeExitHandler = onExit(() => restore(), { alwaysLast: true });
  process.stdout.write(ENTER_ALT);
  try {
    const initialView = opts.view ? opts.view - 1 : model.kind === 'snapshot' ? 2 : model.kind === 'report' ? 4 : model.kind === 'core' ? 1 : 0;
    const metricsFile = process.env.AUTOPSY_TUI_METRICS;
    const metrics: number[] | undefined = metricsFile ? [] : undefined;
    let first: { sinceStartMs: number; cpuMs: number } | undefined;
    let quit = () => {};
    const app = ink.render(createElement(SizedApp, { model, heap, core, theme: themeFor(process.env), initialView, onQuit: () => quit() }), {
      exitOnCtrlC: false,
      patchConsole: true,
      maxFps: 60,
      // bench/tui.ts: Ink's own time per frame (layout and output), apart from terminal and scheduling.
      onRender: metrics
        ? (m) => {
          // The first frame: time since the process started, and the CPU it had used.
          if (!metrics.length) first = { sinceStartMs: Math.round(performance.now()), cpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000) };
          metrics.push(Math.round(m.renderTime * 100) / 100);
        }
        : undefined,
    });
    quit = () => app.unmount();
    await app.waitUntilExit();
    if (metricsFile && metrics) writeFileSync(metricsFile, JSON.stringify({ first, renderMs: metrics }));
  } finally {
    await heap?.close();
    await core?.close();
    restore();
    removeExitHandler();
  }
}
