// What a leader has sent to one follower and not yet seen acknowledged, in estimated
// bytes: the in-flight byte cap counts it, as INFLIGHT_ENTRIES_MAX counts entries.

import type { Peer } from './state.js';

/** Sending restarts at `index` (after a rewind, a tick without progress, a snapshot): nothing above it is in flight. */
export function resendFrom(peer: Peer, index: number): void {
  peer.nextIndex = index;
  peer.probeIndex = index - 1;
  peer.inflight.length = 0;
  peer.inflightBytes = 0;
}

export function recordSent(peer: Peer, lastIndex: number, bytes: number): void {
  peer.inflight.push({ lastIndex, bytes });
  peer.inflightBytes += bytes;
}

/** Bytes still in flight, forgetting messages the follower has acknowledged (matchIndex only grows). */
export function inflightBytes(peer: Peer): number {
  let acked = 0;
  while (acked < peer.inflight.length && peer.inflight[acked]!.lastIndex <= peer.matchIndex) {
    peer.inflightBytes -= peer.inflight[acked]!.bytes;
    acked += 1;
  }
  if (acked > 0) peer.inflight.splice(0, acked);
  return peer.inflightBytes;
}
