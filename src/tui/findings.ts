/**
 * One-line diagnoses for the Overview, derived from the summary, the timeline and, once the worker is
 * done, the heap. Each rule reads only fields that may be absent, and says nothing rather than guess.
 */
import { holderLocation } from '../bundle/summary';
import { clock, bytes, count, ms, signed } from './format';
import type { HeapFacts, UiModel } from './model';
import { seriesOf, slopePerMinute } from './timeline-data';

const MB = 1024 * 1024;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

export function findings(m: UiModel, heap?: HeapFacts): string[] {
  const out: string[] = [];
  const s = m.summary;
  const ev = m.events;
  const series = seriesOf(ev);

  // A memory-leak bundle's headline is its diagnosis (leak.json: the class, its holder and where).
  const leakBundle = s?.reason === 'memory-leak';
  if (s?.hang || s?.error || (s && s.stack?.length) || leakBundle) out.push(s!.headline);

  const lastRss = series.rss.at(-1);
  const rssSlope = slopePerMinute(series.rss);
  const rssText = lastRss ? `RSS ${bytes(lastRss.value)}${rssSlope !== undefined && Math.abs(rssSlope) >= MB ? `, ${rssSlope > 0 ? 'rising' : 'falling'} ${bytes(Math.abs(rssSlope))}/min` : ''}` : '';

  // A death by signal: the bundle's reason, an exit record of this process, or a signal event.
  const killedSignal = s && /killed|fatal-signal/.test(s.reason) ? str(s.trigger?.signal) ?? str([...ev].reverse().find((e) => e.kind === 'signal')?.signal) : undefined;
  if (killedSignal || (s && /killed/.test(s.reason))) {
    out.push(`killed by ${killedSignal ?? 'a signal'} at ${clock(Date.parse(s!.time), false)}${rssText ? `; ${rssText}` : ''}`);
  } else if (rssSlope !== undefined && rssSlope >= 5 * MB) {
    out.push(`memory growing: ${rssText}`);
  }

  const hangs = ev.filter((e) => e.kind === 'hang' && typeof e.durationMs === 'number');
  if (hangs.length) {
    const longest = Math.max(...hangs.map((e) => e.durationMs as number));
    out.push(`${hangs.length} earlier event-loop block${hangs.length > 1 ? 's' : ''}, longest ${ms(longest)}`);
  }

  const p99 = series.delayP99.reduce((mx, p) => Math.max(mx, p.value), 0);
  if (p99 >= 100) out.push(`event loop delay p99 up to ${ms(p99)}`);
  const elu = series.elu.at(-1);
  if (elu && elu.value >= 0.9) out.push(`event loop ${Math.round(elu.value * 100)}% busy at the last sample`);

  const gcs = ev.filter((e) => e.kind === 'gc' && typeof e.durationMs === 'number');
  if (gcs.length && ev.length > 1) {
    const total = gcs.reduce((t, e) => t + (e.durationMs as number), 0);
    const span = ev[ev.length - 1].time - ev[0].time;
    if (span > 0 && total / span >= 0.1) out.push(`GC took ${Math.round((total / span) * 100)}% of the time (${gcs.length} collections, ${ms(total)})`);
  }

  const warnings = new Map<string, number>();
  for (const e of ev) if (e.kind === 'warning') warnings.set(str(e.name) ?? 'Warning', (warnings.get(str(e.name) ?? 'Warning') ?? 0) + 1);
  for (const [name, n] of warnings) out.push(`${name}${n > 1 ? ` ×${n}` : ''} emitted`);

  const failed = ev.filter((e) => e.kind === 'http' && (e.error !== undefined || (typeof e.status === 'number' && e.status >= 500)));
  if (failed.length) {
    const hosts = [...new Set(failed.map((e) => str(e.host)).filter(Boolean))].slice(0, 3).join(', ');
    out.push(`${failed.length} HTTP request${failed.length > 1 ? 's' : ''} failed${hosts ? ` (${hosts})` : ''}`);
  }
  const netErrors = ev.filter((e) => e.kind === 'net' && e.event === 'error');
  if (netErrors.length) out.push(`${netErrors.length} socket error${netErrors.length > 1 ? 's' : ''}`);

  if (heap?.diff && !(leakBundle && / held by /.test(s!.headline))) {
    // heldAt: heldBy[0].location of leakSuspects (file, line).
    const top = heap.diff.suspects[0];
    const at = top && holderLocation(top.heldAt, s?.cwd, top.heldBy);
    const what = top ? `: ${top.name} ${signed(top.countDelta)}${top.heldBy ? `, held by ${top.heldBy}${at ? ` (${at})` : ''}` : ''}` : '';
    out.push(`heap ${heap.diff.sizeDelta >= 0 ? '+' : ''}${bytes(heap.diff.sizeDelta)} between snapshots${what}`);
  } else if (heap?.top) {
    out.push(`largest in the heap: ${heap.top.name} retains ${bytes(heap.top.retainedSize)} (${count(heap.top.count)} objects, heap ${bytes(heap.totalSize)})`);
  }

  if (!out.length && s) out.push(s.headline);
  return out;
}
