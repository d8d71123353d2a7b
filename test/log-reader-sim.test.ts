// The simulator's in-memory log passes the LogReader contract suite that ServerLog
// passes (packages/raft/test/log/log-reader.test.ts): the core is simulated on a log
// that behaves as the one it ships on.
import { type LogUnderTest, describeLogReader } from '../packages/raft/test/log/log-reader-suite.js';
import { SimLog } from '../tools/sim/mem-log.js';

async function openSimLog(): Promise<LogUnderTest> {
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

describeLogReader('SimLog (tools/sim)', openSimLog);
