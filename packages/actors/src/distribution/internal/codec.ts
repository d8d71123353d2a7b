// Frames on the wire: a 4-byte big-endian length, then one msgpackr value. Errors in
// signals (exit reasons, failed replies) travel as plain data and are rebuilt on arrival.

import { Packr, Unpackr } from 'msgpackr';
import { BIGINT_BYTES_MAX, FRAME_DEPTH_MAX, HANDSHAKE_FRAME_DEPTH_MAX } from '../limits.js';
import { checkFrameBody, newRecordShapes, type FrameRules } from './frame-check.js';

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
 * Every body is checked as plain data within bounds before msgpackr reads it.
 */
export class FrameCodec {
  private encoder = newSequentialPackr();
  private decoder = newSequentialUnpackr();
  private dataRules: FrameRules = { shapes: newRecordShapes(), userTypes: true, depthMax: FRAME_DEPTH_MAX };
  /** The record shapes the peer holds from what this side sent (see checkEncoded). */
  private sentShapes = newRecordShapes();
  private sentRecordCount = 0;

  /** Encodes a frame; throws UnsendableError when the peer's frame check would refuse it. */
  encode(frame: unknown[]): Buffer {
    const body = packed(this.encoder, frame);
    this.checkEncoded(body, 0);
    return withHeader(body);
  }

  /** Decodes a frame from an authenticated peer; throws with the reason when the bytes are refused. */
  decode(body: Buffer): unknown {
    const refusal = checkFrameBody(body, this.dataRules);
    if (refusal !== undefined) throw new Error(refusal);
    return this.decoder.unpack(body);
  }

  /** Decodes a handshake frame: flat, plain data, no records; throws with the reason when refused. */
  decodeHandshake(body: Buffer): unknown {
    const refusal = checkFrameBody(body, HANDSHAKE_RULES);
    if (refusal !== undefined) throw new Error(refusal);
    return handshakeUnpackr.unpack(body);
  }

  /**
   * Encodes one signal against the shared shapes, for `signalsFrame` (values encoded in
   * turn concatenate); throws UnsendableError when the peer would refuse it there.
   */
  encodeValue(value: unknown): Buffer {
    const body = packed(this.encoder, value);
    this.checkEncoded(body, SIGNALS_FRAME_LEVELS);
    return body;
  }

  /** Forgets the shapes sent so far; the peer must get a RESET frame next. */
  resetEncoder(): void {
    this.encoder = newSequentialPackr();
    this.sentShapes = newRecordShapes();
    this.sentRecordCount = 0;
  }

  /**
   * Runs the peer's frame check on bytes just encoded, `levelsAround` levels deep in
   * their frame, so that a message the peer would refuse (and close the connection
   * for) fails here alone. An honest encoder's lengths are right, so only the bounds
   * can fail (msgpackr's own types are all accepted), and none of them fits in
   * UNCHECKED_BODY_BYTES_MAX bytes: the check is skipped for such bytes unless they
   * define record shapes, which it must follow. A refused frame's shapes never reach
   * the peer: the caller resets the encoder. Walking the value instead, before
   * encoding, measured slower than this pass over the bytes (which the peer runs anyway).
   */
  private checkEncoded(body: Uint8Array, levelsAround: number): void {
    const recordCount = recordsDefined(this.encoder);
    const definesRecords = recordCount !== this.sentRecordCount;
    this.sentRecordCount = recordCount;
    if (body.length <= UNCHECKED_BODY_BYTES_MAX && !definesRecords) return;
    const rules: FrameRules = { shapes: this.sentShapes, userTypes: true, depthMax: FRAME_DEPTH_MAX - levelsAround };
    const refusal = checkFrameBody(body, rules);
    if (refusal !== undefined) throw new UnsendableError(refusal);
  }

  /**
   * Hands the decoder as it is to a frame that arrives in fragments (encoded before
   * the sender started afresh) and starts afresh for the frames that follow.
   */
  takeDecoder(): { decode(body: Buffer): unknown } {
    const decoder = this.decoder;
    const rules = this.dataRules;
    this.decoder = newSequentialUnpackr();
    this.dataRules = { ...rules, shapes: newRecordShapes() };
    return {
      decode: (body) => {
        const refusal = checkFrameBody(body, rules);
        if (refusal !== undefined) throw new Error(refusal);
        return decoder.unpack(body);
      },
    };
  }

  /** Forgets the shapes received so far (on a RESET frame). */
  resetDecoder(): void {
    this.decoder = newSequentialUnpackr();
    this.dataRules = { ...this.dataRules, shapes: newRecordShapes() };
  }
}

/** Thrown by the encoding methods for a value the peer's frame check would refuse. */
export class UnsendableError extends Error {}

