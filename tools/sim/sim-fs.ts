// A member's disk for the whole-server simulator: a deterministic in-memory LogFs.
// What the process sees (the page cache) and what survives a crash are kept apart:
// file contents are durable at the file's sync, names (creates, renames, unlinks, new
// directories) at their directory's sync. A crash keeps only what is durable, except
// that the kernel may have written back some unsynced writes, the last of them torn at
// a sector boundary. Faults are armed by the simulator and drawn from its seed: a read
// that returns a flipped byte, a sync that fails with EIO (its unsynced data is dropped,
// as Linux does), a full disk (ENOSPC). Syncs take simulated time.

import { LogIoError, type LogFileHandle, type LogFs, type OpenMode, writeFileAtomicOn } from '@rafter/raft/storage';
import type { Prng } from './prng.js';

export const SECTOR_BYTES = 512;

type PendingOp = { readonly kind: 'write'; readonly pos: number; readonly bytes: Buffer } | { readonly kind: 'truncate'; readonly len: number };

class Inode {
  data: Buffer = Buffer.alloc(0);
  durable: Buffer = Buffer.alloc(0);
  /** Writes and truncations since the last sync, in order (what the kernel may write back). */
  pending: PendingOp[] = [];
}

/** What the simulator hands a disk: time for syncs, its seed's choices, counting. */
export interface SimFsHost {
  /** Resolves after `ms` simulated milliseconds, unless the incarnation is gone. */
  delay(inc: number, ms: number): Promise<void>;
  syncMs(): number;
  count(kind: 'tornWrite' | 'corruptRead' | 'syncError' | 'diskFull'): void;
  note(line: string): void;
  /** A write landed while `crashAtNextWrite` was armed: cut the power before it is synced. */
  cutPower(): void;
}

/** A fault that is seen: the corrupt read's file and offset, for the stop-with-a-clear-error check. */
export interface CorruptReadRecord {
  readonly path: string;
  readonly offset: number;
}

export class SimDiskFs {
  #names = new Map<string, Inode>();
  #durableNames = new Map<string, Inode>();
  #dirs = new Set<string>();
  #durableDirs = new Set<string>();
  /** Armed faults. */
  corruptReads = 0;
  failSyncs = 0;
  fullUntilMs = -1;
  tearOnCrash = false;
  /** The next write of a file crashes the machine before it is synced, tearing it. */
  crashAtNextWrite = false;
  /**
   * Mutation, for tests: a file sync returns at once and the data becomes durable only
   * later, so the WAL acknowledges `written` before its fsync is done.
   */
  syncReturnsEarly = false;
  readonly corrupted: CorruptReadRecord[] = [];
  #inc = 0;

  constructor(
    readonly root: string,
    readonly host: SimFsHost,
    private readonly rng: Prng,
    private readonly now: () => number,
  ) {
    for (const d of ancestors(root)) {
      this.#dirs.add(d);
      this.#durableDirs.add(d);
    }
  }

  /** The file system as one incarnation of the member's process sees it. */
  open(inc: number): LogFs {
    this.#inc = inc;
    return new SimFsView(this, inc);
  }

  alive(inc: number): boolean {
    return inc === this.#inc;
  }

