// Per-system meta store: current term and voted-for of every server (durable before a
// vote is answered) and last applied (persisted lazily). An append-only file of
// checksummed records, rewritten compactly when it grows. See docs/internals/log-format.md.
import type { ServerId } from '../core/log.js';
import { crc32c } from './checksum.js';
import { decodeValue, encodeValue } from './codec.js';
import { LogClosedError, LogCorruptionError, LogLimitError, LogVersionError } from './errors.js';
import { type LogFileHandle, type LogFs, joinPath } from './fs.js';
import { META_FILE_BYTES_MAX, META_RECORD_BYTES_MAX } from './limits.js';

export const META_MAGIC = 0x544d4652; // "RFMT" little-endian
export const META_VERSION = 1;
export const META_HEADER_BYTES = 12;
const RECORD_HEAD_BYTES = 8; // length, crc

export interface ServerMeta {
  readonly currentTerm: number;
  readonly votedFor: ServerId | null;
  readonly lastApplied: number;
}

const EMPTY: ServerMeta = { currentTerm: 0, votedFor: null, lastApplied: 0 };

type Wire = [uid: string, term: number, votedName: string | null, votedNode: string | null, lastApplied: number] | [uid: string, 'deleted'];

function encodeHeader(): Buffer {
  const buf = Buffer.alloc(META_HEADER_BYTES);
  buf.writeUInt32LE(META_MAGIC, 0);
  buf.writeUInt16LE(META_VERSION, 4);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 8)), 8);
  return buf;
}

function encodeRecord(w: Wire): Buffer {
  const body = encodeValue(w);
  if (body.length > META_RECORD_BYTES_MAX) throw new LogLimitError('meta record bytes', body.length, META_RECORD_BYTES_MAX);
  const buf = Buffer.allocUnsafe(RECORD_HEAD_BYTES + body.length);
  buf.writeUInt32LE(body.length, 0);
  buf.writeUInt32LE(crc32c(body, crc32c(buf.subarray(0, 4))), 4);
  body.copy(buf, RECORD_HEAD_BYTES);
  return buf;
}

function recordAt(buf: Buffer, at: number): { end: number; wire: Wire } | undefined {
  if (at + RECORD_HEAD_BYTES > buf.length) return undefined;
  const len = buf.readUInt32LE(at);
  const end = at + RECORD_HEAD_BYTES + len;
  if (len > META_RECORD_BYTES_MAX || end > buf.length) return undefined;
  const body = buf.subarray(at + RECORD_HEAD_BYTES, end);
  if (crc32c(body, crc32c(buf.subarray(at, at + 4))) !== buf.readUInt32LE(at + 4)) return undefined;
  try {
    const wire = decodeValue(body) as Wire;
    if (!Array.isArray(wire) || typeof wire[0] !== 'string') return undefined;
    return { end, wire };
  } catch {
    return undefined;
  }
}

/** Replays a meta file; a bad record with nothing valid after it is a torn tail. */
export function scanMeta(buf: Buffer, file: string): { servers: Map<string, ServerMeta>; validBytes: number } {
  if (buf.length < META_HEADER_BYTES) throw new LogCorruptionError(file, 0, 'meta header cut short');
  if (buf.readUInt32LE(0) !== META_MAGIC || crc32c(buf.subarray(0, 8)) !== buf.readUInt32LE(8)) {
    throw new LogCorruptionError(file, 0, 'meta header is not valid');
  }
  const version = buf.readUInt16LE(4);
  if (version !== META_VERSION) throw new LogVersionError(file, version, META_VERSION);
  const servers = new Map<string, ServerMeta>();
  let at = META_HEADER_BYTES;
  while (at < buf.length) {
    const rec = recordAt(buf, at);
    if (rec === undefined) {
      for (let p = at + 1; p < buf.length; p++) {
        if (recordAt(buf, p) !== undefined) throw new LogCorruptionError(file, at, 'meta record checksum mismatch');
      }
      return { servers, validBytes: at };
    }
    const w = rec.wire;
    if (w[1] === 'deleted') servers.delete(w[0]);
    else {
      const [uid, term, name, node, lastApplied] = w;
      servers.set(uid, { currentTerm: term, votedFor: name !== null && node !== null ? { name, node } : null, lastApplied });
    }
    at = rec.end;
  }
  return { servers, validBytes: at };
}

function toWire(uid: string, m: ServerMeta): Wire {
  return [uid, m.currentTerm, m.votedFor?.name ?? null, m.votedFor?.node ?? null, m.lastApplied];
}

