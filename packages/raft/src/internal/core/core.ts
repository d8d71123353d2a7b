// One Raft member as a deterministic object: step(event) returns effects as data.
// Like etcd's raft struct and Ra's ra_server, it performs no I/O; the shell does.
// This file is the dispatcher: events in, role handlers (election.ts, follower.ts,
// leader.ts, snapshot.ts, query.ts) over the shared member state (member.ts).

import { applyCommitted } from './apply.js';
import { WriteFailedError } from '../../errors.js';
import { assert, assertNever } from './assert.js';
import { sameServer } from './cluster.js';
import { onVotePersisted, onElectionTimeout, onPreVote, onPreVoteReply, onRequestVote, onRequestVoteReply, startElection, startPreVote } from './election.js';
import { onAppendEntries, onFollowerWritten, onHeartbeat } from './follower.js';
import {
  addMember,
  onAppendEntriesReply,
  onHeartbeatReply,
  onLeaderTick,
  onLeaderWritten,
  onNodeUpAsLeader,
  proposeCommand,
  proposeCommands,
  removeMember,
  replicateAll,
  transferLeadership,
  flushLowPriority,
} from './leader.js';
import type { ServerId } from './log.js';
import { RaftMember } from './member.js';
import { checkMessage } from './check-message.js';
import { compact, deleteCluster, endOfLife, forceShrink, noteDeletionAck } from './ops.js';
import { onQuery, processQueries } from './query.js';
import { onInstallSnapshot, onInstallSnapshotReply, onSnapshotInstalled, onSnapshotWritten, trySnapshot } from './snapshot.js';
import { APPLY_BATCH_ENTRIES_MAX } from './limits.js';
import type { Effect, Event, RaftMessage } from './types.js';

export { DEFAULT_TIMEOUTS, type CoreConfig } from './member.js';

export class RaftCore extends RaftMember {
  /** Leaves recovery: the shell calls it once, before the first event. */
  start(): Effect[] {
    assert(this.role === 'recover', () => `${this.key}: start in ${this.role}`);
    // Re-applies up to the recovered commit index while in `recover`: a member that is
    // not leading passes on no machine effects and sends no replies (as Ra recovers).
    return this.run(() => {
      applyCommitted(this);
      this.becomeFollower(this.currentTerm, undefined);
    });
  }

  step(event: Event): Effect[] {
    if (this.failure !== undefined) throw this.failure;
    if (this.role === 'stopped') return [];
    assert(this.role !== 'recover', () => `${this.key}: event ${event.type} before start`);
    // The log already holds the snapshot: nothing may come between install and its notice,
    // but the notice that installing it failed (the server then stops).
    assert(this.receiving?.installing !== true || event.type === 'snapshot_installed' || event.type === 'write_failed', () => `${this.key} term ${this.currentTerm}: ${event.type} while installing snapshot ${this.receiving?.meta.index}`);
    return this.run(() => this.dispatch(event));
  }

  private run(body: () => void): Effect[] {
    this.out = [];
    this.appendSlot = -1;
    this.normalAppended = false;
    this.applyBudget = APPLY_BATCH_ENTRIES_MAX;
    this.applyOwed = false;
    const commitBefore = this.commitIndex;
    body();
    assert(this.commitIndex >= commitBefore, () => `${this.key} term ${this.currentTerm}: commit index fell from ${commitBefore} to ${this.commitIndex}`);
    if (this.role === 'leader') flushLowPriority(this);
    if (this.role === 'leader') replicateAll(this);
    trySnapshot(this);
    this.flushMachineEffects();
    endOfLife(this);
    if (this.applyOwed) this.emit({ kind: 'continue' });
    const pending = this.log.takePending();
    assert((pending.length > 0) === (this.appendSlot >= 0), () => `${this.key}: append slot ${this.appendSlot} for ${pending.length} entries`);
    if (pending.length > 0) this.out[this.appendSlot] = { kind: 'append', entries: pending };
    const out = this.out;
    this.out = [];
    this.checkInvariants();
    return out;
  }

  private flushMachineEffects(): void {
    if (this.machineEffects.length === 0) return;
    this.emit({ kind: 'machineEffects', effects: this.machineEffects });
    this.machineEffects = [];
  }

  private checkInvariants(): void {
    assert(this.commitIndex >= this.lastApplied, () => `${this.key} term ${this.currentTerm}: applied ${this.lastApplied} past commit ${this.commitIndex}`);
    assert(this.lastApplied >= this.log.snapshotIndex() || this.receiving !== undefined, () => `${this.key} term ${this.currentTerm}: applied ${this.lastApplied} below snapshot ${this.log.snapshotIndex()}`);
    assert(this.role !== 'leader' || sameServer(this.leaderId, this.id), () => `${this.key} term ${this.currentTerm}: leader without itself as leader`);
  }

