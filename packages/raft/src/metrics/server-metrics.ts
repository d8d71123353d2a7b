// One server's counters in its system's shared buffer, and its line in the leaderboard.
// The server actor calls these on its own thread; each is a few typed-array stores, so
// the command path pays no allocation and no message for them.

import { sameServer } from '../internal/core/cluster.js';
import type { ClusterConfig } from '../internal/core/cluster.js';
import type { ServerId } from '../internal/core/log.js';
import type { Role } from '../internal/core/types.js';
import { roleCode, S } from './layout.js';
import { metricsRegistryOf } from './registry.js';

/** What the server's state offers at the end of a turn. */
export interface TurnState {
  readonly currentTerm: number;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly cluster: { current(): ClusterConfig };
}

export class ServerMetrics {
  private leader: ServerId | undefined;
  private role: Role | 'stopped' = 'recover';
  private reportedConfig: ClusterConfig | undefined;
  /** The first command batch not yet committed: its last index and when it was taken (ms). */
  private awaitingCommitIndex = 0;
  private awaitingCommitSinceMs = 0;

  constructor(
    private readonly systemKey: string,
    readonly id: ServerId,
    readonly cluster: string,
    /** The system's buffer; the server's fields start at `base`. */
    readonly values: Float64Array,
    readonly base: number,
  ) {}

  /** Commands taken into one step; `lastIndex` is the log's last index after it. */
  commands(count: number, lastIndex: number, nowMs: number): void {
    this.values[this.base + S.commands]! += count;
    if (this.awaitingCommitIndex === 0 && lastIndex > 0) {
      this.awaitingCommitIndex = lastIndex;
      this.awaitingCommitSinceMs = nowMs;
    }
  }

  messageSent(): void {
    this.values[this.base + S.messagesSent]! += 1;
  }

  messageReceived(): void {
    this.values[this.base + S.messagesReceived]! += 1;
  }

  appendHeld(): void {
    this.values[this.base + S.appendsHeld]! += 1;
  }

  entriesWritten(count: number, lastWritten: number): void {
    if (count > 0) this.values[this.base + S.entriesWritten]! += count;
    this.values[this.base + S.lastWritten] = lastWritten;
  }

  snapshotWritten(index: number): void {
    this.values[this.base + S.snapshotsWritten]! += 1;
    this.values[this.base + S.snapshotIndex] = index;
  }

  snapshotInstalled(index: number): void {
    this.values[this.base + S.snapshotsInstalled]! += 1;
    this.values[this.base + S.snapshotIndex] = index;
  }

  /** A role change from the core: elections, pre-votes, leader changes and the leaderboard. */
  roleChanged(role: Role | 'stopped', term: number, leader: ServerId | undefined, config: ClusterConfig | undefined): void {
    if (role !== this.role) {
      if (role === 'candidate') this.values[this.base + S.elections]! += 1;
      else if (role === 'pre_vote') this.values[this.base + S.preVotes]! += 1;
      this.role = role;
      this.values[this.base + S.role] = roleCode(role);
      // The commit of a batch taken as leader may never come now.
      if (role !== 'leader') this.awaitingCommitIndex = 0;
    }
    this.values[this.base + S.term] = term;
    const leaderChanged = leader === undefined ? this.leader !== undefined : this.leader === undefined || !sameServer(leader, this.leader);
    if (leaderChanged && leader !== undefined) this.values[this.base + S.leaderChanges]! += 1;
    if (leaderChanged || (config !== undefined && config !== this.reportedConfig)) {
      this.leader = leader;
      this.report(term, config);
    }
  }

  /** The end of a turn: gauges, the commit latency, and a membership change for the leaderboard. */
  endTurn(state: TurnState, lastIndex: number, nowMs: number): void {
    const v = this.values;
    const b = this.base;
    v[b + S.term] = state.currentTerm;
    v[b + S.commitIndex] = state.commitIndex;
    v[b + S.lastApplied] = state.lastApplied;
    v[b + S.lastIndex] = lastIndex;
    if (this.awaitingCommitIndex > 0 && state.commitIndex >= this.awaitingCommitIndex) {
      v[b + S.commitLatencyMs] = nowMs - this.awaitingCommitSinceMs;
      this.awaitingCommitIndex = 0;
    }
    const config = state.cluster.current();
    if (config !== this.reportedConfig) this.report(state.currentTerm, config);
  }

  /** The server stopped: the slot keeps its counters and says stopped; the leaderboard drops what it knew. */
  stopped(): void {
    this.values[this.base + S.role] = roleCode('stopped');
    this.role = 'stopped';
    this.leader = undefined;
    this.reportedConfig = undefined;
    const registry = metricsRegistryOf();
    registry.setProbe(this.systemKey, this.id.name, undefined);
    registry.removeReport(this.cluster, this.id);
  }

  /** How any thread's overview gets the machine's own overview of this server, on this thread only. */
  setMachineOverview(probe: (() => unknown) | undefined): void {
    metricsRegistryOf().setProbe(this.systemKey, this.id.name, probe);
  }

  private report(term: number, config: ClusterConfig | undefined): void {
    if (config !== undefined) this.reportedConfig = config;
    const members = this.reportedConfig?.members.map((m) => m.id) ?? [];
    metricsRegistryOf().report({ cluster: this.cluster, reporter: this.id, systemKey: this.systemKey, leader: this.leader, members, term });
  }
}
