// The whole-server simulator's disk: what survives a crash is what was synced, names are
// durable at their directory's sync, and faults behave as armed.

import { describe, expect, it } from 'vitest';
import { LogIoError } from '@rafter/raft/storage';
import { Prng } from '../tools/sim/prng.js';
import { SECTOR_BYTES, SimDiskFs, type SimFsHost } from '../tools/sim/sim-fs.js';

/** Syncs complete at once (the test awaits them); counts what the disk reports. */
function disk(seed = 1): { disk: SimDiskFs; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const host: SimFsHost = {
    delay: () => Promise.resolve(),
    syncMs: () => 1,
    count: (kind) => void (counts[kind] = (counts[kind] ?? 0) + 1),
    note: () => undefined,
    cutPower: () => undefined,
  };
  return { disk: new SimDiskFs('/data', host, new Prng(seed), () => 0), counts };
}

const bytes = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

describe('simulated disk', () => {
  it('keeps synced data and names across a crash, and drops a file whose directory was not synced', async () => {
    const { disk: d } = disk();
    let fs = d.open(1);
    await fs.mkdirp('/data/wal');
    await fs.syncDir('/data');
    const kept = await fs.open('/data/wal/1.wal', 'create');
    await kept.writeAt(bytes(10, 1), 0);
    await kept.datasync();
    await fs.syncDir('/data/wal');
    const lost = await fs.open('/data/wal/2.wal', 'create');
    await lost.writeAt(bytes(10, 2), 0);
    await lost.datasync();
    d.crash();
    fs = d.open(2);
    expect(await fs.readdir('/data/wal')).toEqual(['1.wal']);
    expect(await fs.readFile('/data/wal/1.wal')).toEqual(bytes(10, 1));
  });

  it('loses a new directory, with what is in it, unless its parent was synced', async () => {
    const { disk: d } = disk();
    let fs = d.open(1);
    await fs.mkdirp('/data/servers/a');
    await fs.syncDir('/data/servers');
    d.crash();
    fs = d.open(2);
    expect(await fs.exists('/data/servers')).toBe(false);
  });

  it('undoes a rename and an unsynced truncation in a crash', async () => {
    const { disk: d } = disk(3);
    let fs = d.open(1);
    const h = await fs.open('/data/a', 'create');
    await h.writeAt(bytes(100, 7), 0);
    await h.datasync();
    await fs.syncDir('/data');
    await fs.rename('/data/a', '/data/b');
    await h.truncate(10);
    // Without writeback luck: seed 3's first draw keeps only synced state.
    d.crash();
    fs = d.open(2);
    expect(await fs.readdir('/data')).toEqual(['a']);
    expect((await fs.readFile('/data/a')).length).toBe(100);
  });

  it('tears an unsynced write at a sector boundary when the power is cut mid-write', async () => {
    const { disk: d, counts } = disk(5);
    let fs = d.open(1);
    const h = await fs.open('/data/w', 'create');
    await fs.syncDir('/data');
    await h.writeAt(bytes(SECTOR_BYTES * 4, 9), 0);
    d.tearOnCrash = true;
    d.crash();
    fs = d.open(2);
    const after = await fs.readFile('/data/w');
    expect(counts['tornWrite']).toBe(1);
    expect(after.length % SECTOR_BYTES).toBe(0);
    expect(after.length).toBeLessThan(SECTOR_BYTES * 4);
    expect(after.every((b) => b === 9)).toBe(true);
  });

  it('fails a sync with EIO once armed, and the unsynced data is gone from the page cache too', async () => {
    const { disk: d } = disk();
    const fs = d.open(1);
    const h = await fs.open('/data/f', 'create');
    await h.writeAt(bytes(8, 1), 0);
    await h.datasync();
    await h.writeAt(bytes(8, 2), 8);
    d.failSyncs = 1;
    const err = await h.datasync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogIoError);
    expect((err as LogIoError).message).toContain('EIO');
    expect(await fs.readFile('/data/f')).toEqual(bytes(8, 1));
  });

  it('refuses writes with ENOSPC while the disk is full, and flips a bit in an armed read', async () => {
    const { disk: d } = disk();
    const fs = d.open(1);
    const h = await fs.open('/data/f', 'create');
    await h.writeAt(bytes(64, 0), 0);
    d.fullUntilMs = 10;
    expect(String(await h.writeAt(bytes(1, 1), 0).catch((e: unknown) => e))).toContain('ENOSPC');
    d.fullUntilMs = -1;
    d.corruptReads = 1;
    let read: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 50 && d.corruptReads > 0; i++) read = await fs.readFile('/data/f');
    expect(d.corrupted).toHaveLength(1);
    expect(read[d.corrupted[0]!.offset]).not.toBe(0);
    expect(await fs.readFile('/data/f')).toEqual(bytes(64, 0));
  });

  it('never completes a call of a crashed incarnation', async () => {
    const { disk: d } = disk();
    const old = d.open(1);
    d.crash();
    d.open(2);
    let settled = false;
    void old.mkdirp('/data/x').finally(() => (settled = true));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
  });
});
