// One Raft member's state and the transitions every role shares (terms, votes, role
// changes, effects). Role files (election, follower, leader, snapshot, query, apply)
// build on it; the dispatcher (core.ts) sits above them all, so imports run one way.

import { CorruptStateError } from '../../errors.js';
import { assert } from './assert.js';
import { ClusterHistory, findMember, isVoter, sameServer, serverKey } from './cluster.js';
import * as limits from './limits.js';
import type { LogReader, Member, ServerId, SnapshotMeta } from './log.js';
import { LogView } from './log-view.js';
import { estimateEntryBytes, type EntryBytes } from './entry-size.js';
import type { ElectionReason, Leading, ReceivingSnapshot } from './state.js';
import { rulesWith, type Mutation, type Rules } from './rules.js';
import type {
  CoreMachine,
  CoreTimeouts,
  Effect,
  MachineEffect,
  MachineUpgradeStrategy,
  PersistedState,
  RaftMessage,
  Random,
  Reply,
  ReplyErrorCode,
  ReplyTo,
  Role,
  TimerName,
} from './types.js';

export interface CoreConfig {
  readonly id: ServerId;
  readonly log: LogReader;
  readonly machine: CoreMachine;
  readonly random: Random;
  readonly persisted?: PersistedState;
  /** Members of a new cluster; ignored once the log or a snapshot holds a configuration. */
  readonly initialMembers?: readonly Member[];
  /** Machine state decoded from the snapshot the log reports, if any. */
  readonly machineState?: unknown;
  /**
   * A recovery checkpoint past the snapshot, whose index the log holds with the same
   * term: the member starts from its state and re-applies only the entries after it.
   */
  readonly checkpoint?: { readonly meta: SnapshotMeta; readonly state: unknown };
  /** Snapshot every this many applied entries while the machine releases no cursor (zraft_lib's snapshot_every); 0 or absent: never. */
  readonly snapshotEvery?: number;
  readonly timeouts?: Partial<CoreTimeouts>;
  readonly preVote?: boolean;
  /** Estimated entry bytes per AppendEntries (default APPEND_ENTRIES_BYTES_MAX); a larger entry goes alone. */
  readonly appendEntriesBytesMax?: number;
  /** Estimated entry bytes unacknowledged per follower (default INFLIGHT_BYTES_MAX). */
  readonly inflightBytesMax?: number;
  /** The shell's estimate of an entry's encoded size (default: estimateEntryBytes over plain data). */
  readonly entryBytes?: EntryBytes;
  /** When a leader raises the machine version (default `quorum`, in the new leader's noop; servers use `all`). */
  readonly machineUpgradeStrategy?: MachineUpgradeStrategy;
  /** Test-only: a deliberate bug for the simulator's mutation tests. */
  readonly mutation?: Mutation;
}

export const DEFAULT_TIMEOUTS: CoreTimeouts = {
  leaderDownDelayMsMin: limits.LEADER_DOWN_DELAY_MS_MIN,
  leaderDownDelayMsMax: limits.LEADER_DOWN_DELAY_MS_MAX,
  maybeDownDelayMsMin: limits.MAYBE_DOWN_DELAY_MS_MIN,
  maybeDownDelayMsMax: limits.MAYBE_DOWN_DELAY_MS_MAX,
  electionTimeoutMsMin: limits.ELECTION_TIMEOUT_MS_MIN,
  electionTimeoutMsMax: limits.ELECTION_TIMEOUT_MS_MAX,
  transferTimeoutMs: limits.TRANSFER_TIMEOUT_MS,
};

export class RaftMember {
  readonly id: ServerId;
  readonly key: string;
  readonly log: LogView;
  readonly machine: CoreMachine;
  readonly random: Random;
  readonly timeouts: CoreTimeouts;
  readonly preVote: boolean;
  readonly appendEntriesBytesMax: number;
  readonly inflightBytesMax: number;
  readonly entryBytes: EntryBytes;
  /** The protocol's rules; a mutation test swaps one of them. */
  readonly rules: Rules;
  readonly machineUpgradeStrategy: MachineUpgradeStrategy;

  role: Role = 'recover';
  /** Why the core stopped, when a machine or the log failed. */
  failure: Error | undefined = undefined;
  currentTerm: number;
  votedFor: ServerId | undefined;
  leaderId: ServerId | undefined = undefined;
  commitIndex: number;
  lastApplied: number;
  machineState: unknown;
  /** Effective machine version: the one in the last applied noop. */
  machineVersion: number;
  /** A noop asked for a machine version this code cannot run: applying stops. */
  upgradeRequired = false;
  readonly cluster: ClusterHistory;

