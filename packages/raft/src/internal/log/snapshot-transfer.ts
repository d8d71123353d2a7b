// A snapshot file moving between members, one chunk at a time and never whole in memory:
// the leader reads chunk i at its offset when the follower asks for it; the follower
// writes each chunk to a temporary file as it arrives and checks the checksums as it
// goes, then renames the file into place.
import type { SnapshotMeta } from '../core/log.js';
import { LogInvalidError, LogLimitError, assert } from './errors.js';
import type { LogFileHandle, LogFs } from './fs.js';
import { SNAPSHOT_BYTES_MAX, SNAPSHOT_CHUNK_BYTES_MAX } from './limits.js';
import { SnapshotVerifier } from './snapshot-format.js';

export interface SnapshotChunk {
  /** 1-based position in the transfer. */
  readonly seq: number;
  readonly last: boolean;
  readonly data: Buffer;
}

/** Random access to one snapshot file's chunks; the file stays readable if the snapshot is replaced meanwhile. */
export class SnapshotReader {
  private constructor(
    private readonly handle: LogFileHandle,
    readonly meta: SnapshotMeta,
    readonly size: number,
    readonly chunkBytes: number,
  ) {}

  static async open(fs: LogFs, path: string, meta: SnapshotMeta, chunkBytes: number): Promise<SnapshotReader> {
    assert(chunkBytes > 0 && chunkBytes <= SNAPSHOT_CHUNK_BYTES_MAX, `chunk bytes ${chunkBytes}`);
    const handle = await fs.open(path, 'read');
    try {
      return new SnapshotReader(handle, meta, await handle.size(), chunkBytes);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  get chunks(): number {
    return Math.max(1, Math.ceil(this.size / this.chunkBytes));
  }

  /** Chunk `index` (0-based). */
  async read(index: number): Promise<SnapshotChunk> {
    assert(index >= 0 && index < this.chunks, `snapshot chunk ${index} of ${this.chunks}`);
    const data = await this.handle.readAt(this.chunkBytes, index * this.chunkBytes);
    return { seq: index + 1, last: index === this.chunks - 1, data };
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export class SnapshotAccept {
  private handle: LogFileHandle | undefined;
  private nextSeq = 1;
  private bytes = 0;
  private verifier: SnapshotVerifier;

  constructor(
    private readonly fs: LogFs,
    private readonly tmpPath: string,
    private readonly adopt: (tmpPath: string, meta: SnapshotMeta) => Promise<void>,
    private readonly onVerified?: (meta: SnapshotMeta) => void,
  ) {
    this.verifier = new SnapshotVerifier(tmpPath);
  }

  /** Bytes written so far. */
  get written(): number {
    return this.bytes;
  }

  /** Writes the next chunk (in order) to the temporary file; a bad or out-of-order chunk throws. */
  async write(seq: number, data: Buffer): Promise<void> {
    if (seq !== this.nextSeq) throw new LogInvalidError(`snapshot chunk ${seq} arrived, expected ${this.nextSeq}`);
    if (this.bytes + data.length > SNAPSHOT_BYTES_MAX) throw new LogLimitError('snapshot bytes', this.bytes + data.length, SNAPSHOT_BYTES_MAX);
    if (this.handle === undefined) {
      await this.fs.rmrf(this.tmpPath);
      this.handle = await this.fs.open(this.tmpPath, 'create');
    }
    // Checked as it comes: a bad header fails the transfer at its first chunk.
    this.verifier.update(data);
    await this.handle.writeAt(data, this.bytes);
    this.bytes += data.length;
    this.nextSeq++;
  }

  /** All chunks are in: checks the whole file, makes it durable and installs it. */
  async finish(): Promise<SnapshotMeta> {
    try {
      const meta = this.verifier.finish().meta;
      const handle = this.handle;
      this.handle = undefined;
      if (handle !== undefined) {
        await handle.sync();
        await handle.close();
      }
      this.onVerified?.(meta);
      await this.adopt(this.tmpPath, meta);
      return meta;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /**
   * Takes chunks in order; on the last one verifies the whole file and installs it,
   * returning its meta. A bad or out-of-order chunk throws and aborts the transfer.
   */
  async accept(chunk: SnapshotChunk): Promise<SnapshotMeta | undefined> {
    try {
      await this.write(chunk.seq, chunk.data);
    } catch (err) {
      if (!(err instanceof LogInvalidError)) await this.abort();
      throw err;
    }
    return chunk.last ? this.finish() : undefined;
  }

  async abort(): Promise<void> {
    if (this.handle !== undefined) await this.handle.close().catch(() => undefined);
    this.handle = undefined;
    await this.fs.rmrf(this.tmpPath);
  }
}
