// A pass over a frame's msgpack bytes before msgpackr sees them. Bytes from a peer are
// plain data: no structured-clone references or string bundles (which let a few bytes
// name a large object graph), no declared length beyond the bytes that are left (so a
// five-byte array header cannot make the decoder allocate gigabytes), nesting bounded,
// and before authentication nothing but nil, booleans, numbers, strings, arrays and maps.
//
// The check mirrors msgpackr's reading exactly where they could disagree: bytes 0x40-0x7f
// are record instances once a record of that id was defined on the connection (msgpackr's
// `sequential` mode), small integers otherwise. So the connection's record shapes are
// tracked here too, and two-byte record ids (which this protocol never sends) are refused.

import { BIGINT_BYTES_MAX } from '../limits.js';

/** Key counts of the records a connection's peer defined so far, by id; -1 when undefined. */
export type RecordShapes = Int32Array;

export function newRecordShapes(): RecordShapes {
  return new Int32Array(64).fill(-1);
}

/** What a frame may contain: handshake frames are plain; data frames may carry the user types msgpackr encodes. */
export interface FrameRules {
  /** Record shapes of the connection, or undefined when records are not allowed (0x40-0x7f are integers). */
  readonly shapes: RecordShapes | undefined;
  /** Extensions allowed (undefined, Date, Error, Set, RegExp, typed arrays, BigInt) and 64-bit integers. */
  readonly userTypes: boolean;
  readonly depthMax: number;
}

const EXT_UNDEFINED = 0x00;
const EXT_BIGINT = 0x42;
const EXT_ERROR = 0x65;
const EXT_SET = 0x73;
const EXT_TYPED_ARRAY = 0x74;
const EXT_REGEXP = 0x78;
const EXT_DATE = 0xff;
const EXT_RECORD = 0x72;

/** Before authentication no record is defined: 0x40-0x7f stay small integers. */
const NO_RECORDS: RecordShapes = newRecordShapes();

/** For each open level, the `owed` count at which all its values have been read (see checkFrameBody). */
const closeAts = new Float64Array(1_024);

/** Bytes after tokens 0xc0-0xdf whose value has a fixed size (nil, booleans, numbers but 64-bit integers); -1 for the others. */
const FIXED_BYTES = new Int8Array([
  0, -1, 0, 0, -1, -1, -1, -1, -1, -1, 4, 8, 1, 2, 4, -1, // c0-cf: nil, booleans, float 32/64, uint 8/16/32
  1, 2, 4, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, // d0-df: int 8/16/32
]);

/**
 * Undefined when `body` is one plain-data value within bounds; otherwise why not.
 *
 * This runs on every frame, often before V8 has optimised it, so the loop is kept
 * short: the common tokens (small integers, short strings and containers, fixed-size
 * numbers) are read inline and the rest in readOther. One count, `owed`, holds the
 * values still to read at every open level; a level is only dropped from the stack
 * (closeAts) when the next container opens, which is when its depth matters.
 */
export function checkFrameBody(body: Uint8Array, rules: FrameRules): string | undefined {
  const end = body.length;
  const shapes = rules.shapes ?? NO_RECORDS;
  const depthMax = Math.min(rules.depthMax, closeAts.length - 1);
  if (end === 0) return 'the frame ends inside a value';
  let pos = 0;
  // Every value owed takes at least one byte, and each step below keeps owed <= end - pos:
  // while a value is owed there is a byte to read, with no bound check per token.
  let owed = 1;
  let depth = 0;
  /** `owed` once the innermost open level is read; the levels around it are in closeAts. */
  let closeAt = 0;
  do {
    const token = body[pos++]!;
    owed--;
    /** Values the token opens (an array, map or record's elements, an extension's value). */
    let opens: number;
    // Positive and negative fixints (0x00-0x3f here, 0xe0-0xff) map to 0x00-0x5f.
    if (((token + 0x20) & 0xff) < 0x60) continue;
    if (token < 0x80) {
      // A record instance once that id was defined on the connection, else a small integer.
      opens = shapes[token & 0x3f]!;
      if (opens <= 0) continue;
    } else if (token < 0xa0) {
      opens = token < 0x90 ? 2 * (token - 0x80) : token - 0x90;
      if (opens === 0) continue;
    } else if (token < 0xc0) {
      const length = token - 0xa0;
      if (length > end - pos - owed) return overrun(length, owed);
      pos += length;
      continue;
    } else {
      const fixed = FIXED_BYTES[token - 0xc0]!;
      if (fixed >= 0) {
        if (fixed > end - pos - owed) return overrun(fixed, owed);
        pos += fixed;
        continue;
      }
      opens = readOther(body, pos, token, rules);
      if (opens < 0) return refusal;
      pos = otherEnd;
      if (opens === 0) {
        if (owed > end - pos) return 'the frame ends inside a value';
        continue;
      }
    }
    // A count beyond the bytes left (after the values still owed) is a lie.
    if (opens > end - pos - owed) return tooMany(token, opens, end - pos, owed);
    // A level is read once `owed` falls below its closeAt (the token just read lies outside it).
    while (depth > 0 && closeAt > owed) closeAt = closeAts[--depth]!;
    if (depth >= depthMax) return `values nested deeper than ${rules.depthMax}`;
    closeAts[depth++] = closeAt;
    closeAt = owed;
    owed += opens;
  } while (owed !== 0);
  return pos === end ? undefined : `${end - pos} bytes after the value`;
}

