// The contract between the Raft core and whatever stores its log: the simulator's
// in-memory log and the durable storage (WAL + memory tables + segments) both
// implement LogReader. The core only reads through it; every change to the log is an
// effect the shell performs before it feeds the core its next event.

/** A Raft member's identity: a registered server name on a node. */
export interface ServerId {
  readonly name: string;
  readonly node: string;
}

export type MembershipKind = 'voter' | 'promotable' | 'non_voter';

export interface Member {
  readonly id: ServerId;
  readonly membership: MembershipKind;
}

/** What a log entry carries. */
export type EntryPayload =
  /** `systemTime`: the leader's wall clock when it took the command (absent in entries from before it was kept). */
  | { readonly type: 'command'; readonly command: unknown; readonly priority?: 'normal' | 'low'; readonly systemTime?: number }
  | { readonly type: 'noop'; readonly machineVersion: number }
  | { readonly type: 'cluster'; readonly members: readonly Member[] }
  /** Ra's '$ra_cluster' delete: every member that applies it deletes itself. */
  | { readonly type: 'delete_cluster' };

export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly payload: EntryPayload;
}

export interface IndexTerm {
  readonly index: number;
  readonly term: number;
}

/** The metadata of a snapshot: the last entry it covers and the cluster at that point. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly members: readonly Member[];
  readonly machineVersion: number;
}

/**
 * Read-only view of one member's log.
 *
 * - `last()` counts every entry appended (in memory), written or not.
 * - `lastWritten()` counts only entries durably written (fsynced); a follower reports
 *   it to the leader, and the leader counts its own for commit.
 * - `termAt(i)` answers for the snapshot index too (the snapshot's term) and returns
 *   undefined below it or past `last()`.
 * - `entries(from, to)` returns the inclusive range; indexes at or below the snapshot
 *   are not readable (the caller must send the snapshot instead).
 *
 * Appending with a first index at or below `last()` overwrites from that index (a
 * follower resolving a conflict): entries after it are dropped, and `lastWritten()`
 * falls to at most the index before it until the new entries are written. Writes
 * complete in order; the shell then sends the core a `written` event.
 *
 * Snapshots (effects in types.ts): after a `snapshot` effect (never past
 * `lastWritten()`), `snapshot()` returns its meta and `first()` is meta.index + 1.
 * After `installSnapshot`, entries after meta.index are kept only if the log held
 * meta.index with meta.term, and `lastWritten()` is at least meta.index. The core
 * never asks for index 0 (it treats it as the empty log's sentinel, term 0).
 */
export interface LogReader {
  first(): number;
  last(): IndexTerm;
  lastWritten(): IndexTerm;
  termAt(index: number): number | undefined;
  entries(from: number, to: number): readonly LogEntry[];
  snapshot(): SnapshotMeta | undefined;
}
