// The leader: proposals, pipelined replication, commit on a written quorum, membership
// changes and leadership transfer. A leader sends only when it has entries or a commit
// to pass on, or a follower is behind; it sends nothing while idle.

import { assert } from './assert.js';
import { agreedIndex, findMember, isVoter, membersAre, sameServer, serverKey, voters } from './cluster.js';
import { applyCommitted } from './apply.js';
import type { RaftMember } from './member.js';
import { inflightBytes, recordSent, resendFrom } from './inflight.js';
import {
  APPEND_BATCH_ENTRIES_MAX,
  CLUSTER_MEMBERS_MAX,
  COMMANDS_BATCH_MAX,
  INFLIGHT_ENTRIES_MAX,
  LOW_PRIORITY_BATCH_MAX,
  LOW_PRIORITY_QUEUE_MAX,
  PENDING_COMMANDS_MAX,
} from './limits.js';
import type { EntryPayload, LogEntry, Member, ServerId } from './log.js';
import { processQueries, resendHeartbeats } from './query.js';
import { resendSnapshotChunk, startSnapshot } from './snapshot.js';
import { Leading, type Peer } from './state.js';
import type { AppendEntriesReply, CommandRequest, HeartbeatReply, ReplyTo } from './types.js';

export function becomeLeader(core: RaftMember): void {
  core.disarmElection();
  core.setRole('leader', core.id);
  core.leading = new Leading();
  syncPeers(core, core.log.last().index + 1);
  // Ra's noop: commits every earlier entry (5.4.2) and carries the machine version:
  // ours at once (quorum strategy, or alone), else the effective one until every member
  // reports it runs a newer one (maybeUpgradeMachine).
  const alone = core.lead.peers.size === 0;
  const version = core.machineUpgradeStrategy === 'quorum' || alone ? core.machine.version : core.machineVersion;
  core.lead.noopIndex = appendEntry(core, { type: 'noop', machineVersion: version });
  core.lead.versionProposed = version;
}

/**
 * The `all` strategy: once our noop committed and every other member of the latest
 * configuration has reported the versions its code runs, raise the effective version to
 * the highest that all of them (and we) run, with another noop (Ra 3).
 */
function maybeUpgradeMachine(core: RaftMember): void {
  // Nothing follows a cluster's deletion entry.
  if (core.machineUpgradeStrategy !== 'all' || core.commitIndex < core.lead.noopIndex || core.deleteEntryIndex !== undefined) return;
  let target = core.machine.version;
  for (const peer of core.lead.peers.values()) target = Math.min(target, peer.machineVersion);
  if (target <= Math.max(core.lead.versionProposed, core.machineVersion)) return;
  appendEntry(core, { type: 'noop', machineVersion: target });
  core.lead.versionProposed = target;
}

/** Optimistic start (Raft's nextIndex init): the first reply tells where the follower is. */
function newPeer(core: RaftMember, id: ServerId, nextIndex: number): Peer {
  const last = core.log.last().index;
  return {
    id,
    nextIndex,
    matchIndex: 0,
    probeIndex: nextIndex - 1,
    commitIndexSent: 0,
    matchIndexAtTick: 0,
    rewoundTo: -1,
    querySeq: 0,
    promoteAt: last,
    machineVersion: 0,
    snapshot: undefined,
    inflight: [],
    inflightBytes: 0,
  };
}

/**
 * Keeps one peer per member of the latest configuration, other than ourselves. A member
 * added by a cluster entry starts at that entry, so it gets it in the first message.
 */
function syncPeers(core: RaftMember, nextIndex: number): void {
  const members = core.cluster.current().members;
  for (const member of members) {
    const key = serverKey(member.id);
    if (key !== core.key && !core.lead.peers.has(key)) core.lead.peers.set(key, newPeer(core, member.id, nextIndex));
  }
  for (const [key, peer] of core.lead.peers) {
    if (findMember(members, peer.id) === undefined) core.lead.peers.delete(key);
  }
}

function appendEntry(core: RaftMember, payload: EntryPayload): number {
  const index = core.log.last().index + 1;
  core.append([{ index, term: core.currentTerm, payload }]);
  if (payload.type === 'cluster') {
    core.cluster.push({ index, members: payload.members });
    syncPeers(core, index);
  }
  return index;
}

