// The simulator's log and disk for one member. Entries are written in FIFO batches that
// complete later; a crash keeps only written entries, the persisted term/vote and the
// snapshot. Implements the core's LogReader.

import { assert, type IndexTerm, type LogEntry, type LogReader, type PersistedState, type SnapshotMeta } from '@rafter/raft';

export class SimLog implements LogReader {
  #entries: LogEntry[] = [];
  #snapshot: SnapshotMeta | undefined;
  #snapshotState: unknown;
  #written = 0;
  #pendingWrites: { to: number }[] = [];
  persisted: PersistedState = { term: 0, votedFor: undefined };
  /** The applied index the member last reported; kept across crashes like Ra's meta store. */
  lastApplied = 0;

  first(): number {
    return (this.#snapshot?.index ?? 0) + 1;
  }

  last(): IndexTerm {
    const tail = this.#entries[this.#entries.length - 1];
    if (tail !== undefined) return { index: tail.index, term: tail.term };
    return { index: this.#snapshot?.index ?? 0, term: this.#snapshot?.term ?? 0 };
  }

  lastWritten(): IndexTerm {
    return { index: this.#written, term: this.termAt(this.#written) ?? 0 };
  }

  termAt(index: number): number | undefined {
    const snap = this.#snapshot;
    if (snap !== undefined && index === snap.index) return snap.term;
    if (index === 0 && snap === undefined) return 0;
    if (index < this.first()) return undefined;
    return this.#entries[index - this.first()]?.term;
  }

  entries(from: number, to: number): readonly LogEntry[] {
    assert(from >= this.first(), `read from ${from} below first ${this.first()}`);
    return this.#entries.slice(from - this.first(), to - this.first() + 1);
  }

  snapshot(): SnapshotMeta | undefined {
    return this.#snapshot;
  }

  snapshotState(): unknown {
    return this.#snapshotState;
  }

  /** Appends in memory and queues a write; returns false if nothing was appended. */
  append(entries: readonly LogEntry[]): void {
    const first = entries[0];
    assert(first !== undefined, 'empty append');
    assert(first.index <= this.last().index + 1, `append at ${first.index} after ${this.last().index}`);
    assert(first.index >= this.first(), `append at ${first.index} below first ${this.first()}`);
    if (first.index <= this.last().index) this.truncateFrom(first.index);
    for (const entry of entries) this.#entries.push(entry);
    this.#pendingWrites.push({ to: this.last().index });
  }

  private truncateFrom(index: number): void {
    this.#entries.length = index - this.first();
    this.#written = Math.min(this.#written, index - 1);
    for (const write of this.#pendingWrites) write.to = Math.min(write.to, index - 1);
  }

  /** The oldest pending write reached the disk. */
  completeWrite(): IndexTerm {
    const write = this.#pendingWrites.shift();
    assert(write !== undefined, 'no pending write');
    this.#written = Math.max(this.#written, write.to);
    return this.lastWritten();
  }

  hasPendingWrites(): boolean {
    return this.#pendingWrites.length > 0;
  }

  /** Snapshots are written and synced at once in the simulator. */
  takeSnapshot(meta: SnapshotMeta, state: unknown): void {
    assert(meta.index <= this.#written, `snapshot at ${meta.index} past written ${this.#written}`);
    assert(this.termAt(meta.index) === meta.term, `snapshot term ${meta.term} differs from the log at ${meta.index}`);
    this.#entries = this.#entries.slice(meta.index - this.first() + 1);
    this.#snapshot = meta;
    this.#snapshotState = state;
  }

  /** Raft 7: keep the suffix only if the log agrees with the snapshot's last entry. */
  installSnapshot(meta: SnapshotMeta, state: unknown): void {
    if (this.termAt(meta.index) === meta.term && meta.index <= this.last().index) {
      this.#entries = this.#entries.slice(meta.index - this.first() + 1);
    } else {
      this.#entries = [];
      for (const write of this.#pendingWrites) write.to = Math.min(write.to, meta.index);
    }
    this.#written = Math.max(this.#written, meta.index);
    this.#snapshot = meta;
    this.#snapshotState = state;
  }

  /** Power loss: unwritten entries and pending writes are gone. */
  crash(): void {
    this.#entries.length = Math.max(0, this.#written - this.first() + 1);
    this.#pendingWrites = [];
  }
}
