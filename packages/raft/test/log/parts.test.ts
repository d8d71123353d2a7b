// Unit tests of the memory table, segment files, snapshot files and the meta store.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogCorruptionError } from '../../src/internal/log/errors.js';
import { NodeFs, safeFileName, unsafeFileName } from '../../src/internal/log/fs.js';
import { MemTable } from '../../src/internal/log/memtable.js';
import { MetaStore } from '../../src/internal/log/meta.js';
import { SegmentStore, flushBatchOf, runSegmentFlush } from '../../src/internal/log/segments.js';
import { SnapshotStore, shouldSnapshot } from '../../src/internal/log/snapshot.js';
import { tempDir } from './helpers.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());
const fs = new NodeFs();

function flushEntries(from: number, to: number, term = 1, tag = 'p') {
  return flushBatchOf(from, Array.from({ length: to - from + 1 }, (_, k) => ({ term, bytes: Buffer.from(`${tag}${from + k}`) })));
}

describe('MemTable', () => {
  it('appends, overwrites, drops a flushed prefix', () => {
    const m = new MemTable();
    const put = (i: number, t = 1) => m.append({ index: i, term: t, bytes: Buffer.alloc(0), entry: undefined });
    for (let i = 5; i <= 10; i++) put(i);
    expect([m.first(), m.last()]).toEqual([5, 10]);
    put(8, 2);
    expect(m.last()).toBe(8);
    expect(m.get(8)?.term).toBe(2);
    m.dropUpTo(6);
    expect([m.first(), m.last(), m.size()]).toEqual([7, 8, 2]);
    put(3, 3);
    expect([m.first(), m.last()]).toEqual([3, 3]);
    m.dropUpTo(3);
    expect(m.size()).toBe(0);
  });
});

describe('file names', () => {
  it('round-trips any uid through a safe name', () => {
    for (const id of ['plain_id-1', 'a.b', 'ü/ñ', '.2e', '%%']) {
      expect(safeFileName(id)).toMatch(/^[A-Za-z0-9_.-]+$/);
      expect(unsafeFileName(safeFileName(id))).toBe(id);
    }
  });
});

describe('flushBatchOf', () => {
  it('lays out terms, ends and payloads, whether entries share a buffer end to end or not', () => {
    const shared = Buffer.from('aabbbcdddd');
    const entries = [
      { term: 1, bytes: shared.subarray(0, 2) },
      { term: 1, bytes: shared.subarray(2, 5) },
      { term: 2, bytes: shared.subarray(6, 10) }, // a gap: a run ends
      { term: 2, bytes: Buffer.from('other') },
      { term: 3, bytes: shared.subarray(5, 6) },
      { term: 3, bytes: new Uint8Array(0) },
    ];
    const batch = flushBatchOf(41, entries);
    expect(batch.firstIndex).toBe(41);
    expect([...batch.terms]).toEqual([1, 1, 2, 2, 3, 3]);
    expect([...batch.ends]).toEqual([2, 5, 9, 14, 15, 15]);
    expect(Buffer.from(batch.data).toString()).toBe('aabbbddddotherc');
    expect(batch.data.buffer).not.toBe(shared.buffer);
  });
});

describe('segments', () => {
  it('flushes across segment boundaries, reads back and recovers with verification', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const store = await SegmentStore.recover(t.dir, fs);
    const task = store.planFlush(flushEntries(1, 25), 10, 1 << 20);
    store.applyFlush(task, await runSegmentFlush(task, fs));
    expect(store.count()).toBe(3);
    expect([store.first(), store.last()]).toEqual([1, 25]);
    const t2 = store.planFlush(flushEntries(26, 28), 10, 1 << 20);
    store.applyFlush(t2, await runSegmentFlush(t2, fs));
    expect(store.count()).toBe(3); // appended into the open segment
    expect(store.read(9, 12).map((e) => e.bytes.toString())).toEqual(['p9', 'p10', 'p11', 'p12']);
    const again = await SegmentStore.recover(t.dir, fs);
    expect([again.first(), again.last(), again.termAt(28)]).toEqual([1, 28, 1]);
  });

  it('cuts segments back when entries overwrite flushed ones', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const store = await SegmentStore.recover(t.dir, fs);
    const a = store.planFlush(flushEntries(1, 30), 10, 1 << 20);
    store.applyFlush(a, await runSegmentFlush(a, fs));
    const b = store.planFlush(flushEntries(15, 17, 2, 'n'), 10, 1 << 20);
    expect(b.deletePaths).toHaveLength(1);
    store.applyFlush(b, await runSegmentFlush(b, fs));
    expect(store.last()).toBe(17);
    expect(store.read(13, 17).map((e) => `${e.term}:${e.bytes.toString()}`)).toEqual(['1:p13', '1:p14', '2:n15', '2:n16', '2:n17']);
    const again = await SegmentStore.recover(t.dir, fs);
    expect(again.last()).toBe(17);
  });

  it('closes a segment at its byte limit', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const store = await SegmentStore.recover(t.dir, fs);
    const big = flushBatchOf(1, Array.from({ length: 6 }, (_, k) => ({ term: 1, bytes: Buffer.alloc(400, k) })));
    const task = store.planFlush(big, 100, 1000);
    store.applyFlush(task, await runSegmentFlush(task, fs));
    expect(store.count()).toBe(3);
  });

  it('detects a flipped bit in an entry at recovery and on read', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const store = await SegmentStore.recover(t.dir, fs);
    const task = store.planFlush(flushEntries(1, 5), 10, 1 << 20);
    const result = await runSegmentFlush(task, fs);
    store.applyFlush(task, result);
    const path = result.segments[0]?.path as string;
    const buf = readFileSync(path);
    buf[buf.length - 1] = (buf[buf.length - 1] as number) ^ 4;
    writeFileSync(path, buf);
    await expect(SegmentStore.recover(t.dir, fs)).rejects.toBeInstanceOf(LogCorruptionError);
    expect(() => store.read(1, 5)).toThrow(LogCorruptionError);
  });
});