/**
 * A batch is one step: its entries go out in one append effect and, when the step ends,
 * in one AppendEntries per follower (within the caps). Each command keeps its own reply.
 */
export function proposeCommands(core: RaftMember, commands: readonly CommandRequest[], systemTime: number | undefined): void {
  for (let at = 0; at < commands.length; at += 1) {
    const request = commands[at]!;
    if (at >= COMMANDS_BATCH_MAX) core.replyError(request.from, 'RAFTER_OVERLOADED');
    else proposeCommand(core, request.command, request.priority, request.from, systemTime);
  }
}

/** `systemTime` (the shell's clock, when it gave one) goes into the entry for MachineMeta. */
export function proposeCommand(core: RaftMember, command: unknown, priority: 'normal' | 'low', from: ReplyTo, systemTime: number | undefined): void {
  if (core.role !== 'leader') return core.replyError(from, 'RAFTER_NOT_LEADER');
  if (core.deleteEntryIndex !== undefined) return core.replyError(from, 'RAFTER_CLUSTER_DELETED');
  if (priority === 'low') {
    if (core.lead.lowQueue.length >= LOW_PRIORITY_QUEUE_MAX) return core.replyError(from, 'RAFTER_OVERLOADED');
    core.lead.lowQueue.push({ command, from, systemTime });
    return;
  }
  if (core.lead.pending.size >= PENDING_COMMANDS_MAX) return core.replyError(from, 'RAFTER_OVERLOADED');
  const index = appendEntry(core, systemTime === undefined ? { type: 'command', command } : { type: 'command', command, systemTime });
  core.normalAppended = true;
  trackPending(core, index, from);
}

function trackPending(core: RaftMember, index: number, from: ReplyTo): void {
  if (!core.rules.replyWhenApplied) {
    core.reply(from, { type: 'ok', index, term: core.currentTerm, reply: undefined, leader: core.id });
    return;
  }
  core.lead.pending.set(index, from);
}

/** Low-priority commands go in bounded batches, only in steps without normal ones. */
export function flushLowPriority(core: RaftMember): void {
  if (core.normalAppended || core.lead.lowQueue.length === 0) return;
  if (core.deleteEntryIndex !== undefined) {
    for (const low of core.lead.lowQueue) core.replyError(low.from, 'RAFTER_CLUSTER_DELETED');
    core.lead.lowQueue = [];
    return;
  }
  const batch = core.lead.lowQueue.splice(0, LOW_PRIORITY_BATCH_MAX);
  for (const low of batch) {
    const index = appendEntry(core, low.systemTime === undefined ? { type: 'command', command: low.command, priority: 'low' } : { type: 'command', command: low.command, priority: 'low', systemTime: low.systemTime });
    trackPending(core, index, low.from);
  }
}

export function replicateAll(core: RaftMember): void {
  for (const peer of core.lead.peers.values()) replicate(core, peer);
}

/**
 * Sends what the follower lacks, pipelined up to the in-flight caps (entries and bytes),
 * in messages capped by entries and bytes. Every message carries at least one entry and
 * in-flight entries are capped, which bounds the loop.
 */
function replicate(core: RaftMember, peer: Peer): void {
  if (peer.snapshot !== undefined) return;
  const last = core.log.last().index;
  let sent = false;
  for (let message = 0; message < INFLIGHT_ENTRIES_MAX; message += 1) {
    const base = Math.max(peer.matchIndex, peer.probeIndex);
    if (peer.nextIndex > last || peer.nextIndex - 1 - base >= INFLIGHT_ENTRIES_MAX) break;
    if (peer.nextIndex <= core.log.snapshotIndex()) return startSnapshot(core, peer);
    const from = peer.nextIndex;
    const to = Math.min(last, from + APPEND_BATCH_ENTRIES_MAX - 1, base + INFLIGHT_ENTRIES_MAX);
    const entries = admitWithinBytes(core, peer, core.log.entries(from, to));
    if (entries === undefined) break;
    const prevTerm = core.log.termAt(from - 1);
    assert(prevTerm !== undefined, () => `${core.key} term ${core.currentTerm}: no term at ${from - 1} for ${peer.id.name}`);
    core.send(peer.id, {
      type: 'append_entries',
      term: core.currentTerm,
      leaderId: core.id,
      prevIndex: from - 1,
      prevTerm,
      entries,
      commitIndex: core.commitIndex,
    });
    peer.nextIndex = from + entries.length;
    peer.commitIndexSent = core.commitIndex;
    sent = true;
  }
  if (!sent && peer.commitIndexSent < core.commitIndex) sendCommit(core, peer);
}

