// Recovery checkpoints, archived snapshots and snapshot files received chunk by chunk:
// what a restart finds on disk after each, including damaged checkpoints.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SnapshotMeta } from '../../src/internal/core/log.js';
import { CHECKPOINTS_KEPT_MAX, SNAPSHOT_BACKUPS_KEPT_MAX } from '../../src/internal/log/limits.js';
import { entries, smallLogSystem } from './helpers.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function setup() {
  const system = smallLogSystem();
  cleanup = system.cleanup;
  return system;
}

const members = [{ id: { name: 's1', node: 'n1' }, membership: 'voter' as const }];
const at = (index: number, term = 1): SnapshotMeta => ({ index, term, members, machineVersion: 0 });
const checkpointFile = (dir: string, index: number) => join(dir, 'servers', 'a', 'checkpoints', `${String(index).padStart(16, '0')}.snap`);

describe('recovery checkpoints', () => {
  it('keeps a bounded number, truncates nothing, and a restart reads the newest', async () => {
    const { open, dir } = setup();
    let sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 100, 1));
    await sys.idle();
    for (const i of [10, 20, 30, 40, 50]) expect(await a.checkpoint(at(i), { n: i })).toBe(true);
    expect(await a.checkpoint(at(45), { n: 45 })).toBe(false); // older than the newest
    expect(a.snapshots.checkpoints().map((c) => c.index)).toEqual([20, 30, 40, 50].slice(-CHECKPOINTS_KEPT_MAX));
    expect(readdirSync(join(dir, 'servers', 'a', 'checkpoints')).filter((n) => n.endsWith('.snap'))).toHaveLength(CHECKPOINTS_KEPT_MAX);
    expect(a.first()).toBe(1);
    await sys.close();
    sys = await open();
    const r = sys.server('a');
    expect(await r?.recoveryCheckpoint()).toEqual({ meta: at(50), state: { n: 50 } });
    expect(r?.entries(51, 100)).toHaveLength(50);
    await sys.close();
  });

  it('waits for its entry to be written before it writes', async () => {
    const { open } = setup();
    const sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 10, 1));
    await sys.idle();
    a.append(entries(11, 20, 1));
    const pending = a.checkpoint(at(20), 'twenty');
    // Not on disk before the WAL has entry 20: a crash now must not leave a checkpoint past the log.
    expect(a.snapshots.checkpoints()).toEqual([]);
    await sys.idle();
    expect(await pending).toBe(true);
    expect(a.snapshots.checkpoints().map((c) => c.index)).toEqual([20]);
    await sys.close();
  });

  it('skips a checkpoint whose body has a flipped bit, with a warning, and falls back to the one before', async () => {
    const { open, dir } = setup();
    let sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 60, 1));
    await sys.idle();
    await a.checkpoint(at(30), { n: 30, pad: 'p'.repeat(200) });
    await a.checkpoint(at(40), { n: 40, pad: 'q'.repeat(200) });
    await sys.close();
    const path = checkpointFile(dir, 40);
    const buf = readFileSync(path);
    buf[buf.length - 10] = (buf[buf.length - 10] as number) ^ 0x10;
    writeFileSync(path, buf);
    sys = await open();
    const r = sys.server('a');
    expect((await r?.recoveryCheckpoint())?.meta.index).toBe(30);
    const warnings = r?.snapshots.takeWarnings() ?? [];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/checkpoint .*0040\.snap skipped: .*checksum/);
    expect(existsSync(path)).toBe(false);
    await sys.close();
  });

  it('drops a checkpoint with a damaged header at recovery, and one the log does not hold', async () => {
    const { open, dir } = setup();
    let sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 60, 1));
    await sys.idle();
    await a.checkpoint(at(30), 'thirty');
    await a.checkpoint(at(50), 'fifty');
    await sys.close();
    const path = checkpointFile(dir, 30);
    const buf = readFileSync(path);
    buf[9] = (buf[9] as number) ^ 0x01; // inside the index: the header checksum fails
    writeFileSync(path, buf);
    sys = await open();
    const r = sys.server('a');
    expect(r?.snapshots.checkpoints().map((c) => c.index)).toEqual([50]);
    expect(r?.snapshots.takeWarnings()).toHaveLength(1);
    // A log that ends before a checkpoint (a replaced log) makes it unusable.
    r?.append(entries(41, 45, 2));
    expect(await r?.recoveryCheckpoint()).toBeUndefined();
    await sys.close();
  });

  it('goes when a snapshot covers it', async () => {
    const { open } = setup();
    const sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 60, 1));
    await sys.idle();
    await a.checkpoint(at(20), 'c20');
    await a.checkpoint(at(50), 'c50');
    await a.releaseCursor(at(30), 's30');
    expect(a.snapshots.checkpoints().map((c) => c.index)).toEqual([50]);
    expect(await a.checkpoint(at(25), 'late')).toBe(false);
    await sys.close();
  });
});

