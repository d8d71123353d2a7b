// Pre-vote, elections and votes. Elections start only from shell events (leader DOWN,
// node-maybe-down, an explicit trigger, a leaderless start) since leaders send no
// heartbeats while idle; pre-vote keeps such triggers from inflating terms.

import { isVoter, quorumSize, sameServer, serverKey, voters } from './cluster.js';
import type { RaftMember } from './member.js';
import { becomeLeader, reassertLeadership } from './leader.js';
import type { ServerId } from './log.js';
import type { PreVote, PreVoteReply, RequestVote, RequestVoteReply } from './types.js';

export function onElectionTimeout(core: RaftMember): void {
  switch (core.role) {
    case 'follower':
    case 'receive_snapshot':
    case 'pre_vote':
    case 'candidate':
      if (core.isVoter()) startPreVote(core);
      return;
    case 'leader':
    case 'await_condition':
    case 'recover':
    case 'stopped':
      return;
  }
}

export function startPreVote(core: RaftMember): void {
  core.electionRounds += 1;
  if (!core.preVote) return startElection(core);
  core.receiving = undefined;
  core.preVoteToken += 1;
  core.votes.clear();
  core.votes.add(core.key);
  core.setRole('pre_vote', undefined);
  const last = core.log.last();
  for (const member of otherVoters(core)) {
    core.send(member, {
      type: 'pre_vote',
      term: core.currentTerm,
      candidateId: core.id,
      lastIndex: last.index,
      lastTerm: last.term,
      machineVersion: core.machine.version,
      token: core.preVoteToken,
    });
  }
  if (core.rules.retryElections) core.armElection('retry');
  if (hasQuorum(core)) startElection(core);
}

export function startElection(core: RaftMember): void {
  core.receiving = undefined;
  core.setTerm(core.currentTerm + 1, core.id);
  core.votes.clear();
  core.votes.add(core.key);
  core.setRole('candidate', undefined);
  const last = core.log.last();
  for (const member of otherVoters(core)) {
    core.sendAfterVote(member, { type: 'request_vote', term: core.currentTerm, candidateId: core.id, lastIndex: last.index, lastTerm: last.term });
  }
  if (core.rules.retryElections) core.armElection('retry');
  if (!core.voteInFlight() && hasQuorum(core)) becomeLeader(core);
}

/** Our own vote is durable: a candidate alone in its cluster may now lead. */
export function onVotePersisted(core: RaftMember): void {
  if (core.role === 'candidate' && hasQuorum(core)) becomeLeader(core);
}

/** Raft 5.4.1: a vote only for a log at least as up to date as ours. */
function isUpToDate(core: RaftMember, lastIndex: number, lastTerm: number): boolean {
  return core.rules.upToDate(core.log.last(), lastIndex, lastTerm);
}

export function onPreVote(core: RaftMember, from: ServerId, msg: PreVote): void {
  if (core.role === 'leader') return onPreVoteAsLeader(core, from, msg);
  if (!core.isVoter()) return; // Ra: only voters take part
  const fromLeader = sameServer(core.leaderId, msg.candidateId);
  if (fromLeader && core.role === 'follower' && msg.term >= core.currentTerm) {
    // Our leader asks for an election in its own term: it no longer leads (it restarted).
    // An older pre-vote from it is a late message and says nothing about it now.
    core.becomeFollower(core.currentTerm, undefined, 'leader_down');
  }
  // The candidate's log must be up to date and its code able to run our machine version,
  // and we must not still hear from a live leader (thesis 9.6).
  const granted =
    msg.term >= core.currentTerm &&
    !followsLiveLeader(core) &&
    isUpToDate(core, msg.lastIndex, msg.lastTerm) &&
    canRunTogether(core, msg.machineVersion);
  core.send(from, { type: 'pre_vote_reply', term: core.currentTerm, granted, token: msg.token });
}

/**
 * A leader sends nothing while idle, so "live" means: we follow a leader and no shell
 * event (DOWN, node-maybe-down) has put its liveness in doubt. Such doubts arm an election.
 */
function followsLiveLeader(core: RaftMember): boolean {
  if (!core.rules.preVoteNeedsNoLiveLeader) return false;
  return (core.role === 'follower' || core.role === 'receive_snapshot') && core.leaderId !== undefined && core.electionReason === undefined;
}

/** Ra: a leader answers a pre-vote by re-asserting itself to every member. */
function onPreVoteAsLeader(core: RaftMember, from: ServerId, msg: PreVote): void {
  core.send(from, { type: 'pre_vote_reply', term: core.currentTerm, granted: false, token: msg.token });
  if (msg.term > core.currentTerm) return;
  reassertLeadership(core, from);
}

/**
 * Ra's rule: the candidate runs the effective version, or a newer one that our code can
 * also run. A leader on code we cannot run would stall us at its noop.
 */
function canRunTogether(core: RaftMember, theirs: number): boolean {
  return theirs === core.machineVersion || (theirs >= core.machineVersion && theirs <= core.machine.version);
}

export function onPreVoteReply(core: RaftMember, from: ServerId, msg: PreVoteReply): void {
  if (core.role !== 'pre_vote' || msg.token !== core.preVoteToken || msg.term !== core.currentTerm) return;
  if (!msg.granted || !isVoter(core.cluster.current().members, from)) return;
  core.votes.add(serverKey(from));
  if (hasQuorum(core)) startElection(core);
}

export function onRequestVote(core: RaftMember, from: ServerId, msg: RequestVote): void {
  const free = core.rules.voteFree(core.votedFor !== undefined, sameServer(core.votedFor, msg.candidateId));
  const granted = msg.term === core.currentTerm && free && isUpToDate(core, msg.lastIndex, msg.lastTerm);
  if (granted) {
    if (!sameServer(core.votedFor, msg.candidateId)) core.setTerm(core.currentTerm, msg.candidateId);
    // Give the candidate time to win before we start an election of our own.
    if (core.electionReason !== undefined) core.armElection(core.electionReason);
  }
  core.sendAfterVote(from, { type: 'request_vote_reply', term: core.currentTerm, granted });
}

export function onRequestVoteReply(core: RaftMember, from: ServerId, msg: RequestVoteReply): void {
  if (core.role !== 'candidate' || msg.term !== core.currentTerm || !msg.granted) return;
  if (!isVoter(core.cluster.current().members, from)) return;
  core.votes.add(serverKey(from));
  if (hasQuorum(core)) becomeLeader(core);
}

function otherVoters(core: RaftMember): ServerId[] {
  return voters(core.cluster.current().members)
    .map((member) => member.id)
    .filter((id) => !sameServer(id, core.id));
}

function hasQuorum(core: RaftMember): boolean {
  const members = voters(core.cluster.current().members);
  const granted = members.filter((member) => core.votes.has(serverKey(member.id))).length;
  return granted >= quorumSize(members.length);
}
