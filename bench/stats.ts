/** Pure summary statistics over samples in milliseconds. */

export interface Summary {
  n: number;
  min: number;
  median: number;
  p90: number;
  max: number;
}

/** Linear-interpolated quantile (q in 0..1) of the samples; NaN when there are none. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function mean(samples: readonly number[]): number {
  return samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : NaN;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    min: samples.length ? Math.min(...samples) : NaN,
    median: quantile(samples, 0.5),
    p90: quantile(samples, 0.9),
    max: samples.length ? Math.max(...samples) : NaN,
  };
}

/**
 * Median of the differences a[i] - b[i], where a[i] and b[i] were measured in the same round.
 * Pairing cancels the slow drift of a shared machine, which a difference of two medians keeps.
 */
export function pairedMedianDiff(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const diffs: number[] = [];
  for (let i = 0; i < n; i++) diffs.push(a[i] - b[i]);
  return quantile(diffs, 0.5);
}

/** Rounds to 2 decimals, so JSON lines stay readable. */
export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export function roundSummary(s: Summary): Summary {
  return { n: s.n, min: round2(s.min), median: round2(s.median), p90: round2(s.p90), max: round2(s.max) };
}
