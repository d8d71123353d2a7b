// Operations outside the normal protocol: deleting a cluster through its log (Ra's
// delete_cluster), forcing a lone survivor to become the whole cluster (Ra's
// force_shrink_members_to_current_member), and a release cursor asked for from outside
// `apply` (the aux handler's compaction).

import { serverKey } from './cluster.js';
import { startElection } from './election.js';
import type { Member, ServerId } from './log.js';
import type { RaftMember } from './member.js';
import type { Peer } from './state.js';
import type { AppendEntriesReply, ReplyTo } from './types.js';

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
 * the leader; a leader once every member holds the entry and was sent, after it said so,
 * a commit index covering it (a commit index that reached it before the entry did not
 * let it apply). Until then the leader stays, resending on its ticks, and takes no
 * commands: a member down at deletion time gets the entry when it comes back.
 */
export function endOfLife(core: RaftMember): void {
  const index = core.endOfLifeIndex;
  if (index === undefined || core.role === 'stopped') return;
  if (core.log.lastWritten().index < index) return;
  if (core.role === 'leader') {
    let everyPeer = true;
    for (const peer of core.lead.peers.values()) {
      const key = serverKey(peer.id);
      const holds = peer.matchIndex >= index || core.deletionAcked.get(key) === core.currentTerm;
      if (!holds) {
        everyPeer = false;
      } else if (core.toldEndOfLife.get(key) !== core.currentTerm) {
        core.toldEndOfLife.set(key, core.currentTerm);
        sendCommitTo(core, peer, Math.max(peer.matchIndex, index));
      }
    }
    if (!everyPeer) return;
  } else if (core.replyOwed && core.leaderId !== undefined) {
    return;
  }
  if (core.role === 'leader' || core.role === 'await_condition') core.becomeFollower(core.currentTerm, undefined);
  core.disarmElection();
  core.setRole('stopped', undefined);
  core.emit({ kind: 'deleted' });
}

/** An empty AppendEntries at an index the peer holds: it can apply up to our commit. */
function sendCommitTo(core: RaftMember, peer: Peer, held: number): void {
  const prevTerm = core.log.termAt(held);
  if (prevTerm === undefined) return;
  core.send(peer.id, { type: 'append_entries', term: core.currentTerm, leaderId: core.id, prevIndex: held, prevTerm, entries: [], commitIndex: core.commitIndex });
  peer.commitIndexSent = core.commitIndex;
}

/**
 * Leader: a peer acknowledged the delete entry. Recorded apart from its match index,
 * which a snapshot under way leaves untouched: the peer may apply the deletion and end
 * right after this reply, and would never acknowledge again.
 */
export function noteDeletionAck(core: RaftMember, from: ServerId, msg: AppendEntriesReply): void {
  const index = core.deleteEntryIndex;
  if (index === undefined || !msg.success || msg.lastIndex < index || msg.lastIndex > core.log.last().index) return;
  core.deletionAcked.set(serverKey(from), core.currentTerm);
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
