// Errors with stable codes (undici style): callers branch on `code`, never on the text.

import type { ServerId } from './internal/core/log.js';
import type { ReplyErrorCode } from './internal/core/types.js';
import type { LogErrorCode } from './internal/log/errors.js';

export type RafterErrorCode =
  | ReplyErrorCode
  | LogErrorCode
  | 'RAFTER_TIMEOUT'
  | 'RAFTER_ASSERTION'
  | 'RAFTER_MACHINE_FAILED'
  | 'RAFTER_CORRUPT_STATE'
  | 'RAFTER_WRITE_FAILED'
  | 'RAFTER_INVALID_ARGUMENT'
  | 'RAFTER_MACHINE_NOT_FOUND'
  | 'RAFTER_NOPROC'
  | 'RAFTER_NODEDOWN'
  | 'RAFTER_MESSAGE_TOO_LARGE'
  | 'RAFTER_ALREADY_STARTED'
  | 'RAFTER_UNKNOWN_SERVER'
  | 'RAFTER_UNKNOWN_CLUSTER'
  | 'RAFTER_NO_SYSTEM'
  | 'RAFTER_CLUSTER_NOT_FORMED'
  | 'RAFTER_SERVER_STOPPED'
  | 'RAFTER_AUX_FAILED';

export class RafterError extends Error {
  constructor(
    readonly code: RafterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RafterError';
  }
}

function describe(id: ServerId | undefined): string {
  return id === undefined ? 'no leader is known; retry after an election' : `retry on ${id.name}@${id.node}`;
}

export class NotLeaderError extends RafterError {
  constructor(
    readonly server: ServerId,
    readonly leader: ServerId | undefined,
  ) {
    super('RAFTER_NOT_LEADER', `server ${server.name} is not the leader; ${describe(leader)}`);
    this.name = 'NotLeaderError';
  }
}

/** The leader lost leadership with the command in flight: it may or may not be applied. */
export class LeadershipLostError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_LEADERSHIP_LOST', `server ${server.name} lost leadership before the command committed; it may still apply, so retry only idempotent commands`);
    this.name = 'LeadershipLostError';
  }
}

export class ClusterChangeNotPermittedError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_CLUSTER_CHANGE_NOT_PERMITTED', `server ${server.name} has a membership change pending or no committed entry in its term; retry when it commits`);
    this.name = 'ClusterChangeNotPermittedError';
  }
}

export class OverloadedError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_OVERLOADED', `server ${server.name} has too many commands pending; slow down and retry`);
    this.name = 'OverloadedError';
  }
}

export class NotCaughtUpError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_NOT_CAUGHT_UP', `server ${server.name} is behind the leader's log; retry the transfer when it has caught up`);
    this.name = 'NotCaughtUpError';
  }
}

export class UnknownMemberError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_UNKNOWN_MEMBER', `server ${server.name} is not a (voting) member of the cluster; check the member list`);
    this.name = 'UnknownMemberError';
  }
}

export class AlreadyMemberError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_ALREADY_MEMBER', `server ${server.name} is already a member of the cluster`);
    this.name = 'AlreadyMemberError';
  }
}

export class MachineVersionTooOldError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_MACHINE_VERSION_TOO_OLD', `server ${server.name} runs machine code older than the cluster's effective version; upgrade it first`);
    this.name = 'MachineVersionTooOldError';
  }
}

/** The machine's apply threw: the server stops, as a crashing Ra machine stops its server. */
export class MachineFailedError extends RafterError {
  constructor(
    readonly server: ServerId,
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super('RAFTER_MACHINE_FAILED', `server ${server.name} stopped: the machine threw applying entry ${index} (${String(cause)}); fix the machine and restart the server`);
    this.name = 'MachineFailedError';
  }
}

