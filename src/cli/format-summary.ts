import { describeEvent } from '../timeline/events';
import type { TimelineEvent } from '../bundle/types';
import { frameLocation, type Summary } from '../bundle/summary';
import type { ErrorRecord, Frame, SourceExcerpt } from '../bundle/types';
import { mdCode, mdText, safeJson, safeLine } from './sanitize';

const MAX_FRAMES = 12;

function frameLines(frames: Frame[], cwd: string): string[] {
  const out: string[] = [];
  let hidden = 0;
  for (const f of frames) {
    if (out.length >= MAX_FRAMES) {
      hidden++;
      continue;
    }
    const loc = frameLocation(f, cwd);
    const gen = f.generated ? ` [${frameLocation({ ...f, ...f.generated }, cwd)}]` : '';
    out.push(`${f.async ? 'async ' : ''}${f.function || '<anonymous>'} (${loc})${gen}`);
  }
  if (hidden) out.push(`… ${hidden} more frames`);
  return out.map((l) => safeLine(l, 500));
}

function errorBlock(e: ErrorRecord, cwd: string, depth: number, out: string[], indent: string): void {
  const head = e.kind === 'value' ? `thrown ${e.name}: ${e.message}` : `${e.name}: ${e.message}`;
  out.push(indent + safeLine(head.split('\n')[0], 1000));
  for (const extra of e.message.split('\n').slice(1, 6)) out.push(indent + '  ' + safeLine(extra, 1000));
  if (e.code !== undefined) out.push(`${indent}  code: ${safeLine(e.code)}`);
  if (e.props) {
    for (const [k, v] of Object.entries(e.props).slice(0, 10)) out.push(`${indent}  ${safeLine(k, 80)}: ${safeLine(JSON.stringify(v), 200)}`);
  }
  for (const l of frameLines(e.frames, cwd)) out.push(`${indent}    at ${l}`);
  if (e.errors?.length) {
    out.push(`${indent}  ${e.errors.length} aggregated errors:`);
    e.errors.slice(0, 10).forEach((sub, i) => {
      out.push(`${indent}  [${i}]`);
      errorBlock(sub, cwd, depth + 1, out, indent + '    ');
    });
  }
  if (e.cause) {
    out.push(`${indent}Caused by:`);
    errorBlock(e.cause, cwd, depth + 1, out, indent);
  }
}

function excerptLines(x: SourceExcerpt, cwd: string, out: string[]): void {
  out.push(safeLine(frameLocation({ function: '', file: x.file, line: x.line, column: 0 }, cwd).replace(/:0$/, ''), 500));
  const width = String(x.startLine + x.lines.length).length;
  x.lines.forEach((text, i) => {
    const n = x.startLine + i;
    out.push(`${n === x.line ? '>' : ' '} ${String(n).padStart(width)} | ${safeLine(text, 300)}`);
  });
}

function timeOfDay(t: unknown): string {
  const d = new Date(Number(t));
  return Number.isNaN(d.getTime()) ? '??:??:??.???' : d.toISOString().slice(11, 23);
}

/** One line for an event: its message (or reason, or signal) and its data, compactly. */
export function eventText(ev: Record<string, unknown>): string {
  try {
    return describeEvent(ev as TimelineEvent);
  } catch {
    return '';
  }
}

