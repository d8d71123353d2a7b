// The WAL writer: batching, written notices, gap detection, rollover and its options.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firstFileMaxBytes, checkSequence, WrittenRuns } from '../../src/internal/log/wal-policy.js';
import { appendOne, openWal, readAll, tempDir } from './helpers.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('WAL policy', () => {
  it('sizes the first file between half and full', () => {
    expect(firstFileMaxBytes(1000, () => 0)).toBe(500);
    expect(firstFileMaxBytes(1000, () => 0.5)).toBe(750);
  });
  it('accepts rewrites, flags gaps, drops until the resend arrives', () => {
    expect(checkSequence(undefined, undefined, 9)).toBe('accept');
    expect(checkSequence(5, undefined, 6)).toBe('accept');
    expect(checkSequence(5, undefined, 3)).toBe('accept');
    expect(checkSequence(5, undefined, 8)).toBe('gap');
    expect(checkSequence(5, 6, 9)).toBe('drop');
    expect(checkSequence(5, 6, 6)).toBe('accept');
  });
  it('folds a batch into runs per writer and term', () => {
    const r = new WrittenRuns();
    const writers = { a: { id: 'a', runs: undefined, run: 0 }, b: { id: 'b', runs: undefined, run: 0 } };
    for (const [w, i, t] of [['a', 1, 1], ['b', 1, 1], ['a', 2, 1], ['a', 3, 2], ['a', 2, 3]] as const) r.add(writers[w], i, t);
    // In the order runs started: each writer's notices in its own order.
    const runs = Array.from({ length: r.length }, (_, k) => ({ writerId: r.writerAt(k).id, term: r.termAt(k), from: r.fromAt(k), to: r.toAt(k) }));
    expect(runs).toEqual([
      { writerId: 'a', term: 1, from: 1, to: 2 },
      { writerId: 'b', term: 1, from: 1, to: 1 },
      { writerId: 'a', term: 2, from: 3, to: 3 },
      { writerId: 'a', term: 3, from: 2, to: 2 },
    ]);
  });
});

describe('WalWriter', () => {
  it('batches appends from many writers into few syncs and reports written ranges', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir);
    for (let i = 1; i <= 100; i++) for (const w of ['a', 'b', 'c']) appendOne(wal, w, i, 1, Buffer.from(`${w}${i}`));
    await wal.idle();
    expect(wal.counters.entries).toBe(300);
    expect(wal.counters.syncs).toBeLessThan(10);
    for (const w of ['a', 'b', 'c']) {
      const mine = rec.written.filter((x) => x[0] === w);
      expect(mine[0]?.[2]).toBe(1);
      expect(mine.at(-1)?.[3]).toBe(100);
      mine.slice(1).forEach((x, k) => expect(x[2]).toBe((mine[k] as number[])[3] as number + 1));
    }
    await wal.close();
    const all = readAll(t.dir);
    expect(all).toHaveLength(300);
    expect(all.filter((x) => x[0] === 'b').map((x) => x[1])).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('writes a writer id once per file', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal } = await openWal(t.dir);
    const id = 'a-rather-long-writer-identifier';
    for (let i = 1; i <= 50; i++) appendOne(wal, id, i, 1, Buffer.from('x'));
    await wal.close();
    const raw = readFileSync(join(t.dir, readdirSync(t.dir)[0] as string)).toString('latin1');
    expect(raw.split(id).length - 1).toBe(1);
  });

  it('detects a gap, asks for a resend once and drops until it comes', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir);
    appendOne(wal, 'a', 1, 1, Buffer.from('1'));
    appendOne(wal, 'a', 2, 1, Buffer.from('2'));
    appendOne(wal, 'a', 5, 1, Buffer.from('5'));
    appendOne(wal, 'a', 6, 1, Buffer.from('6'));
    expect(rec.resends).toEqual([['a', 3]]);
    for (let i = 3; i <= 6; i++) appendOne(wal, 'a', i, 1, Buffer.from(String(i)));
    await wal.close();
    expect(readAll(t.dir).map((x) => x[1])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(wal.counters.resends).toBe(1);
  });

  it('accepts rewrites of a suffix and reports them as new runs', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir);
    for (let i = 1; i <= 5; i++) appendOne(wal, 'a', i, 1, Buffer.from('old'));
    await wal.idle();
    appendOne(wal, 'a', 3, 2, Buffer.from('new'));
    await wal.idle();
    expect(rec.written.at(-1)).toEqual(['a', 2, 3, 3]);
    await wal.close();
  });

  it('rolls over at the size limit, first file at its random size, handing ranges over', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir, { maxSizeBytes: 8192, random: () => 0, maxBatchEntries: 10 });
    for (let i = 1; i <= 400; i++) {
      appendOne(wal, 'a', i, 1, Buffer.alloc(40, 1));
      if (i % 2 === 0) appendOne(wal, 'b', i / 2, 1, Buffer.alloc(40, 2));
      if (i % 10 === 0) await wal.idle();
    }
    await wal.close();
    expect(rec.rolled.length).toBeGreaterThan(3);
    const sizes = rec.rolled.map((f) => readFileSync(f.path).length);
    expect(sizes[0]).toBeLessThanOrEqual(4096);
    expect(Math.max(...sizes)).toBeGreaterThan(4096);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8192);
    expect(rec.rolled[0]?.ranges.get('a')?.from).toBe(1);
    let nextA = 1;
    for (const f of rec.rolled) {
      const r = f.ranges.get('a');
      if (r === undefined) continue;
      expect(r.from).toBe(nextA);
      nextA = r.to + 1;
    }
    expect(rec.rolled.map((f) => f.seq)).toEqual(rec.rolled.map((_, i) => i + 1));
  });

  it('supports sync, no sync and O_DSYNC, and writes without checksums', async () => {
    for (const extra of [{ syncMethod: 'sync' }, { syncMethod: 'none' }, { writeStrategy: 'o_sync' }, { checksums: false }] as const) {
      const t = tempDir();
      const { wal, rec } = await openWal(t.dir, extra);
      for (let i = 1; i <= 20; i++) appendOne(wal, 'a', i, 1, Buffer.from('x'));
      await wal.close();
      expect(rec.written.at(-1)?.[3]).toBe(20);
      expect(readAll(t.dir)).toHaveLength(20);
      t.cleanup();
    }
  });

  it('reports back-pressure but keeps the entry, and refuses appends after close', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal } = await openWal(t.dir);
    expect(appendOne(wal, 'a', 1, 1, Buffer.from('x'))).toBe(true);
    await wal.close();
    expect(() => appendOne(wal, 'a', 2, 1, Buffer.from('x'))).toThrow(/closed/);
  });
});