  /** Power loss or process crash of the machine: only durable state (and written-back luck) stays. */
  crash(): void {
    this.#inc = -1;
    const inodes = new Set([...this.#names.values(), ...this.#durableNames.values()]);
    const tear = this.tearOnCrash;
    this.tearOnCrash = false;
    for (const inode of inodes) {
      let data = inode.durable;
      if (inode.pending.length > 0 && (tear || this.rng.chance(0.2))) data = this.writeBack(inode, tear);
      inode.data = Buffer.from(data);
      inode.durable = Buffer.from(data);
      inode.pending = [];
    }
    const liveDirs = new Set([...this.#durableDirs].filter((d) => ancestors(d).every((a) => this.#durableDirs.has(a))));
    this.#dirs = liveDirs;
    this.#durableDirs = new Set(liveDirs);
    this.#names = new Map([...this.#durableNames].filter(([path]) => liveDirs.has(dirname(path))));
    this.#durableNames = new Map(this.#names);
  }

  /** Some of the unsynced writes reached the platter in order; the last one may be torn. */
  private writeBack(inode: Inode, tear: boolean): Buffer {
    let data: Buffer = Buffer.from(inode.durable);
    const upTo = this.rng.intBetween(0, inode.pending.length - 1);
    for (let i = 0; i <= upTo; i++) {
      const op = inode.pending[i] as PendingOp;
      if (op.kind === 'truncate') {
        data = resize(data, op.len);
        continue;
      }
      let bytes = op.bytes;
      if (i === upTo && (tear || this.rng.chance(0.3))) {
        // Torn: only the sectors up to a boundary inside the write made it.
        const firstBoundary = Math.ceil((op.pos + 1) / SECTOR_BYTES) * SECTOR_BYTES;
        const end = op.pos + bytes.length;
        if (firstBoundary >= end) continue; // within one sector: a sector is atomic, so nothing of it
        const boundaries = Math.floor((end - 1 - firstBoundary) / SECTOR_BYTES) + 1;
        const cut = firstBoundary + SECTOR_BYTES * this.rng.intBetween(0, boundaries - 1);
        bytes = bytes.subarray(0, cut - op.pos);
        this.host.count('tornWrite');
      }
      data = writeInto(data, op.pos, bytes);
    }
    return data;
  }

  // ---- operations (by a live incarnation) ----

  inode(path: string): Inode {
    const inode = this.#names.get(path);
    if (inode === undefined) throw fsError('ENOENT', 'open', path);
    return inode;
  }

  has(path: string): boolean {
    return this.#names.has(path) || this.#dirs.has(path);
  }

  create(path: string): Inode {
    if (this.#names.has(path)) throw fsError('EEXIST', 'open', path);
    if (!this.#dirs.has(dirname(path))) throw fsError('ENOENT', 'open', path);
    this.checkSpace(path, 'open');
    const inode = new Inode();
    this.#names.set(path, inode);
    return inode;
  }

  checkSpace(path: string, syscall: string): void {
    if (this.now() < this.fullUntilMs) {
      this.host.count('diskFull');
      throw fsError('ENOSPC', syscall, path);
    }
  }

  write(inode: Inode, path: string, bytes: Uint8Array, pos: number): void {
    this.checkSpace(path, 'write');
    const copy = Buffer.from(bytes);
    inode.data = writeInto(inode.data, pos, copy);
    inode.pending.push({ kind: 'write', pos, bytes: copy });
    if (this.crashAtNextWrite && copy.length > SECTOR_BYTES) {
      this.crashAtNextWrite = false;
      this.tearOnCrash = true;
      this.host.cutPower();
    }
  }

  truncate(inode: Inode, len: number): void {
    inode.data = resize(inode.data, len);
    inode.pending.push({ kind: 'truncate', len });
  }

  read(inode: Inode, path: string, pos: number, length: number): Buffer {
    const out = Buffer.from(inode.data.subarray(Math.min(pos, inode.data.length), Math.min(pos + length, inode.data.length)));
    if (this.corruptReads > 0 && out.length > 0 && this.rng.chance(0.25)) {
      this.corruptReads--;
      const at = this.rng.intBetween(0, out.length - 1);
      out[at] = (out[at] as number) ^ (1 << this.rng.intBetween(0, 7));
      this.corrupted.push({ path, offset: pos + at });
      this.host.count('corruptRead');
      this.host.note(`${path}: read returns a flipped bit at offset ${pos + at}`);
    }
    return out;
  }

  /** A file sync: durable now, or EIO, and then its unsynced data is gone (fsyncgate). */
  sync(inode: Inode, path: string): void {
    if (this.failSyncs > 0) {
      this.failSyncs--;
      this.host.count('syncError');
      this.host.note(`${path}: sync fails with EIO`);
      inode.data = Buffer.from(inode.durable);
      inode.pending = [];
      throw fsError('EIO', 'fsync', path);
    }
    inode.durable = Buffer.from(inode.data);
    inode.pending = [];
  }

  syncDir(dir: string): void {
    if (!this.#dirs.has(dir)) throw fsError('ENOENT', 'open', dir);
    if (this.failSyncs > 0) {
      this.failSyncs--;
      this.host.count('syncError');
      this.host.note(`${dir}: directory sync fails with EIO`);
      throw fsError('EIO', 'fsync', dir);
    }
    for (const path of [...this.#durableNames.keys()]) if (dirname(path) === dir && !this.#names.has(path)) this.#durableNames.delete(path);
    for (const [path, inode] of this.#names) if (dirname(path) === dir) this.#durableNames.set(path, inode);
    for (const d of [...this.#durableDirs]) if (dirname(d) === dir && d !== dir && !this.#dirs.has(d)) this.#durableDirs.delete(d);
    for (const d of this.#dirs) if (dirname(d) === dir && d !== dir) this.#durableDirs.add(d);
  }

  readdir(dir: string): string[] {
    if (!this.#dirs.has(dir)) throw fsError('ENOENT', 'scandir', dir);
    const out: string[] = [];
    for (const path of this.#names.keys()) if (dirname(path) === dir) out.push(path.slice(dir.length + 1));
    for (const d of this.#dirs) if (d !== dir && dirname(d) === dir) out.push(d.slice(dir.length + 1));
    return out.sort();
  }

  mkdirp(dir: string): void {
    for (const d of ancestors(dir)) {
      if (this.#names.has(d)) throw fsError('EEXIST', 'mkdir', d);
      this.#dirs.add(d);
    }
  }

  rename(from: string, to: string): void {
    const inode = this.inode(from);
    if (!this.#dirs.has(dirname(to))) throw fsError('ENOENT', 'rename', to);
    this.#names.delete(from);
    this.#names.set(to, inode);
  }

  unlink(path: string): void {
    this.inode(path);
    this.#names.delete(path);
  }

  rmrf(path: string): void {
    this.#names.delete(path);
    for (const p of [...this.#names.keys()]) if (p.startsWith(`${path}/`)) this.#names.delete(p);
    for (const d of [...this.#dirs]) if (d === path || d.startsWith(`${path}/`)) this.#dirs.delete(d);
  }

  /** Durable bytes of every file, for tests. */
  durableFiles(): Map<string, Buffer> {
    return new Map([...this.#durableNames].map(([p, i]) => [p, i.durable]));
  }
}

/** One incarnation's view: once the process is gone, its calls never return. */
class SimFsView implements LogFs {
  constructor(
    private readonly disk: SimDiskFs,
    private readonly inc: number,
  ) {}

  /** Runs `op` now if the process lives; a dead process's call hangs (nothing of it reaches the disk). */
  run<T>(path: string, op: () => T): Promise<T> {
    if (!this.disk.alive(this.inc)) return new Promise<T>(() => undefined);
    try {
      return Promise.resolve(op());
    } catch (err) {
      return Promise.reject(new LogIoError(path, err));
    }
  }

  /** A sync takes simulated time; its outcome is decided when it completes. */
  async syncLater(path: string, op: () => void): Promise<void> {
    if (!this.disk.alive(this.inc)) return new Promise<void>(() => undefined);
    if (this.disk.syncReturnsEarly) {
      void this.disk.host.delay(this.inc, this.disk.host.syncMs()).then(() => this.run(path, op)).catch(() => undefined);
      return;
    }
    await this.disk.host.delay(this.inc, this.disk.host.syncMs());
    return this.run(path, op);
  }

  async open(path: string, mode: OpenMode): Promise<LogFileHandle> {
    const inode = await this.run(path, () => (mode === 'create' ? this.disk.create(path) : this.disk.inode(path)));
    return new SimFileHandle(this, this.disk, path, inode, mode === 'read');
  }

  readFile(path: string): Promise<Buffer> {
    return this.run(path, () => {
      const inode = this.disk.inode(path);
      return this.disk.read(inode, path, 0, inode.data.length);
    });
  }

  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
    return writeFileAtomicOn(this, path, bytes);
  }

  readdir(path: string): Promise<string[]> {
    return this.run(path, () => this.disk.readdir(path));
  }
  mkdirp(path: string): Promise<void> {
    return this.run(path, () => this.disk.mkdirp(path));
  }
  rename(from: string, to: string): Promise<void> {
    return this.run(from, () => this.disk.rename(from, to));
  }
  unlink(path: string): Promise<void> {
    return this.run(path, () => this.disk.unlink(path));
  }
  rmrf(path: string): Promise<void> {
    return this.run(path, () => this.disk.rmrf(path));
  }
  exists(path: string): Promise<boolean> {
    return this.run(path, () => this.disk.has(path));
  }
  syncDir(path: string): Promise<void> {
    return this.syncLater(path, () => this.disk.syncDir(path));
  }
  readSync(path: string, position: number, length: number): Buffer {
    if (!this.disk.alive(this.inc)) throw new LogIoError(path, new Error('the process is gone'));
    try {
      return this.disk.read(this.disk.inode(path), path, position, length);
    } catch (err) {
      throw new LogIoError(path, err);
    }
  }
}

class SimFileHandle implements LogFileHandle {
  #closed = false;
  constructor(
    private readonly view: SimFsView,
    private readonly disk: SimDiskFs,
    private readonly path: string,
    private readonly inode: Inode,
    private readonly readOnly: boolean,
  ) {}

  private live(): void {
    if (this.#closed) throw fsError('EBADF', 'write', this.path);
  }

  writeAt(bytes: Uint8Array, position: number): Promise<void> {
    return this.view.run(this.path, () => {
      this.live();
      if (this.readOnly) throw fsError('EBADF', 'write', this.path);
      this.disk.write(this.inode, this.path, bytes, position);
    });
  }
  readAt(length: number, position: number): Promise<Buffer> {
    return this.view.run(this.path, () => {
      this.live();
      return this.disk.read(this.inode, this.path, position, length);
    });
  }
  datasync(): Promise<void> {
    if (this.#closed) return this.view.run(this.path, () => this.live());
    return this.view.syncLater(this.path, () => this.disk.sync(this.inode, this.path));
  }
  sync(): Promise<void> {
    return this.datasync();
  }
  truncate(length: number): Promise<void> {
    return this.view.run(this.path, () => {
      this.live();
      this.disk.truncate(this.inode, length);
    });
  }
  size(): Promise<number> {
    return this.view.run(this.path, () => this.inode.data.length);
  }
  close(): Promise<void> {
    return this.view.run(this.path, () => {
      this.#closed = true;
    });
  }
}

function fsError(code: string, syscall: string, path: string): Error {
  const messages: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EEXIST: 'file already exists',
    EIO: 'i/o error',
    ENOSPC: 'no space left on device',
    EBADF: 'bad file descriptor',
  };
  return Object.assign(new Error(`${code}: ${messages[code] ?? 'error'}, ${syscall} '${path}'`), { code, syscall, path });
}

function writeInto(data: Buffer, pos: number, bytes: Uint8Array): Buffer {
  const out = pos + bytes.length > data.length ? resize(data, pos + bytes.length) : data;
  out.set(bytes, pos);
  return out;
}

function resize(data: Buffer, len: number): Buffer {
  if (len <= data.length) return Buffer.from(data.subarray(0, len));
  const out = Buffer.alloc(len);
  data.copy(out);
  return out;
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** `/a/b/c` -> `/`, `/a`, `/a/b`, `/a/b/c`. */
function ancestors(path: string): string[] {
  const out = ['/'];
  const parts = path.split('/').filter((p) => p.length > 0);
  for (let i = 1; i <= parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}
