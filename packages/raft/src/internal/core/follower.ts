// The follower's side of replication. A follower answers AppendEntries once the entries
// are written (Ra's rule): its reply carries the last written index that matches the
// leader (lastIndex/lastTerm) and its next index, so the leader rewinds in one round trip.

import { sameServer } from './cluster.js';
import { applyCommitted } from './apply.js';
import type { RaftMember } from './member.js';
import { CONFLICT_SCAN_ENTRIES_MAX } from './limits.js';
import type { LogEntry, ServerId } from './log.js';
import type { AppendEntries, Heartbeat } from './types.js';

export function onAppendEntries(core: RaftMember, from: ServerId, msg: AppendEntries): void {
  if (msg.term < core.currentTerm) {
    // A stale leader: our term in the reply makes it step down.
    return replyFailure(core, from, core.log.last().index);
  }
  // One leader per term (election safety): anything else is a broken peer, not our state.
  if (core.role === 'leader' || core.role === 'await_condition') return core.invalid(from, msg, `append from ${msg.leaderId.name} while we lead this term`);
  if (core.role === 'receive_snapshot' && sameServer(core.leaderId, msg.leaderId)) return;
  if (core.leaderId !== undefined && !sameServer(core.leaderId, msg.leaderId)) {
    return core.invalid(from, msg, `leaders ${core.leaderId.name} and ${msg.leaderId.name} in one term`);
  }
  core.becomeFollower(msg.term, msg.leaderId);
  acceptEntries(core, from, msg);
}

function acceptEntries(core: RaftMember, from: ServerId, msg: AppendEntries): void {
  let prevIndex = msg.prevIndex;
  let prevTerm = msg.prevTerm;
  let entries = msg.entries;
  const snapshotIndex = core.log.snapshotIndex();
  if (prevIndex < snapshotIndex) {
    // Entries at or below our snapshot are committed, hence the same as the leader's.
    entries = entries.slice(snapshotIndex - prevIndex);
    prevIndex = snapshotIndex;
    prevTerm = core.log.termAt(snapshotIndex) ?? 0;
  }
  const ourPrevTerm = core.log.termAt(prevIndex);
  if (ourPrevTerm === undefined || !core.rules.prevMatches(ourPrevTerm, prevTerm)) {
    return replyFailure(core, from, prevIndex);
  }
  if (!appendNew(core, entries)) return core.invalid(from, msg, `entries conflict at or below our commit index ${core.commitIndex}`);
  const msgLast = prevIndex + entries.length;
  core.validatedIndex = Math.max(core.validatedIndex, msgLast);
  const matched = core.rules.followerCommitCap(core.validatedIndex, core.log.last().index);
  core.commitIndex = core.rules.nextCommitIndex(core.commitIndex, Math.min(msg.commitIndex, matched));
  applyCommitted(core);
  if (core.log.hasPending() || core.log.lastWritten().index < core.validatedIndex) core.replyOwed = true;
  // Reply now unless this step appended: the reply then waits for the written notice.
  if (!core.log.hasPending()) replySuccess(core, from);
}

/**
 * Skips entries we hold already; overwrites from the first conflict. Returns false, having
 * changed nothing, if that conflict is a committed entry (no correct leader sends one).
 */
function appendNew(core: RaftMember, entries: readonly LogEntry[]): boolean {
  let start = 0;
  while (start < entries.length) {
    const entry = entries[start]!;
    const ours = core.log.termAt(entry.index);
    if (ours !== entry.term) break;
    start += 1;
  }
  const fresh = entries.slice(start);
  const first = fresh[0];
  if (first === undefined) return true;
  if (first.index <= core.log.last().index) {
    if (first.index <= core.commitIndex) return false;
    core.cluster.truncateFrom(first.index);
    if ((core.deleteEntryIndex ?? 0) >= first.index) core.deleteEntryIndex = undefined;
    core.validatedIndex = Math.min(core.validatedIndex, first.index - 1);
  }
  core.append(fresh);
  for (const entry of fresh) {
    if (entry.payload.type === 'cluster') core.cluster.push({ index: entry.index, members: entry.payload.members });
    if (entry.payload.type === 'delete_cluster') core.deleteEntryIndex = entry.index;
  }
  return true;
}

export function onFollowerWritten(core: RaftMember): void {
  applyCommitted(core);
  if (!core.replyOwed || core.leaderId === undefined || core.role !== 'follower') return;
  replySuccess(core, core.leaderId);
}

function replySuccess(core: RaftMember, to: ServerId): void {
  const written = core.log.lastWritten().index;
  const lastIndex = core.rules.followerAck(written, core.validatedIndex);
  if (lastIndex >= core.validatedIndex) core.replyOwed = false;
  core.send(to, {
    type: 'append_entries_reply',
    term: core.currentTerm,
    success: true,
    nextIndex: core.validatedIndex + 1,
    lastIndex,
    lastTerm: core.log.termAt(lastIndex) ?? 0,
    machineVersion: core.machine.version,
  });
}

/**
 * The leader's previous entry is missing or differs. Point it at the last written entry
 * before the conflicting term (etcd's hint), so it finds the match in one or few rounds.
 */
function replyFailure(core: RaftMember, to: ServerId, prevIndex: number): void {
  const last = core.log.last().index;
  let hint = Math.min(prevIndex, last);
  const conflictTerm = core.log.termAt(hint);
  if (hint === prevIndex && conflictTerm !== undefined) {
    const floor = Math.max(core.log.snapshotIndex(), hint - CONFLICT_SCAN_ENTRIES_MAX, core.commitIndex);
    while (hint > floor && core.log.termAt(hint) === conflictTerm) hint -= 1;
  }
  hint = Math.max(Math.min(hint, core.log.lastWritten().index), core.log.snapshotIndex());
  core.send(to, {
    type: 'append_entries_reply',
    term: core.currentTerm,
    success: false,
    nextIndex: hint + 1,
    lastIndex: hint,
    lastTerm: core.log.termAt(hint) ?? 0,
    machineVersion: core.machine.version,
  });
}

/** A read-index round: answering proves the sender was leader when we saw it. */
export function onHeartbeat(core: RaftMember, from: ServerId, msg: Heartbeat): void {
  if (msg.term === core.currentTerm && core.role !== 'leader' && core.role !== 'await_condition' && core.role !== 'receive_snapshot') {
    core.becomeFollower(msg.term, msg.leaderId);
  }
  core.send(from, { type: 'heartbeat_reply', term: core.currentTerm, querySeq: msg.querySeq });
}
