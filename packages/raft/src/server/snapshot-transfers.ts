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

/** Chunks read ahead of the follower's acknowledgement (the one it asks for next). */
const CHUNKS_READ_AHEAD = 1;

/** The leader's side of one follower's transfer. */
export class OutgoingSnapshot {
  private readonly reader: Promise<SnapshotChunkReader>;
  /** Chunks read or being read, by index: the last one asked for and the ones after it. */
  private readonly chunks = new Map<number, Promise<SnapshotChunkData>>();
  private closed = false;

  constructor(
    readonly index: number,
    open: () => Promise<SnapshotChunkReader>,
  ) {
    this.reader = open();
    // Seen by read(); an unawaited rejection here is not an error of its own.
    this.reader.catch(() => undefined);
  }

  /** Chunk `chunkIndex`, with the next ones read meanwhile. Undefined once closed. */
  async read(chunkIndex: number): Promise<SnapshotChunkData | undefined> {
    const reader = await this.reader;
    if (reader.meta.index !== this.index) throw new Error(`the snapshot is now at ${reader.meta.index}, not ${this.index}`);
    for (const i of this.chunks.keys()) if (i < chunkIndex) this.chunks.delete(i);
    const chunk = this.fetch(reader, chunkIndex);
    for (let i = chunkIndex + 1; i <= chunkIndex + CHUNKS_READ_AHEAD && i < reader.chunks; i++) void this.fetch(reader, i).catch(() => undefined);
    const data = await chunk;
    return this.closed ? undefined : data;
  }

  private fetch(reader: SnapshotChunkReader, i: number): Promise<SnapshotChunkData> {
    let chunk = this.chunks.get(i);
    if (chunk === undefined) {
      chunk = reader.read(i);
      this.chunks.set(i, chunk);
    }
    return chunk;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.chunks.clear();
    // Reads in flight settle first: the handle is closed after them.
    void this.reader.then((r) => r.close()).catch(() => undefined);
  }
}

/** The follower's side: chunks written in order, each acknowledged once on disk. */
export class IncomingSnapshot {
  /** Settles when every chunk handed over so far is written; rejects if one failed. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly index: number,
    private readonly intake: SnapshotIntake,
  ) {}

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

  abort(): void {
    void this.chain.catch(() => undefined).then(() => this.intake.abort()).catch(() => undefined);
  }
}

export function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`snapshot chunk data is ${typeof data}, not bytes`);
}
