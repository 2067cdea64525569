/**
 * Leak detection as a pure state machine over heap readings, tested on synthetic series.
 *
 * A reading is heapUsed at a sample or right after a major GC. Garbage makes single readings noisy, but
 * the lowest reading over a stretch of time is close to the live heap (the "floor"). The window is cut
 * into four quarters; the heap is suspect when each quarter's floor is higher than the one before, and
 * the last floor is at least `growth` bytes above the first. A suspicion must still hold half a window
 * later to count. A steady service has floors that go up and down, and a warm-up that levels off fails
 * the "every quarter" test by the time it is checked again.
 *
 * Then: snapshot A at once; snapshot B once the floor has grown by another `growth` above A's reading.
 * If that does not happen within `giveUpAfter` windows, A is dropped and watching starts over.
 */

export interface LeakOptions {
  growth: number;
  windowMs: number;
  /** Windows to wait for the second growth before dropping snapshot A. */
  giveUpAfter?: number;
}

export type LeakAction = { type: 'none' } | { type: 'snapshot-a'; floors: number[] } | { type: 'snapshot-b'; floorA: number; floorB: number } | { type: 'give-up' };

export class LeakDetector {
  private readings: { t: number; heap: number }[] = [];
  private phase: 'watching' | 'have-a' | 'done' = 'watching';
  private firstAt: number | undefined;
  private suspectAt: number | undefined;
  private aAt = 0;
  private aFloor = 0;

  constructor(readonly opts: LeakOptions) {}

  /** Floors of the four quarters of the window ending at `now`, or undefined when a quarter is empty. */
  floors(now: number): number[] | undefined {
    const q = this.opts.windowMs / 4;
    const start = now - this.opts.windowMs;
    const out = [Infinity, Infinity, Infinity, Infinity];
    for (const r of this.readings) {
      if (r.t < start) continue;
      const i = Math.min(3, Math.floor((r.t - start) / q));
      if (r.heap < out[i]) out[i] = r.heap;
    }
    return out.every(Number.isFinite) ? out : undefined;
  }

  add(t: number, heap: number): LeakAction {
    if (this.phase === 'done') return { type: 'none' };
    this.readings.push({ t, heap });
    const keepFrom = t - this.opts.windowMs;
    while (this.readings.length && this.readings[0].t < keepFrom) this.readings.shift();
    if (this.readings.length > 10_000) this.readings.splice(0, this.readings.length - 10_000);

    this.firstAt ??= t;
    if (this.phase === 'watching') {
      // A judgement needs a whole window of readings.
      const f = t - this.firstAt >= this.opts.windowMs ? this.floors(t) : undefined;
      const suspect = !!f && f[0] < f[1] && f[1] < f[2] && f[2] < f[3] && f[3] - f[0] >= this.opts.growth;
      if (!suspect) {
        this.suspectAt = undefined;
        return { type: 'none' };
      }
      this.suspectAt ??= t;
      if (t - this.suspectAt < this.opts.windowMs / 2) return { type: 'none' };
      this.phase = 'have-a';
      this.aAt = t;
      this.aFloor = f![3];
      return { type: 'snapshot-a', floors: f! };
    }
    // have-a: the floor of the last quarter must pass A's floor by `growth`.
    const q = this.opts.windowMs / 4;
    let floor = Infinity;
    for (const r of this.readings) if (r.t >= t - q && r.heap < floor) floor = r.heap;
    if (t - this.aAt >= q && floor - this.aFloor >= this.opts.growth) {
      this.phase = 'done';
      return { type: 'snapshot-b', floorA: this.aFloor, floorB: floor };
    }
    if (t - this.aAt > (this.opts.giveUpAfter ?? 10) * this.opts.windowMs) {
      this.phase = 'watching';
      this.readings = [];
      this.firstAt = undefined;
      this.suspectAt = undefined;
      return { type: 'give-up' };
    }
    return { type: 'none' };
  }
}
