// WAL format: round trips, a torn last frame is truncated, other damage is a typed error.
import { describe, expect, it } from 'vitest';
import { crc32c, crc32cCombine } from '../../src/internal/log/checksum.js';
import { LogCorruptionError, LogVersionError } from '../../src/internal/log/errors.js';
import {
  ENTRY_OVERHEAD_BYTES,
  FRAME_HEAD_BYTES,
  FRAME_OVERHEAD_BYTES,
  WAL_HEADER_BYTES,
  WAL_VERSION,
  encodeEntryRecord,
  encodeWalHeader,
  encodeWriterRecord,
  scanWal,
  sealFrame,
  writerRecordBytes,
} from '../../src/internal/log/wal-format.js';

/** Four entries in four frames (the first also defines the writer); `recordStarts` are the frames' offsets. */
function build(checksums = true, seq = 7): { buf: Buffer; recordStarts: number[] } {
  const id = Buffer.from('server-a');
  const payloads = [Buffer.from('one'), Buffer.from('two!'), Buffer.alloc(0), Buffer.alloc(100, 'f')];
  let size = WAL_HEADER_BYTES + writerRecordBytes(id.length);
  for (const p of payloads) size += FRAME_OVERHEAD_BYTES + ENTRY_OVERHEAD_BYTES + p.length;
  const buf = Buffer.alloc(size);
  encodeWalHeader(seq, checksums).copy(buf);
  let at = WAL_HEADER_BYTES;
  const recordStarts: number[] = [];
  payloads.forEach((p, i) => {
    recordStarts.push(at);
    let end = at + FRAME_HEAD_BYTES;
    if (i === 0) end = encodeWriterRecord(buf, end, 1, id);
    end = encodeEntryRecord(buf, end, 1, 10 + i, 2 ** 40 + 3, p);
    at = sealFrame(buf, at, end, seq, checksums);
  });
  expect(at).toBe(size);
  return { buf, recordStarts };
}

function scan(buf: Buffer, isLast = true) {
  const got: Array<[string, number, number, string]> = [];
  const result = scanWal(buf, 'f.wal', isLast, { entry: (w, i, t, p) => got.push([w, i, t, p.toString()]) });
  return { result, got };
}

