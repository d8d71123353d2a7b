// Goal: bytes from a peer decode as plain data within bounds, or are refused before
// msgpackr allocates anything for them; everything the codec itself sends (records
// included, past the 64 record ids msgpackr recycles) decodes as it was sent.

import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES, FrameCodec, FrameReader, HELLO, PROTOCOL_VERSION, SIGNALS } from '../../src/distribution/internal/codec.js';
import { BIGINT_BYTES_MAX, FRAME_DEPTH_MAX } from '../../src/distribution/limits.js';

const bodyOf = (frame: Buffer) => frame.subarray(FRAME_HEADER_BYTES);
const refusal = (decode: () => unknown): string => {
  try {
    decode();
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('frames this node sends', () => {
  it('come from a small shared buffer again after a large frame', () => {
    const codec = new FrameCodec();
    const large = codec.encodeValue({ payload: 'x'.repeat(4_000_000) });
    const copy = Buffer.from(large);
    // msgpackr alone would pack it into a shared buffer of the large one's size (48 MB).
    expect(codec.encodeValue({ small: 1 }).buffer.byteLength).toBeLessThanOrEqual(64 * 1024);
    for (let i = 0; i < 10_000; i++) codec.encodeValue({ i, filler: 'y'.repeat(100) });
    expect(large.equals(copy)).toBe(true);
  });
});

describe('frames from a peer', () => {
  it('refuses a count larger than the bytes left, before allocating for it', () => {
    // Five bytes that would have msgpackr allocate an array of 16 million slots (128 MiB).
    const body = Buffer.from([0xdd, 0x01, 0x00, 0x00, 0x00]);
    expect(refusal(() => new FrameCodec().decode(body))).toContain('16777216 elements declared with 0 bytes left');
    const map = Buffer.from([0xdf, 0x00, 0x10, 0x00, 0x00, 0xc0, 0xc0]);
    expect(refusal(() => new FrameCodec().decode(map))).toContain('map entries declared');
    const string = Buffer.from([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41]);
    expect(refusal(() => new FrameCodec().decode(string))).toContain('runs past the end of the frame');
  });

  it('refuses structured-clone references: a small frame cannot name one object from many places or make a cycle', () => {
    const shared: Record<string, unknown> = { big: 'x'.repeat(100) };
    shared.self = shared;
    const body = new Packr({ structuredClone: true }).pack([SIGNALS, [[0, 1, [shared, shared]]]]);
    expect(refusal(() => new FrameCodec().decode(body))).toContain('extension type 0x69 is not accepted');
  });

  it('refuses string bundles and unknown extensions', () => {
    const bundled = new Packr({ bundleStrings: true }).pack([SIGNALS, ['a string long enough to be bundled', 'another one']]);
    expect(refusal(() => new FrameCodec().decode(bundled))).toContain('extension type 0x62');
    expect(refusal(() => new FrameCodec().decode(Buffer.from([0xd4, 0x05, 0x00])))).toContain('extension type 0x5');
    expect(refusal(() => new FrameCodec().decode(Buffer.from([0xc1])))).toContain('not plain data');
  });

  it('bounds nesting', () => {
    let deep: unknown = 1;
    for (let i = 0; i <= FRAME_DEPTH_MAX; i++) deep = [deep];
    const body = new Packr({ sequential: true, moreTypes: true }).pack([SIGNALS, [[0, 1, deep]]]);
    expect(refusal(() => new FrameCodec().decode(body))).toContain(`nested deeper than ${FRAME_DEPTH_MAX}`);
  });

  it('counts a container as one level deeper than the one holding it, wherever it sits there', () => {
    // msgpackr recurses once per level, so the last element of an array is as deep as its first.
    const nested = (levels: number, last: boolean): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < levels; i++) value = last ? [0, 0, value] : [value, 0, 0];
      return value;
    };
    const packr = new Packr({ sequential: true, moreTypes: true });
    for (const last of [false, true]) {
      // [SIGNALS, [signal]] and the signal are three levels; the value adds the rest.
      const deepest = packr.pack([SIGNALS, [[0, 1, nested(FRAME_DEPTH_MAX - 3, last)]]]);
      expect(new FrameCodec().decode(deepest)).toBeDefined();
      const tooDeep = packr.pack([SIGNALS, [[0, 1, nested(FRAME_DEPTH_MAX - 2, last)]]]);
      expect(refusal(() => new FrameCodec().decode(tooDeep))).toContain(`nested deeper than ${FRAME_DEPTH_MAX}`);
    }
    // A level whose last value was a scalar is closed before the next container opens.
    const wide = packr.pack([SIGNALS, Array.from({ length: FRAME_DEPTH_MAX }, () => [0, 1, [[1], 2]])]);
    expect(new FrameCodec().decode(wide)).toBeDefined();
  });

  it('refuses counts that the bytes left cannot hold together with the values still owed', () => {
    // An outer array of two, whose first element claims all the bytes that are left.
    const body = Buffer.from([0x92, 0x94, 0x01, 0x02, 0x03, 0x04]);
    expect(refusal(() => new FrameCodec().decode(body))).toContain('4 elements declared with 4 bytes left and 1 values after them');
    expect(new FrameCodec().decode(Buffer.from([0x92, 0x93, 0x01, 0x02, 0x03, 0x04]))).toEqual([[1, 2, 3], 4]);
  });

  it('bounds BigInts', () => {
    const huge = 2n ** BigInt(8 * (BIGINT_BYTES_MAX + 8));
    const body = new Packr({ sequential: true, moreTypes: true, useBigIntExtension: true }).pack([SIGNALS, [[0, 1, huge]]]);
    expect(refusal(() => new FrameCodec().decode(body))).toContain('a BigInt of');
  });

  it('refuses two-byte record ids, which this protocol never sends', () => {
    // d5 72 id highByte [keys] values
    const body = Buffer.from([0xd5, 0x72, 0x01, 0x00, 0x91, 0xa1, 0x61, 0x01]);
    expect(refusal(() => new FrameCodec().decode(body))).toContain('two-byte id');
  });

  it('takes only flat plain data before the handshake: no records, extensions, 64-bit integers or nesting', () => {
    const codec = new FrameCodec();
    const hello = [HELLO, PROTOCOL_VERSION, 'a@127.0.0.1:1', 'b@127.0.0.1:2', 'c'.repeat(32)];
    expect(codec.decodeHandshake(bodyOf(codec.encode(hello)))).toEqual(hello);
    const records = new Packr({ sequential: true }).pack([HELLO, { a: 1 }]);
    expect(refusal(() => codec.decodeHandshake(records))).toContain('record definition in a handshake frame');
    expect(refusal(() => codec.decodeHandshake(new Packr({ moreTypes: true }).pack([HELLO, undefined])))).toContain('extension type in a handshake frame');
    expect(refusal(() => codec.decodeHandshake(new Packr().pack([HELLO, 2n ** 60n])))).toContain('64-bit integer');
    expect(refusal(() => codec.decodeHandshake(new Packr().pack([HELLO, [[[1]]]])))).toContain('nested deeper');
  });
});

