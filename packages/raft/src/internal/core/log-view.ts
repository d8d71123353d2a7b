// The log as the core sees it during one step: the shell's LogReader plus the entries
// this step has appended. The shell performs the append effect before the next event,
// so the overlay is emptied at the end of every step.

import { assert } from './assert.js';
import { STEP_APPEND_ENTRIES_MAX } from './limits.js';
import type { IndexTerm, LogEntry, LogReader, SnapshotMeta } from './log.js';

export class LogView {
  #pending: LogEntry[] = [];

  constructor(readonly reader: LogReader) {}

  /** Entries appended in this step, to hand to the shell as one effect. */
  takePending(): LogEntry[] {
    const pending = this.#pending;
    this.#pending = [];
    return pending;
  }

  hasPending(): boolean {
    return this.#pending.length > 0;
  }

  /** Appends (or overwrites from) `entries[0].index`, which must be at most last()+1. */
  append(entries: readonly LogEntry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index <= this.last().index + 1, () => `append at ${first.index} leaves a gap after ${this.last().index}`);
    assert(first.index > this.snapshotIndex(), () => `append at ${first.index} is at or below the snapshot`);
    const pendingFirst = this.#pending[0];
    if (pendingFirst !== undefined && first.index < pendingFirst.index) {
      // Overwriting below this step's own appends: keep only what precedes the new start.
      this.#pending = [];
    } else if (pendingFirst !== undefined) {
      this.#pending.length = first.index - pendingFirst.index;
    }
    for (const entry of entries) this.#pending.push(entry);
    assert(this.#pending.length <= STEP_APPEND_ENTRIES_MAX, () => `step appended ${this.#pending.length} entries`);
  }

  first(): number {
    return this.reader.first();
  }

  snapshotIndex(): number {
    return this.reader.snapshot()?.index ?? 0;
  }

  snapshot(): SnapshotMeta | undefined {
    return this.reader.snapshot();
  }

  last(): IndexTerm {
    // Reading index -1 of an empty array leaves V8's fast path: check the length first.
    const count = this.#pending.length;
    if (count === 0) return this.reader.last();
    const tail = this.#pending[count - 1]!;
    return { index: tail.index, term: tail.term };
  }

  lastWritten(): IndexTerm {
    const written = this.reader.lastWritten();
    const start = this.#pending[0]?.index;
    if (start === undefined || written.index < start) return written;
    // This step overwrites part of what was written: only the prefix before it stays.
    const index = start - 1;
    return { index, term: this.termAt(index) ?? 0 };
  }

  termAt(index: number): number | undefined {
    const start = this.#pending[0]?.index;
    if (start !== undefined && index >= start) return this.#pending[index - start]?.term;
    if (index === 0) return 0;
    return this.reader.termAt(index);
  }

  entries(from: number, to: number): readonly LogEntry[] {
    if (to < from) return [];
    const start = this.#pending[0]?.index;
    if (start === undefined || to < start) return this.reader.entries(from, to);
    const own = this.#pending.slice(Math.max(from, start) - start, to - start + 1);
    if (from >= start) return own;
    return [...this.reader.entries(from, start - 1), ...own];
  }
}
