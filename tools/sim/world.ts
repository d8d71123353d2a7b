// What the simulator's parts share: its events, its members, and the host interface
// that faults and clients use to act on the simulated world.

import type { Event, Member, RaftCore, RaftMessage, Reply, ServerId, SnapshotMeta, TimerName } from '@rafter/raft/core';
import type { Invariants } from './invariants.js';
import { SimLog } from './mem-log.js';
import type { Prng } from './prng.js';
import type { NetworkRates } from './swarm.js';

export type SimEvent =
  | { type: 'deliver'; from: ServerId; fromInc: number; to: string; inc: number; msg: RaftMessage }
  | { type: 'core'; to: string; inc: number; event: Event }
  | { type: 'timer'; to: string; inc: number; timer: TimerName; gen: number }
  | { type: 'disk'; to: string; inc: number }
  | { type: 'tick' }
  | { type: 'fd' }
  | { type: 'fault' }
  | { type: 'restart'; to: string }
  | { type: 'stop'; to: string }
  | { type: 'clientRetry'; client: number; opId: number }
  | { type: 'heal'; blocks: string[] }
  | { type: 'lossEnd' }
  | { type: 'client'; client: number }
  | { type: 'clientReply'; client: number; opId: number; reply: Reply }
  | { type: 'clientTimeout'; client: number; opId: number }
  /** A member's own snapshot is durable (or storage declined it). */
  | { type: 'snapshotWritten'; to: string; inc: number; meta: SnapshotMeta; state: unknown; outcome: 'written' | 'declined' }
  /** A step of a scripted fault pattern (see cut-off.ts). */
  | { type: 'nemesis'; step: () => void };

export interface SimMember {
  readonly id: ServerId;
  readonly key: string;
  readonly log: SimLog;
  core: RaftCore | undefined;
  inc: number;
  started: boolean;
  /** The cluster it was started with, kept like Ra's server config for restarts. */
  initialMembers: readonly Member[];
  /** Machine code version this member runs; a rolling upgrade raises it. */
  machineVersion: number;
  removed: boolean;
  readonly timers: Map<TimerName, number>;
  diskFreeAtMs: number;
  diskSlowUntilMs: number;
  chunks: unknown[];
  /** A snapshot the shell installed in this step, to notify the core of at once. */
  installed: { meta: SnapshotMeta; state: unknown } | undefined;
  leader: ServerId | undefined;
  commitSeen: number;
  appliedSeen: number;
  /** Until then the process is stopped (SIGSTOP, a long GC pause): it handles nothing. */
  pausedUntilMs: number;
  unreachableSince: Map<string, number>;
  suspected: Set<string>;
  disconnected: Set<string>;
}

export function newMember(id: ServerId): SimMember {
  return {
    id,
    key: id.name,
    log: new SimLog(),
    core: undefined,
    inc: 0,
    started: false,
    initialMembers: [],
    machineVersion: 1,
    removed: false,
    timers: new Map(),
    diskFreeAtMs: 0,
    diskSlowUntilMs: 0,
    chunks: [],
    installed: undefined,
    leader: undefined,
    commitSeen: 0,
    appliedSeen: 0,
    pausedUntilMs: 0,
    unreachableSince: new Map(),
    suspected: new Set(),
    disconnected: new Set(),
  };
}

/** The member an event is handled by, if it is one member's (and waits while it is paused). */
export function memberOf(event: SimEvent): string | undefined {
  switch (event.type) {
    case 'deliver':
    case 'core':
    case 'timer':
    case 'disk':
    case 'snapshotWritten':
      return event.to;
    default:
      return undefined;
  }
}

/** The simulated network's state: blocked directed links, a loss rate, lossy links. */
export class SimNetwork {
  readonly blocked = new Set<string>();
  /** Directed links (`a>b`) that lose messages at their own rate, on top of `loss`. */
  readonly lossyLinks = new Map<string, number>();
  /** The seed's rates outside of loss bursts. */
  rates: NetworkRates = { loss: 0.01, duplicate: 0.01, reorder: 0.03 };
  loss = 0.01;

  setRates(rates: NetworkRates): void {
    this.rates = rates;
    this.loss = rates.loss;
  }

  linkBlocked(from: string, to: string): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  lossRate(from: string, to: string): number {
    return Math.max(this.loss, this.lossyLinks.get(`${from}>${to}`) ?? 0);
  }

  /**
   * When the copies of one message from `from` to `to` arrive, in ms from now: none if
   * the link is cut or the message is lost, two if it is duplicated, a long delay if
   * reordered. `count` is told of each loss, duplicate and reorder.
   */
  deliveryDelays(net: Prng, from: string, to: string, count: (kind: string) => void): number[] {
    if (this.linkBlocked(from, to)) return [];
    if (net.chance(this.lossRate(from, to))) {
      count('drop');
      return [];
    }
    const copies = net.chance(this.rates.duplicate) ? 2 : 1;
    if (copies === 2) count('duplicate');
    const delays: number[] = [];
    for (let i = 0; i < copies; i += 1) {
      let delay = net.intBetween(1, 5);
      if (net.chance(this.rates.reorder)) {
        delay += net.intBetween(10, 200);
        count('reorder');
      }
      delays.push(delay);
    }
    return delays;
  }

  /** Every link works and nothing is lost. */
  healAll(): void {
    this.blocked.clear();
    this.lossyLinks.clear();
    this.loss = 0;
  }
}

export interface SimHost {
  /** Faults, clients and workload choices. */
  readonly rng: Prng;
  /** Network and disk timing, kept apart so workload changes don't shift them. */
  readonly net: Prng;
  readonly network: SimNetwork;
  readonly invariants: Invariants;
  now(): number;
  phase(): 'faults' | 'liveness' | 'deleting' | 'done';
  schedule(afterMs: number, event: SimEvent): void;
  count(kind: string): void;
  note(line: string): void;
  members(): readonly SimMember[];
  member(key: string): SimMember;
  alive(): SimMember[];
  leader(): SimMember | undefined;
  toCore(member: SimMember, event: Event): void;
  /** Steps a member's core now and performs its effects. */
  stepNow(member: SimMember, event: Event): void;
  startMember(member: SimMember, initialMembers: readonly Member[]): void;
  crash(member: SimMember, why: 'crash' | 'removed'): void;
}
