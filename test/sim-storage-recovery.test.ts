// Log storage on the simulator's disk, where only synced data and names survive a crash:
// the recovery bugs the whole-server simulator found stay fixed.

import { describe, expect, it } from 'vitest';
import { LogCorruptionError, LogSystem, type LogFs } from '@rafter/raft/storage';
import type { LogEntry } from '@rafter/raft/core';
import { Prng } from '../tools/sim/prng.js';
import { SimDiskFs, type SimFsHost } from '../tools/sim/sim-fs.js';

const host: SimFsHost = { delay: () => Promise.resolve(), syncMs: () => 1, count: () => undefined, note: () => undefined, cutPower: () => undefined };

function entries(from: number, to: number): LogEntry[] {
  return Array.from({ length: to - from + 1 }, (_, k) => ({ index: from + k, term: 1, payload: { type: 'command', command: `c${from + k}` } }));
}

/** Opens a system, appends 1..count for server `a`, and resolves once the WAL says they are written. */
async function writeAndCrash(disk: SimDiskFs, count: number): Promise<void> {
  const fs = disk.open(1);
  let written = 0;
  const sys = await LogSystem.open({ dir: '/data', fs, onWritten: (_uid, w) => (written = w.index) });
  const log = await sys.openServer('a');
  log.append(entries(1, count));
  for (let i = 0; i < 1000 && written < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  expect(written).toBe(count);
  disk.crash();
}

describe('log storage over the simulated disk', () => {
  it('keeps written entries across a crash right after the first start (new directories are synced)', async () => {
    const disk = new SimDiskFs('/data', host, new Prng(1), () => 0);
    await writeAndCrash(disk, 5);
    const sys = await LogSystem.open({ dir: '/data', fs: disk.open(2) });
    const log = sys.server('a');
    expect(log?.last()).toEqual({ index: 5, term: 1 });
  });

  it('stops on a bad read of the last WAL file, naming the file and offset, rather than cutting synced frames as a torn tail', async () => {
    const disk = new SimDiskFs('/data', host, new Prng(2), () => 0);
    await writeAndCrash(disk, 5);
    const good = disk.open(2);
    const [wal] = (await good.readdir('/data/wal')).filter((n) => n.endsWith('.wal'));
    const path = `/data/wal/${wal}`;
    const size = (await good.readFile(path)).length;
    // The first read of the WAL file returns its last byte flipped.
    let flipped = false;
    const badOnce: LogFs = Object.assign(Object.create(good) as LogFs, {
      readFile: async (p: string) => {
        const buf = await good.readFile(p);
        if (p === path && !flipped) {
          flipped = true;
          buf[size - 1] = (buf[size - 1] as number) ^ 0x40;
        }
        return buf;
      },
    });
    const err = await LogSystem.open({ dir: '/data', fs: badOnce }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogCorruptionError);
    expect((err as LogCorruptionError).file).toBe(path);
    expect((err as LogCorruptionError).message).toContain(`offset ${size - 1}`);
    // The file was left alone: a start that reads good bytes has every entry.
    const sys = await LogSystem.open({ dir: '/data', fs: good });
    expect(sys.server('a')?.last()).toEqual({ index: 5, term: 1 });
  });

  it('stops on a bad read of the meta file rather than dropping a synced vote as a torn tail', async () => {
    const disk = new SimDiskFs('/data', host, new Prng(3), () => 0);
    const fs = disk.open(1);
    const sys = await LogSystem.open({ dir: '/data', fs });
    await sys.meta.storeTermAndVote('a', 7, { name: 'b', node: 'nb' });
    disk.crash();
    const good = disk.open(2);
    const size = (await good.readFile('/data/meta.dat')).length;
    let flipped = false;
    const badOnce: LogFs = Object.assign(Object.create(good) as LogFs, {
      readFile: async (p: string) => {
        const buf = await good.readFile(p);
        if (p === '/data/meta.dat' && !flipped) {
          flipped = true;
          buf[size - 1] = (buf[size - 1] as number) ^ 0x01;
        }
        return buf;
      },
    });
    const err = await LogSystem.open({ dir: '/data', fs: badOnce }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogCorruptionError);
    expect((err as LogCorruptionError).file).toBe('/data/meta.dat');
    const again = await LogSystem.open({ dir: '/data', fs: good });
    expect(again.meta.get('a').currentTerm).toBe(7);
  });
});
