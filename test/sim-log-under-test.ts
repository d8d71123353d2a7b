// The simulator's in-memory log behind the LogReader suite's interface.
import type { LogUnderTest } from '../packages/raft/test/log/log-reader-suite.js';
import { SimLog } from '../tools/sim/mem-log.js';

export function openSimLog(): LogUnderTest {
  const log = new SimLog();
  return {
    reader: log,
    append: (entries) => log.append(entries),
    async writeAll() {
      while (log.hasPendingWrites()) log.completeWrite();
    },
    snapshot: async (meta, state) => log.takeSnapshot(meta, state),
    install: async (meta, state) => log.installSnapshot(meta, state),
    settle: async () => undefined,
    close: async () => undefined,
  };
}
