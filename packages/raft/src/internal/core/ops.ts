// Operations outside the normal protocol: deleting a cluster through its log (Ra's
// delete_cluster), forcing a lone survivor to become the whole cluster (Ra's
// force_shrink_members_to_current_member), and a release cursor asked for from outside
// `apply` (the aux handler's compaction).

import { startElection } from './election.js';
import type { Member } from './log.js';
import type { RaftMember } from './member.js';
import type { ReplyTo } from './types.js';

/**
 * Appends the delete_cluster entry. It commits like a command; each member that applies
 * it calls stateEnter('eol') (the `endOfLife` effect) and ends (see endOfLife below).
 */
export function deleteCluster(core: RaftMember, from: ReplyTo): void {
  if (core.role !== 'leader') return core.replyError(from, 'RAFTER_NOT_LEADER');
  if (core.deleteEntryIndex !== undefined) return core.replyError(from, 'RAFTER_CLUSTER_DELETED');
  const index = core.log.last().index + 1;
  core.append([{ index, term: core.currentTerm, payload: { type: 'delete_cluster' } }]);
  core.deleteEntryIndex = index;
  core.normalAppended = true;
  core.lead.pending.set(index, from);
}

/**
 * Ends a member that applied the deletion, as Ra's terminating_follower and
 * terminating_leader do: a follower once the entry is written here and acknowledged to
 * the leader; a leader once every member holds the entry and was sent a commit index
 * covering it (until then it stays, resending on its ticks, and takes no commands: a
 * member down at deletion time gets the entry when it comes back).
 */
export function endOfLife(core: RaftMember): void {
  const index = core.endOfLifeIndex;
  if (index === undefined || core.role === 'stopped') return;
  if (core.log.lastWritten().index < index) return;
  if (core.role === 'leader') {
    for (const peer of core.lead.peers.values()) {
      if (peer.matchIndex < index || peer.commitIndexSent < index) return;
    }
  } else if (core.replyOwed && core.leaderId !== undefined) {
    return;
  }
  if (core.role === 'leader' || core.role === 'await_condition') core.becomeFollower(core.currentTerm, undefined);
  core.disarmElection();
  core.setRole('stopped', undefined);
  core.emit({ kind: 'deleted' });
}

/**
 * Makes this member the only voter, without consensus: a cluster entry with itself alone
 * is appended to its own log in the current term, then it elects itself. Unsafe by design
 * (for a quorum lost for good): if the other members come back they may hold different
 * entries at the same indexes, and two clusters may each believe they are the cluster.
 */
export function forceShrink(core: RaftMember, from: ReplyTo): void {
  if (core.role === 'stopped') return core.replyError(from, 'RAFTER_NOT_LEADER');
  if (core.role !== 'follower') core.becomeFollower(core.currentTerm, undefined);
  const members: Member[] = [{ id: core.id, membership: 'voter' }];
  const index = core.log.last().index + 1;
  core.append([{ index, term: core.currentTerm, payload: { type: 'cluster', members } }]);
  core.cluster.push({ index, members });
  core.reply(from, { type: 'ok', index, term: core.currentTerm, reply: 'ok', leader: core.id });
  // Alone, a pre-vote could only grant itself: go straight to the election.
  startElection(core);
}

/** The machine state at the applied index becomes a release cursor (storage may decline it). */
export function compact(core: RaftMember): void {
  if (core.lastApplied <= core.log.snapshotIndex() || core.endOfLifeIndex !== undefined) return;
  const members = core.cluster.at(core.lastApplied).members;
  core.pendingReleaseCursor = { index: core.lastApplied, state: core.machineState, machineVersion: core.machineVersion, members };
}
