// Frames on the wire: a 4-byte big-endian length, then one msgpackr value. Errors in
// signals (exit reasons, failed replies) travel as plain data and are rebuilt on arrival.

import { Packr } from 'msgpackr';

export const FRAME_HEADER_BYTES = 4;
/** 2: signals as arrays, pids of the two ends packed into numbers. 3: pids carry a creation. */
export const PROTOCOL_VERSION = 3;

/** Frame kinds. Handshake frames come first; the others only after it succeeded. */
export const HELLO = 1;
export const CHALLENGE = 2;
export const ANSWER = 3;
export const READY = 4;
/** Sent before closing a handshake that this side refuses, so the peer can log why. */
export const REFUSED = 5;
export const SIGNALS = 10;
export const TICK = 11;
export const HEARTBEAT = 12;
/** Both sides drop their shared record shapes (sent after an encoded frame was discarded). */
export const RESET = 13;

/** Why a handshake was refused, as carried by a REFUSED frame. */
export type Refusal = 'cookie' | 'name' | 'version' | 'simultaneous';

const packr = new Packr({ useRecords: false, moreTypes: true });

/**
 * One encoder and one decoder per connection: with `sequential` records, the shape of
 * a repeated object (a signal, a pid) is sent once per connection and referred to
 * after that, which both sides can do because frames are decoded in the order sent.
 */
export class FrameCodec {
  private encoder = newSequentialPackr();
  private decoder = newSequentialPackr();

  encode(frame: unknown[]): Buffer {
    return withHeader(this.encoder.pack(frame));
  }

  decode(body: Buffer): unknown {
    return this.decoder.unpack(body);
  }

  /** Forgets the shapes sent so far; the peer must get a RESET frame next. */
  resetEncoder(): void {
    this.encoder = newSequentialPackr();
  }

  /** Forgets the shapes received so far (on a RESET frame). */
  resetDecoder(): void {
    this.decoder = newSequentialPackr();
  }
}

function newSequentialPackr(): Packr {
  return new Packr({ sequential: true, moreTypes: true });
}

/**
 * Frames without objects carry no record shapes, so they may be encoded once and
 * written out of turn (ahead of queued data) without upsetting the shared shapes.
 */
export const HEARTBEAT_FRAME = encodeFrame([HEARTBEAT, 0]);
export const TICK_FRAME = encodeFrame([TICK]);
export const RESET_FRAME = encodeFrame([RESET]);

function withHeader(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/** Encodes a frame without connection state (tests and tools that speak raw frames). */
export function encodeFrame(frame: unknown[]): Buffer {
  const body = packr.pack(frame);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, FRAME_HEADER_BYTES);
  return out;
}

export function decodeBody(body: Buffer): unknown {
  return packr.unpack(body);
}

/** Splits a byte stream into frame bodies; bounded by `maxFrameBytes`. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Returns the complete frame bodies; throws on a length over the limit. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < FRAME_HEADER_BYTES) break;
      const head = this.peek(FRAME_HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) throw new RangeError(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
      if (this.buffered < FRAME_HEADER_BYTES + length) break;
      const all = this.take(FRAME_HEADER_BYTES + length);
      frames.push(all.subarray(FRAME_HEADER_BYTES));
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}
