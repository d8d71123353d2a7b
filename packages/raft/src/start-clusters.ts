// startClusters: many clusters in a few requests. startCluster costs each member a
// request to its node's system actor, and each cluster an election trigger and a wait;
// here the members of every cluster are grouped by node and sent in batches (one atomic
// write of their configurations per batch), elections are triggered in batches, and the
// leaders are awaited in batches, through the directory, without calling the servers.

import { API_TIMEOUT_MS_DEFAULT, forceDeleteServer, isServerId, systemCall, type TimeoutOption } from './api.js';
import { defaultCallerOf } from './system/caller.js';
import { ClusterNotFormedError, InvalidArgumentError, RafterError } from './errors.js';
import { quorumSize, sameServer } from './internal/core/cluster.js';
import type { ServerId } from './internal/core/log.js';
import { checkMachineRef, type MachineRef } from './server/machine.js';
import type { ServerConfig } from './system/runtime.js';
import { START_SERVERS_BATCH_MAX, type RaftSystem, type SystemRequest } from './system/system.js';

export interface ClusterSpec {
  readonly clusterName: string;
  readonly machine: MachineRef;
  /** The members, one server id each (distinct). */
  readonly servers: readonly ServerId[];
  readonly machineConfig?: unknown;
  /** The member whose election is triggered (default the first that started): spread them to spread leaders. */
  readonly electFirst?: ServerId;
}

export interface StartClustersOptions extends TimeoutOption {
  /** How long to wait for the leaders. Default: the call's timeout. */
  readonly electionTimeoutMs?: number;
}

export interface StartedCluster {
  readonly clusterName: string;
  readonly started: readonly ServerId[];
  readonly notStarted: readonly ServerId[];
  /** Undefined when the cluster did not form (see `error`); what had started was deleted. */
  readonly leader: ServerId | undefined;
  readonly error?: RafterError;
}

interface Member {
  readonly cluster: number;
  readonly id: ServerId;
  readonly config: ServerConfig;
}

/**
 * Starts many clusters, as startCluster would one by one, with a few requests per node.
 * Each cluster's outcome is in the result, in the order of `specs`; a cluster that did
 * not form (too few members started, or no leader in time) has its started members
 * deleted and carries the ClusterNotFormedError.
 */
