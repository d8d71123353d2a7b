// Messages from peers are input, not our invariants: one that breaks the protocol's shape
// is dropped and reported (an `invalidMessage` effect), never asserted on.

import type { ServerId } from './log.js';
import type { RaftMessage } from './types.js';

const isIndex = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** Returns why `msg` cannot be a correct peer's message, or undefined. */
export function checkMessage(from: ServerId, msg: RaftMessage): string | undefined {
  if (!isIndex(msg.term)) return `term ${msg.term} from ${from.name}`;
  switch (msg.type) {
    case 'append_entries':
      return checkAppend(from, msg.prevIndex, msg.prevTerm, msg.term, msg.entries, msg.commitIndex);
    case 'append_entries_reply':
    case 'install_snapshot_reply':
      if (!isIndex(msg.lastIndex) || !isIndex(msg.lastTerm) || msg.lastTerm > msg.term) return `reply from ${from.name} at ${msg.lastIndex}/${msg.lastTerm}`;
      return undefined;
    case 'pre_vote':
    case 'request_vote':
      if (!isIndex(msg.lastIndex) || !isIndex(msg.lastTerm)) return `vote request from ${from.name} at ${msg.lastIndex}/${msg.lastTerm}`;
      return undefined;
    case 'install_snapshot':
      if (!isIndex(msg.meta.index) || msg.meta.term > msg.term || !Number.isSafeInteger(msg.chunkIndex)) return `snapshot from ${from.name} at ${msg.meta.index}/${msg.meta.term}`;
      return undefined;
    default:
      return undefined;
  }
}

function checkAppend(
  from: ServerId,
  prevIndex: number,
  prevTerm: number,
  term: number,
  entries: readonly { index: number; term: number }[],
  commitIndex: number,
): string | undefined {
  if (!isIndex(prevIndex) || !isIndex(prevTerm) || !isIndex(commitIndex) || prevTerm > term) return `append from ${from.name} after ${prevIndex}/${prevTerm}`;
  let index = prevIndex;
  let lastTerm = prevTerm;
  for (const entry of entries) {
    index += 1;
    // Entries follow the previous one without a gap, and terms never fall along a log.
    if (entry.index !== index || entry.term < lastTerm || entry.term > term) return `append from ${from.name}: entry ${entry.index}/${entry.term} at ${index}`;
    lastTerm = entry.term;
  }
  return undefined;
}
