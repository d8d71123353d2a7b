// Knobs of one simulated run. Times are simulated milliseconds.

import type { Mutation } from '@rafter/raft/core';

export interface SimOptions {
  readonly seed: number;
  /** Events processed while faults are injected; then the network heals (liveness phase). */
  readonly steps: number;
  readonly mutation?: Mutation;
  /** Events kept for the trace printed on a violation. */
  readonly traceEvents?: number;
  /** Test-only: the shell stores an applied index past its written one (unsafe, see sim.ts). */
  readonly storeAppliedPastWritten?: boolean;
  /** A spurious election is a violation, not only counted. */
  readonly strictElections?: boolean;
  /**
   * Batch clients and per-seed byte caps (default true). False replays seeds recorded
   * before batching existed: neither draws from the seed's randomness then.
   */
  readonly batching?: boolean;
}

export const TICK_MS = 500;
/** A write to a member's disk (log batch, term/vote, snapshot install) takes this long. */
export const DISK_WRITE_MS_MIN = 1;
export const DISK_WRITE_MS_MAX = 8;
/** A slow disk writes this many times slower. */
export const SLOW_DISK_FACTOR = 20;
/** A member's own snapshot takes this long to write, apart from its log. */
export const SNAPSHOT_WRITE_MS_MIN = 2;
export const SNAPSHOT_WRITE_MS_MAX = 60;
/** Storage declines this share of snapshots (its policy); the core must carry on. */
export const SNAPSHOT_DECLINE_CHANCE = 0.05;
export const FD_POLL_MS = 100;
/** aten-like: node-maybe-down once a node is unheard of this long. */
export const FD_SUSPECT_MS = 1_000;
/** Distribution connection dropped (DOWN noconnection) after this long unreachable. */
export const CONNECTION_DROP_MS = 400;
export const CLIENT_TIMEOUT_MS = 2_000;
export const CLIENTS = 3;
/** Groups of clients whose puts reach a member as one `commands` batch, of 1 to BATCH_CLIENTS_MAX puts. */
export const BATCH_GROUPS = 1;
export const BATCH_CLIENTS_MAX = 6;
/**
 * Byte caps a seed runs with (one per seed, for every member): the defaults, small ones
 * (a few entries per message and in flight), and 1 byte (every entry alone, one in flight).
 * The simulator's entries weigh about 30-90 estimated bytes.
 */
export const BYTE_CAPS: readonly { readonly appendEntriesBytesMax?: number; readonly inflightBytesMax?: number }[] = [
  {},
  { appendEntriesBytesMax: 256, inflightBytesMax: 1_024 },
  { appendEntriesBytesMax: 1, inflightBytesMax: 1 },
];
export const KEYS = ['a', 'b', 'c'] as const;
/** After faults stop, a leader must commit a new command within this. */
export const LIVENESS_BOUND_MS = 20_000;
export const SNAPSHOT_CHUNK_CHARS = 48;
export const RELEASE_EVERY_COMMANDS = 16;
/** The simulated machine asks for a checkpoint every this many commands. */
export const CHECKPOINT_EVERY_COMMANDS = 7;
export const MEMBERS_MIN = 3;
export const MEMBERS_MAX = 7;
export const TRACE_EVENTS_DEFAULT = 40;
/** Runaway guard: a run never processes more than this many events per requested step. */
export const EVENTS_PER_STEP_MAX = 20;
