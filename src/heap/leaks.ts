import type { Analysis } from './analysis';
import type { HeapDiff } from './diff';
import { VariableLocator, type LocateOptions, type SourceLocation } from './locations';
import { classRetainers, type RetainerPath } from './retainer-paths';

export interface LeakSuspect {
  name: string;
  countDelta: number;
  sizeDelta: number;
  newCount: number;
  /** What holds the new instances, most common chain first. */
  heldBy: { chain: string; count: number; location?: SourceLocation }[];
}

/** V8's own machinery grows as code warms up (lazy compilation, new shapes): never a suspect. */
const MACHINERY = new Set(['(compiled code)', '(object shape)', '(system)']);

/**
 * Classes that grew between two snapshots, with what holds their NEW instances: the chain of edge
 * names from the object towards the roots ("[] in Array ← pendingOrders in Object"), and where the
 * holding variable is in the source when a closure variable holds them (locations.ts; `readSource`
 * lets it read a script whose source the snapshot cut short). Growth that later snapshots free
 * again is not a leak; two snapshots can only say "grew and is still held".
 */
export function leakSuspects(diff: HeapDiff, after: Analysis, opts: { top?: number; minCount?: number; minBytes?: number } & LocateOptions = {}): LeakSuspect[] {
  const top = opts.top ?? 5;
  const minCount = opts.minCount ?? 10;
  const minBytes = opts.minBytes ?? 64 * 1024;
  const locator = new VariableLocator(after, { readSource: opts.readSource });
  const locate = (p: RetainerPath) => locator.ofPath(p);
  return diff.rows
    .filter((r) => !MACHINERY.has(r.name) && r.newCount >= minCount && r.countDelta > 0 && (r.sizeDelta >= minBytes || r.countDelta >= 1000))
    .slice(0, top)
    .map((r) => ({
      name: r.name,
      countDelta: r.countDelta,
      sizeDelta: r.sizeDelta,
      newCount: r.newCount,
      heldBy: classRetainers(after, r.name, 100, diff.newNodes.get(r.name), locate)
        .slice(0, 3)
        .map(({ chain, count, location }) => (location ? { chain, count, location } : { chain, count })),
    }));
}
