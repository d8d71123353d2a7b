// The core's vocabulary: roles, messages between members, events in, effects out.
// Everything here is plain data so a shell can log, encode or replay it.

import type { IndexTerm, LogEntry, Member, ServerId, SnapshotMeta } from './log.js';

export type Role =
  | 'recover'
  | 'follower'
  | 'pre_vote'
  | 'candidate'
  | 'leader'
  | 'await_condition'
  | 'receive_snapshot'
  | 'stopped';

/** Stable codes of the replies the core gives to callers; see errors.ts. */
export type ReplyErrorCode =
  | 'RAFTER_NOT_LEADER'
  | 'RAFTER_LEADERSHIP_LOST'
  | 'RAFTER_CLUSTER_CHANGE_NOT_PERMITTED'
  | 'RAFTER_OVERLOADED'
  | 'RAFTER_NOT_CAUGHT_UP'
  | 'RAFTER_UNKNOWN_MEMBER'
  | 'RAFTER_ALREADY_MEMBER'
  | 'RAFTER_MACHINE_VERSION_TOO_OLD'
  | 'RAFTER_QUERY_FAILED'
  | 'RAFTER_PEERS_CHANGED'
  | 'RAFTER_CLUSTER_DELETED';

// Messages between members. Every one carries the sender's term.
export interface AppendEntries {
  readonly type: 'append_entries';
  readonly term: number;
  readonly leaderId: ServerId;
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly LogEntry[];
  readonly commitIndex: number;
}

/** `lastIndex`/`lastTerm` are written entries known to match the leader; one round trip rewinds. */
export interface AppendEntriesReply {
  readonly type: 'append_entries_reply';
  readonly term: number;
  readonly success: boolean;
  readonly nextIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The highest machine version the follower's code runs (a transfer target must run the effective one). */
  readonly machineVersion: number;
}

export interface PreVote {
  readonly type: 'pre_vote';
  readonly term: number;
  readonly candidateId: ServerId;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly machineVersion: number;
  readonly token: number;
}

export interface PreVoteReply {
  readonly type: 'pre_vote_reply';
  readonly term: number;
  readonly granted: boolean;
  readonly token: number;
}

