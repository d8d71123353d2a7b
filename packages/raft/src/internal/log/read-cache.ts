// Entries a server's log read ahead from its segments (ServerLog.prefetch), kept decoded
// so the core's synchronous reads that follow touch no file. One consecutive window,
// at most READ_CACHE_ENTRIES_MAX entries (the prefetch cuts it).
import type { LogEntry } from '../core/log.js';

export class ReadCache {
  private from = 0;
  private entries: LogEntry[] = [];

  /** Replaces the window with `entries` (consecutive, from `from`). */
  set(from: number, entries: LogEntry[]): void {
    this.from = from;
    this.entries = entries;
  }

  /** Pushes the cached entries from..to onto `out` while they last; returns the first index not served. */
  take(from: number, to: number, out: LogEntry[]): number {
    if (from < this.from) return from;
    let i = from;
    for (; i <= to; i++) {
      const e = this.entries[i - this.from];
      if (e === undefined) break;
      out.push(e);
    }
    return i;
  }

  /** Entries at and above `index` changed: keep only what is below. */
  cutFrom(index: number): void {
    if (index <= this.from) this.clear();
    else if (index - this.from < this.entries.length) this.entries.length = index - this.from;
  }

  clear(): void {
    this.entries = [];
  }
}
