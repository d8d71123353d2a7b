// A system's counters, owned by the thread the system runs on: the shared buffer, the
// WAL's and segment writer's fields in it, and a slot per server, kept while the server
// is stopped (its counters survive a restart, as Ra's do) and freed when it is deleted.

import { randomUUID } from 'node:crypto';
import type { SegmentWriterCounters } from '../internal/log/segment-writer.js';
import type { WalCounters } from '../internal/log/wal.js';
import type { ServerId } from '../internal/core/log.js';
import { CounterBuffer, SEGMENT_WRITER_BASE, sharedFields, slotBase, WAL_BASE } from './counter-buffer.js';
import { SEGMENT_WRITER_FIELDS, WAL_FIELDS } from './layout.js';
import { metricsRegistryOf, type ServerRecord, systemKey } from './registry.js';
import { ServerMetrics } from './server-metrics.js';

/** Which run of which system: what the node's metrics actor needs to tell the other threads when its thread dies. */
export interface SystemIdentity {
  readonly key: string;
  readonly incarnation: string;
}

export class SystemMetrics {
  private published: { readonly key: string; readonly node: string } | undefined;
  private readonly incarnation = randomUUID();
  private readonly counters = new CounterBuffer();
  readonly wal: WalCounters;
  readonly segmentWriter: SegmentWriterCounters;
  private readonly servers = new Map<string, ServerRecord>();

  /** The WAL and segment writer count here from their start; the system is published once its node is known. */
  constructor(readonly system: string) {
    this.wal = sharedFields(this.counters.values, WAL_BASE, WAL_FIELDS);
    this.segmentWriter = sharedFields(this.counters.values, SEGMENT_WRITER_BASE, SEGMENT_WRITER_FIELDS);
  }

  publish(node: string): void {
    if (this.published !== undefined) return;
    this.published = { key: systemKey(node, this.system), node };
    metricsRegistryOf().addSystem(this.published.key, this.system, node, this.incarnation, this.counters.buffer);
  }

  identity(): SystemIdentity {
    return { key: this.where().key, incarnation: this.incarnation };
  }

  private where(): { readonly key: string; readonly node: string } {
    if (this.published === undefined) throw new Error(`metrics of system ${this.system} used before its node was known`);
    return this.published;
  }

  /** The counters of server `name`: its slot from an earlier run of it, or a new one. */
  server(name: string, cluster: string, uid: string): ServerMetrics {
    const { key, node } = this.where();
    let record = this.servers.get(name);
    if (record === undefined || record.uid !== uid) {
      if (record !== undefined) this.deleteServer(name);
      const { slot, generation } = this.counters.allocate();
      record = { name, cluster, uid, slot, generation };
      this.servers.set(name, record);
      metricsRegistryOf().addServer(key, record);
    }
    const id: ServerId = { name, node };
    return new ServerMetrics(key, id, cluster, this.counters.values, slotBase(record.slot));
  }

  /**
   * A deleted server: its slot goes back to the pool and its leaderboard line goes.
   * Idempotent, and harmless for a name that never ran.
   */
  deleteServer(name: string): void {
    const record = this.servers.get(name);
    if (record === undefined) return;
    const { key, node } = this.where();
    this.servers.delete(name);
    this.counters.release(record.slot);
    const registry = metricsRegistryOf();
    registry.removeServer(key, name);
    registry.removeReport(record.cluster, { name, node });
  }

  serverCount(): number {
    return this.servers.size;
  }

  /** The system stopped: every thread forgets it and its servers' leaderboard lines. */
  close(): void {
    if (this.published !== undefined) metricsRegistryOf().removeSystem(this.published.key);
  }
}