/** Levels open around a signal in a SIGNALS frame: the frame's array and the signals' array. */
const SIGNALS_FRAME_LEVELS = 2;

/**
 * Bodies up to this size cannot break a bound of the frame check: deeper nesting than
 * FRAME_DEPTH_MAX takes a byte a level, and a BigInt past BIGINT_BYTES_MAX, a record key
 * or key list past 0xffff take more bytes still. It also stays below the bytes that 64
 * record definitions take (at least 4 + 63 * 7), so msgpackr's record ids, which go round
 * in 64, cannot come back to the same count within one unchecked body.
 */
const UNCHECKED_BODY_BYTES_MAX = 256;
if (UNCHECKED_BODY_BYTES_MAX >= FRAME_DEPTH_MAX - SIGNALS_FRAME_LEVELS || UNCHECKED_BODY_BYTES_MAX >= BIGINT_BYTES_MAX) {
  throw new Error('UNCHECKED_BODY_BYTES_MAX must stay below the bounds of the frame check');
}

/** Record shapes msgpackr's sequential encoder defined so far (its next record id, which goes round in 64). */
function recordsDefined(packr: Packr): number {
  return (packr as unknown as { structures?: { nextId?: number } }).structures?.nextId ?? 0;
}

const HANDSHAKE_RULES: FrameRules = { shapes: undefined, userTypes: false, depthMax: HANDSHAKE_FRAME_DEPTH_MAX };
const handshakeUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false });

/** References (structured clone) are off: a peer could otherwise name one object from many places, or make cycles. */
function newSequentialUnpackr(): Unpackr {
  return new Unpackr({ sequential: true, moreTypes: true, structuredClone: false });
}

/**
 * msgpackr packs every value, of every Packr in the process, into one shared buffer, and
 * when it fills takes a new one of the same size. A large frame leaves that size large
 * (a 64 MiB message, 240 MB), so that every small frame after it pays a share of
 * allocating such buffers (twice the cost of packing it, measured). After a large value
 * msgpackr is handed a small buffer again; the large one stays with the value in it.
 */
function packed(packr: Packr, value: unknown): Buffer {
  const body = packr.pack(value);
  if (body.buffer.byteLength > PACK_BUFFER_BYTES_MAX) packr.useBuffer(Buffer.allocUnsafeSlow(PACK_BUFFER_BYTES));
  return body;
}

const PACK_BUFFER_BYTES_MAX = 1 << 20;
/** msgpackr's own first size: larger ones measured slower (64 KiB: 430 ns a small pack, against 260). */
const PACK_BUFFER_BYTES = 8 * 1024;

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

/** A SIGNALS frame (length header included) of signals encoded one by one with `encodeValue`, in order. */
export function signalsFrame(encoded: readonly Buffer[], encodedBytes: number): Buffer {
  const n = encoded.length;
  const arrayHeaderBytes = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 2 + arrayHeaderBytes + encodedBytes);
  let at = out.writeUInt32BE(2 + arrayHeaderBytes + encodedBytes, 0);
  at = out.writeUInt8(0x92, at);
  at = out.writeUInt8(SIGNALS, at);
  if (n < 16) at = out.writeUInt8(0x90 | n, at);
  else if (n < 0x10000) at = out.writeUInt16BE(n, out.writeUInt8(0xdc, at));
  else at = out.writeUInt32BE(n, out.writeUInt8(0xdd, at));
  for (const part of encoded) at += part.copy(out, at);
  return out;
}

/** Bytes a SIGNALS frame body adds around its signals, at most. */
export const SIGNALS_FRAME_OVERHEAD_BYTES = 2 + 5;

/** Encodes a frame without connection state (tests and tools that speak raw frames). */
export function encodeFrame(frame: unknown[]): Buffer {
  const body = packed(packr, frame);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Splits a byte stream into frame bodies, one at a time, so that each frame's length is
 * checked against the limit of the moment (small until the peer is authenticated).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete frame body, or undefined until more bytes arrive. Throws as soon as
   * a length header passes `maxFrameBytes`, before any of that frame's body is waited for.
   */
  next(maxFrameBytes: number): Buffer | undefined {
    if (this.buffered < FRAME_HEADER_BYTES) return undefined;
    const length = this.peek(FRAME_HEADER_BYTES).readUInt32BE(0);
    if (length > maxFrameBytes) throw new RangeError(`frame of ${length} bytes exceeds the limit of ${maxFrameBytes}`);
    if (this.buffered < FRAME_HEADER_BYTES + length) return undefined;
    return this.take(FRAME_HEADER_BYTES + length).subarray(FRAME_HEADER_BYTES);
  }

  /** Drops whatever is buffered (the connection is closing). */
  clear(): void {
    this.chunks = [];
    this.buffered = 0;
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
