// One server's snapshots and recovery checkpoints on disk. Both are written atomically
// (temp file, sync, rename, directory sync) in the same checksummed format. A snapshot
// replaces the log below it; a checkpoint truncates nothing and only saves replay at a
// restart, so a bad one is skipped. Replaced snapshots may be archived (snapshotBackup).
import type { SnapshotMeta } from '../core/log.js';
import { decodeValue, encodeValue } from './codec.js';
import { LogCorruptionError, LogLimitError, LogNotFoundError } from './errors.js';
import { type LogFs, joinPath, writeFileAtomicOn } from './fs.js';
import { CHECKPOINTS_KEPT_MAX, SNAPSHOT_BACKUPS_KEPT_MAX, SNAPSHOT_BYTES_MAX } from './limits.js';
import { SNAPSHOT_FIXED_BYTES, type SnapshotKind, decodeSnapshot, decodeSnapshotHeader, encodeSnapshotHeader, snapshotHeaderBytes } from './snapshot-format.js';
import { SnapshotAccept, SnapshotReader, type SnapshotChunk } from './snapshot-transfer.js';

export { SnapshotAccept, SnapshotReader, type SnapshotChunk } from './snapshot-transfer.js';

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

function fileName(index: number): string {
  return `${String(index).padStart(16, '0')}.snap`;
}

const BACKUP_DIR = 'snapshot-backups';

export class SnapshotStore {
  private snap: SnapshotMeta | undefined;
  private checks: SnapshotMeta[] = [];
  /** Recovery findings for the server's log (a skipped checkpoint); taken once by takeWarnings. */
  readonly warnings: string[] = [];
  /** Archive a replaced snapshot rather than delete it (the server's snapshotBackup option). */
  backup = false;

  private constructor(
    readonly dir: string,
    private readonly fs: LogFs,
  ) {}

  private kindDir(kind: SnapshotKind): string {
    return joinPath(this.dir, kind === 'snapshot' ? 'snapshots' : 'checkpoints');
  }

  pathOf(kind: SnapshotKind, index: number): string {
    return joinPath(this.kindDir(kind), fileName(index));
  }

  get backupDir(): string {
    return joinPath(this.dir, BACKUP_DIR);
  }

