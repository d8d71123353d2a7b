// Prometheus exposition of the shared counters through prom-client. Servers count in
// plain floats; nothing here runs until a scrape, when each metric's collect callback
// reads the buffers. As RabbitMQ does for quorum queues, the default series are per
// system (summed over its servers), so their number does not grow with the clusters;
// per-cluster series are opt-in.

import { type Metric, Registry } from 'prom-client';
import { SEGMENT_WRITER_BASE, slotBase, WAL_BASE } from './counter-buffer.js';
import { G, ROLE_CODES, S, SERVER_COUNTER_FIELDS, SERVER_FIELDS, type ServerField, W, WAL_COUNTER_FIELDS, WAL_FIELDS, type WalField, SEGMENT_WRITER_FIELDS } from './layout.js';
import { liveSlot, metricsRegistryOf, type SystemView } from './registry.js';
import { type SystemRef, leaderboard } from './overview.js';

export interface MetricsRegistryOptions {
  /**
   * Also a series per cluster and system (labels `system`, `node`, `cluster`): about 20
   * per cluster. Off by default: with 10,000 clusters that is 200,000 series.
   */
  readonly perCluster?: boolean;
  /** Prefix of every metric name; default `rafter_`. */
  readonly prefix?: string;
  /** Add the metrics to this registry rather than a new one. */
  readonly registry?: Registry;
}

/** Prometheus names of the server counters (Ra's counter names, in Prometheus style). */
const SERVER_COUNTER_NAMES: Readonly<Partial<Record<ServerField, readonly [string, string]>>> = {
  commands: ['commands_total', 'Commands taken by leaders'],
  entriesWritten: ['entries_written_total', 'Log entries written to the WAL'],
  elections: ['elections_total', 'Elections started (candidate)'],
  preVotes: ['pre_votes_total', 'Pre-vote elections started'],
  messagesSent: ['messages_sent_total', 'Raft messages sent to peers'],
  messagesReceived: ['messages_received_total', 'Raft messages received from peers'],
  appendsHeld: ['appends_held_total', 'AppendEntries held back because the connection to the peer had too much queued'],
  snapshotsWritten: ['snapshots_written_total', 'Snapshots written from release cursors'],
  snapshotsInstalled: ['snapshots_installed_total', 'Snapshots installed from a leader'],
  leaderChanges: ['leader_changes_total', 'Times a member learnt of a new leader'],
};

const WAL_NAMES: Readonly<Record<WalField, readonly [string, string]>> = {
  batches: ['wal_batches_total', 'WAL batches written (one write and one sync each)'],
  entries: ['wal_entries_total', 'Entries written by the WAL'],
  bytes: ['wal_bytes_total', 'Bytes written by the WAL'],
  syncs: ['wal_syncs_total', 'WAL syncs (fdatasync or fsync)'],
  syncLatencyMs: ['wal_sync_last_seconds', 'Duration of the last WAL sync'],
  syncLatencyMsTotal: ['wal_sync_seconds_total', 'Time spent in WAL syncs'],
  rollovers: ['wal_rollovers_total', 'WAL files rolled over'],
  resends: ['wal_resends_total', 'Writers asked to resend after a gap'],
};

const SEGMENT_WRITER_NAMES: Readonly<Record<(typeof SEGMENT_WRITER_FIELDS)[number], readonly [string, string]>> = {
  files: ['segment_writer_files_total', 'WAL files moved into segments'],
  flushes: ['segment_writer_flushes_total', 'Per-server segment flushes'],
  entries: ['segment_writer_entries_total', 'Entries moved into segments'],
  failures: ['segment_writer_failures_total', 'WAL files whose flush failed'],
};

/** One sample of a series, as prom-client's registry formats it. */
interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A metric whose samples are read at scrape time. prom-client's Counter and Gauge keep
 * their own copy of every labelled value (hashed per label set), which costs seconds
 * for per-cluster series at 10,000 clusters; the registry needs only `get()`.
 */
class ReadMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly read: () => Sample[],
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  reset(): void {}
}

/**
 * A prom-client registry exposing the counters of `systems` (default: every system of
 * this process, as this thread sees them at each scrape).
 */
