// The end of every simulated run: the cluster is deleted, and every member of the
// leader's configuration must apply the deletion at the same entry and then end.

import type { Invariants } from './invariants.js';
import { LIVENESS_BOUND_MS } from './options.js';

export class ClusterDeletion {
  private readonly eol = new Map<string, number>();
  private readonly deleted = new Set<string>();

  constructor(
    private readonly members: ReadonlySet<string>,
    private readonly atMs: number,
    private readonly invariants: Invariants,
  ) {}

  /** A member applied the deletion (stateEnter('eol')) at its applied index. */
  endOfLife(key: string, applied: number): void {
    this.eol.set(key, applied);
  }

  /** A member's core ended; it must have applied the deletion first. */
  memberDeleted(key: string): void {
    if (!this.eol.has(key)) return this.invariants.fail('cluster deletion', `${key} deleted before applying the deletion`);
    this.deleted.add(key);
  }

  /** True once every member ended, at one entry; a liveness violation once too long has passed. */
  done(nowMs: number): boolean {
    if ([...this.members].every((key) => this.deleted.has(key))) {
      if (new Set(this.eol.values()).size !== 1) this.invariants.fail('cluster deletion', `members applied the deletion at different indexes: ${JSON.stringify([...this.eol])}`);
      return true;
    }
    if (nowMs > this.atMs + LIVENESS_BOUND_MS) {
      const left = [...this.members].filter((key) => !this.deleted.has(key));
      this.invariants.fail('liveness', `cluster deletion not done within ${LIVENESS_BOUND_MS}ms: ${left.join(' ')} still running`);
    }
    return false;
  }
}
