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

let src: Uint8Array = new Uint8Array(0);
let view: DataView = new DataView(src.buffer);
let pos = 0;
let end = 0;
let rules: FrameRules;
/** Why the bytes were refused; set by the first check that fails. */
let refusal: string | undefined;

/** Undefined when `body` is one plain-data value within bounds; otherwise why not. */
export function checkFrameBody(body: Uint8Array, frameRules: FrameRules): string | undefined {
  src = body;
  view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  pos = 0;
  end = body.length;
  rules = frameRules;
  refusal = undefined;
  value(0);
  if (refusal === undefined && pos !== end) refusal = `${end - pos} bytes after the value`;
  src = EMPTY;
  return refusal;
}

const EMPTY = new Uint8Array(0);

function refuse(why: string): false {
  if (refusal === undefined) refusal = why;
  return false;
}

/** Skips `n` bytes; false when fewer are left. */
function skip(n: number): boolean {
  if (n > end - pos) return refuse(`a length of ${n} bytes runs past the end of the frame`);
  pos += n;
  return true;
}

function values(count: number, depth: number): boolean {
  // Every value takes at least one byte: a count beyond the bytes left is a lie.
  if (count > end - pos) return refuse(`${count} elements declared with ${end - pos} bytes left`);
  for (let i = 0; i < count; i++) if (!value(depth)) return false;
  return true;
}

function value(depth: number): boolean {
  if (pos >= end) return refuse('the frame ends inside a value');
  if (depth > rules.depthMax) return refuse(`values nested deeper than ${rules.depthMax}`);
  const token = src[pos++]!;
  if (token < 0x40) return true;
  if (token < 0x80) return record(token & 0x3f, depth);
  if (token < 0x90) return values(2 * (token - 0x80), depth + 1);
  if (token < 0xa0) return values(token - 0x90, depth + 1);
  if (token < 0xc0) return skip(token - 0xa0);
  if (token >= 0xe0) return true;
  switch (token) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return true;
    case 0xc4:
      return length(1) && skip(src[pos - 1]!);
    case 0xc5:
      return length(2) && skip(view.getUint16(pos - 2));
    case 0xc6:
      return length(4) && skip(view.getUint32(pos - 4));
    case 0xc7:
      return length(1) && extension(src[pos - 1]!, depth);
    case 0xc8:
      return length(2) && extension(view.getUint16(pos - 2), depth);
    case 0xc9:
      return length(4) && extension(view.getUint32(pos - 4), depth);
    case 0xca:
      return skip(4);
    case 0xcb:
      return skip(8);
    case 0xcc:
    case 0xd0:
      return skip(1);
    case 0xcd:
    case 0xd1:
      return skip(2);
    case 0xce:
    case 0xd2:
      return skip(4);
    case 0xcf:
    case 0xd3:
      // msgpackr reads these as BigInt.
      return rules.userTypes ? skip(8) : refuse('a 64-bit integer in a handshake frame');
    case 0xd4:
      return fixExtension(1, depth);
    case 0xd5:
      return fixExtension(2, depth);
    case 0xd6:
      return fixExtension(4, depth);
    case 0xd7:
      return fixExtension(8, depth);
    case 0xd8:
      return fixExtension(16, depth);
    case 0xd9:
      return length(1) && skip(src[pos - 1]!);
    case 0xda:
      return length(2) && skip(view.getUint16(pos - 2));
    case 0xdb:
      return length(4) && skip(view.getUint32(pos - 4));
    case 0xdc:
      return length(2) && values(view.getUint16(pos - 2), depth + 1);
    case 0xdd:
      return length(4) && values(view.getUint32(pos - 4), depth + 1);
    case 0xde:
      return length(2) && mapEntries(view.getUint16(pos - 2), depth + 1);
    case 0xdf:
      return length(4) && mapEntries(view.getUint32(pos - 4), depth + 1);
    default:
      return refuse(`token 0x${token.toString(16)} is not plain data`);
  }
}

/** Reads past a length field of `n` bytes (its value is read by the caller at pos - n). */
function length(n: number): boolean {
  return skip(n);
}

function mapEntries(count: number, depth: number): boolean {
  if (count > (end - pos) / 2) return refuse(`${count} map entries declared with ${end - pos} bytes left`);
  return values(2 * count, depth);
}

/** A byte 0x40-0x7f: a record instance when that id was defined, else a small integer. */
function record(id: number, depth: number): boolean {
  const keys = rules.shapes?.[id] ?? -1;
  if (keys < 0) return true;
  return values(keys, depth + 1);
}

function fixExtension(dataBytes: number, depth: number): boolean {
  if (pos >= end) return refuse('the frame ends inside an extension');
  if (src[pos] === EXT_RECORD) {
    if (dataBytes !== 1) return refuse('a record with a two-byte id (this protocol uses one-byte ids)');
    pos++;
    return recordDefinition(depth);
  }
  return extension(dataBytes, depth);
}

/** `d4 72 id [keys...] values...`: defines record `id` and reads its first instance. */
function recordDefinition(depth: number): boolean {
  if (rules.shapes === undefined) return refuse('a record definition in a handshake frame');
  if (pos >= end) return refuse('the frame ends inside a record definition');
  const id = src[pos++]! & 0x3f;
  const keys = keyList();
  if (keys < 0) return false;
  rules.shapes[id] = keys;
  return values(keys, depth + 1);
}

/** An array of string keys; its length, or -1 when refused. */
function keyList(): number {
  if (pos >= end) return refuseCount('the frame ends inside a record definition');
  const token = src[pos++]!;
  let count = -1;
  if (token >= 0x90 && token < 0xa0) count = token - 0x90;
  else if (token === 0xdc) count = length(2) ? view.getUint16(pos - 2) : -1;
  else if (token === 0xdd) count = length(4) ? view.getUint32(pos - 4) : -1;
  else return refuseCount('a record definition whose keys are not an array');
  if (count < 0) return -1;
  if (count > end - pos) return refuseCount(`a record of ${count} keys declared with ${end - pos} bytes left`);
  for (let i = 0; i < count; i++) if (!stringValue()) return -1;
  return count;
}

function refuseCount(why: string): -1 {
  refuse(why);
  return -1;
}

function stringValue(): boolean {
  if (pos >= end) return refuse('the frame ends inside a record definition');
  const token = src[pos++]!;
  if (token >= 0xa0 && token < 0xc0) return skip(token - 0xa0);
  if (token === 0xd9) return length(1) && skip(src[pos - 1]!);
  if (token === 0xda) return length(2) && skip(view.getUint16(pos - 2));
  if (token === 0xdb) return length(4) && skip(view.getUint32(pos - 4));
  return refuse('a record key that is not a string');
}

/** Extension `type` with `dataBytes` of data; some of msgpackr's read one more value after the data. */
function extension(dataBytes: number, depth: number): boolean {
  if (!rules.userTypes) return refuse('an extension type in a handshake frame');
  if (pos >= end) return refuse('the frame ends inside an extension');
  const type = src[pos++]!;
  switch (type) {
    case EXT_UNDEFINED:
    case EXT_DATE:
    case EXT_TYPED_ARRAY:
      return skip(dataBytes);
    case EXT_BIGINT:
      return dataBytes <= BIGINT_BYTES_MAX ? skip(dataBytes) : refuse(`a BigInt of ${dataBytes} bytes (at most ${BIGINT_BYTES_MAX})`);
    case EXT_ERROR:
    case EXT_SET:
    case EXT_REGEXP:
      return skip(dataBytes) && value(depth + 1);
    default:
      return refuse(`extension type 0x${type.toString(16)} is not accepted from peers`);
  }
}
