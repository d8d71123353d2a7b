// One server's snapshots and checkpoints on disk: write (temp file + rename), recover
// the latest, read and accept in chunks for installation on followers.
import type { SnapshotMeta } from '../core/log.js';
import { decodeValue, encodeValue } from './codec.js';
import { LogCorruptionError, LogInvalidError, LogLimitError, LogNotFoundError, assert } from './errors.js';
import { type LogFileHandle, type LogFs, joinPath } from './fs.js';
import { CHECKPOINTS_KEPT_MAX, SNAPSHOT_BYTES_MAX, SNAPSHOT_CHUNK_BYTES_MAX } from './limits.js';
import { type SnapshotKind, decodeSnapshot, encodeSnapshot } from './snapshot-format.js';

export interface SnapshotPolicy {
  /** At least this long between two snapshots of one server. */
  readonly minIntervalMs: number;
  /** At least this many entries past the current snapshot. */
  readonly minEntries: number;
}

/** Pure: whether a release cursor at `index` should become a snapshot now. */
export function shouldSnapshot(
  current: SnapshotMeta | undefined,
  lastWrittenAtMs: number | undefined,
  index: number,
  nowMs: number,
  policy: SnapshotPolicy,
): boolean {
  const base = current?.index ?? 0;
  if (index <= base || index - base < policy.minEntries) return false;
  return lastWrittenAtMs === undefined || nowMs - lastWrittenAtMs >= policy.minIntervalMs;
}

export interface SnapshotChunk {
  /** 1-based position in the transfer. */
  readonly seq: number;
  readonly last: boolean;
  readonly data: Buffer;
}

function fileName(index: number): string {
  return `${String(index).padStart(16, '0')}.snap`;
}

export class SnapshotStore {
  private snap: SnapshotMeta | undefined;
  private checks: SnapshotMeta[] = [];
  readonly warnings: string[] = [];

  private constructor(
    readonly dir: string,
    private readonly fs: LogFs,
  ) {}

  private kindDir(kind: SnapshotKind): string {
    return joinPath(this.dir, kind === 'snapshot' ? 'snapshots' : 'checkpoints');
  }

  private pathOf(kind: SnapshotKind, index: number): string {
    return joinPath(this.kindDir(kind), fileName(index));
  }

  /** Finds the latest snapshot (which must be intact) and the intact checkpoints. */
  static async recover(dir: string, fs: LogFs): Promise<SnapshotStore> {
    const store = new SnapshotStore(dir, fs);
    let created = false;
    for (const kind of ['snapshot', 'checkpoint'] as const) {
      if (await fs.exists(store.kindDir(kind))) continue;
      await fs.mkdirp(store.kindDir(kind));
      created = true;
    }
    // A new directory is durable only once its parent is synced: a snapshot written into
    // it could otherwise vanish in a crash after the log below it was dropped.
    if (created) await fs.syncDir(dir);
    for (const kind of ['snapshot', 'checkpoint'] as const) {
      const names = await fs.readdir(store.kindDir(kind));
      for (const n of names.filter((x) => x.endsWith('.tmp'))) await fs.rmrf(joinPath(store.kindDir(kind), n));
      const files = names.filter((x) => x.endsWith('.snap')).sort().reverse();
      for (const [i, name] of files.entries()) {
        const path = joinPath(store.kindDir(kind), name);
        let meta: SnapshotMeta;
        try {
          const decoded = decodeSnapshot(await fs.readFile(path), path);
          if (decoded.meta.index !== Number.parseInt(name, 10)) throw new LogCorruptionError(path, 8, `index ${decoded.meta.index} does not match file name`);
          meta = decoded.meta;
        } catch (err) {
          // The log below the latest snapshot is gone, so it must be intact. A
          // checkpoint only saves replay time: a bad one is dropped, not fatal.
          if (kind === 'snapshot' || !(err instanceof LogCorruptionError)) throw err;
          store.warnings.push(err.message);
          await fs.rmrf(path);
          continue;
        }
        if (kind === 'snapshot') {
          if (i === 0) store.snap = meta;
          else await fs.rmrf(path); // superseded; the newer one was fully written
        } else store.checks.unshift(meta);
      }
    }
    store.checks = store.checks.filter((c) => c.index > (store.snap?.index ?? 0));
    return store;
  }

  current(): SnapshotMeta | undefined {
    return this.snap;
  }

  /** Checkpoints past the current snapshot, oldest first. */
  checkpoints(): readonly SnapshotMeta[] {
    return this.checks;
  }

  /** Writes a snapshot (then deletes older snapshots and checkpoints) or a checkpoint. */
  async write(kind: SnapshotKind, meta: SnapshotMeta, state: unknown): Promise<void> {
    const data = encodeValue(state);
    if (data.length > SNAPSHOT_BYTES_MAX) throw new LogLimitError('snapshot bytes', data.length, SNAPSHOT_BYTES_MAX);
    await this.fs.writeFileAtomic(this.pathOf(kind, meta.index), encodeSnapshot(kind, meta, data));
    if (kind === 'snapshot') await this.installed(meta);
    else {
      this.checks.push(meta);
      this.checks.sort((a, b) => a.index - b.index);
      while (this.checks.length > CHECKPOINTS_KEPT_MAX) {
        const old = this.checks.shift() as SnapshotMeta;
        await this.fs.rmrf(this.pathOf('checkpoint', old.index));
      }
    }
  }

