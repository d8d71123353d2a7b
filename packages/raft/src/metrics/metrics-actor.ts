// The node's metrics actor, on scheduler 0 under a well-known name. It answers
// `fetchKeyMetrics` from other nodes by reading this process's shared counters (no
// server is called), and it watches the system actor of every system of its node: when
// the worker thread that ran a system dies, that thread sends no more deltas, so this
// actor publishes the system as lost and every thread drops its counters and leaderboard
// lines. It runs on the main thread, which lives as long as the process, so it cannot
// die with the thread it watches. It stops once no system of its node is left.

import { isPid, type ActorSpec, type Behaviour, type CallOptions, type Dest, type DownMessage, type Pid, type Ref, type SpawnOptions } from '@rafter/actors';
import type { ServerId } from '../internal/core/log.js';
import { NoServerMetricsError, NoSystemError, RafterError, type RafterErrorCode } from '../errors.js';
import { type KeyMetrics, readKeyMetrics, runsSystemOf } from './overview.js';
import { metricsRegistryOf } from './registry.js';
import type { SystemIdentity } from './system-metrics.js';

export const METRICS_ACTOR_NAME = 'rafter_metrics';

export type MetricsRequest =
  | { readonly op: 'watch'; readonly system: SystemIdentity; readonly pid: Pid }
  | { readonly op: 'keyMetrics'; readonly server: ServerId; readonly system?: string };

export type MetricsReply = { readonly ok: true; readonly metrics?: KeyMetrics } | { readonly ok: false; readonly code: RafterErrorCode; readonly message: string };

/** The system actors watched, by monitor. */
type Watched = Map<Ref, SystemIdentity>;

export const metricsActor: Behaviour<Watched, undefined> = {
  init: () => new Map(),

  handleCall(request: MetricsRequest, _from, watched, ctx) {
    switch (request?.op) {
      case 'watch':
        // Only this node's own systems ask to be watched: a peer that could name any pid
        // and system could make this actor drop a live system's metrics.
        if (!isPid(request.pid) || request.pid.node !== ctx.self.node || !isSystemIdentity(request.system)) {
          return { reply: { ok: false, code: 'RAFTER_INVALID_ARGUMENT', message: 'watch takes a system actor of this node' } satisfies MetricsReply, state: watched };
        }
        watched.set(ctx.monitor(request.pid), request.system);
        return { reply: { ok: true } satisfies MetricsReply, state: watched };
      case 'keyMetrics':
        return { reply: answerKeyMetrics(request.server, request.system), state: watched };
      default:
        return { reply: { ok: false, code: 'RAFTER_INVALID_ARGUMENT', message: 'unknown metrics request' } satisfies MetricsReply, state: watched };
    }
  },

  handle(msg: DownMessage, watched, ctx) {
    if (msg?.type !== 'DOWN') return watched;
    const system = watched.get(msg.ref);
    if (system === undefined) return watched;
    watched.delete(msg.ref);
    // A system that stopped said so itself; only a dead thread leaves its entries behind.
    if (schedulerExited(msg.reason)) metricsRegistryOf().systemLost(system.key, system.incarnation);
    if (watched.size === 0) ctx.stop('normal');
    return watched;
  },
};

function schedulerExited(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && typeof (reason as { schedulerExited?: unknown }).schedulerExited === 'number';
}

function answerKeyMetrics(server: ServerId, system: string | undefined): MetricsReply {
  if (typeof server?.name !== 'string' || typeof server.node !== 'string') return { ok: false, code: 'RAFTER_INVALID_ARGUMENT', message: 'keyMetrics needs a server id { name, node }' };
  if (system !== undefined && typeof system !== 'string') return { ok: false, code: 'RAFTER_INVALID_ARGUMENT', message: 'keyMetrics takes a system name (a string) or none' };
  const metrics = readKeyMetrics(server, system);
  if (metrics !== undefined) return { ok: true, metrics };
  return failure(runsSystemOf(server.node, system) ? new NoServerMetricsError(server) : new NoSystemError(system ?? 'of any name', server.node));
}

function isSystemIdentity(value: unknown): value is SystemIdentity {
  const v = value as Partial<SystemIdentity> | undefined;
  return typeof v === 'object' && v !== null && typeof v.key === 'string' && typeof v.incarnation === 'string';
}

function failure(err: RafterError): MetricsReply {
  return { ok: false, code: err.code, message: err.message };
}

/** What can start and call actors: a node or an actor's context. */
interface Starter {
  start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid>;
  call<R = unknown>(dest: Dest, request: unknown, options?: CallOptions): Promise<R>;
}

/** Attempts to find or start the metrics actor: a second one only if it stopped between the two steps. */
const WATCH_ATTEMPTS_MAX = 3;

/** Has the node's metrics actor watch the system actor `pid`, starting the metrics actor if its node has none. */
export async function watchSystemMetrics(starter: Starter, system: SystemIdentity, pid: Pid): Promise<void> {
  const request: MetricsRequest = { op: 'watch', system, pid };
  // A behaviour object cannot cross threads: from a worker scheduler, scheduler 0 loads this module.
  const spec: ActorSpec = pid.scheduler === 0 ? metricsActor : { module: import.meta.url, export: 'metricsActor' };
  let last: unknown;
  for (let attempt = 0; attempt < WATCH_ATTEMPTS_MAX; attempt++) {
    try {
      await starter.call(METRICS_ACTOR_NAME, request);
      return;
    } catch (err) {
      // Not running, or it stopped (its last system went) while this call waited.
      if (!hasCode(err, 'ACTORS_NOPROC', 'ACTORS_UNKNOWN_NAME', 'ACTORS_CALL_EXIT')) throw err;
      last = err;
    }
    try {
      await starter.start(spec, undefined, { scheduler: 0, name: METRICS_ACTOR_NAME });
    } catch (err) {
      // Another system of the node started it first.
      if (!hasCode(err, 'ACTORS_NAME_TAKEN', 'ACTORS_SPAWN_FAILED')) throw err;
      last = err;
    }
  }
  throw new RafterError('RAFTER_NOPROC', `the metrics actor of node ${pid.node} could not be started: ${String(last)}`, { cause: last });
}

function hasCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && codes.includes(code);
}
