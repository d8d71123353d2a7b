// What a member's disk holds, apart from what its process sees: synced entries only.
// Writes are FIFO batches that reach the disk later; an overwrite (truncation) is just a
// later batch, so until it is synced a crash brings the overwritten suffix back, as a
// WAL replayed after power loss does.

import { assert, type LogEntry } from '@rafter/raft';

interface Batch {
  entries: readonly LogEntry[];
}

export class SimDisk {
  /** Synced entries above `#base` (the synced snapshot's index). */
  #entries: LogEntry[] = [];
  #base = 0;
  #pending: Batch[] = [];

  /** The last synced index (the snapshot's if no entry is above it). */
  lastIndex(): number {
    return this.#base + this.#entries.length;
  }

  /** The synced entry at `index`, if any. */
  at(index: number): LogEntry | undefined {
    return index > this.#base ? this.#entries[index - this.#base - 1] : undefined;
  }

  write(entries: readonly LogEntry[]): void {
    this.#pending.push({ entries });
  }

  hasPending(): boolean {
    return this.#pending.length > 0;
  }

  /** The oldest pending batch reaches the disk, overwriting from its first index. */
  complete(): void {
    const batch = this.#pending.shift();
    assert(batch !== undefined, 'no pending write');
    const fresh = batch.entries.filter((entry) => entry.index > this.#base);
    const first = fresh[0];
    if (first === undefined) return;
    assert(first.index <= this.lastIndex() + 1, `write at ${first.index} leaves a gap after synced ${this.lastIndex()}`);
    this.#entries.length = first.index - this.#base - 1;
    for (const entry of fresh) this.#entries.push(entry);
  }

  /** A snapshot at `index` is synced: entries up to it are gone from the disk. */
  compactTo(index: number): void {
    if (index <= this.#base) return;
    this.#entries = this.#entries.slice(Math.min(index - this.#base, this.#entries.length));
    this.#base = index;
  }

  /** A snapshot replaced the whole log: synced entries and writes in flight are void. */
  reset(index: number): void {
    this.#entries = [];
    this.#base = index;
    for (const batch of this.#pending) batch.entries = [];
  }

  /** Power loss: writes in flight are lost; what is synced is what the process restarts with. */
  crash(): LogEntry[] {
    this.#pending = [];
    return [...this.#entries];
  }
}