describe('WAL format', () => {
  it('combines CRCs of pieces into the CRC of the whole', () => {
    const whole = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) & 0xff));
    for (const [a, b] of [[0, 0], [0, 1], [1, 0], [5, 3], [1000, 99_000], [7, 200_000 - 7]] as const) {
      const left = whole.subarray(0, a);
      const right = whole.subarray(a, a + b);
      expect(crc32cCombine(crc32c(left), crc32c(right), b)).toBe(crc32c(whole.subarray(0, a + b)));
      expect(crc32c(right, crc32c(left))).toBe(crc32c(whole.subarray(0, a + b)));
    }
  });

  it('round-trips header, writer definition and entries with 64-bit terms', () => {
    const { result, got } = scan(build().buf);
    expect(result.header).toEqual({ version: WAL_VERSION, checksums: true, seq: 7 });
    expect(result.torn).toBe(false);
    expect(got.map((g) => g[1])).toEqual([10, 11, 12, 13]);
    expect(got[0]).toEqual(['server-a', 10, 2 ** 40 + 3, 'one']);
    expect(got[2]?.[3]).toBe('');
  });

  it('writes a writer id given as a string as its UTF-8 bytes, the length in bytes', () => {
    const id = 'sérveur-ü';
    const fromString = Buffer.alloc(writerRecordBytes(Buffer.byteLength(id)));
    const fromBytes = Buffer.alloc(fromString.length);
    expect(encodeWriterRecord(fromString, 0, 3, id)).toBe(fromString.length);
    expect(encodeWriterRecord(fromBytes, 0, 3, Buffer.from(id, 'utf8'))).toBe(fromBytes.length);
    expect(fromString).toEqual(fromBytes);
  });

  it('treats a cut last record of the last file as torn', () => {
    const { buf, recordStarts } = build();
    const cut = buf.subarray(0, buf.length - 3);
    const { result, got } = scan(cut);
    expect(result.torn).toBe(true);
    expect(result.validBytes).toBe(recordStarts[3]);
    expect(got).toHaveLength(3);
  });

  it('treats a checksum failure in the last record of the last file as torn', () => {
    const { buf, recordStarts } = build();
    buf[(recordStarts[3] as number) + 26] = (buf[(recordStarts[3] as number) + 26] as number) ^ 1;
    const { result, got } = scan(buf);
    expect(result.torn).toBe(true);
    expect(got).toHaveLength(3);
  });

  it('refuses a bad record with valid records after it, naming file and offset', () => {
    const { buf, recordStarts } = build();
    buf[(recordStarts[1] as number) + 6] = (buf[(recordStarts[1] as number) + 6] as number) ^ 0x10;
    try {
      scan(buf);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LogCorruptionError);
      expect((err as LogCorruptionError).code).toBe('RAFTER_LOG_CORRUPT');
      expect((err as LogCorruptionError).offset).toBe(recordStarts[1]);
      expect((err as Error).message).toContain('f.wal');
    }
  });

  it('refuses any damage in a file that is not the last', () => {
    const { buf } = build();
    expect(() => scan(buf.subarray(0, buf.length - 1), false)).toThrow(LogCorruptionError);
  });

  it('refuses an unknown version and a damaged header', () => {
    const { buf } = build();
    const other = Buffer.from(buf);
    other.writeUInt16LE(WAL_VERSION + 1, 4);
    expect(() => scan(other)).toThrow(LogCorruptionError); // header checksum covers the version
    const hdr = encodeWalHeader(1, true);
    hdr.writeUInt16LE(9, 4);
    hdr.writeUInt32LE(crc32c(hdr.subarray(0, 12)), 12);
    expect(() => scan(hdr)).toThrow(LogVersionError);
  });

  it('reads files written without checksums', () => {
    const { buf } = build(false);
    expect(scan(buf).got).toHaveLength(4);
  });

  it('never reports the entries of a torn frame, and refuses a bad record inside a frame that passed', () => {
    const id = Buffer.from('w');
    const buf = Buffer.alloc(WAL_HEADER_BYTES + FRAME_OVERHEAD_BYTES + writerRecordBytes(1) + 2 * ENTRY_OVERHEAD_BYTES);
    encodeWalHeader(1, true).copy(buf);
    let end = encodeWriterRecord(buf, WAL_HEADER_BYTES + FRAME_HEAD_BYTES, 1, id);
    end = encodeEntryRecord(buf, end, 1, 1, 1, Buffer.alloc(0));
    const secondRecord = end;
    end = encodeEntryRecord(buf, end, 2, 2, 1, Buffer.alloc(0)); // ref 2 is never defined
    sealFrame(buf, WAL_HEADER_BYTES, end, 1, true);
    expect(() => scan(buf)).toThrow(/undefined writer ref 2/);
    try {
      scan(buf);
    } catch (err) {
      expect((err as LogCorruptionError).offset).toBe(secondRecord);
    }
    const { result, got } = scan(buf.subarray(0, buf.length - 1));
    expect(result).toMatchObject({ torn: true, validBytes: WAL_HEADER_BYTES });
    expect(got).toEqual([]);
  });

  it('ends a reused file at the first frame that is not its own', () => {
    // File 7 written over file 6: two frames of its own, then file 6's last two, intact.
    const old = build(true, 6).buf;
    const { buf: fresh, recordStarts } = build(true, 7);
    const reused = Buffer.from(old);
    fresh.copy(reused, 0, 0, recordStarts[2]);
    const { result, got } = scan(reused);
    expect(result).toMatchObject({ torn: true, stale: true, validBytes: recordStarts[2] });
    expect(got.map(([, index]) => index)).toEqual([10, 11]);
    // Damage in its own last frame, with only file 6's frames after it: still a tail.
    const damaged = Buffer.from(reused);
    const flipAt = (recordStarts[1] as number) + FRAME_HEAD_BYTES;
    damaged[flipAt] = (damaged[flipAt] as number) ^ 1;
    expect(scan(damaged).result).toMatchObject({ torn: true, validBytes: recordStarts[1] });
    // Not the last file: cut at rollover, so anything not its own is damage.
    expect(() => scan(reused, false)).toThrow(/frame of file 6 in file 7/);
    // A frame of its own after the old one: not a tail.
    const mixed = Buffer.from(fresh);
    old.copy(mixed, recordStarts[1], recordStarts[1], recordStarts[2]);
    expect(() => scan(mixed)).toThrow(LogCorruptionError);
  });

  it('treats an empty or half-written header of the last file as nothing written', () => {
    expect(scan(Buffer.alloc(0)).result.validBytes).toBe(0);
    expect(scan(build().buf.subarray(0, 5)).result.torn).toBe(true);
  });
});