  // Follower: highest index known to match the current leader's log.
  validatedIndex = 0;
  replyOwed = false;
  receiving: ReceivingSnapshot | undefined = undefined;

  // Pre-vote and candidate.
  readonly votes = new Set<string>();
  preVoteToken = 0;
  electionReason: ElectionReason | undefined = undefined;
  /** Pre-vote rounds since a leader was last known; widens the retry window. */
  electionRounds = 0;

  /** The leader's state: exists from becoming leader until stepping down (await_condition included). */
  leading: Leading | undefined = undefined;
  /** Set by a step that appended a normal command (low-priority ones then wait). */
  normalAppended = false;

  /** Entries this step may still apply; past it the rest wait for a `continue` event. */
  applyBudget = 0;
  applyOwed = false;

  /** A `snapshot` effect not yet answered by `snapshot_written`. */
  snapshotInFlight: SnapshotMeta | undefined = undefined;
  /** Release cursors storage declined (policy), for the shell's metrics. */
  snapshotsDeclined = 0;

  pendingReleaseCursor: { index: number; state: unknown; machineVersion: number; members: readonly Member[] } | undefined = undefined;
  /** See CoreConfig.snapshotEvery (0: off). */
  readonly snapshotEvery: number;
  /** The machine returned a release cursor: snapshotEvery then stands aside for good. */
  machineReleasesCursor = false;

  /** Index of a delete_cluster entry in the log: nothing more is proposed after it. */
  deleteEntryIndex: number | undefined = undefined;
  /** Set once the delete_cluster entry is applied: the member ends (ops.ts). */
  endOfLifeIndex: number | undefined = undefined;
  /** Leader: peers sent a commit covering the deletion once they held it, with the term it was sent in (ops.ts). */
  readonly toldEndOfLife = new Map<string, number>();
  /** Leader: peers that acknowledged the delete entry, with the term of the acknowledgement (ops.ts). */
  readonly deletionAcked = new Map<string, number>();

  /** Effects of the current step; the dispatcher hands them to the shell. */
  protected out: Effect[] = [];
  /** Our latest vote, until reported durable. */
  protected pendingVote: { term: number; votedFor: ServerId } | undefined = undefined;
  /** Messages that depend on that vote. */
  protected heldUntilVote: { to: ServerId; msg: RaftMessage }[] = [];
  protected readonly timerGenerations: Record<TimerName, number> = { election: 0, condition: 0 };
  /** Where this step's append effect goes among its effects (-1: none yet). */
  protected appendSlot = -1;
  /** Shell-bound machine effects gathered during a step (leader only). */
  machineEffects: MachineEffect[] = [];

