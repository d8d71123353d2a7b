// The simulator's log for one member: what its process sees, over a SimDisk that holds
// what is synced. Entries and term/vote records are written in FIFO order and complete
// later; a crash keeps only what is synced (an unsynced overwrite is undone, an unsynced
// vote is lost). A snapshot install flushes the disk. Implements the core's LogReader.

import { assert, type IndexTerm, type LogEntry, type LogReader, type PersistedState, type SnapshotMeta } from '@rafter/raft/core';
import { SimDisk, type DiskWrite } from './disk.js';

export class SimLog implements LogReader {
  #entries: LogEntry[] = [];
  #snapshot: SnapshotMeta | undefined;
  #snapshotState: unknown;
  /** Synced and equal to what the process sees, up to here. */
  #written = 0;
  readonly #disk = new SimDisk();
  /** The applied index the member last reported; kept across crashes like Ra's meta store. */
  lastApplied = 0;

  /** The term and vote a restart finds. */
  get persisted(): PersistedState {
    return this.#disk.persisted();
  }

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

  /** Appends in memory and queues a write. */
  append(entries: readonly LogEntry[]): void {
    const first = entries[0];
    assert(first !== undefined, 'empty append');
    assert(first.index <= this.last().index + 1, `append at ${first.index} after ${this.last().index}`);
    assert(first.index >= this.first(), `append at ${first.index} below first ${this.first()}`);
    if (first.index <= this.last().index) this.truncateFrom(first.index);
    for (const entry of entries) this.#entries.push(entry);
    this.#disk.write({ kind: 'entries', entries });
  }

  /** Queues a term/vote record; `sync` ones are reported once durable. */
  persist(state: PersistedState, sync: boolean): void {
    this.#disk.write({ kind: 'meta', state, sync });
  }

  /** The process drops the suffix at once; the disk keeps it until the overwrite is synced. */
  private truncateFrom(index: number): void {
    this.#entries.length = index - this.first();
    this.#written = Math.min(this.#written, index - 1);
  }

  /** The entry index/term survives a crash now (synced, or under the synced snapshot). */
  holdsDurably(index: number, term: number): boolean {
    return this.#disk.holds(index, term);
  }

  /** The oldest pending write reached the disk. */
  completeWrite(): { write: DiskWrite; written: IndexTerm } {
    const write = this.#disk.complete();
    this.advanceWritten();
    return { write, written: this.lastWritten() };
  }

  /** Written grows over synced entries that are the very ones the process holds. */
  private advanceWritten(): void {
    const last = Math.min(this.#disk.lastIndex(), this.last().index);
    while (this.#written < last) {
      const next = this.#written + 1;
      const ours = this.#entries[next - this.first()];
      if (ours === undefined || this.#disk.at(next) !== ours) break;
      this.#written = next;
    }
  }

  hasPendingWrites(): boolean {
    return this.#disk.hasPending();
  }

  /**
   * The member's own snapshot is written (its write started earlier, see sim.ts): the
   * log up to it goes. One that a snapshot from the leader overtook changes nothing.
   */
  takeSnapshot(meta: SnapshotMeta, state: unknown): void {
    this.#disk.saveSnapshot(meta, state);
    if (meta.index <= (this.#snapshot?.index ?? 0)) return;
    assert(meta.index <= this.#written, `snapshot at ${meta.index} past written ${this.#written}`);
    assert(this.termAt(meta.index) === meta.term, `snapshot term ${meta.term} differs from the log at ${meta.index}`);
    this.#entries = this.#entries.slice(meta.index - this.first() + 1);
    this.#snapshot = meta;
    this.#snapshotState = state;
  }

  /** Raft 7: keep the suffix only if the log agrees with the snapshot's last entry. */
  installSnapshot(meta: SnapshotMeta, state: unknown): void {
    const keepSuffix = this.termAt(meta.index) === meta.term && meta.index <= this.last().index;
    this.#entries = keepSuffix ? this.#entries.slice(meta.index - this.first() + 1) : [];
    this.#disk.install(meta, state, keepSuffix);
    this.#written = keepSuffix ? Math.max(this.#written, meta.index) : meta.index;
    this.#snapshot = meta;
    this.#snapshotState = state;
    this.advanceWritten();
  }

  /**
   * Power loss: the process restarts with what is synced, overwritten suffixes included.
   * Returns how many entries came back that the process had overwritten.
   */
  crash(): number {
    const seen = this.#entries;
    const seenFirst = this.first();
    const durable = this.#disk.crash();
    this.#snapshot = durable.snapshot?.meta;
    this.#snapshotState = durable.snapshot?.state;
    this.#entries = durable.entries;
    this.#written = this.last().index;
    let undone = 0;
    for (const entry of this.#entries) {
      const had = seen[entry.index - seenFirst];
      if (had !== undefined && had !== entry) undone += 1;
    }
    return undone;
  }
}
