// The LogReader contract (internal/core/log.ts) as one suite that every log the core
// runs on must pass: the simulator's in-memory log and the durable ServerLog. The core
// is tested against the first, and ships on the second.
import { describe, expect, it } from 'vitest';
import type { EntryPayload, IndexTerm, LogEntry, LogReader, SnapshotMeta } from '../../src/internal/core/log.js';

/** A log under test, driven as a shell would drive it. */
export interface LogUnderTest {
  readonly reader: LogReader;
  append(entries: readonly LogEntry[]): void;
  /** Completes every write pending so far (the shell then feeds the core `written`). */
  writeAll(): Promise<void>;
  /** A snapshot at `meta` (never past lastWritten), truncating the log below it. */
  snapshot(meta: SnapshotMeta, state: unknown): Promise<void>;
  /** Installs a leader's snapshot. */
  install(meta: SnapshotMeta, state: unknown): Promise<void>;
  /** Moves written entries to long-term storage (segments), where the log has one. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const members = [{ id: { name: 's1', node: 'n1' }, membership: 'voter' as const }];

function meta(index: number, term: number): SnapshotMeta {
  return { index, term, members, machineVersion: 0 };
}

function payload(tag: string, index: number): EntryPayload {
  return { type: 'command', command: `${tag}${index}` };
}

function entries(from: number, to: number, term: number, tag = 'v'): LogEntry[] {
  return Array.from({ length: to - from + 1 }, (_, k) => ({ index: from + k, term, payload: payload(tag, from + k) }));
}

function indexTerms(list: readonly LogEntry[]): string[] {
  return list.map((e) => `${e.index}/${e.term}`);
}

export function describeLogReader(name: string, open: () => Promise<LogUnderTest>): void {
  const withLog = (fn: (log: LogUnderTest, r: LogReader) => Promise<void>) => async () => {
    const log = await open();
    try {
      await fn(log, log.reader);
    } finally {
      await log.close();
    }
  };
  const at = (r: LogReader): { last: IndexTerm; written: IndexTerm; first: number } => ({ last: r.last(), written: r.lastWritten(), first: r.first() });

  describe(`LogReader contract: ${name}`, () => {
    it('starts empty', withLog(async (_log, r) => {
      expect(at(r)).toEqual({ last: { index: 0, term: 0 }, written: { index: 0, term: 0 }, first: 1 });
      expect(r.snapshot()).toBeUndefined();
      expect(r.termAt(1)).toBeUndefined();
      expect(r.entries(1, 5)).toEqual([]);
    }));

    it('counts appended entries in last() at once and in lastWritten() once written', withLog(async (log, r) => {
      log.append(entries(1, 3, 1));
      log.append(entries(4, 5, 2));
      expect(r.last()).toEqual({ index: 5, term: 2 });
      expect(r.lastWritten()).toEqual({ index: 0, term: 0 });
      expect(indexTerms(r.entries(1, 5))).toEqual(['1/1', '2/1', '3/1', '4/2', '5/2']);
      expect(r.entries(2, 2)[0]?.payload).toEqual(payload('v', 2));
      await log.writeAll();
      expect(r.lastWritten()).toEqual({ index: 5, term: 2 });
      expect([1, 3, 4, 5, 6].map((i) => r.termAt(i))).toEqual([1, 1, 2, 2, undefined]);
    }));

    it('reads an inclusive range, cut at the last entry', withLog(async (log, r) => {
      log.append(entries(1, 10, 1));
      await log.writeAll();
      expect(indexTerms(r.entries(8, 20))).toEqual(['8/1', '9/1', '10/1']);
      expect(r.entries(11, 20)).toEqual([]);
    }));

    it('overwrites a written suffix: lastWritten falls before it until the new entries are written', withLog(async (log, r) => {
      log.append(entries(1, 5, 1));
      await log.writeAll();
      log.append(entries(4, 6, 2, 'w'));
      expect(r.last()).toEqual({ index: 6, term: 2 });
      expect(r.lastWritten().index).toBeLessThanOrEqual(3);
      const written = r.lastWritten();
      if (written.index > 0) expect(written.term).toBe(r.termAt(written.index));
      expect(r.entries(4, 6).map((e) => e.payload)).toEqual([payload('w', 4), payload('w', 5), payload('w', 6)]);
      await log.writeAll();
      expect(r.lastWritten()).toEqual({ index: 6, term: 2 });
    }));

    it('does not count a write of entries overwritten before it completed', withLog(async (log, r) => {
      log.append(entries(1, 5, 1));
      log.append(entries(3, 4, 2, 'w'));
      await log.writeAll();
      expect(r.last()).toEqual({ index: 4, term: 2 });
      expect(r.lastWritten()).toEqual({ index: 4, term: 2 });
      expect(r.termAt(5)).toBeUndefined();
      expect(indexTerms(r.entries(1, 5))).toEqual(['1/1', '2/1', '3/2', '4/2']);
    }));

    it('after a snapshot, reads from the entry after it and answers termAt for its index only', withLog(async (log, r) => {
      log.append(entries(1, 10, 1));
      await log.writeAll();
      await log.snapshot(meta(6, 1), 'state');
      expect(r.snapshot()).toEqual(meta(6, 1));
      expect(at(r)).toEqual({ last: { index: 10, term: 1 }, written: { index: 10, term: 1 }, first: 7 });
      expect(r.termAt(6)).toBe(1);
      expect(r.termAt(5)).toBeUndefined();
      expect(indexTerms(r.entries(7, 10))).toEqual(['7/1', '8/1', '9/1', '10/1']);
      expect(() => r.entries(5, 10)).toThrow();
      log.append(entries(11, 12, 2));
      await log.writeAll();
      expect(r.lastWritten()).toEqual({ index: 12, term: 2 });
    }));

    it('installing a snapshot the log agrees with keeps the entries after it', withLog(async (log, r) => {
      log.append(entries(1, 10, 1));
      await log.writeAll();
      await log.install(meta(8, 1), 'state');
      expect(r.snapshot()).toEqual(meta(8, 1));
      expect(at(r)).toEqual({ last: { index: 10, term: 1 }, written: { index: 10, term: 1 }, first: 9 });
      expect(indexTerms(r.entries(9, 10))).toEqual(['9/1', '10/1']);
    }));

    it('installing a snapshot the log disagrees with resets the log to it', withLog(async (log, r) => {
      log.append(entries(1, 5, 1));
      await log.writeAll();
      log.append(entries(6, 8, 2)); // not written when the snapshot arrives
      await log.install(meta(10, 3), 'state');
      expect(at(r)).toEqual({ last: { index: 10, term: 3 }, written: { index: 10, term: 3 }, first: 11 });
      expect(r.termAt(10)).toBe(3);
      expect(r.termAt(7)).toBeUndefined();
      expect(r.entries(11, 20)).toEqual([]);
      log.append(entries(11, 12, 3));
      await log.writeAll();
      expect(r.lastWritten()).toEqual({ index: 12, term: 3 });
      expect(indexTerms(r.entries(11, 12))).toEqual(['11/3', '12/3']);
    }));

    it('installing a disagreeing snapshot below the written index brings lastWritten down to it', withLog(async (log, r) => {
      log.append(entries(1, 10, 1));
      await log.writeAll();
      await log.install(meta(8, 2), 'state');
      expect(at(r)).toEqual({ last: { index: 8, term: 2 }, written: { index: 8, term: 2 }, first: 9 });
      // Entries appended after it are written only once their write completes.
      log.append(entries(9, 9, 2));
      expect(r.lastWritten()).toEqual({ index: 8, term: 2 });
      await log.writeAll();
      expect(r.lastWritten()).toEqual({ index: 9, term: 2 });
    }));

    it('reads the same entries once they have moved to long-term storage', withLog(async (log, r) => {
      log.append(entries(1, 150, 1));
      log.append(entries(151, 300, 2));
      await log.writeAll();
      await log.settle();
      expect(at(r)).toEqual({ last: { index: 300, term: 2 }, written: { index: 300, term: 2 }, first: 1 });
      const all = r.entries(1, 300);
      expect(all).toHaveLength(300);
      expect(all.every((e, k) => e.index === k + 1 && e.term === (k < 150 ? 1 : 2))).toBe(true);
      expect(all[199]?.payload).toEqual(payload('v', 200));
      expect([1, 150, 151, 300, 301].map((i) => r.termAt(i))).toEqual([1, 1, 2, 2, undefined]);
      // An overwrite reaching into long-term storage.
      log.append(entries(100, 120, 3, 'w'));
      expect(r.last()).toEqual({ index: 120, term: 3 });
      expect(r.lastWritten().index).toBeLessThanOrEqual(99);
      await log.writeAll();
      await log.settle();
      expect(r.lastWritten()).toEqual({ index: 120, term: 3 });
      expect(indexTerms(r.entries(98, 101))).toEqual(['98/1', '99/1', '100/3', '101/3']);
      expect(r.termAt(121)).toBeUndefined();
    }));
  });
}