function overrun(length: number, owedAfter = 0): string {
  return `a length of ${length} bytes runs past the end of the frame${owedAfter > 0 ? ` (with ${owedAfter} values after it)` : ''}`;
}

function tooMany(token: number, opens: number, bytesLeft: number, owedAfter: number): string {
  const what = (token >= 0x80 && token < 0x90) || token === 0xde || token === 0xdf ? `${opens / 2} map entries` : `${opens} elements`;
  return `${what} declared with ${bytesLeft} bytes left${owedAfter > 0 ? ` and ${owedAfter} values after them` : ''}`;
}

/** Why readOther refused its token. */
let refusal = '';
/** Where the value readOther read ended, its bytes included (the values it opens follow). */
let otherEnd = 0;

/**
 * Tokens 0xc0-0xdf without a fixed size: lengths, 64-bit integers, extensions and
 * record definitions. The values the token opens, or -1 when refused (see `refusal`).
 */
function readOther(src: Uint8Array, start: number, token: number, rules: FrameRules): number {
  const end = src.length;
  let pos = start;
  // Sizes and lengths follow the token: 1, 2 or 4 bytes, big-endian.
  const size = SIZE_BYTES[token - 0xc0]!;
  if (size > end - pos) return refuse('the frame ends inside a length');
  const n = size === 0 ? 0 : size === 1 ? src[pos]! : size === 2 ? src[pos]! * 0x100 + src[pos + 1]! : src[pos]! * 0x1000000 + src[pos + 1]! * 0x10000 + src[pos + 2]! * 0x100 + src[pos + 3]!;
  pos += size;
  let skip = 0;
  let opens = 0;
  switch (token) {
    case 0xc4:
    case 0xc5:
    case 0xc6:
    case 0xd9:
    case 0xda:
    case 0xdb:
      skip = n;
      break;
    case 0xcf:
    case 0xd3:
      // msgpackr reads these as BigInt.
      if (!rules.userTypes) return refuse('a 64-bit integer in a handshake frame');
      skip = 8;
      break;
    case 0xdc:
    case 0xdd:
      opens = n;
      break;
    case 0xde:
    case 0xdf:
      opens = 2 * n;
      break;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {
      const dataBytes = token >= 0xd4 ? FIX_EXT_BYTES[token - 0xd4]! : n;
      if (pos >= end) return refuse('the frame ends inside an extension');
      const type = src[pos++]!;
      if (type === EXT_RECORD && token >= 0xd4) {
        if (token !== 0xd4) return refuse('a record with a two-byte id (this protocol uses one-byte ids)');
        const shapes = rules.shapes;
        if (shapes === undefined) return refuse('a record definition in a handshake frame');
        // d4 72 id [keys...] values...: defines record `id` and holds its first instance.
        if (pos >= end) return refuse('the frame ends inside a record definition');
        const id = src[pos++]! & 0x3f;
        const keys = readKeys(src, pos, end);
        if (typeof keys === 'string') return refuse(keys);
        shapes[id] = keys;
        otherEnd = keyListEnd;
        return keys;
      }
      if (!rules.userTypes) return refuse('an extension type in a handshake frame');
      skip = dataBytes;
      if (type === EXT_ERROR || type === EXT_SET || type === EXT_REGEXP) opens = 1; // msgpackr reads one value after the data
      else if (type === EXT_BIGINT) {
        if (dataBytes > BIGINT_BYTES_MAX) return refuse(`a BigInt of ${dataBytes} bytes (at most ${BIGINT_BYTES_MAX})`);
      } else if (type !== EXT_UNDEFINED && type !== EXT_DATE && type !== EXT_TYPED_ARRAY) {
        return refuse(`extension type 0x${type.toString(16)} is not accepted from peers`);
      }
      break;
    }
    default:
      return refuse(`token 0x${token.toString(16)} is not plain data`);
  }
  if (skip > end - pos) return refuse(overrun(skip));
  otherEnd = pos + skip;
  return opens;
}

