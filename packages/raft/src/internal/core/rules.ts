// The protocol's rules that the simulator's mutation tests break on purpose, in one
// place: production code asks `core.rules`, and a mutation swaps exactly one rule here.
// No mutation check sits on a production path.

import { ELECTION_RETRY_DOUBLINGS_MAX } from './limits.js';
import type { IndexTerm } from './log.js';

export interface Rules {
  /** Raft 5.4.1: a vote only for a log at least as up to date as ours. */
  upToDate(ours: IndexTerm, lastIndex: number, lastTerm: number): boolean;
  /** One vote per term: free if not voted yet, or voted for this very candidate. */
  voteFree(votedBefore: boolean, sameCandidate: boolean): boolean;
  /** Log matching (5.3): entries are accepted only after a matching previous entry. */
  prevMatches(ourPrevTerm: number, prevTerm: number): boolean;
  /** The highest index a follower may commit: what it matched with the leader. */
  followerCommitCap(validatedIndex: number, lastIndex: number): number;
  /** The commit index never falls. */
  nextCommitIndex(current: number, proposed: number): number;
  /** What a follower acknowledges: written entries matching the leader, never more. */
  followerAck(writtenIndex: number, validatedIndex: number): number;
  /** The leader's own count towards a quorum: its written index, not its last. */
  leaderOwnIndex(writtenIndex: number, lastIndex: number): number;
  /** The commit index a leader may take: the one a quorum agreed on. */
  quorumCommit(agreedIndex: number, ownIndex: number): number;
  /** Commands are answered once applied, not when appended. */
  readonly replyWhenApplied: boolean;
  /** Consistent queries take a read-index round. */
  readonly readIndexRound: boolean;
  /** A pre-vote or election that does not finish is retried. */
  readonly retryElections: boolean;
  /** How many times lost rounds double the retry window (0: a fixed window, which livelocks on slow links). */
  readonly electionRetryDoublingsMax: number;
  /** A new term resets what a follower validated (even under the same leader id). */
  readonly newTermForgetsValidated: boolean;
  /** A follower that hears a live leader refuses pre-votes. */
  readonly preVoteNeedsNoLiveLeader: boolean;
  /** A membership change waits for the leader's noop (first entry of its term) to commit. */
  readonly clusterChangeAfterNoop: boolean;
  /** One membership change at a time: the latest must have committed. */
  readonly clusterChangeOneAtATime: boolean;
}

export const RAFT_RULES: Rules = {
  upToDate: (ours, lastIndex, lastTerm) => lastTerm > ours.term || (lastTerm === ours.term && lastIndex >= ours.index),
  voteFree: (votedBefore, sameCandidate) => !votedBefore || sameCandidate,
  prevMatches: (ourPrevTerm, prevTerm) => ourPrevTerm === prevTerm,
  followerCommitCap: (validatedIndex) => validatedIndex,
  nextCommitIndex: (current, proposed) => Math.max(current, proposed),
  followerAck: (writtenIndex, validatedIndex) => Math.min(writtenIndex, validatedIndex),
  leaderOwnIndex: (writtenIndex) => writtenIndex,
  quorumCommit: (agreedIndex) => agreedIndex,
  replyWhenApplied: true,
  readIndexRound: true,
  retryElections: true,
  electionRetryDoublingsMax: ELECTION_RETRY_DOUBLINGS_MAX,
  newTermForgetsValidated: true,
  preVoteNeedsNoLiveLeader: true,
  clusterChangeAfterNoop: true,
  clusterChangeOneAtATime: true,
};

/**
 * Deliberate bugs, for the simulator's mutation tests only: each must be caught by one
 * of its invariants. Production code never sets one.
 */
export type Mutation =
  | 'commit_without_quorum'
  | 'vote_twice'
  | 'skip_prev_check'
  | 'ignore_log_up_to_date'
  | 'commit_index_regress'
  | 'reply_before_commit'
  | 'stale_read'
  | 'commit_unvalidated'
  | 'no_election_retry'
  | 'fixed_election_retry'
  | 'keep_validated_across_terms'
  | 'grant_pre_vote_with_live_leader'
  | 'ack_unwritten'
  | 'count_last_index'
  | 'skip_noop_before_cluster_change'
  | 'concurrent_cluster_changes';

const MUTATIONS: Record<Mutation, Partial<Rules>> = {
  commit_without_quorum: { quorumCommit: (_, ownIndex) => ownIndex },
  vote_twice: { voteFree: () => true },
  skip_prev_check: { prevMatches: () => true },
  ignore_log_up_to_date: { upToDate: () => true },
  commit_index_regress: { nextCommitIndex: (_, proposed) => proposed },
  reply_before_commit: { replyWhenApplied: false },
  stale_read: { readIndexRound: false },
  commit_unvalidated: { followerCommitCap: (_, lastIndex) => lastIndex },
  no_election_retry: { retryElections: false },
  fixed_election_retry: { electionRetryDoublingsMax: 0 },
  keep_validated_across_terms: { newTermForgetsValidated: false },
  grant_pre_vote_with_live_leader: { preVoteNeedsNoLiveLeader: false },
  ack_unwritten: { followerAck: (_, validatedIndex) => validatedIndex },
  count_last_index: { leaderOwnIndex: (_, lastIndex) => lastIndex },
  skip_noop_before_cluster_change: { clusterChangeAfterNoop: false },
  concurrent_cluster_changes: { clusterChangeOneAtATime: false },
};

export function rulesWith(mutation: Mutation | undefined): Rules {
  return mutation === undefined ? RAFT_RULES : { ...RAFT_RULES, ...MUTATIONS[mutation] };
}