/**
 * Counts in flight, and returns, the leading entries that fit the message's byte cap and
 * the follower's in-flight room. An entry over the message cap goes alone; one over the
 * room goes alone once nothing else is in flight. Undefined: wait for acknowledgements.
 */
function admitWithinBytes(core: RaftMember, peer: Peer, entries: readonly LogEntry[]): readonly LogEntry[] | undefined {
  const room = core.inflightBytesMax - inflightBytes(peer);
  const first = entryBytes(core, entries[0]!);
  if (first > room && peer.inflightBytes > 0) return undefined;
  const budget = Math.min(core.appendEntriesBytesMax, room);
  let bytes = first;
  let count = 1;
  while (count < entries.length) {
    const next = entryBytes(core, entries[count]!);
    if (bytes + next > budget) break;
    bytes += next;
    count += 1;
  }
  recordSent(peer, entries[count - 1]!.index, bytes);
  return count === entries.length ? entries : entries.slice(0, count);
}

function entryBytes(core: RaftMember, entry: LogEntry): number {
  const bytes = core.entryBytes(entry);
  // Checked before asserting: no message closure per entry on the hot path.
  if (!(bytes >= 0 && bytes < Number.POSITIVE_INFINITY)) assert(false, () => `${core.key}: entry ${entry.index} estimated at ${bytes} bytes`);
  return bytes;
}

/** An empty AppendEntries anchored at matchIndex, which the follower is known to hold. */
function sendCommit(core: RaftMember, peer: Peer): void {
  const prevTerm = core.log.termAt(peer.matchIndex);
  if (prevTerm === undefined) return; // below our snapshot: the follower will get the snapshot
  core.send(peer.id, {
    type: 'append_entries',
    term: core.currentTerm,
    leaderId: core.id,
    prevIndex: peer.matchIndex,
    prevTerm,
    entries: [],
    commitIndex: core.commitIndex,
  });
  peer.commitIndexSent = core.commitIndex;
}

export function onAppendEntriesReply(core: RaftMember, from: ServerId, msg: AppendEntriesReply): void {
  const peer = core.lead.peers.get(serverKey(from));
  if (peer === undefined || peer.snapshot !== undefined) return;
  if (msg.success && msg.lastIndex > core.log.last().index) return core.invalid(from, msg, `${from.name} acked ${msg.lastIndex} past our last ${core.log.last().index}`);
  peer.machineVersion = msg.machineVersion;
  if (msg.success) {
    peer.matchIndex = Math.max(peer.matchIndex, msg.lastIndex);
    peer.nextIndex = Math.max(peer.nextIndex, msg.nextIndex, peer.matchIndex + 1);
  } else {
    rewind(core, peer, msg);
  }
  maybePromote(core, peer);
  advanceCommit(core);
  if (core.role === 'leader') maybeUpgradeMachine(core);
}

function rewind(core: RaftMember, peer: Peer, msg: AppendEntriesReply): void {
  const matches = msg.lastIndex <= core.log.last().index && core.log.termAt(msg.lastIndex) === msg.lastTerm;
  // Written on the follower and equal to ours at lastIndex, hence equal up to it (log matching).
  if (matches) peer.matchIndex = Math.max(peer.matchIndex, msg.lastIndex);
  const target = Math.max(peer.matchIndex + 1, matches ? msg.lastIndex + 1 : Math.min(msg.lastIndex, peer.nextIndex));
  // Pipelined messages fail in a row after one gap: rewind and resend once per target.
  if (target === peer.rewoundTo) return;
  peer.rewoundTo = target;
  resendFrom(peer, target);
}

export function onLeaderWritten(core: RaftMember): void {
  advanceCommit(core);
}