/** What the server recovered cannot be right (say, a persisted term below the log's last term). */
export class CorruptStateError extends RafterError {
  constructor(
    readonly server: ServerId,
    detail: string,
  ) {
    super('RAFTER_CORRUPT_STATE', `server ${server.name} cannot start: ${detail}; restore its data directory or delete the server and re-add it`);
    this.name = 'CorruptStateError';
  }
}

/** The log could not be written: the server stops rather than acknowledge entries it may not hold. */
export class WriteFailedError extends RafterError {
  constructor(
    readonly server: ServerId,
    readonly index: number,
    readonly reason: string,
  ) {
    super('RAFTER_WRITE_FAILED', `server ${server.name} stopped: writing its log from index ${index} failed (${reason}); check the disk and restart the server`);
    this.name = 'WriteFailedError';
  }
}

export class QueryFailedError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_QUERY_FAILED', `the query function threw on server ${server.name}; the server carries on, fix the query`);
    this.name = 'QueryFailedError';
  }
}

function show(value: unknown): string {
  try {
    const text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'function' ? 'a function' : JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

/** An API call was given an argument of the wrong shape or range; nothing was done. */
export class InvalidArgumentError extends RafterError {
  constructor(
    readonly argument: string,
    readonly expected: string,
    readonly got: unknown,
  ) {
    super('RAFTER_INVALID_ARGUMENT', `invalid ${argument}: expected ${expected}, got ${show(got)}`);
    this.name = 'InvalidArgumentError';
  }
}

export class MachineNotFoundError extends RafterError {
  constructor(
    readonly machine: string,
    detail: string,
  ) {
    super('RAFTER_MACHINE_NOT_FOUND', `machine ${machine} not found: ${detail}`);
    this.name = 'MachineNotFoundError';
  }
}

/** No answer in time. `leader` is the leader last heard of, if any: the command may still apply. */
export class TimeoutError extends RafterError {
  constructor(
    readonly server: ServerId,
    readonly timeoutMs: number,
    readonly leader: ServerId | undefined,
  ) {
    super('RAFTER_TIMEOUT', `no answer from server ${server.name}@${server.node} within ${timeoutMs} ms; the request may still take effect${leader ? `; the leader was ${leader.name}@${leader.node}` : ''}`);
    this.name = 'TimeoutError';
  }
}

/** No server of that name runs on its node (stopped, deleted, or never started). */
export class NoProcError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_NOPROC', `no server ${server.name} runs on node ${server.node}; start or restart it, or use another member`);
    this.name = 'NoProcError';
  }
}

/** The server's node could not be reached. */
export class NodeDownError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_NODEDOWN', `node ${server.node} of server ${server.name} is not reachable; use another member or retry when it is back`);
    this.name = 'NodeDownError';
  }
}

/** The request was too large for the distribution's frame limit (maxFrameBytes) and was not sent. */
export class MessageTooLargeError extends RafterError {
  constructor(
    readonly server: ServerId,
    detail: string,
  ) {
    super('RAFTER_MESSAGE_TOO_LARGE', `a request for ${server.name}@${server.node} was not sent: ${detail}`);
    this.name = 'MessageTooLargeError';
  }
}

export class AlreadyStartedError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_ALREADY_STARTED', `server ${server.name} is already running on node ${server.node}`);
    this.name = 'AlreadyStartedError';
  }
}

/** The system knows no server of that name (never started there, or deleted). */
export class UnknownServerError extends RafterError {
  constructor(
    readonly server: ServerId,
    readonly system: string,
  ) {
    super('RAFTER_UNKNOWN_SERVER', `system ${system} on node ${server.node} has no server ${server.name}; start it with startServer`);
    this.name = 'UnknownServerError';
  }
}

/** keyMetrics was asked for a server with no counters (deleted, never started; keyMetrics: on another node, see fetchKeyMetrics). */
export class NoServerMetricsError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_UNKNOWN_SERVER', `no server ${server.name} of node ${server.node} has counters where they were read; keyMetrics reads this process's servers only, fetchKeyMetrics asks the server's node`);
    this.name = 'NoServerMetricsError';
  }
}

