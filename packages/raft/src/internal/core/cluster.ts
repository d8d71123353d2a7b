// Cluster configuration. As in the Raft thesis (4.1), a member uses the latest cluster
// entry in its log, committed or not; a truncated entry restores the one before it.

import { assert } from './assert.js';
import { CLUSTER_HISTORY_MAX, CLUSTER_MEMBERS_MAX } from './limits.js';
import type { Member, ServerId } from './log.js';

export function serverKey(id: ServerId): string {
  return `${id.name}@${id.node}`;
}

export function sameServer(a: ServerId | undefined, b: ServerId | undefined): boolean {
  return a !== undefined && b !== undefined && a.name === b.name && a.node === b.node;
}

export interface ClusterConfig {
  /** Index of the entry that set it (or of the snapshot holding it, or 0 at start). */
  readonly index: number;
  readonly members: readonly Member[];
}

export class ClusterHistory {
  // Oldest first; the first is at or below the commit index once anything committed.
  #configs: ClusterConfig[];

  constructor(initial: ClusterConfig) {
    assert(initial.members.length <= CLUSTER_MEMBERS_MAX, () => `cluster of ${initial.members.length} members`);
    this.#configs = [initial];
  }

  current(): ClusterConfig {
    const config = this.#configs[this.#configs.length - 1];
    assert(config !== undefined, 'cluster history is empty');
    return config;
  }

  /** The configuration in force at `index` (the latest set at or below it). */
  at(index: number): ClusterConfig {
    let found = this.#configs[0];
    for (const config of this.#configs) if (config.index <= index) found = config;
    assert(found !== undefined, () => `no cluster config at ${index}`);
    return found;
  }

  push(config: ClusterConfig): void {
    assert(config.index > this.current().index, () => `cluster config at ${config.index} not after ${this.current().index}`);
    assert(config.members.length <= CLUSTER_MEMBERS_MAX, () => `cluster of ${config.members.length} members`);
    // A leader appends a change only once its latest one committed, so every config but
    // the latest in a log is committed and never truncated; the oldest only serves at()
    // for a release cursor far behind (at() then answers with the oldest kept, as Ra
    // records the current cluster). This bounds the history while applying lags (a
    // restart before re-applying, a member waiting for an upgrade).
    if (this.#configs.length >= CLUSTER_HISTORY_MAX) this.#configs.shift();
    this.#configs.push(config);
  }

  /** The log was overwritten from `index`: configs set there or later are gone. */
  truncateFrom(index: number): void {
    while (this.#configs.length > 1 && this.current().index >= index) this.#configs.pop();
  }

  /** Drops configs no longer needed: all but the latest at or below `index`. */
  compactTo(index: number): void {
    while (this.#configs.length > 1 && (this.#configs[1]?.index ?? Infinity) <= index) this.#configs.shift();
  }

  /** A snapshot replaced the log: its members are the only history left. */
  reset(config: ClusterConfig): void {
    this.#configs = [config];
  }
}

export function findMember(members: readonly Member[], id: ServerId): Member | undefined {
  return members.find((member) => sameServer(member.id, id));
}

export function voters(members: readonly Member[]): Member[] {
  return members.filter((member) => member.membership === 'voter');
}

export function isVoter(members: readonly Member[], id: ServerId): boolean {
  return findMember(members, id)?.membership === 'voter';
}

export function quorumSize(votersCount: number): number {
  return Math.floor(votersCount / 2) + 1;
}

/** The highest index that a quorum of voters holds, given each voter's index. */
export function agreedIndex(indexes: readonly number[]): number {
  if (indexes.length === 0) return 0;
  const sorted = [...indexes].sort((a, b) => b - a);
  const agreed = sorted[quorumSize(indexes.length) - 1];
  assert(agreed !== undefined, () => `no quorum index among ${indexes.length} voters`);
  return agreed;
}

/** zraft_lib's peersChanged check: true if the members are exactly `expected`, in any order. */
export function membersAre(members: readonly Member[], expected: readonly ServerId[]): boolean {
  if (members.length !== expected.length) return false;
  return expected.every((id) => findMember(members, id) !== undefined) && members.every((m) => expected.some((id) => sameServer(id, m.id)));
}
