// One server's entries that are not yet in segment files: appended here when sent to
// the WAL, readable by the core, dropped once the segment writer reports them flushed.
import type { LogEntry } from '../core/log.js';
import { assert } from './errors.js';

export interface MemEntry {
  readonly index: number;
  readonly term: number;
  /** The encoded payload, as written to the WAL and later to a segment. */
  readonly bytes: Uint8Array;
  /** Decoded on first read: entries replayed from the WAL are mostly flushed unread. */
  entry: LogEntry | undefined;
}

export class MemTable {
  private items: MemEntry[] = [];
  private start = 0;
  /** Index of items[start]; meaningful when not empty. */
  private firstIndex = 0;

  size(): number {
    return this.items.length - this.start;
  }

  first(): number | undefined {
    return this.size() > 0 ? this.firstIndex : undefined;
  }

  last(): number | undefined {
    return this.size() > 0 ? this.firstIndex + this.size() - 1 : undefined;
  }

  get(index: number): MemEntry | undefined {
    if (this.size() === 0 || index < this.firstIndex) return undefined;
    return this.items[this.start + index - this.firstIndex];
  }

  /** The entries from..to, both held here. */
  slice(from: number, to: number): MemEntry[] {
    assert(this.size() > 0 && from >= this.firstIndex && to <= (this.last() as number) && from <= to, `memtable slice ${from}..${to}`);
    return this.items.slice(this.start + from - this.firstIndex, this.start + to - this.firstIndex + 1);
  }

  /** Appends at last + 1, or at any index at or below last (dropping what follows). */
  append(item: MemEntry): void {
    const index = item.index;
    const last = this.last();
    if (last === undefined) {
      this.items = [item];
      this.start = 0;
      this.firstIndex = index;
      return;
    }
    if (index <= last) this.truncateFrom(index);
    if (this.size() === 0) {
      this.items = [item];
      this.start = 0;
      this.firstIndex = index;
      return;
    }
    assert(index === this.firstIndex + this.size(), `memtable append at ${index}, last ${this.last()}`);
    this.items.push(item);
  }

  /** Drops entries at and above `index`. */
  truncateFrom(index: number): void {
    if (this.size() === 0) return;
    if (index <= this.firstIndex) {
      this.clear();
      return;
    }
    const keep = index - this.firstIndex;
    if (keep < this.size()) this.items.length = this.start + keep;
  }

  /** Drops entries at and below `index` (flushed to segments or covered by a snapshot). */
  dropUpTo(index: number): void {
    if (this.size() === 0 || index < this.firstIndex) return;
    const last = this.last() as number;
    if (index >= last) {
      this.clear();
      return;
    }
    this.start += index - this.firstIndex + 1;
    this.firstIndex = index + 1;
    // Reclaim the dropped prefix once it is most of the array.
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }

  clear(): void {
    this.items = [];
    this.start = 0;
    this.firstIndex = 0;
  }
}
