// The phi-accrual failure detector (Hayashibara et al.), in the form Akka uses: the
// suspicion level grows with the silence since the last heartbeat, measured against
// the distribution of past inter-arrival times. Pure: time comes in as arguments.

export interface PhiOptions {
  /** Inter-arrival samples kept. */
  readonly windowSize: number;
  /** Floor of the standard deviation, so a very regular link does not make phi jumpy. */
  readonly minStdDeviationMs: number;
  /** Silence tolerated on top of the mean before suspicion rises (GC pauses, scheduling). */
  readonly acceptablePauseMs: number;
  /** Expected interval, used to seed the history before real samples arrive. */
  readonly firstIntervalMs: number;
  /** Phi at or above which the node counts as suspected. */
  readonly phiThreshold: number;
}

export class PhiAccrual {
  private readonly intervals: number[] = [];
  private next = 0;
  private sum = 0;
  private squares = 0;
  private lastMs: number | undefined;

  constructor(private readonly options: PhiOptions) {
    // Seed as Akka does: one interval at the expected value with a wide spread.
    const seed = options.firstIntervalMs;
    this.add(seed - seed / 4);
    this.add(seed + seed / 4);
  }

  /**
   * As Akka's detector: the silence that ends with this heartbeat enters the history only
   * if the node was not suspected by then. An outage is not a sample of the link; kept,
   * one would widen the distribution and slow every detection for a whole window. Nor
   * does a silence during which this process was paused (`pausedMs`): it measured us.
   */
  heartbeat(nowMs: number, pausedMs = 0): void {
    if (this.lastMs !== undefined && pausedMs === 0 && this.phi(nowMs) < this.options.phiThreshold) this.add(nowMs - this.lastMs);
    this.lastMs = nowMs;
  }

  /** When the last heartbeat arrived; undefined before the first. */
  get lastHeartbeatMs(): number | undefined {
    return this.lastMs;
  }

  /** Suspicion level now, leaving out `pausedMs` of the silence (this process's own pauses); 0 before the first heartbeat. */
  phi(nowMs: number, pausedMs = 0): number {
    if (this.lastMs === undefined) return 0;
    const n = this.intervals.length;
    const mean = this.sum / n;
    const variance = Math.max(0, this.squares / n - mean * mean);
    const std = Math.max(Math.sqrt(variance), this.options.minStdDeviationMs);
    return phiOf(nowMs - this.lastMs - pausedMs, mean + this.options.acceptablePauseMs, std);
  }

  private add(intervalMs: number): void {
    if (this.intervals.length < this.options.windowSize) {
      this.intervals.push(intervalMs);
    } else {
      const old = this.intervals[this.next]!;
      this.sum -= old;
      this.squares -= old * old;
      this.intervals[this.next] = intervalMs;
      this.next = (this.next + 1) % this.options.windowSize;
    }
    this.sum += intervalMs;
    this.squares += intervalMs * intervalMs;
  }
}

/** -log10 of the probability that a heartbeat comes later than `elapsedMs` (logistic approximation of the normal CDF). */
export function phiOf(elapsedMs: number, meanMs: number, stdMs: number): number {
  const y = (elapsedMs - meanMs) / stdMs;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  return elapsedMs > meanMs ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
}