export class MetaStore {
  private readonly servers: Map<string, ServerMeta>;
  private handle: LogFileHandle | undefined;
  private position: number;
  private queued: Buffer[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private dirtyApplied = new Set<string>();
  private writing = false;
  private scheduled = false;
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly fs: LogFs,
    servers: Map<string, ServerMeta>,
    position: number,
    private readonly defer: (fn: () => void) => void,
  ) {
    this.servers = servers;
    this.position = position;
  }

  /** `defer` runs a function in a later turn (default setImmediate); a simulator passes its own. */
  static async open(dir: string, fs: LogFs, defer: (fn: () => void) => void = setImmediate): Promise<MetaStore> {
    await fs.mkdirp(dir);
    const path = joinPath(dir, 'meta.dat');
    let servers = new Map<string, ServerMeta>();
    if (await fs.exists(path)) {
      const buf = await fs.readFile(path);
      const scanned = scanMeta(buf, path);
      if (scanned.validBytes < buf.length) {
        // A bad read looks like a torn tail, and the rewrite below would drop synced
        // records for good: drop only what a second read shows the same.
        const again = await fs.readFile(path);
        if (!again.equals(buf)) {
          let at = 0;
          while (at < buf.length && buf[at] === again[at]) at++;
          throw new LogCorruptionError(path, at, 'two reads of the file returned different bytes, so its tail is not dropped as torn; check the disk');
        }
      }
      servers = scanned.servers;
    }
    // Start from a compact copy: drops any torn tail and keeps the file small.
    const store = new MetaStore(path, fs, servers, 0, defer);
    await store.rewrite();
    return store;
  }

  get(uid: string): ServerMeta {
    return this.servers.get(uid) ?? EMPTY;
  }

  uids(): string[] {
    return [...this.servers.keys()];
  }

  /** Records term and vote; resolves once they are synced. Answer a vote only after this. */
  storeTermAndVote(uid: string, currentTerm: number, votedFor: ServerId | null): Promise<void> {
    if (this.closed) return Promise.reject(new LogClosedError('meta store'));
    const m = { ...this.get(uid), currentTerm, votedFor };
    this.servers.set(uid, m);
    this.dirtyApplied.delete(uid);
    this.queued.push(encodeRecord(toWire(uid, m)));
    return this.sync();
  }

  /** Records last applied in memory; it reaches disk with the next sync or flush(). */
  storeLastApplied(uid: string, lastApplied: number): void {
    const m = this.get(uid);
    if (lastApplied <= m.lastApplied) return;
    this.servers.set(uid, { ...m, lastApplied });
    this.dirtyApplied.add(uid);
  }

  /** Writes pending last-applied values (call periodically). */
  flush(): Promise<void> {
    if (this.dirtyApplied.size === 0 && this.queued.length === 0) return Promise.resolve();
    return this.sync();
  }

  async delete(uid: string): Promise<void> {
    this.servers.delete(uid);
    this.dirtyApplied.delete(uid);
    this.queued.push(encodeRecord([uid, 'deleted']));
    return this.sync();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.handle !== undefined) await this.handle.close();
    this.handle = undefined;
  }

  private sync(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      // Every vote cast in this turn shares one write and one sync.
      this.defer(() => {
        this.scheduled = false;
        void this.writeLoop();
      });
    }
    return p;
  }

  private async writeLoop(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiters.length > 0) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const uid of this.dirtyApplied) this.queued.push(encodeRecord(toWire(uid, this.get(uid))));
        this.dirtyApplied.clear();
        const batch = Buffer.concat(this.queued);
        this.queued = [];
        try {
          if (this.position + batch.length > META_FILE_BYTES_MAX) await this.rewrite();
          else {
            await (this.handle as LogFileHandle).writeAt(batch, this.position);
            await (this.handle as LogFileHandle).datasync();
            this.position += batch.length;
          }
          for (const w of waiters) w.resolve();
        } catch (err) {
          for (const w of waiters) w.reject(err);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** Replaces the file with one record per server, atomically. */
  private async rewrite(): Promise<void> {
    if (this.handle !== undefined) await this.handle.close();
    this.handle = undefined;
    const parts = [encodeHeader()];
    for (const [uid, m] of this.servers) parts.push(encodeRecord(toWire(uid, m)));
    const buf = Buffer.concat(parts);
    await this.fs.writeFileAtomic(this.path, buf);
    this.handle = await this.fs.open(this.path, 'write');
    this.position = buf.length;
  }
}