  /**
   * Finds the latest snapshot (which must be intact) and the checkpoints whose headers
   * are intact; a checkpoint's body is checked when it is read (readCheckpoint).
   */
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
          // The log below the latest snapshot is gone, so it is checked whole now. A
          // checkpoint only saves replay time: its header now, its body when read.
          meta = kind === 'snapshot' ? decodeSnapshot(await fs.readFile(path), path).meta : await store.readHeader(path);
          if (meta.index !== Number.parseInt(name, 10)) throw new LogCorruptionError(path, 8, `index ${meta.index} does not match file name`);
        } catch (err) {
          if (kind === 'snapshot' || !(err instanceof LogCorruptionError)) throw err;
          store.skipCheckpoint(path, err);
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

  private async readHeader(path: string): Promise<SnapshotMeta> {
    const handle = await this.fs.open(path, 'read');
    try {
      const fixed = await handle.readAt(SNAPSHOT_FIXED_BYTES, 0);
      const need = snapshotHeaderBytes(fixed) ?? fixed.length;
      const decoded = decodeSnapshotHeader(need > fixed.length ? await handle.readAt(need, 0) : fixed, path);
      const size = await handle.size();
      if (decoded.dataStart + decoded.dataLength !== size) throw new LogCorruptionError(path, size, `checkpoint is ${size} bytes, header says ${decoded.dataStart + decoded.dataLength}`);
      return decoded.meta;
    } finally {
      await handle.close();
    }
  }

  private skipCheckpoint(path: string, err: Error): void {
    this.warnings.push(`checkpoint ${path} skipped: ${err.message}`);
  }

  /** Warnings gathered since the last call (a server logs them when it starts). */
  takeWarnings(): string[] {
    return this.warnings.splice(0, this.warnings.length);
  }

  current(): SnapshotMeta | undefined {
    return this.snap;
  }

  /** Checkpoints past the current snapshot, oldest first. */
  checkpoints(): readonly SnapshotMeta[] {
    return this.checks;
  }

  /** Writes a snapshot (then drops or archives the older one and drops older checkpoints) or a checkpoint. */
  write(kind: SnapshotKind, meta: SnapshotMeta, state: unknown): Promise<void> {
    return this.writeEncoded(kind, meta, encodeValue(state));
  }

  /** As write, with the machine state already encoded. */
  async writeEncoded(kind: SnapshotKind, meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    if (data.length > SNAPSHOT_BYTES_MAX) throw new LogLimitError('snapshot bytes', data.length, SNAPSHOT_BYTES_MAX);
    await writeFileAtomicOn(this.fs, this.pathOf(kind, meta.index), [encodeSnapshotHeader(kind, meta, data), data]);
    if (kind === 'snapshot') await this.installed(meta);
    else {
      this.checks = this.checks.filter((c) => c.index !== meta.index);
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
    if (old !== undefined && old.index !== meta.index) await this.retire(old);
    for (const c of this.checks.filter((x) => x.index <= meta.index)) await this.fs.rmrf(this.pathOf('checkpoint', c.index));
    this.checks = this.checks.filter((x) => x.index > meta.index);
  }

  /** A replaced snapshot goes, or into the backup folder, which keeps the newest few. */
  private async retire(old: SnapshotMeta): Promise<void> {
    const path = this.pathOf('snapshot', old.index);
    if (!this.backup) return this.fs.rmrf(path);
    const dir = this.backupDir;
    if (!(await this.fs.exists(dir))) {
      await this.fs.mkdirp(dir);
      await this.fs.syncDir(this.dir);
    }
    await this.fs.rename(path, joinPath(dir, fileName(old.index)));
    const kept = (await this.fs.readdir(dir)).filter((n) => n.endsWith('.snap')).sort();
    for (const n of kept.slice(0, Math.max(0, kept.length - SNAPSHOT_BACKUPS_KEPT_MAX))) await this.fs.rmrf(joinPath(dir, n));
    await this.fs.syncDir(dir);
  }

  /** Archived snapshots, oldest first (file names). */
  async backups(): Promise<string[]> {
    if (!(await this.fs.exists(this.backupDir))) return [];
    return (await this.fs.readdir(this.backupDir)).filter((n) => n.endsWith('.snap')).sort();
  }

  /** The machine state of the current snapshot. */
  async read(): Promise<{ meta: SnapshotMeta; state: unknown }> {
    const meta = this.snap;
    if (meta === undefined) throw new LogNotFoundError(`no snapshot in ${this.dir}`);
    return this.readFile(this.pathOf('snapshot', meta.index));
  }

  private async readFile(path: string): Promise<{ meta: SnapshotMeta; state: unknown }> {
    const decoded = decodeSnapshot(await this.fs.readFile(path), path);
    return { meta: decoded.meta, state: decodeValue(decoded.data) };
  }

  /**
   * The newest intact checkpoint that `usable` accepts (the log holds its index with
   * its term), for a restart. One that fails its checksum, does not decode or cannot
   * be read is skipped with a warning and deleted; the next older one is tried.
   */
  async readCheckpoint(usable: (meta: SnapshotMeta) => boolean): Promise<{ meta: SnapshotMeta; state: unknown } | undefined> {
    for (const meta of [...this.checks].reverse()) {
      if (!usable(meta)) continue;
      const path = this.pathOf('checkpoint', meta.index);
      try {
        const found = await this.readFile(path);
        if (found.meta.index !== meta.index || found.meta.term !== meta.term) throw new LogCorruptionError(path, 8, `header changed to ${found.meta.index}/${found.meta.term}`);
        return found;
      } catch (err) {
        // Damaged, gone or unreadable: a checkpoint only saves replay, the log still covers it.
        this.skipCheckpoint(path, err instanceof Error ? err : new Error(String(err)));
        this.checks = this.checks.filter((c) => c.index !== meta.index);
        await this.fs.rmrf(path).catch(() => undefined);
      }
    }
    return undefined;
  }

  /** The current snapshot's file in chunks (one reader per follower). */
  async openReader(chunkBytes: number): Promise<SnapshotReader> {
    const meta = this.snap;
    if (meta === undefined) throw new LogNotFoundError(`no snapshot in ${this.dir}`);
    return SnapshotReader.open(this.fs, this.pathOf('snapshot', meta.index), meta, chunkBytes);
  }

  /** The current snapshot's file in chunks, in order. */
  async *readChunks(chunkBytes: number): AsyncGenerator<SnapshotChunk> {
    const reader = await this.openReader(chunkBytes);
    try {
      for (let i = 0; i < reader.chunks; i++) yield await reader.read(i);
    } finally {
      await reader.close();
    }
  }

  /** Starts receiving a snapshot in chunks. Only one transfer at a time per server. */
  beginAccept(onVerified?: (meta: SnapshotMeta) => void): SnapshotAccept {
    return new SnapshotAccept(this.fs, joinPath(this.kindDir('snapshot'), 'accepting.tmp'), (tmp, meta) => this.adopt(tmp, meta), onVerified);
  }

  /** Called by SnapshotAccept once the file is complete and verified. */
  private async adopt(tmpPath: string, meta: SnapshotMeta): Promise<void> {
    await this.fs.rename(tmpPath, this.pathOf('snapshot', meta.index));
    await this.fs.syncDir(this.kindDir('snapshot'));
    await this.installed(meta);
  }
}