function refuse(why: string): number {
  refusal = why;
  return -1;
}

/** Bytes of the size field after tokens 0xc0-0xdf (0 for those without one). */
const SIZE_BYTES = new Uint8Array([
  0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0, // c0-cf: bin 8/16/32, ext 8/16/32
  0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4, // d0-df: str 8/16/32, array 16/32, map 16/32
]);
const FIX_EXT_BYTES = [1, 2, 4, 8, 16];

/** Where the last key list read by readKeys ended. */
let keyListEnd = 0;

/** A record definition's keys: an array of strings. Their count, or why they are refused. */
function readKeys(src: Uint8Array, start: number, end: number): number | string {
  let pos = start;
  if (pos >= end) return 'the frame ends inside a record definition';
  const token = src[pos++]!;
  let count: number;
  if (token >= 0x90 && token < 0xa0) count = token - 0x90;
  else if (token === 0xdc && pos + 2 <= end) count = src[pos++]! * 0x100 + src[pos++]!;
  else return 'a record definition whose keys are not an array';
  if (count > end - pos) return `a record of ${count} keys declared with ${end - pos} bytes left`;
  for (let i = 0; i < count; i++) {
    if (pos >= end) return 'the frame ends inside a record definition';
    const t = src[pos++]!;
    let length: number;
    if (t >= 0xa0 && t < 0xc0) length = t - 0xa0;
    else if (t === 0xd9 && pos < end) length = src[pos++]!;
    else if (t === 0xda && pos + 2 <= end) length = src[pos++]! * 0x100 + src[pos++]!;
    else return 'a record key that is not a short string';
    if (length > end - pos) return 'a record key runs past the end of the frame';
    pos += length;
  }
  keyListEnd = pos;
  return count;
}

/**
 * V8 optimises checkFrameBody in the middle of a connection's first large frame. Code
 * it has never seen run then has no type feedback and sends it back to the interpreter
 * when reached (the end of the frame, a length-prefixed array), which costs milliseconds
 * per process. A few runs over one small frame at load give every common path feedback.
 */
function collectTypeFeedback(): void {
  const sample = new Uint8Array([
    0x92, 0x0a, 0xdc, 0x00, 0x03, // [SIGNALS, array16 of 3]
    0x93, 0x00, 0xcd, 0x18, 0x01, 0xd4, 0x72, 0x00, 0x91, 0xa1, 0x61, 0x01, // [0, pid, record 0 { a: 1 } defined]
    0x93, 0x00, 0xcd, 0x18, 0x01, 0x40, 0xa1, 0x62, // [0, pid, record 0 { a: 'b' }]
    0x95, 0x0d, 0xce, 0x00, 0x00, 0x30, 0x01, 0xff, 0xd9, 0x01, 0x78, 0x82, 0xa1, 0x61, 0xc3, 0xa1, 0x62, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, // [13, pid, -1, 'x', { a: true, b: 0 }]
  ]);
  const rules: FrameRules = { shapes: newRecordShapes(), userTypes: true, depthMax: 4 };
  for (let i = 0; i < 8; i++) {
    rules.shapes!.fill(-1);
    if (checkFrameBody(sample, rules) !== undefined) throw new Error('the frame check refuses its own sample frame');
  }
}
collectTypeFeedback();
