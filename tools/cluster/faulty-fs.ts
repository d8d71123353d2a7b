// The storage's file system with faults a chaos run switches on and off in a live node
// process: a slow disk (every write and sync waits), and, as a mutation that chaos must
// catch, a lying disk whose WAL acknowledges writes and syncs before they reach the file
// (kill -9 then loses acknowledged entries, as power loss loses an unsynced page cache).

import { setTimeout as sleep } from 'node:timers/promises';
import type { LogFileHandle, LogFs, OpenMode } from '@rafter/raft/storage';

/** Mutations of the storage, for checking that chaos catches them; never on by default. */
export type StorageMutation = 'ack-before-sync';

/** How far behind its acknowledgements the lying WAL writes. */
export const LYING_WAL_LAG_MS = 400;

export class FaultyFs implements LogFs {
  /** Added to each write and sync while above 0. */
  slowDiskMs = 0;

  constructor(
    private readonly inner: LogFs,
    private readonly mutation: StorageMutation | undefined,
  ) {}

  async slow(): Promise<void> {
    if (this.slowDiskMs > 0) await sleep(this.slowDiskMs);
  }

  async open(path: string, mode: OpenMode, options?: { oSync?: boolean }): Promise<LogFileHandle> {
    const handle = await this.inner.open(path, mode, options);
    const lying = this.mutation === 'ack-before-sync' && isWalFile(path);
    return lying ? new LyingHandle(handle, this) : new SlowHandle(handle, this);
  }
  readFile(path: string): Promise<Buffer> {
    return this.inner.readFile(path);
  }
  async writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
    await this.slow();
    return this.inner.writeFileAtomic(path, bytes);
  }
  readdir(path: string): Promise<string[]> {
    return this.inner.readdir(path);
  }
  mkdirp(path: string): Promise<void> {
    return this.inner.mkdirp(path);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  rmrf(path: string): Promise<void> {
    return this.inner.rmrf(path);
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }
  async syncDir(path: string): Promise<void> {
    await this.slow();
    return this.inner.syncDir(path);
  }
  readSync(path: string, position: number, length: number): Buffer {
    return this.inner.readSync(path, position, length);
  }
}

function isWalFile(path: string): boolean {
  const parts = path.split(/[\\/]/);
  return parts.at(-2) === 'wal';
}

class SlowHandle implements LogFileHandle {
  constructor(
    private readonly inner: LogFileHandle,
    private readonly fs: FaultyFs,
  ) {}
  async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    await this.fs.slow();
    return this.inner.writeAt(bytes, position);
  }
  readAt(length: number, position: number): Promise<Buffer> {
    return this.inner.readAt(length, position);
  }
  async datasync(): Promise<void> {
    await this.fs.slow();
    return this.inner.datasync();
  }
  async sync(): Promise<void> {
    await this.fs.slow();
    return this.inner.sync();
  }
  truncate(length: number): Promise<void> {
    return this.inner.truncate(length);
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Acknowledges each write at once and performs it LYING_WAL_LAG_MS later, in order; syncs
 * return at once. Reads, sizes, truncations and the close wait for the writes before them,
 * so the process itself sees a consistent file: only a crash tells the difference.
 */
class LyingHandle implements LogFileHandle {
  private behind: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly inner: LogFileHandle,
    private readonly fs: FaultyFs,
  ) {}

  writeAt(bytes: Uint8Array, position: number): Promise<void> {
    this.throwIfFailed();
    const copy = Uint8Array.from(bytes);
    const dueMs = performance.now() + LYING_WAL_LAG_MS;
    this.behind = this.behind
      .then(async () => {
        await sleep(Math.max(0, dueMs - performance.now()));
        await this.fs.slow();
        await this.inner.writeAt(copy, position);
      })
      .catch((err: unknown) => {
        this.failure ??= err;
      });
    return Promise.resolve();
  }
  async readAt(length: number, position: number): Promise<Buffer> {
    await this.caughtUp();
    return this.inner.readAt(length, position);
  }
  datasync(): Promise<void> {
    this.throwIfFailed();
    return Promise.resolve();
  }
  sync(): Promise<void> {
    return this.datasync();
  }
  async truncate(length: number): Promise<void> {
    await this.caughtUp();
    return this.inner.truncate(length);
  }
  async size(): Promise<number> {
    await this.caughtUp();
    return this.inner.size();
  }
  async close(): Promise<void> {
    await this.caughtUp();
    await this.inner.datasync();
    return this.inner.close();
  }

  private async caughtUp(): Promise<void> {
    await this.behind;
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