describe('frames this codec sends', () => {
  it('decode as sent: every user type msgpackr carries, records across frames and past 64 shapes', () => {
    const sender = new FrameCodec();
    const receiver = new FrameCodec();
    const roundTrip = (value: unknown) => (receiver.decode(bodyOf(sender.encode([SIGNALS, [[0, 1, value]]]))) as [number, [[number, number, unknown]]])[1][0][2];
    const user = { u: undefined, d: new Date(5), s: new Set([1, 'a']), r: /ab+c/gi, t: new Float64Array([1.5, 2]), b: 2n ** 70n, i: -(2n ** 62n), e: new Error('boom'), bytes: Buffer.from([1, 2, 3]) };
    expect(roundTrip(user)).toEqual(user);
    // 200 distinct shapes: msgpackr recycles its 64 record ids, and the check must follow.
    for (let i = 0; i < 200; i++) {
      const value = { [`k${i}`]: i, nested: { [`n${i % 70}`]: [i, { again: i }] } };
      expect(roundTrip(value)).toEqual(value);
    }
  });

  it('decodes whatever the sending codec encodes (any value, shapes carried across frames)', () => {
    const sender = new FrameCodec();
    const receiver = new FrameCodec();
    const plain = new Packr({ moreTypes: true });
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4, withBigInt: true, withDate: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true }), (value) => {
        let frame: Buffer;
        try {
          frame = sender.encode([SIGNALS, [[0, 1, value]]]);
        } catch {
          return; // msgpackr cannot encode it: nothing to decode
        }
        const decoded = (receiver.decode(bodyOf(frame)) as [number, [[number, number, unknown]]])[1][0][2];
        // The same as msgpackr decodes it without the check (records aside, which only it can follow).
        expect(plain.unpack(plain.pack(decoded))).toEqual(plain.unpack(plain.pack(value)));
      }),
      { numRuns: 2_000, seed: 77 },
    );
  });

  it('after a reset both ends start their record shapes over', () => {
    const sender = new FrameCodec();
    const receiver = new FrameCodec();
    const value = { a: 1, b: { c: 2 } };
    expect(receiver.decode(bodyOf(sender.encode([SIGNALS, [value]])))).toEqual([SIGNALS, [value]]);
    sender.resetEncoder();
    receiver.resetDecoder();
    expect(receiver.decode(bodyOf(sender.encode([SIGNALS, [value, value]])))).toEqual([SIGNALS, [value, value]]);
  });
});

describe('the frame reader', () => {
  it('checks each length header against the limit of the moment, before the body arrives', () => {
    const reader = new FrameReader();
    const small = Buffer.from([0, 0, 0, 2, 0x91, 0x01]);
    const big = Buffer.alloc(4);
    big.writeUInt32BE(100_000);
    reader.push(Buffer.concat([small, big]));
    expect(reader.next(16)).toEqual(Buffer.from([0x91, 0x01]));
    // The same bytes pass a larger limit (after authentication) and wait for their body.
    expect(reader.next(1 << 20)).toBeUndefined();
    expect(() => reader.next(4_096)).toThrow('frame of 100000 bytes exceeds the limit of 4096');
  });
});