describe('snapshotBackup', () => {
  it('moves replaced snapshots into a bounded backup folder', async () => {
    const { open, dir } = setup();
    const sys = await open();
    const a = await sys.openServer('a');
    a.append(entries(1, 100, 1));
    await sys.idle();
    await a.releaseCursor(at(10), 's10');
    a.setSnapshotBackup(true);
    for (const i of [20, 30, 40, 50, 60]) await a.releaseCursor(at(i), `s${i}`);
    const kept = [10, 20, 30, 40, 50].slice(-SNAPSHOT_BACKUPS_KEPT_MAX).map((i) => `${String(i).padStart(16, '0')}.snap`);
    expect(await a.snapshots.backups()).toEqual(kept);
    expect(readdirSync(join(dir, 'servers', 'a', 'snapshots')).filter((n) => n.endsWith('.snap'))).toEqual([`${'60'.padStart(16, '0')}.snap`]);
    // An archived file is a whole snapshot file, byte for byte.
    expect(statSync(join(a.snapshots.backupDir, kept.at(-1) as string)).size).toBeGreaterThan(48);
    a.setSnapshotBackup(false);
    await a.releaseCursor(at(70), 's70');
    expect(await a.snapshots.backups()).toEqual(kept);
    await sys.close();
  });
});

describe('snapshot received chunk by chunk', () => {
  it('writes each chunk to disk as it arrives and checks the whole only at the end', async () => {
    const { open, dir } = setup();
    const sys = await open();
    const leader = await sys.openServer('leader');
    const follower = await sys.openServer('follower');
    leader.append(entries(1, 50, 1));
    await sys.idle();
    const state = { blob: Buffer.alloc(64 * 1024, 7) };
    await leader.releaseCursor(at(50), state);
    const reader = await leader.openSnapshotReader(4096);
    expect(reader.chunks).toBeGreaterThan(16);
    const intake = follower.acceptSnapshot();
    const tmp = join(dir, 'servers', 'follower', 'snapshots', 'accepting.tmp');
    // Out of order, from the end: each read is at its offset.
    const last = await reader.read(reader.chunks - 1);
    expect(last.last).toBe(true);
    for (let i = 0; i < reader.chunks; i++) {
      await intake.write(i + 1, (await reader.read(i)).data);
      expect(statSync(tmp).size).toBe(Math.min((i + 1) * 4096, reader.size));
    }
    await reader.close();
    expect(await intake.finish()).toEqual(at(50));
    expect(existsSync(tmp)).toBe(false);
    expect(((await follower.readSnapshot()).state as { blob: Uint8Array }).blob).toHaveLength(64 * 1024);
    await sys.close();
  });

  it('refuses a transfer with a flipped bit in the middle and leaves no file behind', async () => {
    const { open, dir } = setup();
    const sys = await open();
    const leader = await sys.openServer('leader');
    const follower = await sys.openServer('follower');
    leader.append(entries(1, 20, 1));
    await sys.idle();
    await leader.releaseCursor(at(20), { blob: Buffer.alloc(20_000, 3) });
    const reader = await leader.openSnapshotReader(1024);
    const intake = follower.acceptSnapshot();
    for (let i = 0; i < reader.chunks; i++) {
      const data = Buffer.from((await reader.read(i)).data);
      if (i === 7) data[100] = (data[100] as number) ^ 0x04;
      await intake.write(i + 1, data);
    }
    await reader.close();
    await expect(intake.finish()).rejects.toMatchObject({ code: 'RAFTER_LOG_CORRUPT' });
    expect(follower.snapshot()).toBeUndefined();
    expect(readdirSync(join(dir, 'servers', 'follower', 'snapshots'))).toEqual([]);
    await sys.close();
  });
});
