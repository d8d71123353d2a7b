// A member's log as the whole-server simulator hands it to the interpreter: the shipped
// ServerLog, with every append also reported to the invariants.

import type { LogEntry } from '@rafter/raft/core';
import type { ServerLog } from '@rafter/raft/storage';
import type { ServerStorage } from '../../packages/raft/src/server/interpreter.js';

export function observedLog(log: ServerLog, onAppend: (entries: readonly LogEntry[]) => void): ServerStorage['log'] {
  return {
    first: () => log.first(),
    last: () => log.last(),
    lastWritten: () => log.lastWritten(),
    termAt: (index) => log.termAt(index),
    entries: (from, to) => log.entries(from, to),
    snapshot: () => log.snapshot(),
    append: (entries) => {
      log.append(entries);
      onAppend(entries);
    },
    releaseCursor: (meta, state) => log.releaseCursor(meta, state),
    checkpoint: (meta, state) => log.checkpoint(meta, state),
    readSnapshot: () => log.readSnapshot(),
    openSnapshotReader: (bytes) => log.openSnapshotReader(bytes),
    acceptSnapshot: () => log.acceptSnapshot(),
  };
}