describe('snapshots', () => {
  const members = [{ id: { name: 'a', node: 'n' }, membership: 'voter' as const }];

  it('decides by entries and interval', () => {
    const p = { minIntervalMs: 100, minEntries: 10 };
    expect(shouldSnapshot(undefined, undefined, 9, 0, p)).toBe(false);
    expect(shouldSnapshot(undefined, undefined, 10, 0, p)).toBe(true);
    expect(shouldSnapshot({ index: 10, term: 1, members, machineVersion: 0 }, 0, 30, 50, p)).toBe(false);
    expect(shouldSnapshot({ index: 10, term: 1, members, machineVersion: 0 }, 0, 30, 100, p)).toBe(true);
  });

  it('keeps only the latest snapshot and refuses a corrupt latest one', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const s = await SnapshotStore.recover(t.dir, fs);
    await s.write('snapshot', { index: 5, term: 1, members, machineVersion: 3 }, { n: 5 });
    await s.write('checkpoint', { index: 8, term: 1, members, machineVersion: 3 }, { n: 8 });
    await s.write('snapshot', { index: 7, term: 2, members, machineVersion: 3 }, { n: 7 });
    const r = await SnapshotStore.recover(t.dir, fs);
    expect(r.current()?.index).toBe(7);
    expect(r.checkpoints().map((c) => c.index)).toEqual([8]);
    expect((await r.readCheckpoint(() => true))?.state).toEqual({ n: 8 });
    const path = join(t.dir, 'snapshots', `${'7'.padStart(16, '0')}.snap`);
    const buf = readFileSync(path);
    buf[20] = (buf[20] as number) ^ 1;
    writeFileSync(path, buf);
    await expect(SnapshotStore.recover(t.dir, fs)).rejects.toMatchObject({ code: 'RAFTER_LOG_CORRUPT' });
  });

  it('drops a corrupt checkpoint with a warning', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const s = await SnapshotStore.recover(t.dir, fs);
    await s.write('checkpoint', { index: 8, term: 1, members, machineVersion: 0 }, 'x');
    const path = join(t.dir, 'checkpoints', `${'8'.padStart(16, '0')}.snap`);
    writeFileSync(path, readFileSync(path).subarray(0, 30));
    const r = await SnapshotStore.recover(t.dir, fs);
    expect(r.checkpoints()).toEqual([]);
    expect(r.warnings).toHaveLength(1);
  });
});

describe('meta store', () => {
  it('syncs term and vote, batches concurrent stores, keeps last applied on flush', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const m = await MetaStore.open(t.dir, fs);
    await Promise.all([m.storeTermAndVote('a', 2, { name: 'b', node: 'n' }), m.storeTermAndVote('b', 3, null)]);
    m.storeLastApplied('a', 17);
    await m.flush();
    m.storeLastApplied('b', 4); // not flushed: may be lost
    await m.close();
    const r = await MetaStore.open(t.dir, fs);
    expect(r.get('a')).toEqual({ currentTerm: 2, votedFor: { name: 'b', node: 'n' }, lastApplied: 17 });
    expect(r.get('b').currentTerm).toBe(3);
    expect(r.get('zzz')).toEqual({ currentTerm: 0, votedFor: null, lastApplied: 0 });
    await r.close();
  });

  it('compacts past its size limit and keeps the latest values', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const m = await MetaStore.open(t.dir, fs);
    for (let term = 1; term <= 300; term++) await m.storeTermAndVote('a'.repeat(4000), term, null);
    await m.close();
    expect(readFileSync(join(t.dir, 'meta.dat')).length).toBeLessThan(1 << 20);
    const r = await MetaStore.open(t.dir, fs);
    expect(r.get('a'.repeat(4000)).currentTerm).toBe(300);
    await r.close();
  });

  it('drops a torn last record and refuses damage before the end', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const m = await MetaStore.open(t.dir, fs);
    await m.storeTermAndVote('a', 1, null);
    await m.storeTermAndVote('a', 2, null);
    await m.storeTermAndVote('b', 5, null);
    await m.close();
    const path = join(t.dir, 'meta.dat');
    const good = readFileSync(path);
    writeFileSync(path, good.subarray(0, good.length - 2));
    const r = await MetaStore.open(t.dir, fs);
    expect(r.get('a').currentTerm).toBe(2);
    await r.close();
    const bad = Buffer.from(good);
    bad[14] = (bad[14] as number) ^ 1;
    writeFileSync(path, bad);
    await expect(MetaStore.open(t.dir, fs)).rejects.toBeInstanceOf(LogCorruptionError);
  });
});