  constructor(config: CoreConfig) {
    this.id = config.id;
    this.key = serverKey(config.id);
    this.log = new LogView(config.log);
    this.machine = config.machine;
    this.random = config.random;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...config.timeouts };
    this.preVote = config.preVote ?? true;
    this.appendEntriesBytesMax = config.appendEntriesBytesMax ?? limits.APPEND_ENTRIES_BYTES_MAX;
    this.inflightBytesMax = config.inflightBytesMax ?? limits.INFLIGHT_BYTES_MAX;
    assert(this.appendEntriesBytesMax > 0 && this.inflightBytesMax > 0, () => `${this.key}: byte caps ${this.appendEntriesBytesMax}/${this.inflightBytesMax} must be positive`);
    this.entryBytes = config.entryBytes ?? estimateEntryBytes;
    this.rules = rulesWith(config.mutation);
    this.machineUpgradeStrategy = config.machineUpgradeStrategy ?? 'quorum';
    this.currentTerm = config.persisted?.term ?? 0;
    this.votedFor = config.persisted?.votedFor;
    const lastTerm = config.log.last().term;
    // A term is persisted before any entry of it is appended, so the log cannot be ahead.
    if (lastTerm > this.currentTerm) throw new CorruptStateError(config.id, `its persisted term ${this.currentTerm} is below its log's last term ${lastTerm}`);
    const snapshot = config.log.snapshot();
    assert(snapshot === undefined || config.machineState !== undefined, () => `${this.key}: snapshot at ${snapshot?.index} without machine state`);
    this.snapshotEvery = config.snapshotEvery ?? 0;
    assert(Number.isSafeInteger(this.snapshotEvery) && this.snapshotEvery >= 0, () => `${this.key}: snapshotEvery ${this.snapshotEvery}`);
    const checkpoint = config.checkpoint;
    if (checkpoint !== undefined) {
      // A checkpoint is taken at an applied (so committed) index: the log must still hold it.
      const at = checkpoint.meta.index;
      assert(at > (snapshot?.index ?? 0) && config.log.termAt(at) === checkpoint.meta.term, () => `${this.key}: checkpoint at ${at} term ${checkpoint.meta.term} is not in the log`);
    }
    const start = checkpoint?.meta ?? snapshot;
    this.commitIndex = start?.index ?? 0;
    this.lastApplied = this.commitIndex;
    // Applied means committed, and committed entries are never overwritten: what the log
    // still holds up to the stored applied index is committed (re-applied in start()).
    this.commitIndex = Math.max(this.commitIndex, Math.min(config.persisted?.lastApplied ?? 0, config.log.last().index));
    this.machineState = checkpoint !== undefined ? checkpoint.state : snapshot === undefined ? config.machine.init() : config.machineState;
    this.machineVersion = start?.machineVersion ?? 0;
    this.upgradeRequired = this.machineVersion > config.machine.version;
    // Configurations below a checkpoint are committed and superseded by its members.
    const base = start === undefined ? { index: 0, members: config.initialMembers ?? [] } : { index: start.index, members: start.members };
    this.cluster = new ClusterHistory(base);
    this.rebuildClusterAfter(base.index);
  }

  emit(effect: Effect): void {
    this.out.push(effect);
  }

  send(to: ServerId, msg: RaftMessage): void {
    this.out.push({ kind: 'send', to, msg });
  }

  reply(to: ReplyTo, reply: Reply): void {
    this.out.push({ kind: 'reply', to, reply });
  }

  replyError(to: ReplyTo, code: ReplyErrorCode): void {
    const leader = this.role === 'leader' ? this.id : this.role === 'await_condition' ? undefined : this.leaderId;
    this.reply(to, { type: 'error', code, leader });
  }

  /** Appends through the in-step view; the append effect keeps its place among the effects. */
  append(entries: Parameters<LogView['append']>[0]): void {
    if (entries.length === 0) return;
    if (this.appendSlot < 0) {
      this.appendSlot = this.out.length;
      this.out.push({ kind: 'cancelTimer', timer: 'condition' }); // placeholder, replaced in run()
    }
    this.log.append(entries);
  }

  isVoter(): boolean {
    return isVoter(this.cluster.current().members, this.id);
  }

  isMember(): boolean {
    return findMember(this.cluster.current().members, this.id) !== undefined;
  }

  setTerm(term: number, votedFor: ServerId | undefined): void {
    assert(term >= this.currentTerm, () => `${this.key}: term ${term} below current ${this.currentTerm}`);
    // A new term may have a new log under the same leader id (it lost a term and won
    // again): only committed entries are known to be in it.
    if (term > this.currentTerm && this.rules.newTermForgetsValidated) this.forgetValidated();
    if (term > this.currentTerm) this.heldUntilVote = [];
    this.currentTerm = term;
    this.votedFor = votedFor;
    // Only a vote is synced (as Ra): what depends on it waits for `persisted`.
    const sync = votedFor !== undefined;
    this.pendingVote = sync ? { term, votedFor } : undefined;
    this.emit({ kind: 'persist', term, votedFor, sync });
  }

  /**
   * The applied index a shell may store for recovery: entries are applied once committed,
   * maybe before they are written here, and an unwritten overwrite can be undone by a
   * crash; only written ones are sure to be in the log at restart.
   */
  storableApplied(): number {
    return Math.min(this.lastApplied, this.log.lastWritten().index);
  }

  /** True while our latest vote is not yet reported durable. */
  voteInFlight(): boolean {
    return this.pendingVote !== undefined;
  }

  /** Sends once our vote is durable: a vote reply or a vote request depends on it. */
  sendAfterVote(to: ServerId, msg: RaftMessage): void {
    if (this.pendingVote === undefined) this.send(to, msg);
    else this.heldUntilVote.push({ to, msg });
  }

  setRole(role: Role, leader: ServerId | undefined): void {
    const sameLeader = leader === undefined ? this.leaderId === undefined : sameServer(leader, this.leaderId);
    if (role === this.role && sameLeader) return;
    this.role = role;
    this.leaderId = leader;
    if (leader !== undefined) this.electionRounds = 0;
    this.emit({ kind: 'roleChanged', role, term: this.currentTerm, leader });
  }

  /** Steps down (or stays) as a follower; `reason` picks the election delay when leaderless. */
  becomeFollower(term: number, leader: ServerId | undefined, reason: ElectionReason = 'no_leader'): void {
    if (term > this.currentTerm) this.setTerm(term, undefined);
    const leaderChanged = !sameServer(leader, this.leaderId);
    if (this.role === 'leader' || this.role === 'await_condition') this.stepDownFromLeader();
    if (leaderChanged || this.role !== 'follower') this.forgetValidated();
    this.receiving = undefined;
    this.setRole('follower', leader);
    if (leader !== undefined) {
      if (this.electionReason !== undefined) this.disarmElection();
    } else if (this.electionReason === undefined || reason === 'leader_down') {
      this.armElection(reason);
    }
  }

  /** Only committed entries are known to be in a new leader's (or a new term's) log. */
  private forgetValidated(): void {
    this.validatedIndex = Math.min(this.validatedIndex, this.commitIndex);
    this.replyOwed = false;
  }

  /** The leader's state; only leader code paths ask for it. */
  get lead(): Leading {
    const leading = this.leading;
    if (leading === undefined) assert(false, () => `${this.key} term ${this.currentTerm}: leader state asked for as ${this.role}`);
    return leading;
  }

  private stepDownFromLeader(): void {
    for (const [, from] of this.lead.pending) this.replyError(from, 'RAFTER_LEADERSHIP_LOST');
    this.lead.pending.clear();
    for (const low of this.lead.lowQueue) this.replyError(low.from, 'RAFTER_NOT_LEADER');
    this.lead.lowQueue = [];
    for (const query of this.lead.queries) this.replyError(query.from, 'RAFTER_NOT_LEADER');
    this.leading = undefined;
    this.cancelTimer('condition');
  }

  armElection(reason: ElectionReason): void {
    if (!this.isVoter()) return;
    const t = this.timeouts;
    const [min, max] =
      reason === 'leader_down'
        ? [t.leaderDownDelayMsMin, t.leaderDownDelayMsMax]
        : reason === 'maybe_down'
          ? [t.maybeDownDelayMsMin, t.maybeDownDelayMsMax]
          : [t.electionTimeoutMsMin, this.retryWindowMax()];
    this.electionReason = reason;
    this.setTimer('election', this.random.intBetween(min, max));
  }

  /** The election timeout's upper bound, doubled per round already lost (see ELECTION_RETRY_DOUBLINGS_MAX). */
  private retryWindowMax(): number {
    const t = this.timeouts;
    const doublings = Math.min(Math.max(this.electionRounds - 1, 0), this.rules.electionRetryDoublingsMax);
    return t.electionTimeoutMsMin + (t.electionTimeoutMsMax - t.electionTimeoutMsMin) * 2 ** doublings;
  }

  disarmElection(): void {
    this.electionReason = undefined;
    this.cancelTimer('election');
  }

  setTimer(timer: TimerName, afterMs: number): void {
    const generation = (this.timerGenerations[timer] += 1);
    this.emit({ kind: 'setTimer', timer, afterMs, generation });
  }

  cancelTimer(timer: TimerName): void {
    this.timerGenerations[timer] += 1;
    this.emit({ kind: 'cancelTimer', timer });
  }

  /** The generation a timeout of `timer` must carry to count (that of the last setTimer). */
  timerGeneration(timer: TimerName): number {
    return this.timerGenerations[timer];
  }

  /**
   * Stops for good with `error`, thrown out of the current step: what the step did so far
   * is lost with its effects, and the state stays as it was before the failing part.
   */
  stopWith(error: Error): never {
    this.role = 'stopped';
    this.failure = error;
    throw error;
  }

  /** Drops a message that breaks the protocol; the shell logs it. Peers are not trusted with asserts. */
  invalid(from: ServerId, msg: RaftMessage, reason: string): void {
    this.emit({ kind: 'invalidMessage', from, type: msg.type, reason: `${this.key} term ${this.currentTerm}: ${reason}` });
  }

  /** Re-reads cluster entries above `index` (at start, or after a snapshot kept a suffix). */
  rebuildClusterAfter(index: number): void {
    // A delete entry at or below a snapshot cannot be (nothing is applied past one): re-read it too.
    this.deleteEntryIndex = undefined;
    const last = this.log.last().index;
    for (let from = index + 1; from <= last; from += limits.APPLY_BATCH_ENTRIES_MAX) {
      const to = Math.min(last, from + limits.APPLY_BATCH_ENTRIES_MAX - 1);
      for (const entry of this.log.entries(from, to)) {
        if (entry.payload.type === 'cluster') this.cluster.push({ index: entry.index, members: entry.payload.members });
        if (entry.payload.type === 'delete_cluster') this.deleteEntryIndex = entry.index;
      }
    }
  }
}
