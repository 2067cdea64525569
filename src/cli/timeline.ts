import { bundleTimeline, readBundleHead } from '../bundle/reader';
import { clock, describeEvent, filterKinds } from '../timeline/events';
import { safeJson, safeLine } from './sanitize';

/** `autopsy-ts timeline <bundle> [--json] [--kind a,b]`: the flight recorder's events, oldest first. */
export async function timelineCommand(bundle: string, opts: { json?: boolean; kind?: string[] }): Promise<string> {
  const b = await readBundleHead(bundle);
  const events = filterKinds(bundleTimeline(b), opts.kind);
  if (opts.json) return safeJson({ events }) + '\n';
  if (!events.length) return 'no events\n';
  const day = new Date(events[0].time).toISOString().slice(0, 10);
  const lines = [`times are UTC, ${day}`];
  for (const e of events) lines.push(`${clock(e.time)}  ${safeLine(e.kind, 12).padEnd(10)} ${safeLine(describeEvent(e), 300)}`);
  return lines.join('\n') + '\n';
}
