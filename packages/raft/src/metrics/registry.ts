// What every thread of the process knows of the Raft systems running in it: each
// system's counter buffer (shared memory: read without a message), which slot holds
// which server, and the leaderboard (cluster → leader, members). The counters change on
// every command and are never sent anywhere; the rest changes when a server starts,
// stops or sees a new leader, and the thread that owns the system publishes those
// changes on a BroadcastChannel, batched per turn of its event loop. The owning thread
// sees its own changes at once; other threads one turn of their event loop later (a
// worker scheduler reads them like any other thread: its own copy of the index,
// updated between its turns, over the same shared counters). A thread that dies (a
// crashed worker scheduler) sends nothing more: the node's metrics actor, which watches
// every system of its node from the main thread, publishes its systems as lost
// (metrics-actor.ts), and every thread drops them.

import { BroadcastChannel } from 'node:worker_threads';
import type { ServerId } from '../internal/core/log.js';
import { slotBase } from './counter-buffer.js';
import { S } from './layout.js';

const CHANNEL_NAME = 'rafter:metrics';

/**
 * Lost system runs each thread remembers, so that a delta the dead thread posted just
 * before it died, arriving after the loss, does not bring the system back. One per
 * crashed thread's system: the oldest are forgotten past this.
 */
export const LOST_SYSTEMS_REMEMBERED_MAX = 1_024;

/** One server's place in its system's buffer. */
export interface ServerRecord {
  readonly name: string;
  readonly cluster: string;
  readonly uid: string;
  readonly slot: number;
  readonly generation: number;
}

/** A system as any thread sees it. */
export interface SystemView {
  readonly key: string;
  readonly system: string;
  readonly node: string;
  /** This run of the system (a system restarted under the same name on a new thread is another). */
  readonly incarnation: string;
  readonly values: Float64Array;
  readonly servers: Map<string, ServerRecord>;
}

/** A local member's view of its cluster, as Ra's ra_leaderboard records it. */
export interface LeaderReport {
  readonly cluster: string;
  readonly reporter: ServerId;
  readonly systemKey: string;
  readonly leader: ServerId | undefined;
  readonly members: readonly ServerId[];
  readonly term: number;
}

type Delta =
  | { readonly k: 'system'; readonly key: string; readonly system: string; readonly node: string; readonly incarnation: string; readonly buffer: SharedArrayBuffer }
  | { readonly k: 'systemGone'; readonly key: string }
  /** Published for a dead thread by another: the system of that run only. */
  | { readonly k: 'systemLost'; readonly key: string; readonly incarnation: string }
  | { readonly k: 'server'; readonly key: string; readonly record: ServerRecord }
  | { readonly k: 'serverGone'; readonly key: string; readonly name: string }
  | { readonly k: 'report'; readonly report: LeaderReport }
  | { readonly k: 'reportGone'; readonly cluster: string; readonly reporter: ServerId }
  | { readonly k: 'hello' };

/** Owner-side extras that cannot cross threads: the machine overview of a running server. */
type LocalProbe = () => unknown;

export function systemKey(node: string, system: string): string {
  return `${system}\u0000${node}`;
}

function sameReporter(a: ServerId, b: ServerId): boolean {
  return a.name === b.name && a.node === b.node;
}

class MetricsRegistry {
  readonly systems = new Map<string, SystemView>();
  /** Per cluster, one report per local member (usually one: an array is lighter than a map). */
  readonly board = new Map<string, LeaderReport[]>();
  private readonly owned = new Map<string, SharedArrayBuffer>();
  private readonly probes = new Map<string, LocalProbe>();
  private channel: BroadcastChannel | undefined;
  private pending: Delta[] = [];
  /** Reports waiting in `pending`, by reporter: a burst of leader changes sends the last one only. */
  private pendingReports = new Map<ServerId, number>();
  private flushScheduled = false;
  private readonly lost = new Set<string>();

  constructor() {
    this.open();
  }

  private open(): void {
    const channel = new BroadcastChannel(CHANNEL_NAME);
    // The channel must not keep a process or a worker thread alive.
    (channel as unknown as { unref?: () => void }).unref?.();
    channel.onmessage = (event: unknown) => this.receive((event as { data: Delta[] }).data);
    this.channel = channel;
    // Threads already running say what they own.
    channel.postMessage([{ k: 'hello' }] satisfies Delta[]);
  }

  // ---- the owner's side ----

  addSystem(key: string, system: string, node: string, incarnation: string, buffer: SharedArrayBuffer): void {
    this.owned.set(key, buffer);
    this.apply({ k: 'system', key, system, node, incarnation, buffer });
  }

  removeSystem(key: string): void {
    this.owned.delete(key);
    for (const probeKey of [...this.probes.keys()]) if (probeKey.startsWith(`${key}\u0001`)) this.probes.delete(probeKey);
    this.apply({ k: 'systemGone', key });
  }

  addServer(key: string, record: ServerRecord, probe?: LocalProbe): void {
    if (probe !== undefined) this.probes.set(`${key}\u0001${record.name}`, probe);
    this.apply({ k: 'server', key, record });
  }

  setProbe(key: string, name: string, probe: LocalProbe | undefined): void {
    if (probe === undefined) this.probes.delete(`${key}\u0001${name}`);
    else this.probes.set(`${key}\u0001${name}`, probe);
  }

