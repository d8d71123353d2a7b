// Per-follower replication state kept by a leader, and other role state.

import type { ServerId, SnapshotMeta } from './log.js';
import type { QueryFn, ReplyTo } from './types.js';

export interface Peer {
  readonly id: ServerId;
  /** Next index to send; may run ahead of matchIndex by up to INFLIGHT_ENTRIES_MAX. */
  nextIndex: number;
  /** Highest index the follower has written and that matches our log. */
  matchIndex: number;
  /** Sends start above this after creation or a rewind: below it nothing is in flight. */
  probeIndex: number;
  commitIndexSent: number;
  /** matchIndex at the previous tick: no progress since means messages were lost. */
  matchIndexAtTick: number;
  /** The nextIndex a failed reply last rewound to, so duplicate failures don't resend. */
  rewoundTo: number;
  /** Highest read-index round this follower acknowledged. */
  querySeq: number;
  /** A promotable member becomes a voter once matchIndex reaches this. */
  promoteAt: number;
  /** The highest machine version the follower's code runs; 0 until it replied. */
  machineVersion: number;
  snapshot: { meta: SnapshotMeta; chunkIndex: number } | undefined;
  /** AppendEntries sent above probeIndex and not yet acknowledged, oldest first (see inflight.ts). */
  readonly inflight: InflightMessage[];
  /** Estimated entry bytes of `inflight`. */
  inflightBytes: number;
}

export interface InflightMessage {
  readonly lastIndex: number;
  readonly bytes: number;
}

/** What only a leader holds; the core keeps it in `leading` while it leads. */
export class Leading {
  /** Replication state per other member of the latest configuration. */
  readonly peers = new Map<string, Peer>();
  private waiting: Map<number, ReplyTo> | undefined = undefined;
  /** Low-priority commands not appended yet. */
  lowQueue: LowCommand[] = [];
  /** Consistent queries waiting for their read-index round. */
  queries: PendingQuery[] = [];
  /** The latest read-index round. */
  querySeq = 0;
  /** Index of this term's noop: membership changes and read indexes wait for it. */
  noopIndex = 0;
  /** The highest machine version a noop of this term carries (an upgrade appends another). */
  versionProposed = 0;

  /**
   * Callers of appended commands and membership changes, by log index, until applied.
   * Made on first use and dropped once empty (takePending): an idle leader has none.
   */
  get pending(): Map<number, ReplyTo> {
    return (this.waiting ??= new Map());
  }

  /** The caller waiting for `index`, removed; undefined if none. */
  takePending(index: number): ReplyTo | undefined {
    const waiting = this.waiting;
    const from = waiting?.get(index);
    if (waiting === undefined || from === undefined) return undefined;
    waiting.delete(index);
    if (waiting.size === 0) this.waiting = undefined;
    return from;
  }
}

export interface PendingQuery {
  readonly readIndex: number;
  readonly seq: number;
  readonly fn: QueryFn;
  readonly from: ReplyTo;
}

export interface LowCommand {
  readonly command: unknown;
  readonly from: ReplyTo;
  readonly systemTime?: number | undefined;
}

export interface ReceivingSnapshot {
  readonly meta: SnapshotMeta;
  nextChunk: number;
  installing: boolean;
}

export type ElectionReason = 'no_leader' | 'leader_down' | 'maybe_down' | 'retry';