  private dispatch(event: Event): void {
    switch (event.type) {
      case 'command':
        return proposeCommand(this, event.command, event.priority, event.from, event.systemTime);
      case 'commands':
        return proposeCommands(this, event.commands, event.systemTime);
      case 'query':
        return onQuery(this, event.kind, event.fn, event.from);
      case 'message':
        return this.onMessage(event.from, event.msg);
      case 'written':
        // Stale: the entry was overwritten since it was written.
        if (this.log.termAt(event.index) !== event.term) return;
        return this.onWritten();
      case 'write_failed':
        return this.stopWith(new WriteFailedError(this.id, event.index, event.reason));
      case 'snapshot_written':
        return onSnapshotWritten(this, event.meta, event.outcome);
      case 'timeout':
        // A timer cancelled or replaced after it fired: its event is stale.
        if (event.generation !== this.timerGenerations[event.timer]) return;
        return this.onTimeout(event.timer);
      case 'continue':
        return this.onContinue();
      case 'persisted':
        return this.onPersisted(event.term, event.votedFor);
      case 'tick':
        if (this.role === 'leader') onLeaderTick(this);
        return;
      case 'leader_down':
        return this.onLeaderDown(event.id);
      case 'node_maybe_down':
        return this.onNodeMaybeDown(event.node);
      case 'node_up':
        return this.onNodeUp(event.node);
      case 'trigger_election':
        if (this.role !== 'leader' && this.isVoter()) startPreVote(this);
        return;
      case 'add_member':
        return addMember(this, event.member, event.from, event.expected);
      case 'remove_member':
        return removeMember(this, event.id, event.from, event.expected);
      case 'delete_cluster':
        return deleteCluster(this, event.from);
      case 'force_shrink':
        return forceShrink(this, event.from);
      case 'compact':
        return compact(this);
      case 'transfer_leadership':
        return transferLeadership(this, event.to, event.from);
      case 'snapshot_installed':
        return onSnapshotInstalled(this, event.meta, event.machineState);
      default:
        return assertNever(event, `${this.key}: unknown event`);
    }
  }

  private onMessage(from: ServerId, msg: RaftMessage): void {
    const invalid = checkMessage(from, msg);
    if (invalid !== undefined) return this.invalid(from, msg, invalid);
    if (msg.term > this.currentTerm) {
      const leader = 'leaderId' in msg ? msg.leaderId : undefined;
      this.becomeFollower(msg.term, leader);
    }
    switch (msg.type) {
      case 'append_entries':
        return onAppendEntries(this, from, msg);
      case 'append_entries_reply':
        if (msg.term === this.currentTerm && this.role === 'leader') {
          noteDeletionAck(this, from, msg);
          onAppendEntriesReply(this, from, msg);
        }
        return;
      case 'pre_vote':
        return onPreVote(this, from, msg);
      case 'pre_vote_reply':
        return onPreVoteReply(this, from, msg);
      case 'request_vote':
        return onRequestVote(this, from, msg);
      case 'request_vote_reply':
        return onRequestVoteReply(this, from, msg);
      case 'heartbeat':
        return onHeartbeat(this, from, msg);
      case 'heartbeat_reply':
        if (msg.term === this.currentTerm && this.role === 'leader') onHeartbeatReply(this, from, msg);
        return;
      case 'install_snapshot':
        return onInstallSnapshot(this, from, msg);
      case 'install_snapshot_reply':
        if (msg.term === this.currentTerm && this.role === 'leader') onInstallSnapshotReply(this, from, msg);
        return;
      case 'timeout_now':
        if (msg.term === this.currentTerm && sameServer(msg.leaderId, this.leaderId) && this.isVoter() && this.role === 'follower') startElection(this);
        return;
      default:
        return assertNever(msg, `${this.key}: unknown message`);
    }
  }

  private onContinue(): void {
    applyCommitted(this);
    if (this.role === 'leader') processQueries(this);
  }

  private onWritten(): void {
    if (this.role === 'leader') onLeaderWritten(this);
    else onFollowerWritten(this);
  }

  private onTimeout(timer: 'election' | 'condition'): void {
    if (timer === 'condition') {
      // A transfer that did not happen: give up leadership and let an election decide.
      if (this.role === 'await_condition') {
        this.becomeFollower(this.currentTerm, undefined);
      }
      return;
    }
    this.electionReason = undefined;
    onElectionTimeout(this);
  }

  private onLeaderDown(id: ServerId): void {
    if (!sameServer(id, this.leaderId) || this.role === 'leader') return;
    this.becomeFollower(this.currentTerm, undefined, 'leader_down');
  }

  private onNodeMaybeDown(node: string): void {
    if (this.role !== 'follower' || this.leaderId?.node !== node) return;
    if (this.electionReason !== undefined) return; // an earlier trigger is already pending
    this.armElection('maybe_down');
  }

  private onNodeUp(node: string): void {
    if (this.role === 'leader') return onNodeUpAsLeader(this, node);
    if (this.electionReason === 'maybe_down' && this.leaderId?.node === node) this.disarmElection();
  }

  private onPersisted(term: number, votedFor: ServerId | undefined): void {
    const vote = this.pendingVote;
    if (vote === undefined || vote.term !== term || !sameServer(vote.votedFor, votedFor)) return;
    this.pendingVote = undefined;
    for (const held of this.heldUntilVote ?? []) this.send(held.to, held.msg);
    this.heldUntilVote = undefined;
    onVotePersisted(this);
  }
}