  private async installed(meta: SnapshotMeta): Promise<void> {
    const old = this.snap;
    this.snap = meta;
    if (old !== undefined && old.index !== meta.index) await this.fs.rmrf(this.pathOf('snapshot', old.index));
    for (const c of this.checks.filter((x) => x.index <= meta.index)) await this.fs.rmrf(this.pathOf('checkpoint', c.index));
    this.checks = this.checks.filter((x) => x.index > meta.index);
  }

  /** The machine state of the current snapshot, or of a checkpoint at `index`. */
  async read(kind: SnapshotKind = 'snapshot', index?: number): Promise<{ meta: SnapshotMeta; state: unknown }> {
    const meta = kind === 'snapshot' ? this.snap : this.checks.find((c) => c.index === (index ?? this.checks.at(-1)?.index));
    if (meta === undefined) throw new LogNotFoundError(`no ${kind} in ${this.dir}`);
    const path = this.pathOf(kind, meta.index);
    const decoded = decodeSnapshot(await this.fs.readFile(path), path);
    return { meta: decoded.meta, state: decodeValue(decoded.data) };
  }

  /** The current snapshot's file in chunks, for a follower's SnapshotAccept. */
  async *readChunks(chunkBytes: number): AsyncGenerator<SnapshotChunk> {
    assert(chunkBytes > 0 && chunkBytes <= SNAPSHOT_CHUNK_BYTES_MAX, `chunk bytes ${chunkBytes}`);
    const meta = this.snap;
    if (meta === undefined) throw new LogNotFoundError(`no snapshot in ${this.dir}`);
    const handle = await this.fs.open(this.pathOf('snapshot', meta.index), 'read');
    try {
      const size = await handle.size();
      const chunks = Math.max(1, Math.ceil(size / chunkBytes));
      for (let seq = 1; seq <= chunks; seq++) {
        const data = await handle.readAt(chunkBytes, (seq - 1) * chunkBytes);
        yield { seq, last: seq === chunks, data };
      }
    } finally {
      await handle.close();
    }
  }

  /** Starts receiving a snapshot in chunks. Only one transfer at a time per server. */
  beginAccept(onVerified?: (meta: SnapshotMeta) => void): SnapshotAccept {
    return new SnapshotAccept(this, this.fs, joinPath(this.kindDir('snapshot'), 'accepting.tmp'), onVerified);
  }

  /** Called by SnapshotAccept once the file is complete and verified. */
  async adopt(tmpPath: string, meta: SnapshotMeta): Promise<void> {
    await this.fs.rename(tmpPath, this.pathOf('snapshot', meta.index));
    await this.fs.syncDir(this.kindDir('snapshot'));
    await this.installed(meta);
  }
}

export class SnapshotAccept {
  private handle: LogFileHandle | undefined;
  private nextSeq = 1;
  private bytes = 0;

  constructor(
    private readonly store: SnapshotStore,
    private readonly fs: LogFs,
    private readonly tmpPath: string,
    private readonly onVerified?: (meta: SnapshotMeta) => void,
  ) {}

  /**
   * Takes chunks in order; on the last one verifies the whole file and installs it,
   * returning its meta. A bad or out-of-order chunk throws and aborts the transfer.
   */
  async accept(chunk: SnapshotChunk): Promise<SnapshotMeta | undefined> {
    if (chunk.seq !== this.nextSeq) throw new LogInvalidError(`snapshot chunk ${chunk.seq} arrived, expected ${this.nextSeq}`);
    if (this.bytes + chunk.data.length > SNAPSHOT_BYTES_MAX) throw new LogLimitError('snapshot bytes', this.bytes + chunk.data.length, SNAPSHOT_BYTES_MAX);
    if (this.handle === undefined) {
      await this.fs.rmrf(this.tmpPath);
      this.handle = await this.fs.open(this.tmpPath, 'create');
    }
    await this.handle.writeAt(chunk.data, this.bytes);
    this.bytes += chunk.data.length;
    this.nextSeq++;
    if (!chunk.last) return undefined;
    await this.handle.sync();
    await this.handle.close();
    this.handle = undefined;
    try {
      const { meta } = decodeSnapshot(await this.fs.readFile(this.tmpPath), this.tmpPath);
      this.onVerified?.(meta);
      await this.store.adopt(this.tmpPath, meta);
      return meta;
    } catch (err) {
      await this.fs.rmrf(this.tmpPath);
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.handle !== undefined) await this.handle.close().catch(() => undefined);
    this.handle = undefined;
    await this.fs.rmrf(this.tmpPath);
  }
}
