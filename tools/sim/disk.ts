// What a member's disk holds, apart from what its process sees: synced state only.
// Writes are FIFO: log batches and term/vote records reach the disk in the order they
// were issued, each some time later; a snapshot install flushes them and is synced at once. An overwrite (truncation) is just
// a later batch, so until it is synced a crash brings the overwritten suffix back, as a
// WAL replayed after power loss does. A term is thus never durable after an entry of
// that term. The member's own snapshots are written apart (see sim.ts) and saved here
// once done.

import { assert, type LogEntry, type PersistedState, type SnapshotMeta } from '@rafter/raft/core';

export type DiskWrite =
  | { readonly kind: 'entries'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'meta'; readonly state: PersistedState; readonly sync: boolean };

export interface DurableState {
  readonly entries: LogEntry[];
  readonly snapshot: { meta: SnapshotMeta; state: unknown } | undefined;
  readonly persisted: PersistedState;
}

export class SimDisk {
  /** Synced entries above `#base` (the synced snapshot's index). */
  #entries: LogEntry[] = [];
  #base = 0;
  #snapshot: { meta: SnapshotMeta; state: unknown } | undefined;
  #persisted: PersistedState = { term: 0, votedFor: undefined };
  /** Writes not yet reported done; `synced` ones are durable already (a flush). */
  #pending: { write: DiskWrite; synced: boolean }[] = [];

  /** The last synced index (the snapshot's if no entry is above it). */
  lastIndex(): number {
    return this.#base + this.#entries.length;
  }

  /** The synced entry at `index`, if any. */
  at(index: number): LogEntry | undefined {
    return index > this.#base ? this.#entries[index - this.#base - 1] : undefined;
  }

  /** The entry index/term is on the synced disk, or under its synced snapshot. */
  holds(index: number, term: number): boolean {
    return index <= this.#base || this.at(index)?.term === term;
  }

  persisted(): PersistedState {
    return this.#persisted;
  }

  write(write: DiskWrite): void {
    this.#pending.push({ write, synced: false });
  }

  hasPending(): boolean {
    return this.#pending.length > 0;
  }

  /** The oldest pending write is reported done (it reached the disk now, or at a flush). */
  complete(): DiskWrite {
    const pending = this.#pending.shift();
    assert(pending !== undefined, 'no pending write');
    if (!pending.synced) this.sync(pending.write);
    return pending.write;
  }

  /**
   * A snapshot from the leader is installed: everything written before it is flushed
   * first (its term may be newer than the stored one), then the log is replaced by the
   * snapshot, or only its prefix if `keepSuffix`. Durable before the core hears of it.
   */
  install(meta: SnapshotMeta, state: unknown, keepSuffix: boolean): void {
    for (const pending of this.#pending) {
      if (!pending.synced) this.sync(pending.write);
      pending.synced = true;
    }
    if (meta.index <= this.#base) return;
    if (keepSuffix) this.compactTo(meta.index);
    else this.resetTo(meta.index);
    this.#snapshot = { meta, state };
  }

  private sync(write: DiskWrite): void {
    if (write.kind === 'entries') this.completeEntries(write.entries);
    else this.#persisted = write.state;
  }

  /** The member's own snapshot is written: the log up to it is dropped. */
  saveSnapshot(meta: SnapshotMeta, state: unknown): void {
    if (meta.index <= this.#base) return; // an install overtook it
    this.compactTo(meta.index);
    this.#snapshot = { meta, state };
  }

  /** Power loss: writes in flight are lost; what is synced is what the process restarts with. */
  crash(): DurableState {
    this.#pending = [];
    return { entries: [...this.#entries], snapshot: this.#snapshot, persisted: this.#persisted };
  }

  private completeEntries(entries: readonly LogEntry[]): void {
    const fresh = entries.filter((entry) => entry.index > this.#base);
    const first = fresh[0];
    if (first === undefined) return;
    assert(first.index <= this.lastIndex() + 1, `write at ${first.index} leaves a gap after synced ${this.lastIndex()}`);
    this.#entries.length = first.index - this.#base - 1;
    for (const entry of fresh) this.#entries.push(entry);
  }

  private compactTo(index: number): void {
    if (index <= this.#base) return;
    this.#entries = this.#entries.slice(Math.min(index - this.#base, this.#entries.length));
    this.#base = index;
  }

  private resetTo(index: number): void {
    this.#entries = [];
    this.#base = index;
  }
}
