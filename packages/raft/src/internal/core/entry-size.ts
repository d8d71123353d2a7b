// What an entry weighs on the wire, for the byte caps of replication. The core does no
// encoding: the shell passes an estimate of its codec's size (CoreConfig.entryBytes);
// without one, this walks plain data and counts roughly what a compact encoding takes.

import { ENTRY_ESTIMATE_DEPTH_MAX } from './limits.js';
import type { LogEntry } from './log.js';

/** Estimated encoded bytes of one entry; must be a finite number >= 0. */
export type EntryBytes = (entry: LogEntry) => number;

/** Index, term and the payload's tag. */
const ENTRY_HEADER_BYTES = 24;
/** A tag and a length, or one small value. */
const VALUE_HEADER_BYTES = 5;
/** A number, a bigint of one word, or whatever lies deeper than the walk goes. */
const SCALAR_BYTES = 9;
const MEMBER_BYTES = 16;

export const estimateEntryBytes: EntryBytes = (entry) => {
  const payload = entry.payload;
  switch (payload.type) {
    case 'command':
      return ENTRY_HEADER_BYTES + estimateValueBytes(payload.command, 0);
    case 'noop':
      return ENTRY_HEADER_BYTES + SCALAR_BYTES;
    case 'delete_cluster':
      return ENTRY_HEADER_BYTES;
    case 'cluster': {
      let bytes = ENTRY_HEADER_BYTES;
      for (const member of payload.members) bytes += MEMBER_BYTES + member.id.name.length + member.id.node.length;
      return bytes;
    }
  }
};

/** Strings count one byte per UTF-16 unit (exact for ASCII); typed arrays their length. */
function estimateValueBytes(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'number':
    case 'bigint':
      return SCALAR_BYTES;
    case 'string':
      return VALUE_HEADER_BYTES + value.length;
    case 'object':
      if (value === null) return 1;
      if (depth >= ENTRY_ESTIMATE_DEPTH_MAX) return SCALAR_BYTES;
      if (ArrayBuffer.isView(value)) return VALUE_HEADER_BYTES + value.byteLength;
      if (value instanceof ArrayBuffer) return VALUE_HEADER_BYTES + value.byteLength;
      return estimateContainerBytes(value, depth + 1);
    default:
      return 1;
  }
}

function estimateContainerBytes(value: object, depth: number): number {
  let bytes = VALUE_HEADER_BYTES;
  if (Array.isArray(value) || value instanceof Set) {
    for (const item of value) bytes += estimateValueBytes(item, depth);
    return bytes;
  }
  if (value instanceof Map) {
    for (const [key, item] of value) bytes += estimateValueBytes(key, depth) + estimateValueBytes(item, depth);
    return bytes;
  }
  for (const key in value) {
    bytes += VALUE_HEADER_BYTES + key.length + estimateValueBytes((value as Record<string, unknown>)[key], depth);
  }
  return bytes;
}