/** Commit = the highest index a quorum of voters has written, if from our term (5.4.2). */
function advanceCommit(core: RaftMember): void {
  const members = voters(core.cluster.current().members);
  const own = core.rules.leaderOwnIndex(core.log.lastWritten().index, core.log.last().index);
  const indexes = members.map((member) => (sameServer(member.id, core.id) ? own : (core.lead.peers.get(serverKey(member.id))?.matchIndex ?? 0)));
  const agreed = core.rules.quorumCommit(agreedIndex(indexes), own);
  if (agreed <= core.commitIndex) return;
  if (core.log.termAt(agreed) !== core.currentTerm) return;
  core.commitIndex = agreed;
  applyCommitted(core);
  processQueries(core);
  stepDownIfRemoved(core);
}

/** Thesis 4.2.2: a leader removed from the cluster steps down once the change commits. */
function stepDownIfRemoved(core: RaftMember): void {
  const config = core.cluster.current();
  if (config.index > core.commitIndex || core.role !== 'leader' || core.isMember()) return;
  const successor = mostCaughtUpVoter(core);
  if (successor !== undefined) core.send(successor.id, { type: 'timeout_now', term: core.currentTerm, leaderId: core.id });
  core.becomeFollower(core.currentTerm, undefined);
  core.setRole('stopped', undefined);
  core.emit({ kind: 'removed' });
}

function mostCaughtUpVoter(core: RaftMember): Peer | undefined {
  let best: Peer | undefined;
  for (const peer of core.lead.peers.values()) {
    if (!isVoter(core.cluster.current().members, peer.id)) continue;
    if (best === undefined || peer.matchIndex > best.matchIndex) best = peer;
  }
  return best;
}

/** Ra's tick: recover from lost messages by resending to followers that made no progress. */
export function onLeaderTick(core: RaftMember): void {
  const last = core.log.last().index;
  for (const peer of core.lead.peers.values()) {
    if (peer.snapshot !== undefined) {
      resendSnapshotChunk(core, peer);
    } else if (peer.matchIndex < last && peer.matchIndex === peer.matchIndexAtTick) {
      resendFrom(peer, peer.matchIndex + 1);
      peer.rewoundTo = -1;
    } else if (peer.matchIndex === last && peer.commitIndexSent < core.commitIndex) {
      sendCommit(core, peer);
    }
    peer.matchIndexAtTick = peer.matchIndex;
    maybePromote(core, peer);
  }
  maybeUpgradeMachine(core);
  resendHeartbeats(core);
}

/**
 * A member asked for a pre-vote (it lost us): resend what it misses, and tell every
 * other member we lead, which also cancels elections they may have armed.
 */
export function reassertLeadership(core: RaftMember, requester: ServerId): void {
  for (const peer of core.lead.peers.values()) {
    if (peer.snapshot !== undefined) continue;
    if (sameServer(peer.id, requester)) {
      resendFrom(peer, peer.matchIndex + 1);
      peer.rewoundTo = -1;
    }
    if (peer.nextIndex > core.log.last().index) sendCommit(core, peer);
  }
}

export function onNodeUpAsLeader(core: RaftMember, node: string): void {
  for (const peer of core.lead.peers.values()) {
    if (peer.id.node !== node || peer.snapshot !== undefined) continue;
    resendFrom(peer, peer.matchIndex + 1);
    peer.rewoundTo = -1;
  }
}

export function onHeartbeatReply(core: RaftMember, from: ServerId, msg: HeartbeatReply): void {
  const peer = core.lead.peers.get(serverKey(from));
  if (peer === undefined) return;
  peer.querySeq = Math.max(peer.querySeq, msg.querySeq);
  processQueries(core);
}

// --- membership ---------------------------------------------------------------------

/** One change at a time, and only after our noop committed (the single-server change fix). */
function clusterChangePermitted(core: RaftMember): boolean {
  const noopCommitted = core.commitIndex >= core.lead.noopIndex || !core.rules.clusterChangeAfterNoop;
  return noopCommitted && (core.cluster.current().index <= core.commitIndex || !core.rules.clusterChangeOneAtATime);
}