export function metricsRegistry(systems?: SystemRef | readonly SystemRef[], options: MetricsRegistryOptions = {}): Registry {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'rafter_';
  const wanted = systems === undefined ? undefined : Array.isArray(systems) ? (systems as readonly SystemRef[]) : [systems as SystemRef];
  const views = (): SystemView[] => [...metricsRegistryOf().systems.values()].filter((v) => wanted === undefined || wanted.some((s) => matches(s, v)));
  const add = (name: string, help: string, type: 'counter' | 'gauge', read: () => Sample[]): void => {
    registry.registerMetric(new ReadMetric(prefix + name, help, type, read) as unknown as Metric);
  };
  const perSystem = (value: (view: SystemView) => number) => (): Sample[] => views().map((view) => ({ labels: labelsOf(view), value: value(view) }));

  for (const [field, [name, help]] of Object.entries(SERVER_COUNTER_NAMES) as Array<[ServerField, readonly [string, string]]>) {
    const offset = S[field];
    add(name, `${help}, summed over the system's servers`, 'counter', perSystem((view) => sumServers(view, offset)));
  }
  add('servers', 'Servers of the system by role', 'gauge', () =>
    views().flatMap((view) => {
      const counts = new Array<number>(ROLE_CODES.length).fill(0);
      forLiveServers(view, (base) => {
        const code = view.values[base + S.role] ?? 0;
        counts[code] = (counts[code] ?? 0) + 1;
      });
      return ROLE_CODES.map((role, code) => ({ labels: { ...labelsOf(view), role }, value: counts[code] ?? 0 }));
    }),
  );
  add(
    'commit_latency_max_seconds',
    'Largest last commit latency among the servers of the system',
    'gauge',
    perSystem((view) => {
      let max = 0;
      forLiveServers(view, (base) => {
        max = Math.max(max, view.values[base + S.commitLatencyMs] ?? 0);
      });
      return max / 1000;
    }),
  );
  for (const field of WAL_FIELDS) {
    const index = WAL_BASE + W[field];
    const scale = field.includes('LatencyMs') ? 1 / 1000 : 1;
    add(WAL_NAMES[field][0], WAL_NAMES[field][1], WAL_COUNTER_FIELDS.has(field) ? 'counter' : 'gauge', perSystem((view) => (view.values[index] ?? 0) * scale));
  }
  for (const field of SEGMENT_WRITER_FIELDS) {
    const index = SEGMENT_WRITER_BASE + G[field];
    add(SEGMENT_WRITER_NAMES[field][0], SEGMENT_WRITER_NAMES[field][1], 'counter', perSystem((view) => view.values[index] ?? 0));
  }
  add('leaderboard_clusters', 'Clusters with a member in this process, by whether a leader is known', 'gauge', () => {
    let known = 0;
    let unknown = 0;
    for (const entry of leaderboard()) {
      if (entry.leader === undefined) unknown++;
      else known++;
    }
    return [
      { labels: { leader: 'known' }, value: known },
      { labels: { leader: 'unknown' }, value: unknown },
    ];
  });
  if (options.perCluster === true) addPerCluster(add, views);
  return registry;
}

type AddMetric = (name: string, help: string, type: 'counter' | 'gauge', read: () => Sample[]) => void;

/** Per cluster: the server counters summed over the system's members of it; gauges take the most advanced member. */
function addPerCluster(add: AddMetric, views: () => SystemView[]): void {
  for (const field of SERVER_FIELDS) {
    if (field === 'generation' || field === 'role') continue;
    const counter = SERVER_COUNTER_FIELDS.has(field);
    const name = counter ? SERVER_COUNTER_NAMES[field]?.[0] : gaugeName(field);
    if (name === undefined) continue;
    const offset = S[field];
    const scale = field === 'commitLatencyMs' ? 1 / 1000 : 1;
    const help = `${counter ? SERVER_COUNTER_NAMES[field]?.[1] : gaugeHelp(field)}, per cluster`;
    add(`cluster_${name}`, help, counter ? 'counter' : 'gauge', () => {
      const out: Sample[] = [];
      for (const view of views()) {
        const byCluster = new Map<string, number>();
        for (const server of view.servers.values()) {
          if (!liveSlot(view, server)) continue;
          const value = view.values[slotBase(server.slot) + offset] ?? 0;
          const seen = byCluster.get(server.cluster);
          byCluster.set(server.cluster, seen === undefined ? value : counter ? seen + value : Math.max(seen, value));
        }
        const labels = labelsOf(view);
        for (const [cluster, value] of byCluster) out.push({ labels: { ...labels, cluster }, value: value * scale });
      }
      return out;
    });
  }
}

function gaugeName(field: ServerField): string {
  switch (field) {
    case 'commitLatencyMs':
      return 'commit_latency_seconds';
    case 'term':
      return 'term';
    case 'commitIndex':
      return 'commit_index';
    case 'lastApplied':
      return 'last_applied';
    case 'lastWritten':
      return 'last_written_index';
    case 'lastIndex':
      return 'last_index';
    case 'snapshotIndex':
      return 'snapshot_index';
    default:
      return field;
  }
}

function gaugeHelp(field: ServerField): string {
  return field === 'commitLatencyMs' ? 'Time from a command batch to its commit, last measured' : `The ${gaugeName(field).replace(/_/g, ' ')} of the members`;
}

function matches(ref: SystemRef, view: SystemView): boolean {
  return typeof ref === 'string' ? view.system === ref : view.system === ref.name && view.node === ref.node;
}

function labelsOf(view: SystemView): Record<'system' | 'node', string> {
  return { system: view.system, node: view.node };
}

function forLiveServers(view: SystemView, fn: (base: number) => void): void {
  for (const server of view.servers.values()) if (liveSlot(view, server)) fn(slotBase(server.slot));
}

function sumServers(view: SystemView, offset: number): number {
  let sum = 0;
  forLiveServers(view, (base) => {
    sum += view.values[base + offset] ?? 0;
  });
  return sum;
}
