// Queries. Local: the member's own state. Leader: the leader's state, no quorum check.
// Consistent: Raft's read index (thesis 6.4): note the commit index, confirm leadership
// with a quorum round of heartbeats, wait until applied that far, then answer. No log write.

import { quorumSize, sameServer, serverKey, voters } from './cluster.js';
import type { RaftMember } from './member.js';
import { PENDING_QUERIES_MAX } from './limits.js';
import type { QueryFn, ReplyTo } from './types.js';

export function onQuery(core: RaftMember, kind: 'local' | 'leader' | 'consistent', fn: QueryFn, from: ReplyTo): void {
  if (kind === 'local') return answer(core, fn, from);
  if (core.role !== 'leader') return core.replyError(from, 'RAFTER_NOT_LEADER');
  if (kind === 'leader' || !core.rules.readIndexRound) return answer(core, fn, from);
  if (core.lead.queries.length >= PENDING_QUERIES_MAX) return core.replyError(from, 'RAFTER_OVERLOADED');
  // Until our noop commits, the commit index may lag entries earlier leaders committed.
  const readIndex = Math.max(core.commitIndex, core.lead.noopIndex);
  core.lead.querySeq += 1;
  core.lead.queries.push({ readIndex, seq: core.lead.querySeq, fn, from });
  sendHeartbeats(core, core.lead.querySeq);
  processQueries(core);
}

/** A query that throws changed nothing: its caller gets the error and the server carries on. */
function answer(core: RaftMember, fn: QueryFn, from: ReplyTo): void {
  const leader = core.role === 'leader' ? core.id : core.leaderId;
  let result: unknown;
  try {
    result = fn(core.machineState);
  } catch {
    return core.replyError(from, 'RAFTER_QUERY_FAILED');
  }
  core.reply(from, { type: 'query', result, index: core.lastApplied, leader });
}

function sendHeartbeats(core: RaftMember, querySeq: number): void {
  for (const member of voters(core.cluster.current().members)) {
    if (sameServer(member.id, core.id)) continue;
    core.send(member.id, { type: 'heartbeat', term: core.currentTerm, leaderId: core.id, querySeq });
  }
}

/** On tick: heartbeats may have been lost. */
export function resendHeartbeats(core: RaftMember): void {
  if (core.lead.queries.length > 0) sendHeartbeats(core, core.lead.querySeq);
}

/** Answers, in order, every query whose round has a quorum and whose index is applied. */
export function processQueries(core: RaftMember): void {
  if (core.role !== 'leader') return;
  const members = voters(core.cluster.current().members);
  const needed = quorumSize(members.length);
  let answered = 0;
  for (const query of core.lead.queries) {
    const acks = members.filter((m) => sameServer(m.id, core.id) || (core.lead.peers.get(serverKey(m.id))?.querySeq ?? 0) >= query.seq).length;
    if (acks < needed || core.lastApplied < query.readIndex) break;
    answer(core, query.fn, query.from);
    answered += 1;
  }
  if (answered > 0) core.lead.queries = core.lead.queries.slice(answered);
}