/** The server belongs to another cluster than the call named. */
export class UnknownClusterError extends RafterError {
  constructor(
    readonly server: ServerId,
    readonly clusterName: string,
    readonly actual: string,
  ) {
    super('RAFTER_UNKNOWN_CLUSTER', `server ${server.name} is a member of cluster ${actual}, not ${clusterName}`);
    this.name = 'UnknownClusterError';
  }
}

export class NoSystemError extends RafterError {
  constructor(
    readonly system: string,
    readonly node: string,
  ) {
    super('RAFTER_NO_SYSTEM', `no Raft system ${system} runs on node ${node}; call startSystem there first`);
    this.name = 'NoSystemError';
  }
}

/** startCluster could not start enough members for a quorum, or no leader was elected in time; what it started was stopped and deleted. */
export class ClusterNotFormedError extends RafterError {
  constructor(
    readonly clusterName: string,
    detail: string,
  ) {
    super('RAFTER_CLUSTER_NOT_FORMED', `cluster ${clusterName} could not form: ${detail}`);
    this.name = 'ClusterNotFormedError';
  }
}

/** The server stopped (a failed write, a failed machine) while the request was in flight. */
export class ServerStoppedError extends RafterError {
  constructor(
    readonly server: ServerId,
    readonly reason: string,
  ) {
    super('RAFTER_SERVER_STOPPED', `server ${server.name}@${server.node} stopped: ${reason}`);
    this.name = 'ServerStoppedError';
  }
}

/** A membership change given `expectedMembers` found other members (zraft_lib's peersChanged). */
export class PeersChangedError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_PEERS_CHANGED', `the members of ${server.name}'s cluster are not the expected ones; read them again (members) and decide anew`);
    this.name = 'PeersChangedError';
  }
}

/** The cluster is being deleted (deleteCluster): it takes no more commands or changes. */
export class ClusterDeletedError extends RafterError {
  constructor(readonly server: ServerId) {
    super('RAFTER_CLUSTER_DELETED', `the cluster of ${server.name} is being deleted; it takes no more commands`);
    this.name = 'ClusterDeletedError';
  }
}

/** The machine has no handleAux, or it threw (the server keeps running, its aux state unchanged). */
export class AuxFailedError extends RafterError {
  constructor(
    readonly server: ServerId,
    detail: string,
  ) {
    super('RAFTER_AUX_FAILED', `aux command on ${server.name}@${server.node} failed: ${detail}`);
    this.name = 'AuxFailedError';
  }
}

/** Maps an error reply of the core to its error class. */
export function errorFromReply(code: ReplyErrorCode, server: ServerId, leader: ServerId | undefined): RafterError {
  switch (code) {
    case 'RAFTER_NOT_LEADER':
      return new NotLeaderError(server, leader);
    case 'RAFTER_LEADERSHIP_LOST':
      return new LeadershipLostError(server);
    case 'RAFTER_CLUSTER_CHANGE_NOT_PERMITTED':
      return new ClusterChangeNotPermittedError(server);
    case 'RAFTER_OVERLOADED':
      return new OverloadedError(server);
    case 'RAFTER_NOT_CAUGHT_UP':
      return new NotCaughtUpError(server);
    case 'RAFTER_UNKNOWN_MEMBER':
      return new UnknownMemberError(server);
    case 'RAFTER_ALREADY_MEMBER':
      return new AlreadyMemberError(server);
    case 'RAFTER_MACHINE_VERSION_TOO_OLD':
      return new MachineVersionTooOldError(server);
    case 'RAFTER_QUERY_FAILED':
      return new QueryFailedError(server);
    case 'RAFTER_PEERS_CHANGED':
      return new PeersChangedError(server);
    case 'RAFTER_CLUSTER_DELETED':
      return new ClusterDeletedError(server);
  }
}
