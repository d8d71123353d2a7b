// keyMetrics for a server on any node: a server of this process is read from shared
// memory at once; another node's metrics actor reads its own process's counters and
// replies. Neither way calls the server, so a busy or stuck server still answers.

import type { ServerId } from '../internal/core/log.js';
import { callError, callerOf, checkServerId, timeoutOf, type TimeoutOption } from '../api.js';
import { InvalidArgumentError, NoServerMetricsError, NoSystemError, RafterError } from '../errors.js';
import { METRICS_ACTOR_NAME, type MetricsReply, type MetricsRequest } from './metrics-actor.js';
import { type KeyMetrics, readKeyMetrics, runsSystemOf, type SystemRef } from './overview.js';

export interface KeyMetricsOptions extends TimeoutOption {
  /** Look in this system only (a RaftSystem or its name); default: every system of the server's node. */
  readonly system?: SystemRef;
}

/**
 * Ra's `key_metrics(ServerId)` for a server on any node. Without a call if the server's
 * node runs in this process; else its node's metrics actor answers. Fails with
 * RAFTER_UNKNOWN_SERVER (no such server there), RAFTER_NO_SYSTEM (no system on that node),
 * RAFTER_NODEDOWN or RAFTER_TIMEOUT.
 */
export async function fetchKeyMetrics(serverId: ServerId, options?: KeyMetricsOptions): Promise<KeyMetrics> {
  const id = checkServerId(serverId);
  const system = systemNameOf(options?.system);
  const timeoutMs = timeoutOf(options);
  const local = readKeyMetrics(id, system);
  if (local !== undefined) return local;
  // The node's systems run in this process: what is not here is nowhere.
  if (runsSystemOf(id.node, system)) throw new NoServerMetricsError(id);
  if (system !== undefined && runsSystemOf(id.node)) throw new NoSystemError(system, id.node);
  let reply: MetricsReply;
  try {
    const request: MetricsRequest = system === undefined ? { op: 'keyMetrics', server: id } : { op: 'keyMetrics', server: id, system };
    reply = await callerOf(options).call<MetricsReply>({ name: METRICS_ACTOR_NAME, node: id.node }, request, { timeoutMs });
  } catch (err) {
    // No metrics actor: no system runs there (it stops with the node's last system).
    const code = (err as { code?: unknown } | undefined)?.code;
    if (code === 'ACTORS_NOPROC' || code === 'ACTORS_UNKNOWN_NAME' || code === 'ACTORS_CALL_EXIT') throw new NoSystemError(system ?? 'of any name', id.node);
    throw callError(err, id, timeoutMs, undefined);
  }
  if (reply.ok && reply.metrics !== undefined) return reply.metrics;
  if (reply.ok) throw new RafterError('RAFTER_NOPROC', `the metrics actor of node ${id.node} answered without counters`);
  // The same error classes as for a server of this process.
  if (reply.code === 'RAFTER_UNKNOWN_SERVER') throw new NoServerMetricsError(id);
  if (reply.code === 'RAFTER_NO_SYSTEM') throw new NoSystemError(system ?? 'of any name', id.node);
  throw new RafterError(reply.code, reply.message);
}

function systemNameOf(system: SystemRef | undefined): string | undefined {
  if (system === undefined) return undefined;
  const name = typeof system === 'string' ? system : system?.name;
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('system', 'a RaftSystem or a system name', system);
  return name;
}