export async function startClusters(system: RaftSystem | string, specs: readonly ClusterSpec[], options?: StartClustersOptions): Promise<StartedCluster[]> {
  const systemName = typeof system === 'string' ? system : system?.name;
  if (typeof systemName !== 'string' || systemName.length === 0) throw new InvalidArgumentError('system', 'a system or its name', system);
  if (!Array.isArray(specs)) throw new InvalidArgumentError('cluster specs', 'an array', specs);
  const caller = options?.via ?? defaultCallerOf();
  if (caller === undefined) throw new InvalidArgumentError('via', 'a node or actor context (or call startSystem or useCaller first)', undefined);
  const timeoutMs = options?.timeoutMs ?? API_TIMEOUT_MS_DEFAULT;
  if (!(timeoutMs > 0)) throw new InvalidArgumentError('timeoutMs', 'a positive number of milliseconds', timeoutMs);
  const call = (node: string, request: SystemRequest) => systemCall(caller, systemName, node, request, timeoutMs);

  const clusters = specs.map((spec, cluster) => {
    const ids = checkSpec(spec);
    const initialMembers = ids.map((id) => ({ id, membership: 'voter' as const }));
    const members = ids.map((id): Member => {
      const config: ServerConfig = { name: id.name, uid: newUid(id.name), clusterName: spec.clusterName, machine: spec.machine, ...(spec.machineConfig !== undefined ? { machineConfig: spec.machineConfig } : {}), initialMembers };
      return { cluster, id, config };
    });
    return { spec, members, notStarted: new Map<string, string>(), leader: undefined as ServerId | undefined, error: undefined as RafterError | undefined };
  });

  // Rounds of clusters, each at most one batch per node: the round's batches start in
  // parallel on their nodes, then the round's elections are triggered while the next
  // round starts. Electing as they start keeps a leaderless member from timing out into
  // an election of its own while thousands of others start.
  const rounds: number[][] = [];
  let round: number[] = [];
  let perNode = new Map<string, number>();
  clusters.forEach((c, cluster) => {
    const mine = new Map<string, number>();
    for (const m of c.members) mine.set(m.id.node, (mine.get(m.id.node) ?? 0) + 1);
    const fits = [...mine].every(([node, n]) => (perNode.get(node) ?? 0) + n <= START_SERVERS_BATCH_MAX);
    if (!fits && round.length > 0) {
      rounds.push(round);
      round = [];
      perNode = new Map();
    }
    round.push(cluster);
    for (const m of c.members) perNode.set(m.id.node, (perNode.get(m.id.node) ?? 0) + 1);
  });
  if (round.length > 0) rounds.push(round);

  const startedOf = (c: (typeof clusters)[number]) => c.members.filter((m) => !c.notStarted.has(m.id.name)).map((m) => m.id);
  /** The member each formed cluster elects first, by node. */
  const electing = new Map<string, Array<{ cluster: number; name: string }>>();
  let triggers: Promise<unknown> = Promise.resolve();
  for (const members of rounds) {
    const byNode = new Map<string, Member[]>();
    for (const cluster of members) {
      for (const m of clusters[cluster]?.members ?? []) {
        let list = byNode.get(m.id.node);
        if (list === undefined) byNode.set(m.id.node, (list = []));
        list.push(m);
      }
    }
    await Promise.all(
      [...byNode].map(async ([node, batch]) => {
        const byName = new Map(batch.map((m) => [m.id.name, m]));
        try {
          const reply = await call(node, { op: 'startServers', configs: batch.map((m) => m.config) });
          for (const [name, , message] of reply.failed ?? []) {
            const m = byName.get(name);
            if (m !== undefined) clusters[m.cluster]?.notStarted.set(name, message);
          }
        } catch (err) {
          for (const m of batch) clusters[m.cluster]?.notStarted.set(m.id.name, String((err as Error).message ?? err));
        }
      }),
    );
    const toTrigger = new Map<string, string[]>();
    for (const cluster of members) {
      const c = clusters[cluster];
      if (c === undefined) continue;
      const started = startedOf(c);
      if (started.length < quorumSize(c.members.length)) {
        const why = [...c.notStarted].map(([name, message]) => `${name}: ${message}`).join('; ');
        c.error = new ClusterNotFormedError(c.spec.clusterName, `only ${started.length} of ${c.members.length} members started (${why})`);
        continue;
      }
      const wanted = c.spec.electFirst;
      const first = wanted !== undefined && started.some((id) => sameServer(id, wanted)) ? wanted : (started[0] as ServerId);
      let list = electing.get(first.node);
      if (list === undefined) electing.set(first.node, (list = []));
      list.push({ cluster, name: first.name });
      let names = toTrigger.get(first.node);
      if (names === undefined) toTrigger.set(first.node, (names = []));
      names.push(first.name);
    }
    // Not awaited before the next round starts; a lost trigger only delays that election.
    const sent = [...toTrigger].map(([node, names]) => call(node, { op: 'triggerElections', names }).catch(() => undefined));
    triggers = Promise.all([triggers, ...sent]);
  }
  await triggers;

  // Then wait for the first members to know a leader, in batches per node.
  const electionTimeoutMs = options?.electionTimeoutMs ?? timeoutMs;
  const deadline = Date.now() + electionTimeoutMs;
  await Promise.all(
    [...electing].map(async ([node, list]) => {
      for (let i = 0; i < list.length; i += START_SERVERS_BATCH_MAX) {
        const batch = list.slice(i, i + START_SERVERS_BATCH_MAX);
        const waitMs = Math.max(1, deadline - Date.now());
        const reply = await systemCall(caller, systemName, node, { op: 'awaitLeaders', names: batch.map((e) => e.name), timeoutMs: waitMs }, waitMs + timeoutMs).catch(() => undefined);
        batch.forEach((e, j) => {
          const c = clusters[e.cluster];
          const leader = reply?.leaders?.[j];
          if (c === undefined) return;
          if (leader !== null && leader !== undefined) c.leader = { name: leader.name, node: leader.node };
          else c.error = new ClusterNotFormedError(c.spec.clusterName, `no leader was elected within ${electionTimeoutMs} ms`);
        });
      }
    }),
  );

  // What did not form goes, as with startCluster.
  await Promise.all(clusters.filter((c) => c.error !== undefined).flatMap((c) => startedOf(c).map((id) => forceDeleteServer(systemName, id, { via: caller, timeoutMs }).catch(() => undefined))));
  return clusters.map((c) => {
    const started = startedOf(c);
    const notStarted = c.members.filter((m) => c.notStarted.has(m.id.name)).map((m) => m.id);
    if (c.error !== undefined) return { clusterName: c.spec.clusterName, started, notStarted, leader: undefined, error: c.error };
    return { clusterName: c.spec.clusterName, started, notStarted, leader: c.leader };
  });
}

function checkSpec(spec: ClusterSpec): ServerId[] {
  if (typeof spec !== 'object' || spec === null) throw new InvalidArgumentError('cluster spec', 'an object', spec);
  if (typeof spec.clusterName !== 'string' || spec.clusterName.length === 0) throw new InvalidArgumentError('cluster name', 'a non-empty string', spec.clusterName);
  checkMachineRef(spec.machine);
  if (!Array.isArray(spec.servers) || spec.servers.length === 0 || !spec.servers.every(isServerId)) throw new InvalidArgumentError('server ids', 'a non-empty array of { name, node }', spec.servers);
  const ids = spec.servers.map((s) => ({ name: s.name, node: s.node }));
  if (new Set(ids.map((s) => `${s.name}@${s.node}`)).size !== ids.length) throw new InvalidArgumentError('server ids', 'distinct server ids', spec.servers);
  if (spec.electFirst !== undefined && !ids.some((id) => sameServer(id, spec.electFirst as ServerId))) throw new InvalidArgumentError('electFirst', 'one of the servers', spec.electFirst);
  return ids;
}

function newUid(name: string): string {
  return `${name}_${Date.now().toString(36)}${Math.floor(Math.random() * 0xffffffff).toString(36)}`;
}

