// The replies a scheduler waits for, by ref: calls, and requests to other schedulers
// (start, info, dirty jobs). Each settles once: by its reply, by the callee's DOWN, by
// a lost connection, or by its timeout.

import type { Clock } from '../clock.js';
import { CallExitError, CallTimeoutError, NodeDownError, NoProcError, decodeError, isWireError } from '../errors.js';
import type { Pid, Ref } from '../pid.js';
import { NOCONNECTION, NOPROC, type Signal } from './signals.js';

interface PendingCall {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
  readonly destText: string;
  /** The monitored callee; undefined for requests that hold no monitor. */
  readonly dest: Pid | undefined;
  /** Who holds the monitor: the calling actor, or the scheduler for calls from outside actors. */
  readonly watcher: Pid;
  /** False for requests to a scheduler (start, info): `dest` is where they went, with no monitor to drop. */
  readonly monitored: boolean;
  timer: unknown;
}

export class PendingCalls {
  private readonly pending = new Map<Ref, PendingCall>();

  constructor(
    private readonly clock: Clock,
    private readonly route: (signal: Signal) => void,
  ) {}

  /**
   * Registers a pending reply under `ref`; a 'reply' signal to `watcher` (an actor or
   * the scheduler, on this thread) settles it.
   */
  await(ref: Ref, destText: string, dest: Pid | undefined, watcher: Pid, timeoutMs: number, monitored = dest !== undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const pending: PendingCall = { resolve, reject, destText, dest, watcher, monitored, timer: undefined };
      if (timeoutMs !== Infinity) {
        pending.timer = this.clock.setTimeout(() => {
          if (this.pending.delete(ref)) {
            if (monitored) this.route({ k: 'demonitor', from: watcher, to: dest!, ref });
            reject(new CallTimeoutError(destText, timeoutMs));
          }
        }, timeoutMs);
      }
      this.pending.set(ref, pending);
    });
  }

  /** A reply arrived; `demonitored`: the callee already dropped the call's monitor. */
  settle(ref: Ref, ok: boolean, value: unknown, demonitored: boolean): void {
    const pending = this.take(ref);
    if (pending === undefined) return;
    if (pending.monitored && !demonitored) this.route({ k: 'demonitor', from: pending.watcher, to: pending.dest!, ref });
    if (ok) pending.resolve(value);
    else pending.reject(isWireError(value) ? decodeError(value) : value);
  }

  /** The callee is gone (DOWN with `reason`) before it replied; false if no call waits under `ref`. */
  down(ref: Ref, reason: unknown): boolean {
    const pending = this.take(ref);
    if (pending === undefined) return false;
    if (reason === NOPROC) pending.reject(new NoProcError(pending.destText));
    else if (reason === NOCONNECTION) pending.reject(new NodeDownError(pending.dest?.node ?? pending.destText));
    else pending.reject(new CallExitError(pending.destText, reason));
    return true;
  }

  /** Fails every call and request to an actor (or scheduler) that `gone` names, with `reason`. */
  failWhere(gone: (pid: Pid) => boolean, reason: unknown): void {
    for (const [ref, pending] of [...this.pending]) {
      if (pending.dest !== undefined && gone(pending.dest)) this.down(ref, reason);
    }
  }

  /** Fails every call (the scheduler stops). */
  failAll(): void {
    for (const ref of [...this.pending.keys()]) this.down(ref, NOPROC);
  }

  private take(ref: Ref): PendingCall | undefined {
    const pending = this.pending.get(ref);
    if (pending === undefined) return undefined;
    this.pending.delete(ref);
    if (pending.timer !== undefined) this.clock.clearTimeout(pending.timer);
    return pending;
  }
}
