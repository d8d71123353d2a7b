// Operations from Ra's API beyond commands and queries: deleting a cluster, forced
// shrink for disaster recovery, the aux handler's calls and casts, and the leader's
// view of its members.

import { AuxFailedError, ClusterDeletedError, InvalidArgumentError } from './errors.js';
import type { ServerId } from './internal/core/log.js';
import type { Reply } from './internal/core/types.js';
import { type CallerOption, type TimeoutOption, callError, callLeader, callerOf, checkServerId, checkServerIds, timeoutOf } from './api.js';
import type { ServerCall, ServerCast } from './server/protocol.js';
import type { AuxCallReply, MemberInfo } from './server/server-ops.js';

export type { MemberInfo } from './server/server-ops.js';
export { AUX_READ_ENTRIES_MAX } from './server/server-ops.js';

function okReply(reply: Reply): Reply & { type: 'ok' } {
  if (reply.type !== 'ok') throw new InvalidArgumentError('reply', 'an ok reply', reply);
  return reply;
}

/**
 * Ra's delete_cluster: commits a deletion entry through the leader and resolves once the
 * leader has applied it. Every member that applies it calls the machine's
 * stateEnter('eol'), deletes its log, snapshots, meta and configuration, and stops for
 * good. The leader stays (taking no commands) until every member holds the entry, so a
 * member that is down gets it when it comes back; see docs/raft.md.
 */
export async function deleteCluster(servers: ServerId | readonly ServerId[], options?: TimeoutOption): Promise<{ leader: ServerId; index: number }> {
  const ids = checkServerIds(servers);
  return callLeader(callerOf(options), ids, { op: 'deleteCluster' } satisfies ServerCall, timeoutOf(options), (reply) => {
    const ok = okReply(reply);
    return { leader: ok.leader, index: ok.index };
  });
}

/**
 * DANGEROUS, for a quorum lost for good (Ra's force_shrink_members_to_current_member):
 * makes `server` the only voter of its cluster without consensus, and it elects itself.
 * Entries the lost members committed but it lacks are lost, and if they come back they
 * must be deleted (forceDeleteServer), never restarted. See docs/guide/disaster-recovery.md.
 */
export async function forceShrinkMembersToCurrentMember(server: ServerId, options?: TimeoutOption): Promise<{ index: number }> {
  const id = checkServerId(server);
  const timeoutMs = timeoutOf(options);
  let reply: Reply;
  try {
    reply = await callerOf(options).call<Reply>({ name: id.name, node: id.node }, { op: 'forceShrink' } satisfies ServerCall, { timeoutMs });
  } catch (err) {
    throw callError(err, id, timeoutMs, undefined);
  }
  return { index: okReply(reply).index };
}

/** Ra's aux_command: a call answered by the machine's handleAux on that server (any role). */
export async function auxCommand<R = unknown>(server: ServerId, command: unknown, options?: TimeoutOption): Promise<R> {
  const id = checkServerId(server);
  const timeoutMs = timeoutOf(options);
  let reply: AuxCallReply;
  try {
    reply = await callerOf(options).call<AuxCallReply>({ name: id.name, node: id.node }, { op: 'aux', command } satisfies ServerCall, { timeoutMs });
  } catch (err) {
    throw callError(err, id, timeoutMs, undefined);
  }
  if (reply.ok) return reply.reply as R;
  if (reply.code === 'RAFTER_CLUSTER_DELETED') throw new ClusterDeletedError(id);
  throw new AuxFailedError(id, reply.message);
}

/** Ra's cast_aux_command: a command for handleAux, without a reply (dropped if the server is not running). */
export function castAux(server: ServerId, command: unknown, options?: CallerOption): void {
  const id = checkServerId(server);
  try {
    callerOf(options).send({ name: id.name, node: id.node }, { type: '$aux', command } satisfies ServerCast);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'ACTORS_UNKNOWN_NAME' && code !== 'ACTORS_NOPROC') throw callError(err, id, 0, undefined);
  }
}

export interface MembersInfoOptions extends TimeoutOption {
  /** How long each member has to answer the liveness probe (default 1,000 ms, at most the call's timeout). */
  readonly liveTimeoutMs?: number;
}

export interface MembersInfoResult {
  readonly leader: ServerId;
  readonly term: number;
  readonly commitIndex: number;
  /** Each member as the leader knows it, and whether it answered a probe from the caller just now. */
  readonly members: ReadonlyArray<MemberInfo & { readonly live: boolean }>;
}

export const MEMBERS_INFO_LIVE_TIMEOUT_MS_DEFAULT = 1_000;

/**
 * Ra's members_info: from the leader, each member's membership (voter, promotable,
 * non_voter), role (leader or follower), match index and replication state; `live` is
 * whether the member's server answered a status probe within liveTimeoutMs.
 */
export async function membersInfo(servers: ServerId | readonly ServerId[], options?: MembersInfoOptions): Promise<MembersInfoResult> {
  const ids = checkServerIds(servers);
  const timeoutMs = timeoutOf(options);
  const liveMs = Math.min(timeoutMs, options?.liveTimeoutMs ?? MEMBERS_INFO_LIVE_TIMEOUT_MS_DEFAULT);
  if (!Number.isFinite(liveMs) || liveMs <= 0) throw new InvalidArgumentError('liveTimeoutMs', 'a positive number of milliseconds', options?.liveTimeoutMs);
  const caller = callerOf(options);
  const view = await callLeader(caller, ids, { op: 'membersInfo' } satisfies ServerCall, timeoutMs, (reply) => {
    const ok = okReply(reply);
    return { leader: ok.leader, term: ok.term, commitIndex: ok.index, members: ok.reply as MemberInfo[] };
  });
  const live = await Promise.all(
    view.members.map((m) =>
      caller.call<{ role?: unknown }>({ name: m.id.name, node: m.id.node }, { op: 'status' } satisfies ServerCall, { timeoutMs: liveMs }).then(
        (status) => status?.role !== 'stopped',
        () => false,
      ),
    ),
  );
  return { ...view, members: view.members.map((m, i) => ({ ...m, live: live[i] === true })) };
}
