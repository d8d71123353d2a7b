// Snapshot file format (pure): a checksummed header with index, term, machine version
// and membership, then the machine state with its own checksum. A chunked transfer
// sends the file bytes as they are, so checksums hold end to end.
import type { Member, SnapshotMeta } from '../core/log.js';
import { crc32c } from './checksum.js';
import { decodeValue, encodeValue } from './codec.js';
import { LogCorruptionError, LogVersionError } from './errors.js';
import { readU64, writeU64 } from './wal-format.js';

export const SNAPSHOT_MAGIC = 0x4e534652; // "RFSN" little-endian
export const SNAPSHOT_VERSION = 1;
/** magic, version, kind, index, term, machine version, meta length, data length, data crc, header crc */
export const SNAPSHOT_FIXED_BYTES = 4 + 2 + 2 + 8 + 8 + 4 + 4 + 8 + 4 + 4;

export type SnapshotKind = 'snapshot' | 'checkpoint';

export interface DecodedSnapshot {
  readonly kind: SnapshotKind;
  readonly meta: SnapshotMeta;
  readonly dataStart: number;
  readonly dataLength: number;
}

export function encodeSnapshot(kind: SnapshotKind, meta: SnapshotMeta, data: Uint8Array): Buffer {
  return Buffer.concat([encodeSnapshotHeader(kind, meta, data), data]);
}

/** The header alone (the file is the header, then `data` as it is): a large state is written without a copy. */
export function encodeSnapshotHeader(kind: SnapshotKind, meta: SnapshotMeta, data: Uint8Array): Buffer {
  const members = encodeValue(meta.members.map((m) => [m.id.name, m.id.node, m.membership]));
  const buf = Buffer.allocUnsafe(SNAPSHOT_FIXED_BYTES + members.length);
  buf.writeUInt32LE(SNAPSHOT_MAGIC, 0);
  buf.writeUInt16LE(SNAPSHOT_VERSION, 4);
  buf.writeUInt16LE(kind === 'snapshot' ? 0 : 1, 6);
  writeU64(buf, meta.index, 8);
  writeU64(buf, meta.term, 16);
  buf.writeUInt32LE(meta.machineVersion, 24);
  buf.writeUInt32LE(members.length, 28);
  writeU64(buf, data.byteLength, 32);
  buf.writeUInt32LE(crc32c(data), 40);
  members.copy(buf, SNAPSHOT_FIXED_BYTES);
  buf.writeUInt32LE(crc32c(members, crc32c(buf.subarray(0, 44))), 44);
  return buf;
}

/** Bytes of the header (fixed part and membership) given at least its fixed part, or undefined if shorter. */
export function snapshotHeaderBytes(buf: Buffer): number | undefined {
  if (buf.length < SNAPSHOT_FIXED_BYTES) return undefined;
  return SNAPSHOT_FIXED_BYTES + buf.readUInt32LE(28);
}

/**
 * Checks a snapshot file fed in pieces, in order, holding only its header: a received
 * or read file of any size is verified without being in memory at once.
 */
export class SnapshotVerifier {
  private head: Buffer = Buffer.alloc(0);
  private header: DecodedSnapshot | undefined;
  private dataCrc = 0;
  private bytes = 0;

  constructor(private readonly file: string) {}

  update(piece: Buffer): void {
    let rest = piece;
    if (this.header === undefined) {
      this.head = Buffer.concat([this.head, piece]);
      const need = snapshotHeaderBytes(this.head);
      if (need === undefined || this.head.length < need) {
        this.bytes += piece.length;
        return;
      }
      this.header = decodeSnapshotHeader(this.head.subarray(0, need), this.file);
      rest = this.head.subarray(need);
      this.head = this.head.subarray(0, need);
      this.bytes = need;
    }
    this.dataCrc = crc32c(rest, this.dataCrc);
    this.bytes += rest.length;
  }

  /** Throws a LogCorruptionError unless the pieces made one whole, intact snapshot. */
  finish(): DecodedSnapshot {
    const h = this.header;
    if (h === undefined) throw new LogCorruptionError(this.file, this.bytes, 'snapshot header cut short');
    if (h.dataStart + h.dataLength !== this.bytes) {
      throw new LogCorruptionError(this.file, Math.min(this.bytes, h.dataStart + h.dataLength), `snapshot is ${this.bytes} bytes, header says ${h.dataStart + h.dataLength}`);
    }
    if (this.dataCrc !== this.head.readUInt32LE(40)) throw new LogCorruptionError(this.file, h.dataStart, 'snapshot data checksum mismatch');
    return h;
  }
}

/** Reads and checks the header only (for listing). */
export function decodeSnapshotHeader(buf: Buffer, file: string): DecodedSnapshot {
  if (buf.length < SNAPSHOT_FIXED_BYTES) throw new LogCorruptionError(file, 0, 'snapshot header cut short');
  if (buf.readUInt32LE(0) !== SNAPSHOT_MAGIC) throw new LogCorruptionError(file, 0, 'not a snapshot file (bad magic)');
  const metaLen = buf.readUInt32LE(28);
  const dataStart = SNAPSHOT_FIXED_BYTES + metaLen;
  if (dataStart > buf.length) throw new LogCorruptionError(file, 28, 'snapshot membership cut short');
  const membersBytes = buf.subarray(SNAPSHOT_FIXED_BYTES, dataStart);
  if (crc32c(membersBytes, crc32c(buf.subarray(0, 44))) !== buf.readUInt32LE(44)) {
    throw new LogCorruptionError(file, 0, 'snapshot header checksum mismatch');
  }
  const version = buf.readUInt16LE(4);
  if (version !== SNAPSHOT_VERSION) throw new LogVersionError(file, version, SNAPSHOT_VERSION);
  const raw = decodeValue(membersBytes) as Array<[string, string, Member['membership']]>;
  const meta: SnapshotMeta = {
    index: readU64(buf, 8),
    term: readU64(buf, 16),
    machineVersion: buf.readUInt32LE(24),
    members: raw.map(([name, node, membership]) => ({ id: { name, node }, membership })),
  };
  return { kind: buf.readUInt16LE(6) === 0 ? 'snapshot' : 'checkpoint', meta, dataStart, dataLength: readU64(buf, 32) };
}

/** Checks the whole file and returns its header and the machine state bytes. */
export function decodeSnapshot(buf: Buffer, file: string): DecodedSnapshot & { data: Buffer } {
  const h = decodeSnapshotHeader(buf, file);
  if (h.dataStart + h.dataLength !== buf.length) {
    throw new LogCorruptionError(file, Math.min(buf.length, h.dataStart + h.dataLength), `snapshot is ${buf.length} bytes, header says ${h.dataStart + h.dataLength}`);
  }
  const data = buf.subarray(h.dataStart);
  if (crc32c(data) !== buf.readUInt32LE(40)) throw new LogCorruptionError(file, h.dataStart, 'snapshot data checksum mismatch');
  return { ...h, data };
}
