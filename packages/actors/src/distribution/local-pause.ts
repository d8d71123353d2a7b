// The failure detector's own pauses. Its heartbeat timer is due every interval; when it
// fires late, this process (its event loop, or the scheduler the detector runs on) was
// held up: by a long synchronous task, a GC pause, thousands of actors' work. While we
// were held up we read nothing, so the heartbeats a peer sent meanwhile wait unread in
// the socket: the silence is ours, not the peer's. The detector leaves such time out of
// a peer's silence (as Akka's and Cassandra's detectors guard against their own pauses).
// Pure: time comes in as arguments.

/** Pauses remembered; older ones lie behind every peer's last heartbeat and no longer matter. */
export const LOCAL_PAUSES_KEPT_MAX = 32;

export class LocalPauses {
  private lastBeatMs: number | undefined;
  /** Pauses seen, oldest first: [fromMs, toMs]. */
  private readonly pauses: Array<readonly [number, number]> = [];

  /**
   * @param intervalMs how often the timer is due
   * @param toleranceMs lateness below which a timer counts as on time (scheduling jitter)
   */
  constructor(
    private readonly intervalMs: number,
    private readonly toleranceMs: number,
  ) {}

  /** The timer fired at `nowMs` (and is due again `intervalMs` later). */
  beat(nowMs: number): void {
    const overdue = this.overdueAt(nowMs);
    if (overdue !== undefined) {
      this.pauses.push(overdue);
      if (this.pauses.length > LOCAL_PAUSES_KEPT_MAX) this.pauses.shift();
    }
    this.lastBeatMs = nowMs;
  }

  /**
   * How long within [fromMs, toMs] this process was paused: the pauses seen, and one that
   * has just ended if the timer is overdue at `toMs` (it has not had its turn yet).
   */
  pausedMs(fromMs: number, toMs: number): number {
    let total = 0;
    for (const [start, end] of this.pauses) total += overlapMs(start, end, fromMs, toMs);
    const overdue = this.overdueAt(toMs);
    if (overdue !== undefined) total += overlapMs(overdue[0], overdue[1], fromMs, toMs);
    return total;
  }

  /** The span the timer has been overdue at `nowMs`, when that is past the tolerance. */
  private overdueAt(nowMs: number): readonly [number, number] | undefined {
    if (this.lastBeatMs === undefined) return undefined;
    const dueMs = this.lastBeatMs + this.intervalMs;
    return nowMs - dueMs > this.toleranceMs ? [dueMs, nowMs] : undefined;
  }
}

function overlapMs(start: number, end: number, fromMs: number, toMs: number): number {
  return Math.max(0, Math.min(end, toMs) - Math.max(start, fromMs));
}
