// What a member's disk holds, apart from what its process sees: synced state only.
// Writes are FIFO: log batches, term/vote records and snapshot installs reach the disk
// in the order they were issued, each some time later. An overwrite (truncation) is just
// a later batch, so until it is synced a crash brings the overwritten suffix back, as a
// WAL replayed after power loss does. A term is thus never durable after an entry of
// that term. The member's own snapshots are written apart (see sim.ts) and saved here
// once done.

import { assert, type LogEntry, type PersistedState, type SnapshotMeta } from '@rafter/raft';

export type DiskWrite =
  | { readonly kind: 'entries'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'meta'; readonly state: PersistedState; readonly sync: boolean }
  /** A snapshot received from the leader replaces the log, or its prefix if `keepSuffix`. */
  | { readonly kind: 'install'; readonly meta: SnapshotMeta; readonly state: unknown; readonly keepSuffix: boolean };

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
  #pending: DiskWrite[] = [];

  /** The last synced index (the snapshot's if no entry is above it). */
  lastIndex(): number {
    return this.#base + this.#entries.length;
  }

  /** The synced entry at `index`, if any. */
  at(index: number): LogEntry | undefined {
    return index > this.#base ? this.#entries[index - this.#base - 1] : undefined;
  }

  persisted(): PersistedState {
    return this.#persisted;
  }

  write(write: DiskWrite): void {
    this.#pending.push(write);
  }

  hasPending(): boolean {
    return this.#pending.length > 0;
  }

  /** The oldest pending write reaches the disk. */
  complete(): DiskWrite {
    const write = this.#pending.shift();
    assert(write !== undefined, 'no pending write');
    switch (write.kind) {
      case 'entries':
        this.completeEntries(write.entries);
        break;
      case 'meta':
        this.#persisted = write.state;
        break;
      case 'install':
        if (write.meta.index <= this.#base) break; // a later snapshot is saved already
        if (write.keepSuffix) this.compactTo(write.meta.index);
        else this.resetTo(write.meta.index);
        this.#snapshot = { meta: write.meta, state: write.state };
        break;
    }
    return write;
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
