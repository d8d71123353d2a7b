// Snapshot transfers as the interpreter carries them out. The core paces them one chunk
// per round trip; here the leader reads each chunk from the file at its offset (and the
// next one ahead, while the follower writes), and the follower writes each chunk to a
// file as it comes and acknowledges it only once written. So a snapshot of any size
// moves with at most a couple of chunks in memory on either side, at the pace of the
// slower disk.

import type { SnapshotMeta } from '../internal/core/log.js';

/** A chunk of a snapshot file, as the log storage reads them. */
export interface SnapshotChunkData {
  readonly seq: number;
  readonly last: boolean;
  readonly data: Uint8Array;
}

/** Random access to the current snapshot's file (ServerLog.openSnapshotReader). */
export interface SnapshotChunkReader {
  readonly meta: SnapshotMeta;
  readonly chunks: number;
  read(index: number): Promise<SnapshotChunkData>;
  close(): Promise<void>;
}

/** A snapshot being received (ServerLog.acceptSnapshot). */
export interface SnapshotIntake {
  write(seq: number, data: Buffer): Promise<void>;
  finish(): Promise<SnapshotMeta>;
  abort(): Promise<void>;
}

/**
 * Chunks a leader keeps on the wire ahead of the follower's acknowledgements. The core
 * asks for one chunk per acknowledgement; sending a few ahead hides the round trip (two
 * processes' turns and a disk write), and the follower still acknowledges each chunk only
 * once written, so it never holds more than this many unwritten.
 */
export const SNAPSHOT_CHUNKS_IN_FLIGHT_MAX = 4;

/** The leader's side of one follower's transfer. */
export class OutgoingSnapshot {
  private reader: Promise<SnapshotChunkReader> | undefined;
  /** Sends go out in order, one read at a time. */
  private chain: Promise<void> = Promise.resolve();
  /** Highest chunk the core asked for, and highest sent (-1: none). */
  private lastAsked = -1;
  private sentUpTo = -1;
  /** The file's chunks, once opened. */
  private chunkCount: number | undefined;
  /** Chunks queued on the chain and not yet read for sending. */
  private readonly queued = new Set<number>();
  private closed = false;

  constructor(
    readonly index: number,
    private readonly open: () => Promise<SnapshotChunkReader>,
  ) {}

  /**
   * The core asks for chunk `chunkIndex`. Past the last one asked for, the follower
   * acknowledged the one before: the window is filled up to SNAPSHOT_CHUNKS_IN_FLIGHT_MAX
   * chunks past it (a chunk already sent ahead is not sent again). The same one again (a
   * tick saw no progress: a slow follower, or a lost chunk): only that chunk goes again.
   * An earlier one: the transfer started over (the follower lost it), and so does sending.
   */
  ask(chunkIndex: number, send: (chunkIndex: number, chunk: SnapshotChunkData) => void, failed: (err: unknown) => void): void {
    if (chunkIndex < this.lastAsked) this.sentUpTo = chunkIndex - 1;
    const again = chunkIndex === this.lastAsked;
    this.lastAsked = chunkIndex;
    const from = again ? chunkIndex : Math.max(chunkIndex, this.sentUpTo + 1);
    const to = again ? chunkIndex : chunkIndex + SNAPSHOT_CHUNKS_IN_FLIGHT_MAX - 1;
    this.sentUpTo = Math.max(this.sentUpTo, to);
    // A chunk still waiting to go (a slow disk or a busy thread) is not queued twice.
    const indexes: number[] = [];
    for (let i = from; i <= to; i++) if (!this.queued.has(i)) indexes.push(i);
    if (indexes.length === 0) return;
    for (const i of indexes) this.queued.add(i);
    this.chain = this.chain.then(async () => {
      for (const i of indexes) {
        this.queued.delete(i);
        if (this.closed || (this.chunkCount !== undefined && i >= this.chunkCount)) return;
        const reader = await this.readerNow();
        this.chunkCount = reader.chunks;
        if (i >= reader.chunks) break;
        const chunk = await reader.read(i);
        if (this.closed) return;
        send(i, chunk);
        // All sent: the file is closed until a resend needs it again.
        if (chunk.last) this.closeReader();
      }
    }).catch((err: unknown) => {
      this.close();
      failed(err);
    });
  }

  private async readerNow(): Promise<SnapshotChunkReader> {
    this.reader ??= this.open();
    const reader = await this.reader;
    if (reader.meta.index !== this.index) throw new Error(`the snapshot is now at ${reader.meta.index}, not ${this.index}`);
    return reader;
  }

  private closeReader(): void {
    const reader = this.reader;
    this.reader = undefined;
    void reader?.then((r) => r.close()).catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    // A read in flight settles first: the handle is closed after it.
    void this.chain.then(() => this.closeReader());
  }
}

/** The follower's side: chunks written in order, each acknowledged once on disk. */
export class IncomingSnapshot {
  /** Settles when every chunk handed over so far is written; rejects if one failed. */
  private chain: Promise<void>;

  /** `after`: the abort of the transfer this one replaces (both use the same temporary file). */
  constructor(
    readonly index: number,
    private readonly intake: SnapshotIntake,
    after: Promise<void> = Promise.resolve(),
  ) {
    this.chain = after;
  }

  write(chunkIndex: number, data: Buffer): void {
    this.chain = this.chain.then(() => this.intake.write(chunkIndex + 1, data));
  }

  /** Runs `then` once what was handed over is written (for the acknowledgement). */
  afterWrites(then: () => void, failed: (err: unknown) => void): void {
    this.chain.then(then, failed);
  }

  async finish(): Promise<SnapshotMeta> {
    await this.chain;
    return this.intake.finish();
  }

  /** Drops the transfer once its writes in flight are done; resolves when its file is gone. */
  abort(): Promise<void> {
    return this.chain
      .catch(() => undefined)
      .then(() => this.intake.abort())
      .catch(() => undefined);
  }
}

export function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`snapshot chunk data is ${typeof data}, not bytes`);
}
