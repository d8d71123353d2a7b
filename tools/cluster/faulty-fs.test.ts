// Goal: the chaos file system delays writes while the disk is slow, and its lying WAL
// mutation acknowledges writes and syncs before the bytes are in the file, while the
// process itself still reads back what it wrote.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFs } from '@rafter/raft/storage';
import { FaultyFs } from './faulty-fs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-faulty-fs-'));
  dirs.push(dir);
  return dir;
}

describe('FaultyFs', () => {
  it('a slow disk delays each write and sync, and only while it is slow', async () => {
    const fs = new FaultyFs(new NodeFs(), undefined);
    const file = await fs.open(join(tempDir(), 'a'), 'create');
    fs.slowDiskMs = 60;
    const start = performance.now();
    await file.writeAt(Buffer.from('abc'), 0);
    await file.datasync();
    expect(performance.now() - start).toBeGreaterThanOrEqual(100);
    fs.slowDiskMs = 0;
    await file.writeAt(Buffer.from('def'), 3);
    expect((await file.readAt(6, 0)).toString()).toBe('abcdef');
    await file.close();
  });

  it('ack-before-sync: a synced WAL write is not yet in the file, but reads through the handle see it', async () => {
    const dir = join(tempDir(), 'wal');
    const fs = new FaultyFs(new NodeFs(), 'ack-before-sync');
    await fs.mkdirp(dir);
    const path = join(dir, '00000001.wal');
    const file = await fs.open(path, 'create');
    await file.writeAt(Buffer.from('entry'), 0);
    await file.datasync();
    expect(readFileSync(path).length).toBe(0);
    expect((await file.readAt(5, 0)).toString()).toBe('entry');
    await file.close();
    expect(readFileSync(path).toString()).toBe('entry');
  });

  it('ack-before-sync leaves files outside the WAL honest', async () => {
    const fs = new FaultyFs(new NodeFs(), 'ack-before-sync');
    const path = join(tempDir(), 'segment');
    const file = await fs.open(path, 'create');
    await file.writeAt(Buffer.from('kept'), 0);
    expect(readFileSync(path).toString()).toBe('kept');
    await file.close();
  });
});