export interface RequestVote {
  readonly type: 'request_vote';
  readonly term: number;
  readonly candidateId: ServerId;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export interface RequestVoteReply {
  readonly type: 'request_vote_reply';
  readonly term: number;
  readonly granted: boolean;
}

/** A read-index round: no entries, only proof that the sender is still leader. */
export interface Heartbeat {
  readonly type: 'heartbeat';
  readonly term: number;
  readonly leaderId: ServerId;
  readonly querySeq: number;
}

export interface HeartbeatReply {
  readonly type: 'heartbeat_reply';
  readonly term: number;
  readonly querySeq: number;
}

export interface InstallSnapshot {
  readonly type: 'install_snapshot';
  readonly term: number;
  readonly leaderId: ServerId;
  readonly meta: SnapshotMeta;
  readonly chunkIndex: number;
  readonly last: boolean;
  readonly data: unknown;
}

export interface InstallSnapshotReply {
  readonly type: 'install_snapshot_reply';
  readonly term: number;
  readonly chunkIndex: number;
  /** True once the whole snapshot is installed; lastIndex/lastTerm then describe it. */
  readonly done: boolean;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

/** Leadership transfer: the target starts an election at once, skipping pre-vote. */
export interface TimeoutNow {
  readonly type: 'timeout_now';
  readonly term: number;
  readonly leaderId: ServerId;
}

export type RaftMessage =
  | AppendEntries
  | AppendEntriesReply
  | PreVote
  | PreVoteReply
  | RequestVote
  | RequestVoteReply
  | Heartbeat
  | HeartbeatReply
  | InstallSnapshot
  | InstallSnapshotReply
  | TimeoutNow;

/** Opaque to the core: the shell's handle to answer a caller. */
export type ReplyTo = unknown;

export type QueryFn = (machineState: unknown) => unknown;

export type TimerName = 'election' | 'condition';

/** One caller's command; a `commands` event carries many, each answered on its own. */
export interface CommandRequest {
  readonly command: unknown;
  readonly priority: 'normal' | 'low';
  readonly from: ReplyTo;
}

export type Event =
  /** `systemTime`: the shell's wall clock (ms), stamped into the entry (MachineMeta.systemTime); the core reads no clock. */
  | { readonly type: 'command'; readonly command: unknown; readonly priority: 'normal' | 'low'; readonly from: ReplyTo; readonly systemTime?: number }
  /**
   * The commands a shell took from its mailbox at once (Ra's leader drains its mailbox):
   * one step, so one append effect and one AppendEntries per follower for all of them.
   * Past COMMANDS_BATCH_MAX the rest are answered RAFTER_OVERLOADED.
   */
  | { readonly type: 'commands'; readonly commands: readonly CommandRequest[]; readonly systemTime?: number }
  | { readonly type: 'query'; readonly kind: 'local' | 'leader' | 'consistent'; readonly fn: QueryFn; readonly from: ReplyTo }
  | { readonly type: 'message'; readonly from: ServerId; readonly msg: RaftMessage }
  /**
   * The shell wrote the log up to `index`, whose entry has `term` (LogReader.lastWritten()
   * already shows it). A notice for an entry overwritten since is stale and ignored.
   */
  | { readonly type: 'written'; readonly index: number; readonly term: number }
  /** Writing the log from `index` failed: the core stops (it cannot acknowledge what it may not hold). */
  | { readonly type: 'write_failed'; readonly index: number; readonly reason: string }
  /**
   * The snapshot of a `snapshot` effect is durable and the log truncated (`written`), or
   * storage declined it by policy (`declined`); until then no other snapshot is asked for.
   */
  | { readonly type: 'snapshot_written'; readonly meta: SnapshotMeta; readonly outcome: 'written' | 'declined' }
  /** A timer fired; `generation` is the one of its setTimer effect (older ones are ignored). */
  | { readonly type: 'timeout'; readonly timer: TimerName; readonly generation: number }
  /** A `persist` with `sync` is durable (these are its term and vote). */
  | { readonly type: 'persisted'; readonly term: number; readonly votedFor: ServerId | undefined }
  /** The shell's answer to a `continue` effect: carry on with bounded work (applying). */
  | { readonly type: 'continue' }
  /** Periodic from the shell; a leader resends to followers that are behind. */
  | { readonly type: 'tick' }
  /** Monitor of `id` fired (process exit or lost connection). */
  | { readonly type: 'leader_down'; readonly id: ServerId }
  | { readonly type: 'node_maybe_down'; readonly node: string }
  | { readonly type: 'node_up'; readonly node: string }
  | { readonly type: 'trigger_election' }
  /** `expected`: applies only if the current members are exactly these (zraft_lib's peersChanged). */
  | { readonly type: 'add_member'; readonly member: Member; readonly from: ReplyTo; readonly expected?: readonly ServerId[] }
  | { readonly type: 'remove_member'; readonly id: ServerId; readonly from: ReplyTo; readonly expected?: readonly ServerId[] }
  /** Ra's delete_cluster: a `delete_cluster` entry that every member applies, then deletes itself. */
  | { readonly type: 'delete_cluster'; readonly from: ReplyTo }
  /** Disaster recovery (Ra's force_shrink_members_to_current_member): unsafe, see ops.ts. */
  | { readonly type: 'force_shrink'; readonly from: ReplyTo }
  /** A release cursor at the applied index with the current machine state (the aux handler's compaction). */
  | { readonly type: 'compact' }
  | { readonly type: 'transfer_leadership'; readonly to: ServerId; readonly from: ReplyTo }
  /** The shell installed the snapshot the core asked for, and decoded its machine state. */
  | { readonly type: 'snapshot_installed'; readonly meta: SnapshotMeta; readonly machineState: unknown };

export type Reply =
  | { readonly type: 'ok'; readonly index: number; readonly term: number; readonly reply: unknown; readonly leader: ServerId }
  | { readonly type: 'query'; readonly result: unknown; readonly index: number; readonly leader: ServerId | undefined }
  | { readonly type: 'error'; readonly code: ReplyErrorCode; readonly leader: ServerId | undefined };

/** A command entry as a `logRead` effect hands it to the machine. */
export interface ReadEntry {
  readonly index: number;
  readonly term: number;
  readonly command: unknown;
}

/**
 * Effects a machine asks for (Ra's machine effects). `release_cursor` and `checkpoint`
 * are carried out on every member; the others only on the leader (Ra does the same),
 * and notices of monitors and timers come back as commands through the log:
 * `{ down, reason }`, `{ nodeup }`, `{ nodedown }`, `{ timeout }` (see MachineNotice).
 */
export type MachineEffect =
  /** The log up to `index` may be replaced by a snapshot of `state` (the machine state at `index`). */
  | { readonly type: 'release_cursor'; readonly index: number; readonly state: unknown }
  /** A recovery point: `state` at `index` may be written so a restart need not replay up to it; the log is kept. */
  | { readonly type: 'checkpoint'; readonly index: number; readonly state: unknown }
  /** Send `msg` to an actor: a pid or `{ name, node }`, local or remote. */
  | { readonly type: 'send'; readonly to: unknown; readonly msg: unknown }
  /** After `afterMs`, the leader proposes `{ timeout: name }`; the same name replaces a running timer, `afterMs: Infinity` cancels it. */
  | { readonly type: 'timer'; readonly name: string; readonly afterMs: number }
  /** Watch a process (`{ down, reason }` when it exits or its node is lost) or a node (`{ nodedown }`, `{ nodeup }`). */
  | { readonly type: 'monitor'; readonly process: unknown }
  | { readonly type: 'monitor'; readonly node: string }
  | { readonly type: 'demonitor'; readonly process: unknown }
  | { readonly type: 'demonitor'; readonly node: string }
  /** The leader proposes `command` (no caller waits for it). */
  | { readonly type: 'append'; readonly command: unknown }
  /**
   * Reads the command entries at `indexes` (in that order; others and compacted ones are
   * left out) and calls `onEntries` with them on the leader; its effects run in turn.
   * A function, so it never leaves the leader's thread.
   */
  | { readonly type: 'logRead'; readonly indexes: readonly number[]; readonly onEntries: (entries: readonly ReadEntry[]) => readonly MachineEffect[] | undefined };

/** Commands the server proposes on a machine's behalf, applied through the log like any other. */
export type MachineNotice =
  | { readonly down: unknown; readonly reason: unknown }
  | { readonly nodeup: string }
  | { readonly nodedown: string }
  | { readonly timeout: string };

/** Delivered to the new version's `apply` at the entry that switches versions (Ra's `{machine_version, Old, New}`). */
export interface MachineVersionChange {
  readonly machineVersion: { readonly from: number; readonly to: number };
}

/**
 * The shell performs effects in order, each before the next: `persist` must be durable
 * before a later `send` leaves (a vote is never answered before it is stored), and
 * `append` must be visible through LogReader.last() before the next event.
 */
export type Effect =
  /**
   * Store term and vote. `sync` (a vote) must be durable before the shell feeds back
   * `persisted`; the core holds every message that depends on the vote until then.
   * Without `sync` (a term bump) it may be written lazily, but it must be durable no
   * later than any entry appended after it (a log never runs ahead of the stored term).
   */
  | { readonly kind: 'persist'; readonly term: number; readonly votedFor: ServerId | undefined; readonly sync: boolean }
  | { readonly kind: 'send'; readonly to: ServerId; readonly msg: RaftMessage }
  /** Entries start at or below last()+1; a lower start overwrites from there. Written asynchronously. */
  | { readonly kind: 'append'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'reply'; readonly to: ReplyTo; readonly reply: Reply }
  /** Replaces any running timer of that name; the timeout event must carry `generation`. */
  | { readonly kind: 'setTimer'; readonly timer: TimerName; readonly afterMs: number; readonly generation: number }
  | { readonly kind: 'cancelTimer'; readonly timer: TimerName }
  /** Write a snapshot of `machineState` at meta.index, then truncate the log up to it. */
  | { readonly kind: 'snapshot'; readonly meta: SnapshotMeta; readonly machineState: unknown }
  /** Leader: read chunk `chunkIndex` of the current snapshot and send it as install_snapshot. */
  | { readonly kind: 'sendSnapshotChunk'; readonly to: ServerId; readonly term: number; readonly meta: SnapshotMeta; readonly chunkIndex: number }
  /** Follower: store a received chunk. */
  | { readonly kind: 'writeSnapshotChunk'; readonly meta: SnapshotMeta; readonly chunkIndex: number; readonly data: unknown }
  /**
   * Follower: make the stored chunks the snapshot and reset the log (keeping the suffix
   * only if the log holds the snapshot's last entry), then feed snapshot_installed to the
   * core before any other event (postpone others meanwhile).
   */
  | { readonly kind: 'installSnapshot'; readonly meta: SnapshotMeta }
  | { readonly kind: 'machineEffects'; readonly effects: readonly MachineEffect[] }
  | { readonly kind: 'roleChanged'; readonly role: Role; readonly term: number; readonly leader: ServerId | undefined }
  /** The member was removed from the cluster and has stepped down; the shell may stop it. */
  | { readonly kind: 'removed' }
  /** The member applied the cluster's deletion: the shell calls the machine's stateEnter('eol'). */
  | { readonly kind: 'endOfLife'; readonly machineState: unknown }
  /**
   * The deletion is done here (a follower has written it, a leader has replicated it to
   * every member): the core has stopped; the shell deletes the member's data for good.
   */
  | { readonly kind: 'deleted' }
  /** More bounded work is waiting (committed entries to apply): feed a `continue` event. */
  | { readonly kind: 'continue' }
  /** A peer sent a message that breaks the protocol; it was dropped. The shell logs it. */
  | { readonly kind: 'invalidMessage'; readonly from: ServerId; readonly type: RaftMessage['type']; readonly reason: string };

export interface MachineMeta {
  readonly index: number;
  readonly term: number;
  /** The effective machine version at this entry: `apply` of that version runs it. */
  readonly machineVersion: number;
  /** The leader's wall clock (ms since the epoch) when it took the command; 0 if the entry has none. */
  readonly systemTime: number;
}

export interface ApplyResult {
  readonly state: unknown;
  readonly reply?: unknown;
  readonly effects?: readonly MachineEffect[];
}

/** The machine as the core sees it: pure functions over plain data. */
export interface CoreMachine {
  /** The highest machine version this code can run. */
  readonly version: number;
  init(): unknown;
  apply(meta: MachineMeta, command: unknown, state: unknown): ApplyResult;
  /** Called at the entry that raises the effective version, with `meta.machineVersion` the new one. */
  versionChanged?(meta: MachineMeta, from: number, state: unknown): ApplyResult;
}

/**
 * When a leader raises the effective machine version. `all` (Ra 3's default): once every
 * member reports code that runs it. `quorum` (Ra 2): at once, in the new leader's noop;
 * members on older code stop applying until upgraded, and pre-vote keeps them from leading.
 */
export type MachineUpgradeStrategy = 'all' | 'quorum';

/** Injected randomness: the core never calls Math.random. */
export interface Random {
  /** A uniform integer in [min, max]. */
  intBetween(min: number, max: number): number;
}

export interface CoreTimeouts {
  readonly leaderDownDelayMsMin: number;
  readonly leaderDownDelayMsMax: number;
  readonly maybeDownDelayMsMin: number;
  readonly maybeDownDelayMsMax: number;
  readonly electionTimeoutMsMin: number;
  readonly electionTimeoutMsMax: number;
  readonly transferTimeoutMs: number;
}

export interface PersistedState {
  readonly term: number;
  readonly votedFor: ServerId | undefined;
  /**
   * The applied index last stored (lazily; Ra keeps it in its meta store), as given by
   * RaftCore.storableApplied(). At start the member re-applies its log up to it without
   * waiting for a leader.
   */
  readonly lastApplied?: number;
}

export type { IndexTerm };