export function addMember(core: RaftMember, member: Member, from: ReplyTo, expected?: readonly ServerId[]): void {
  if (core.role !== 'leader') return core.replyError(from, 'RAFTER_NOT_LEADER');
  if (core.deleteEntryIndex !== undefined) return core.replyError(from, 'RAFTER_CLUSTER_DELETED');
  const members = core.cluster.current().members;
  if (expected !== undefined && !membersAre(members, expected)) return core.replyError(from, 'RAFTER_PEERS_CHANGED');
  if (findMember(members, member.id) !== undefined) return core.replyError(from, 'RAFTER_ALREADY_MEMBER');
  if (!clusterChangePermitted(core) || members.length >= CLUSTER_MEMBERS_MAX) {
    return core.replyError(from, 'RAFTER_CLUSTER_CHANGE_NOT_PERMITTED');
  }
  const index = appendEntry(core, { type: 'cluster', members: [...members, member] });
  core.lead.pending.set(index, from);
}

export function removeMember(core: RaftMember, id: ServerId, from: ReplyTo, expected?: readonly ServerId[]): void {
  if (core.role !== 'leader') return core.replyError(from, 'RAFTER_NOT_LEADER');
  if (core.deleteEntryIndex !== undefined) return core.replyError(from, 'RAFTER_CLUSTER_DELETED');
  const members = core.cluster.current().members;
  if (expected !== undefined && !membersAre(members, expected)) return core.replyError(from, 'RAFTER_PEERS_CHANGED');
  if (findMember(members, id) === undefined) return core.replyError(from, 'RAFTER_UNKNOWN_MEMBER');
  const rest = members.filter((member) => !sameServer(member.id, id));
  if (!clusterChangePermitted(core) || voters(rest).length === 0) {
    return core.replyError(from, 'RAFTER_CLUSTER_CHANGE_NOT_PERMITTED');
  }
  const index = appendEntry(core, { type: 'cluster', members: rest });
  core.lead.pending.set(index, from);
}

/** A promotable member that caught up becomes a voter (Ra's promotable membership). */
function maybePromote(core: RaftMember, peer: Peer): void {
  const members = core.cluster.current().members;
  const member = findMember(members, peer.id);
  if (member?.membership !== 'promotable' || peer.matchIndex < peer.promoteAt) return;
  if (!clusterChangePermitted(core)) return;
  const promoted = members.map((m): Member => (sameServer(m.id, peer.id) ? { id: m.id, membership: 'voter' } : m));
  appendEntry(core, { type: 'cluster', members: promoted });
}

// --- leadership transfer ------------------------------------------------------------

export function transferLeadership(core: RaftMember, to: ServerId, from: ReplyTo): void {
  if (core.role !== 'leader') return core.replyError(from, 'RAFTER_NOT_LEADER');
  // A deleting leader ends once every member holds the deletion: it stays until then.
  if (core.deleteEntryIndex !== undefined) return core.replyError(from, 'RAFTER_CLUSTER_DELETED');
  const last = core.log.last();
  if (sameServer(to, core.id)) return core.reply(from, { type: 'ok', index: last.index, term: core.currentTerm, reply: 'already_leader', leader: core.id });
  if (!isVoter(core.cluster.current().members, to)) return core.replyError(from, 'RAFTER_UNKNOWN_MEMBER');
  const peer = core.lead.peers.get(serverKey(to));
  if (peer === undefined || peer.matchIndex < last.index) return core.replyError(from, 'RAFTER_NOT_CAUGHT_UP');
  // The target's noop must not ask for an older version than ours will have set.
  const needed = core.machineUpgradeStrategy === 'quorum' ? Math.max(core.machineVersion, core.machine.version) : Math.max(core.machineVersion, core.lead.versionProposed);
  if (peer.machineVersion < needed) return core.replyError(from, 'RAFTER_MACHINE_VERSION_TOO_OLD');
  // Stop taking commands and wait (await_condition) for the target's higher term.
  core.send(to, { type: 'timeout_now', term: core.currentTerm, leaderId: core.id });
  core.reply(from, { type: 'ok', index: last.index, term: core.currentTerm, reply: 'transfer_started', leader: core.id });
  for (const [, pendingFrom] of core.lead.pending) core.replyError(pendingFrom, 'RAFTER_LEADERSHIP_LOST');
  core.lead.pending.clear();
  core.setRole('await_condition', undefined);
  core.setTimer('condition', core.timeouts.transferTimeoutMs);
}
