// Time as an injected interface, so tests can drive timers by hand.

import { nodeSetTimeout } from './internal/callback-owners.js';
import { TIMER_DELAY_MS_MAX } from './limits.js';

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `callback` after `delayMs`; any finite delay, also past Node's 2^31-1 ms. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** A timer longer than Node's setTimeout takes: re-armed in steps until it is due. */
class ChainedTimer {
  timer: NodeJS.Timeout;

  constructor(
    private readonly callback: () => void,
    private readonly dueMs: number,
  ) {
    this.timer = this.arm();
  }

  private arm(): NodeJS.Timeout {
    const timer = nodeSetTimeout(() => {
      if (this.dueMs - performance.now() > 0) this.timer = this.arm();
      else this.callback();
    }, Math.min(TIMER_DELAY_MS_MAX, Math.max(0, this.dueMs - performance.now())));
    timer.unref();
    return timer;
  }
}

/**
 * The system clock. `now()` is `performance.timeOrigin + performance.now()`: milliseconds
 * since the Unix epoch, monotonic, on one base for every thread of the process (a worker's
 * own `performance.now()` may start at its own origin), so times from actors on different
 * schedulers compare.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (callback, delayMs) => {
    // Node fires a delay past 2^31-1 ms after 1 ms: chain such timers instead.
    if (delayMs > TIMER_DELAY_MS_MAX) return new ChainedTimer(callback, performance.now() + delayMs);
    const timer = nodeSetTimeout(callback, delayMs);
    // Actor timers must not keep a stopped program alive on their own.
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle instanceof ChainedTimer ? handle.timer : (handle as NodeJS.Timeout)),
};

interface ManualTimer {
  readonly dueMs: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** A clock that moves only when `advance` is called; due timers fire in order. */
export class ManualClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { dueMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, callback, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as ManualTimer;
    timer.cancelled = true;
    this.timers = this.timers.filter((t) => t !== timer);
  }

  /** Timers not yet fired or cancelled. */
  pending(): number {
    return this.timers.length;
  }

  /** Moves time forward, firing every timer due on the way, earliest first. */
  advance(ms: number): void {
    const targetMs = this.nowMs + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.dueMs <= targetMs && (next === undefined || t.dueMs < next.dueMs || (t.dueMs === next.dueMs && t.seq < next.seq))) next = t;
      }
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.nowMs = Math.max(this.nowMs, next.dueMs);
      next.callback();
    }
    this.nowMs = targetMs;
  }
}
