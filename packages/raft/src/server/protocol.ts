// Messages a server actor takes: plain data, so they cross threads and nodes.

import type { Pid } from '@rafter/actors';
import type { Member, ServerId } from '../internal/core/log.js';
import type { Event, ReplyErrorCode, TimerName } from '../internal/core/types.js';

/** Sends to a server: from peers, from itself, from the system and from pipelining callers. */
export type ServerCast =
  | { readonly type: '$raft'; readonly from: ServerId; readonly msg: unknown }
  | { readonly type: '$pipeline'; readonly command: unknown; readonly correlation: unknown; readonly priority: 'normal' | 'low'; readonly replyTo: Pid }
  | { readonly type: '$flush' }
  | { readonly type: '$timer'; readonly timer: TimerName; readonly generation: number }
  | { readonly type: '$machineTimer'; readonly name: string; readonly seq: number }
  | { readonly type: '$event'; readonly event: Event }
  | { readonly type: '$node'; readonly node: string; readonly up: boolean }
  | { readonly type: '$tick' }
  /** castAux: a command for the machine's handleAux, without a reply. */
  | { readonly type: '$aux'; readonly command: unknown };

export type QueryKind = 'local' | 'leader' | 'consistent';

/** Calls a server answers. A query is data for the machine's `query`, or a function on the server's own thread. */
export type ServerCall =
  | { readonly op: 'command'; readonly command: unknown; readonly priority: 'normal' | 'low' }
  | { readonly op: 'query'; readonly kind: QueryKind; readonly query: unknown; readonly minIndex?: number }
  | { readonly op: 'members' }
  | { readonly op: 'status' }
  | { readonly op: 'addMember'; readonly member: Member; readonly expected?: readonly ServerId[] }
  | { readonly op: 'removeMember'; readonly id: ServerId; readonly expected?: readonly ServerId[] }
  | { readonly op: 'deleteCluster' }
  | { readonly op: 'forceShrink' }
  /** The leader's view of every member (a Reply: redirected like a command). */
  | { readonly op: 'membersInfo' }
  /** auxCommand: answered by the machine's handleAux. */
  | { readonly op: 'aux'; readonly command: unknown }
  | { readonly op: 'transferLeadership'; readonly to: ServerId }
  | { readonly op: 'triggerElection' }
  /** Answers with the leader once one is known (at once if it is). */
  | { readonly op: 'awaitLeader' };

/**
 * What a pipelining caller receives: `applied` carries `[correlation, reply]` pairs in
 * apply order, batched per turn of the leader; `rejected` says the server was not the
 * leader (or could not take the command), with the leader if known.
 */
export interface PipelineEvent {
  readonly type: 'raft_event';
  readonly from: ServerId;
  readonly event:
    | { readonly type: 'applied'; readonly replies: ReadonlyArray<readonly [unknown, unknown]> }
    | { readonly type: 'rejected'; readonly reason: ReplyErrorCode; readonly leader: ServerId | undefined; readonly correlation: unknown };
}

export function isPipelineEvent(msg: unknown): msg is PipelineEvent {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'raft_event';
}
