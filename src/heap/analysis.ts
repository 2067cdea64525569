import { buildDominators, buildDominatorsParallel, type Dominators } from './dominators';
import { computeDistances, EphemeronNames, lazyRetainers, type Retainers } from './graph';
import { loadNative } from '../native';
import { ScratchPool } from './scratch';
import { classify, classSummary, type ClassRow, type Classes, type SnapshotWithLocations } from './summary';
import type { Progress } from './types';

/** Everything the analyses need about one snapshot, computed once. */
export interface Analysis {
  s: SnapshotWithLocations;
  retainers: Retainers;
  dom: Dominators;
  classes: Classes;
  distances: Int32Array;
  summary: ClassRow[];
}

/** The addon's releasePages, when it is loaded (see ScratchPool). */
function pageReleaser(): ((region: Uint8Array) => unknown) | undefined {
  const native = loadNative();
  return native.loaded ? native.addon.releasePages : undefined;
}

export function analyze(s: SnapshotWithLocations, progress?: Progress): Analysis {
  const step = (phase: string) => progress?.(phase, 0);
  const ephemerons = new EphemeronNames(s);
  // Each phase's dead scratch becomes the next one's, and its pages go back to the system meanwhile
  // when the addon is loaded.
  const scratch = new ScratchPool(pageReleaser());
  step('dominators');
  const dom = buildDominators(s, { ephemerons, scratch });
  step('distances');
  const distances = computeDistances(s, ephemerons, scratch);
  step('classes');
  const classes = classify(s, { scratch });
  const summary = classSummary(s, dom, { classes, distances });
  progress?.('done', 1);
  // Built when first read (retainer paths): nothing above needs it.
  return { s, retainers: lazyRetainers(s), dom, classes, distances, summary };
}

/**
 * The same, with retainers and Lengauer–Tarjan on a worker thread while this one computes the
 * distances and the classes (DevTools splits its work the same way). It builds the retainer index
 * up front and copies firstEdge/edgeTo for the worker: bench/heap.ts (fcf0590, busy 2-core machine)
 * measured it slower than analyze() in 5 of 6 cases, with 43-49 % more peak RSS, so the CLI
 * uses analyze().
 */
export async function analyzeParallel(s: SnapshotWithLocations, progress?: Progress): Promise<Analysis> {
  progress?.('dominators', 0);
  const ephemerons = new EphemeronNames(s);
  let distances: Int32Array | undefined;
  let classes: Classes | undefined;
  const { dom, retainers } = await buildDominatorsParallel(s, {
    ephemerons,
    meanwhile: () => {
      distances = computeDistances(s, ephemerons);
      classes = classify(s);
    },
  });
  distances ??= computeDistances(s, ephemerons);
  classes ??= classify(s);
  const summary = classSummary(s, dom, { classes, distances });
  progress?.('done', 1);
  return { s, retainers, dom, classes, distances, summary };
}
