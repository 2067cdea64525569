/**
 * Hang detection as a pure state machine, so it is tested without waiting: the caller passes the time
 * and the last heartbeat, and gets back what happened and when to look again.
 *
 * The main thread writes its heartbeat every `intervalMs` from an unref'd timer, so a free loop is
 * never more than intervalMs behind. A block that started at B leaves the last beat H in
 * [B - intervalMs, B]. Declaring the hang at H + threshold + intervalMs therefore guarantees that the
 * loop really has been blocked for at least the threshold (no false alarm for a block just under it),
 * and fires at most intervalMs after the threshold is reached.
 */
export interface DetectorEvent {
  type: 'hang' | 'recovered';
  episode: number;
  /** Uptime ms of the last heartbeat before the block: the block began at most intervalMs later. */
  lastBeatMs: number;
  atMs: number;
  /** For 'recovered': how long the loop was blocked, from the last beat before to the first after. */
  durationMs?: number;
}

export interface DetectorResult {
  event?: DetectorEvent;
  /** When to call check() again. */
  nextCheckMs: number;
}

/** Beats are stored as int32 ms (mod 2^32); differences stay right for up to 24 days. */
export function beatValue(uptimeMs: number): number {
  return Math.floor(uptimeMs) | 0;
}

export function beatAge(nowBeat: number, beat: number): number {
  return (nowBeat - beat) | 0;
}

export class HangDetector {
  private episode = 0;
  private hungSinceBeat: number | undefined;
  private hungSinceMs = 0;

  constructor(
    readonly thresholdMs: number,
    readonly intervalMs: number,
  ) {}

  /**
   * @param nowMs    current uptime in ms
   * @param beat     the last heartbeat (beatValue of the main thread's uptime), or undefined before the first one
   */
  check(nowMs: number, beat: number | undefined): DetectorResult {
    const limit = this.thresholdMs + this.intervalMs;
    if (beat === undefined) return { nextCheckMs: this.intervalMs };
    const age = beatAge(beatValue(nowMs), beat);
    if (this.hungSinceBeat !== undefined) {
      if (beat === this.hungSinceBeat) return { nextCheckMs: this.intervalMs };
      const durationMs = beatAge(beat, this.hungSinceBeat);
      const event: DetectorEvent = { type: 'recovered', episode: this.episode, lastBeatMs: this.hungSinceMs, atMs: nowMs, durationMs };
      this.hungSinceBeat = undefined;
      return { event, nextCheckMs: Math.max(1, limit - age) };
    }
    if (age >= limit) {
      this.episode++;
      this.hungSinceBeat = beat;
      this.hungSinceMs = nowMs - age;
      return { event: { type: 'hang', episode: this.episode, lastBeatMs: this.hungSinceMs, atMs: nowMs }, nextCheckMs: this.intervalMs };
    }
    return { nextCheckMs: Math.max(1, limit - age) };
  }
}
