// Ra's `overview`, `key_metrics` and leaderboard lookups, read from the shared counters
// and this thread's copy of the index: no call to any server or system actor.

import type { ServerId } from '../internal/core/log.js';
import { InvalidArgumentError, NoServerMetricsError, NoSystemError } from '../errors.js';
import { SEGMENT_WRITER_BASE, slotBase, WAL_BASE } from './counter-buffer.js';
import { type RoleName, roleName, S, SEGMENT_WRITER_FIELDS, type SegmentWriterField, SERVER_FIELDS, type ServerField, WAL_FIELDS, type WalField } from './layout.js';
import { type LeaderReport, liveSlot, metricsRegistryOf, type ServerRecord, type SystemView } from './registry.js';

/** A server's counters and state, as Ra's key_metrics (Ra's names in camelCase). */
export type KeyMetrics = { readonly [F in Exclude<ServerField, 'generation' | 'role'>]: number } & {
  readonly role: RoleName;
};

export interface ServerOverview extends KeyMetrics {
  readonly cluster: string;
  readonly uid: string;
  /** The machine's `overview(state)`, for servers running on the calling thread. */
  readonly machine?: unknown;
}

export interface SystemOverview {
  readonly system: string;
  readonly node: string;
  readonly servers: Readonly<Record<string, ServerOverview>>;
  readonly wal: { readonly [F in WalField]: number };
  readonly segmentWriter: { readonly [F in SegmentWriterField]: number };
}

export interface LeaderboardEntry {
  readonly cluster: string;
  readonly leader: ServerId | undefined;
  readonly members: readonly ServerId[];
  /** The term in which the reporting member learnt the leader. */
  readonly term: number;
}

/** Anything naming a system: a RaftSystem, or its name (on any node of this process, if one only). */
export type SystemRef = string | { readonly name: string; readonly node: string };

// Opened when the API is imported, so that a thread learns of the systems of other threads before its first read.
metricsRegistryOf();

/** Ra's `overview(System)`: every server of a system with its counters, the WAL's and the segment writer's. */
export function overview(system: SystemRef): SystemOverview {
  const view = findSystem(system);
  const registry = metricsRegistryOf();
  const servers: Record<string, ServerOverview> = {};
  for (const record of view.servers.values()) {
    if (!liveSlot(view, record)) continue;
    const base = { cluster: record.cluster, uid: record.uid, ...readServer(view.values, record) };
    const machine = machineOverview(registry.probe(view.key, record.name));
    servers[record.name] = machine === undefined ? base : { ...base, machine };
  }
  return {
    system: view.system,
    node: view.node,
    servers,
    wal: readFields(view.values, WAL_BASE, WAL_FIELDS),
    segmentWriter: readFields(view.values, SEGMENT_WRITER_BASE, SEGMENT_WRITER_FIELDS),
  };
}

/**
 * Ra's `key_metrics(ServerId)`, for a server of any system of this process, read
 * without a message. For a server on another node, `fetchKeyMetrics` asks that node.
 */
export function keyMetrics(serverId: ServerId): KeyMetrics {
  if (typeof serverId !== 'object' || serverId === null || typeof serverId.name !== 'string' || typeof serverId.node !== 'string') {
    throw new InvalidArgumentError('server id', '{ name, node }', serverId);
  }
  const metrics = readKeyMetrics(serverId);
  if (metrics === undefined) throw new NoServerMetricsError(serverId);
  return metrics;
}

/** The counters of a server of this process (of system `system` only, if given), or undefined. */
export function readKeyMetrics(serverId: ServerId, system?: string): KeyMetrics | undefined {
  for (const view of metricsRegistryOf().systems.values()) {
    if (view.node !== serverId.node || (system !== undefined && view.system !== system)) continue;
    const record = view.servers.get(serverId.name);
    if (record !== undefined && liveSlot(view, record)) return readServer(view.values, record);
  }
  return undefined;
}

/** Whether this process runs a system (named `system`, or any) of node `node`, as this thread knows. */
export function runsSystemOf(node: string, system?: string): boolean {
  for (const view of metricsRegistryOf().systems.values()) if (view.node === node && (system === undefined || view.system === system)) return true;
  return false;
}

/** Ra's `ra_leaderboard:lookup_leader`: the leader a local member of `cluster` knows of. */
export function lookupLeader(cluster: string): ServerId | undefined {
  return bestReport(cluster)?.leader;
}

/** Ra's `ra_leaderboard:lookup_members`: the members a local member of `cluster` knows of. */
export function lookupMembers(cluster: string): readonly ServerId[] | undefined {
  return bestReport(cluster)?.members;
}

/** Every cluster with a member in this process, with its leader and members. */
export function leaderboard(): LeaderboardEntry[] {
  const out: LeaderboardEntry[] = [];
  for (const cluster of metricsRegistryOf().board.keys()) {
    const report = bestReport(cluster);
    if (report !== undefined) out.push({ cluster, leader: report.leader, members: report.members, term: report.term });
  }
  return out;
}

/** The report of the member that knows most: the latest term, and a leader over none. */
function bestReport(cluster: string): LeaderReport | undefined {
  let best: LeaderReport | undefined;
  for (const report of metricsRegistryOf().board.get(cluster) ?? []) {
    if (best === undefined || report.term > best.term || (report.term === best.term && best.leader === undefined && report.leader !== undefined)) best = report;
  }
  return best;
}

function findSystem(system: SystemRef): SystemView {
  const name = typeof system === 'string' ? system : system?.name;
  if (typeof name !== 'string') throw new InvalidArgumentError('system', 'a RaftSystem or a system name', system);
  const node = typeof system === 'string' ? undefined : system.node;
  const found = [...metricsRegistryOf().systems.values()].filter((v) => v.system === name && (node === undefined || v.node === node));
  if (found.length === 1) return found[0] as SystemView;
  if (found.length === 0) throw new NoSystemError(name, node ?? 'any node of this process');
  throw new InvalidArgumentError('system', `one of the systems named ${name} in this process: pass the RaftSystem (nodes ${found.map((v) => v.node).join(', ')})`, name);
}

function readServer(values: Float64Array, record: ServerRecord): KeyMetrics {
  const base = slotBase(record.slot);
  const out: Record<string, unknown> = {};
  SERVER_FIELDS.forEach((field, i) => {
    if (field !== 'generation') out[field] = values[base + i] ?? 0;
  });
  out.role = roleName(values[base + S.role] ?? 0);
  return out as KeyMetrics;
}

function readFields<const T extends readonly string[]>(values: Float64Array, base: number, fields: T): { [K in T[number]]: number } {
  const out: Record<string, number> = {};
  fields.forEach((field, i) => {
    out[field] = values[base + i] ?? 0;
  });
  return out as { [K in T[number]]: number };
}

function machineOverview(probe: (() => unknown) | undefined): unknown {
  if (probe === undefined) return undefined;
  try {
    return probe();
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}