export function formatText(s: Summary): string {
  const out: string[] = [];
  const app = s.app?.name ? `${s.app.name}${s.app.version ? '@' + s.app.version : ''}` : 'app';
  out.push(`${safeLine(s.reason)} in ${safeLine(app)} (pid ${s.pid} on ${safeLine(s.hostname)}, node ${safeLine(s.node)}) at ${safeLine(s.time)}`);
  out.push(safeLine(s.headline, 1000));
  if (s.error) {
    out.push('');
    errorBlock(s.error, s.cwd, 0, out, '');
  }
  if (s.stack?.length) {
    out.push('', s.hang ? 'Main thread stack while blocked:' : 'Main thread stack at capture:');
    for (const l of frameLines(s.stack, s.cwd)) out.push(`    at ${l}`);
  }
  if (s.hang) hangBlock(s, out);
  if (s.excerpts.length) {
    out.push('');
    excerptLines(s.excerpts[0], s.cwd, out);
  }
  if (s.timeline.last.length) {
    out.push('', `Timeline (last ${s.timeline.last.length} of ${s.timeline.events} events):`);
    for (const ev of s.timeline.last) {
      out.push(`  ${safeLine(timeOfDay(ev.time))} ${safeLine(ev.kind, 20).padEnd(10)} ${safeLine(eventText(ev), 200)}`);
    }
  }
  out.push('');
  out.push(`Bundle: ${safeLine(s.file)} (${s.files.length + 1} files, format v${s.formatVersion})`);
  // The core beside the bundle (dump --core, AUTOPSY_HANG_CORE, AUTOPSY_FATAL_CORE): where, and what reads it.
  if (s.core?.path) out.push(`Core: ${safeLine(s.core.path)}${s.core.size ? ` (${(s.core.size / 1024 ** 2).toFixed(0)} MB)` : ''}; read it with: autopsy-ts core ${safeLine(s.core.path)}`);
  if (s.redacted.length) out.push(`Redacted: ${s.redacted.map((n) => safeLine(n, 80)).join(', ')}`);
  for (const w of s.warnings) out.push(`Note: ${safeLine(w, 300)}`);
  return out.join('\n') + '\n';
}

function hangBlock(s: Summary, out: string[]): void {
  const h = s.hang!;
  out.push('', `Thread state: ${safeLine(h.probe?.summary ?? 'unknown', 300)}`);
  for (const c of h.probe?.children ?? []) out.push(`  child ${c.pid}: ${safeLine(c.command, 200)}`);
  if (h.jsStack !== 'captured') out.push(`JS stack: ${safeLine(h.jsStack, 300)}`);
  const f = h.locals?.frames?.[0];
  if (f) {
    out.push(`Locals of ${safeLine(f.function || '<anonymous>', 100)}:`);
    for (const sc of f.scopes.filter((x) => x.type !== 'closure')) {
      for (const [k, v] of Object.entries(sc.vars).slice(0, 12)) out.push(`  ${safeLine(k, 60)} = ${safeLine(v, 160)}`);
    }
  } else if (h.locals?.problem) out.push(`Locals: not captured (${safeLine(h.locals.problem, 200)})`);
}

function fence(body: string): string {
  const longest = Math.max(2, ...(body.match(/`+/g) ?? []).map((m) => m.length));
  const f = '`'.repeat(longest + 1);
  return `${f}text\n${body}\n${f}`;
}

export function formatMarkdown(s: Summary): string {
  const out: string[] = [];
  out.push(`### autopsy-ts: ${mdText(s.reason)} in ${mdText(s.app?.name ?? 'app')}${s.app?.version ? ' ' + mdText(s.app.version) : ''}`);
  out.push('');
  out.push(`**${mdText(s.headline, 1000)}**`);
  out.push('');
  out.push('| | |', '|---|---|');
  out.push(`| time | ${mdCode(s.time)} |`);
  out.push(`| process | pid ${s.pid} (ppid ${s.ppid}) on ${mdCode(s.hostname)} |`);
  out.push(`| node | ${mdCode(s.node)} ${mdCode(`${s.platform}-${s.arch}`)} |`);
  out.push(`| command | ${mdCode(s.argv.join(' '))} |`);
  out.push(`| bundle | ${mdCode(s.file)} |`);
  if (s.redacted.length) out.push(`| redacted | ${s.redacted.map(mdCode).join(' ')} |`);
  const body: string[] = [];
  if (s.error) errorBlock(s.error, s.cwd, 0, body, '');
  if (s.stack?.length) {
    if (body.length) body.push('');
    body.push('Main thread stack at capture:');
    for (const l of frameLines(s.stack, s.cwd)) body.push(`    at ${l}`);
  }
  if (body.length) out.push('', fence(body.join('\n')));
  if (s.excerpts.length) {
    const ex: string[] = [];
    excerptLines(s.excerpts[0], s.cwd, ex);
    out.push('', fence(ex.join('\n')));
  }
  return out.join('\n') + '\n';
}

export function formatJson(s: Summary): string {
  return safeJson(s) + '\n';
}