  probe(key: string, name: string): LocalProbe | undefined {
    return this.probes.get(`${key}\u0001${name}`);
  }

  removeServer(key: string, name: string): void {
    this.probes.delete(`${key}\u0001${name}`);
    this.apply({ k: 'serverGone', key, name });
  }

  report(report: LeaderReport): void {
    const delta: Delta = { k: 'report', report };
    this.applyLocal(delta);
    // Keyed by the reporter's id object, which a server keeps for its life.
    const at = this.pendingReports.get(report.reporter);
    if (at !== undefined) {
      this.pending[at] = delta;
      return;
    }
    this.pendingReports.set(report.reporter, this.pending.length);
    this.publish(delta);
  }

  removeReport(cluster: string, reporter: ServerId): void {
    // A later report must follow this removal, not take an earlier report's place before it.
    for (const pending of this.pendingReports.keys()) if (sameReporter(pending, reporter)) this.pendingReports.delete(pending);
    this.apply({ k: 'reportGone', cluster, reporter });
  }

  private apply(delta: Delta): void {
    this.applyLocal(delta);
    this.publish(delta);
  }

  private publish(delta: Delta): void {
    this.pending.push(delta);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    this.pendingReports.clear();
    if (batch.length > 0) this.channel?.postMessage(batch);
  }

  // ---- a watcher of the owner (the node's metrics actor) ----

  /** The thread that ran this run of the system died: every thread drops it, its servers and their leaderboard lines. */
  systemLost(key: string, incarnation: string): void {
    this.apply({ k: 'systemLost', key, incarnation });
  }

  // ---- every thread ----

  private receive(batch: Delta[]): void {
    for (const delta of batch) {
      if (delta.k === 'hello') this.answerHello();
      else this.applyLocal(delta);
    }
  }

  /** A new thread: everything this one owns, as deltas. */
  private answerHello(): void {
    for (const [key, buffer] of this.owned) {
      const view = this.systems.get(key);
      if (view === undefined) continue;
      this.publish({ k: 'system', key, system: view.system, node: view.node, incarnation: view.incarnation, buffer });
      for (const record of view.servers.values()) this.publish({ k: 'server', key, record });
      for (const reports of this.board.values()) {
        for (const report of reports) if (report.systemKey === key) this.publish({ k: 'report', report });
      }
    }
  }

  private applyLocal(delta: Delta): void {
    switch (delta.k) {
      case 'system': {
        if (this.lost.has(delta.incarnation)) return;
        // The same run again (a thread's answer to a hello) keeps its index; a new one with the same name replaces it.
        if (this.systems.get(delta.key)?.incarnation === delta.incarnation) return;
        this.systems.set(delta.key, { key: delta.key, system: delta.system, node: delta.node, incarnation: delta.incarnation, values: new Float64Array(delta.buffer), servers: new Map() });
        return;
      }
      case 'systemGone':
        this.forgetSystem(delta.key);
        return;
      case 'systemLost':
        this.rememberLost(delta.incarnation);
        if (this.systems.get(delta.key)?.incarnation === delta.incarnation) this.forgetSystem(delta.key);
        return;
      case 'server':
        this.systems.get(delta.key)?.servers.set(delta.record.name, delta.record);
        return;
      case 'serverGone':
        this.systems.get(delta.key)?.servers.delete(delta.name);
        return;
      case 'report': {
        // A report of a system this thread does not know is a dead thread's last word (its system came first otherwise).
        if (!this.systems.has(delta.report.systemKey)) return;
        const reports = this.board.get(delta.report.cluster);
        if (reports === undefined) {
          this.board.set(delta.report.cluster, [delta.report]);
          return;
        }
        const at = reports.findIndex((r) => sameReporter(r.reporter, delta.report.reporter));
        if (at >= 0) reports[at] = delta.report;
        else reports.push(delta.report);
        return;
      }
      case 'reportGone': {
        const reports = this.board.get(delta.cluster);
        if (reports === undefined) return;
        const kept = reports.filter((r) => !sameReporter(r.reporter, delta.reporter));
        if (kept.length === 0) this.board.delete(delta.cluster);
        else this.board.set(delta.cluster, kept);
        return;
      }
      case 'hello':
        return;
    }
  }

  private forgetSystem(key: string): void {
    this.systems.delete(key);
    for (const [cluster, reports] of this.board) {
      const kept = reports.filter((r) => r.systemKey !== key);
      if (kept.length === 0) this.board.delete(cluster);
      else if (kept.length < reports.length) this.board.set(cluster, kept);
    }
  }

  private rememberLost(incarnation: string): void {
    this.lost.add(incarnation);
    if (this.lost.size <= LOST_SYSTEMS_REMEMBERED_MAX) return;
    // A Set iterates in insertion order: the first is the oldest.
    for (const oldest of this.lost) {
      this.lost.delete(oldest);
      return;
    }
  }
}

let registry: MetricsRegistry | undefined;

/** This thread's registry, opened on first use (a module import would open it on threads that never read it). */
export function metricsRegistryOf(): MetricsRegistry {
  registry ??= new MetricsRegistry();
  return registry;
}

/** True if the slot still belongs to the server the record names. */
export function liveSlot(view: SystemView, record: ServerRecord): boolean {
  return view.values[slotBase(record.slot) + S.generation] === record.generation;
}

export type { MetricsRegistry };
