// Server logs over the shared WAL: reads through LogReader, written notices, flushing
// to segments, overwrites, snapshots and recovery after restart.
import { readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SnapshotMeta } from '../../src/internal/core/log.js';
import { LogInvalidError } from '../../src/internal/log/errors.js';
import { SegmentWriter } from '../../src/internal/log/segment-writer.js';
import type { LogSystemOptions } from '../../src/internal/log/system.js';
import { walFileName } from '../../src/internal/log/wal.js';
import { cmd, entries, smallLogSystem } from './helpers.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function setup(extra: Partial<LogSystemOptions> = {}) {
  const system = smallLogSystem(extra);
  cleanup = system.cleanup;
  return system;
}

const members = [{ id: { name: 's1', node: 'n1' }, membership: 'voter' as const }];

describe('LogSystem and ServerLog', () => {
  it('appends, reads back from memory and reports written after the sync', async () => {
    const { open, written } = setup();
    const sys = await open();
    const log = await sys.openServer('s1');
    log.append(entries(1, 10, 1));
    expect(log.last()).toEqual({ index: 10, term: 1 });
    expect(log.lastWritten().index).toBe(0);
    expect(log.entries(3, 4).map((e) => e.payload)).toEqual([cmd('v3'), cmd('v4')]);
    await sys.idle();
    expect(log.lastWritten()).toEqual({ index: 10, term: 1 });
    expect(written.get('s1')).toEqual({ index: 10, term: 1 });
    expect(log.termAt(0)).toBeUndefined();
    expect(log.termAt(11)).toBeUndefined();
    expect(() => log.append(entries(12, 12, 1))).toThrow(LogInvalidError);
    await sys.close();
  });

  it('moves entries to segments on rollover, drops them from memory and keeps the WAL file as a spare', async () => {
    const { open, dir } = setup();
    const sys = await open();
    const a = await sys.openServer('a');
    const b = await sys.openServer('b');
    a.append(entries(1, 200, 1, 'a'));
    b.append(entries(1, 150, 2, 'b'));
    await sys.walWriter().rollover();
    await sys.idle();
    expect(a.stats().memEntries).toBe(0);
    expect(a.stats().segmentFiles).toBe(Math.ceil(200 / 64));
    // The flushed file is kept for reuse under a name recovery does not read; the new one is open.
    expect(readdirSync(join(dir, 'wal')).sort()).toEqual(['000000000001.spare', '000000000002.wal']);
    expect(a.entries(1, 200).map((e) => e.payload)).toEqual(entries(1, 200, 1, 'a').map((e) => e.payload));
    expect(b.termAt(150)).toBe(2);
    expect(a.first()).toBe(1);
    a.append(entries(201, 210, 1, 'a'));
    expect(a.entries(195, 210)).toHaveLength(16);
    await sys.close();
  });

  it('writes a later WAL file over a spare and recovers only what that file holds now', async () => {
    const { open, dir } = setup();
    const walDir = join(dir, 'wal');
    let sys = await open();
    const a = await sys.openServer('a');
    const b = await sys.openServer('b');
    // File 1 fills with both servers' entries in many frames, is flushed and kept as a spare.
    for (let i = 1; i <= 300; i += 30) {
      a.append(entries(i, i + 29, 1, 'a'));
      b.append(entries(i, i + 29, 1, 'b'));
      await sys.walWriter().idle();
    }
    await sys.walWriter().rollover();
    await sys.idle();
    const spare = statSync(join(walDir, '000000000001.spare'));
    // File 2 was opened before the spare existed; file 3 is written over it.
    a.append(entries(301, 310, 1, 'a'));
    await sys.walWriter().rollover();
    await sys.idle();
    a.append(entries(311, 315, 2, 'a'));
    await sys.idle();
    expect(statSync(join(walDir, '000000000003.wal')).ino).toBe(spare.ino);
    // Still long: the rest of file 1's frames lie past file 3's.
    expect(statSync(join(walDir, '000000000003.wal')).size).toBe(spare.size);
    await sys.close();

    sys = await open();
    expect(sys.report.warnings).toEqual([expect.stringMatching(/000000000003.wal: the old contents of a reused file/)]);
    const a2 = sys.server('a');
    const b2 = sys.server('b');
    expect(a2?.last()).toEqual({ index: 315, term: 2 });
    expect(a2?.entries(1, 315).map((e) => e.payload)).toEqual([...entries(1, 310, 1, 'a'), ...entries(311, 315, 2, 'a')].map((e) => e.payload));
    expect(b2?.last()).toEqual({ index: 300, term: 1 });
    await sys.close();
  });

  it('writes each new file over the spare the last flush left, and keeps none without checksums', async () => {
    for (const checksums of [true, false]) {
      const { open, dir } = setup({ wal: { maxSizeBytes: 64 * 1024, checksums } });
      const sys = await open();
      const a = await sys.openServer('a');
      for (let round = 0; round < 5; round++) {
        a.append(entries(round * 50 + 1, round * 50 + 50, 1, 'a'));
        await sys.walWriter().rollover();
        await sys.idle();
      }
      const names = readdirSync(join(dir, 'wal'));
      // Each new file takes the spare the last flush left.
      expect(names.filter((n) => n.endsWith('.spare'))).toHaveLength(checksums ? 1 : 0);
      expect(names.filter((n) => n.endsWith('.wal'))).toEqual(['000000000006.wal']);
      expect(a.entries(1, 250).map((e) => e.payload)).toEqual(entries(1, 250, 1, 'a').map((e) => e.payload));
      await sys.close();
      cleanup?.();
    }
  });

  it('keeps at most two flushed WAL files as spares and deletes the rest', async () => {
    const { dir } = setup();
    const writer = new SegmentWriter({ lookup: () => undefined });
    for (let seq = 1; seq <= 4; seq++) {
      const path = join(dir, walFileName(seq));
      writeFileSync(path, 'x');
      writer.accept({ seq, path, ranges: new Map() });
    }
    await writer.idle();
    expect(readdirSync(dir).sort()).toEqual(['000000000001.spare', '000000000002.spare']);
  });

  it('refuses a WAL file whose header names another file', async () => {
    const { open, dir } = setup();
    let sys = await open();
    (await sys.openServer('a')).append(entries(1, 5, 1));
    await sys.idle();
    await sys.close();
    renameSync(join(dir, 'wal', '000000000001.wal'), join(dir, 'wal', '000000000004.wal'));
    await expect(open()).rejects.toMatchObject({ code: 'RAFTER_LOG_CORRUPT', message: expect.stringMatching(/header says file 1, the name says 4/) });
    sys = undefined as never;
  });

  it('recovers from segments plus WAL after a restart', async () => {
    const { open } = setup();
    let sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 100, 1));
    await sys.walWriter().rollover();
    await sys.idle();
    a.append(entries(101, 130, 2));
    await sys.idle();
    await sys.close();
    sys = await open();
    const r = sys.server('a');
    expect(r?.last()).toEqual({ index: 130, term: 2 });
    expect(r?.lastWritten()).toEqual({ index: 130, term: 2 });
    expect(r?.entries(1, 130).map((e) => e.payload)).toEqual(entries(1, 130, 0).map((e) => e.payload));
    expect(sys.report.walEntries).toBe(30);
    await sys.idle();
    expect(r?.stats().memEntries).toBe(0); // recovered WAL files are flushed at once
    await sys.close();
  });

  it('overwrites a conflicting suffix in memory and in segments, also across restart', async () => {
    const { open } = setup();
    let sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 100, 1));
    await sys.walWriter().rollover();
    await sys.idle();
    a.append(entries(50, 60, 3, 'n'));
    expect(a.last()).toEqual({ index: 60, term: 3 });
    expect(a.lastWritten().index).toBeLessThanOrEqual(49);
    expect(a.termAt(70)).toBeUndefined();
    expect(a.entries(48, 60).map((e) => e.term)).toEqual([1, 1, ...Array(11).fill(3)]);
    await sys.idle();
    expect(a.lastWritten()).toEqual({ index: 60, term: 3 });
    await sys.close();
    sys = await open();
    const r = sys.server('a');
    expect(r?.last()).toEqual({ index: 60, term: 3 });
    expect(r?.entries(49, 51).map((e) => e.payload)).toEqual([cmd('v49'), cmd('n50'), cmd('n51')]);
    await sys.idle();
    await sys.walWriter().rollover();
    await sys.idle();
    expect(r?.entries(1, 60)).toHaveLength(60);
    await sys.close();
  });

  it('snapshots at a release cursor, truncates the log below, and recovers from the snapshot', async () => {
    const { open, dir } = setup();
    let sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 300, 1));
    await sys.walWriter().rollover();
    await sys.idle();
    const meta: SnapshotMeta = { index: 200, term: 1, members, machineVersion: 2 };
    expect(await a.releaseCursor(meta, { counter: 200 })).toBe(true);
    expect(a.first()).toBe(201);
    expect(a.termAt(200)).toBe(1);
    expect(a.termAt(199)).toBeUndefined();
    expect(() => a.entries(150, 210)).toThrow(LogInvalidError);
    expect(a.stats().segmentFiles).toBeLessThan(5);
    expect(readdirSync(join(dir, 'servers', 'a', 'segments')).length).toBe(a.stats().segmentFiles);
    await sys.close();
    sys = await open();
    const r = sys.server('a');
    expect(r?.snapshot()).toEqual(meta);
    expect(await r?.readSnapshot()).toEqual({ meta, state: { counter: 200 } });
    expect(r?.entries(201, 300)).toHaveLength(100);
    await sys.close();
  });

  it('respects the minimum snapshot interval with an injected clock', async () => {
    let now = 1_000;
    const { open } = setup({ clock: { now: () => now }, snapshotPolicy: { minIntervalMs: 500, minEntries: 5 } });
    const sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 50, 1));
    await sys.idle();
    const m = (i: number): SnapshotMeta => ({ index: i, term: 1, members, machineVersion: 0 });
    expect(await a.releaseCursor(m(3), 's')).toBe(false); // too few entries
    expect(await a.releaseCursor(m(10), 's')).toBe(true);
    expect(await a.releaseCursor(m(20), 's')).toBe(false); // too soon
    now += 500;
    expect(await a.releaseCursor(m(20), 's')).toBe(true);
    await a.checkpoint(m(40), 'c');
    expect(a.snapshots.checkpoints().map((c) => c.index)).toEqual([40]);
    expect(a.first()).toBe(21); // a checkpoint does not truncate
    await sys.close();
  });

  it('transfers a snapshot in chunks to a follower, which resets its log', async () => {
    const { open } = setup();
    const sys = await open();
    const leader = await sys.openServer('leader');
    const follower = await sys.openServer('follower');
    leader.append(entries(1, 100, 1));
    follower.append(entries(1, 20, 1));
    follower.append(entries(21, 30, 2, 'stale'));
    await sys.idle();
    const meta: SnapshotMeta = { index: 90, term: 1, members, machineVersion: 1 };
    await leader.releaseCursor(meta, { big: 'x'.repeat(10_000) });
    const accept = follower.acceptSnapshot();
    let installed: SnapshotMeta | undefined;
    for await (const chunk of leader.readSnapshotChunks(1024)) installed = await accept.accept(chunk);
    expect(installed).toEqual(meta);
    expect(follower.last()).toEqual({ index: 90, term: 1 });
    expect(follower.lastWritten()).toEqual({ index: 90, term: 1 });
    expect(follower.termAt(25)).toBeUndefined();
    follower.append(leader.entries(91, 100));
    await sys.idle();
    expect(follower.lastWritten().index).toBe(100);
    expect((await follower.readSnapshot()).state).toEqual({ big: 'x'.repeat(10_000) });
    await sys.close();
  });

  it('refuses an out-of-order or corrupt chunk', async () => {
    const { open } = setup();
    const sys = await open();
    const leader = await sys.openServer('leader');
    const follower = await sys.openServer('follower');
    leader.append(entries(1, 10, 1));
    await sys.idle();
    await leader.releaseCursor({ index: 10, term: 1, members, machineVersion: 0 }, 'state');
    const chunks = [];
    for await (const c of leader.readSnapshotChunks(16)) chunks.push(c);
    const accept = follower.acceptSnapshot();
    await expect(accept.accept(chunks[1] as (typeof chunks)[number])).rejects.toMatchObject({ code: 'RAFTER_LOG_INVALID' });
    const bad = follower.acceptSnapshot();
    for (const c of chunks.slice(0, -1)) await bad.accept(c);
    const last = chunks.at(-1) as (typeof chunks)[number];
    const flipped = Buffer.from(last.data);
    flipped[0] = (flipped[0] as number) ^ 0xff;
    await expect(bad.accept({ ...last, data: flipped })).rejects.toMatchObject({ code: 'RAFTER_LOG_CORRUPT' });
    expect(follower.snapshot()).toBeUndefined();
    await sys.close();
  });

  it('asks a server to resend after a gap and recovers the sequence', async () => {
    const { open } = setup();
    const sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 5, 1));
    await sys.idle();
    // Simulate a lost message: the WAL sees 7 after 5 and asks for 6 onwards.
    sys.walWriter().appendBatch('a', 7, 1, [Buffer.from([0xc0])]);
    a.append(entries(6, 8, 1));
    await sys.idle();
    expect(a.lastWritten().index).toBe(8);
    await sys.close();
  });

  it('deletes a server with its files and meta', async () => {
    const { open, dir } = setup();
    const sys = await open();
    const a = await sys.openServer('a/b c');
    a.append(entries(1, 3, 1));
    await sys.meta.storeTermAndVote('a/b c', 3, { name: 'x', node: 'y' });
    await sys.idle();
    await sys.deleteServer('a/b c');
    expect(readdirSync(join(dir, 'servers'))).toEqual([]);
    expect(sys.meta.get('a/b c').currentTerm).toBe(0);
    await sys.close();
    const again = await open();
    expect(again.serverIds()).toEqual([]);
    await again.close();
  });

  it('keeps server uids with any characters across restart', async () => {
    const { open } = setup();
    const sys = await open();
    for (const uid of ['a.b', 'ü/ñ', '..', 'x.2e']) (await sys.openServer(uid)).append(entries(1, 2, 1));
    await sys.close();
    const again = await open();
    expect(again.serverIds().sort()).toEqual(['..', 'a.b', 'x.2e', 'ü/ñ'].sort());
    await again.close();
  });
});
