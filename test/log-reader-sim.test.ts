// The simulator's in-memory log passes the LogReader contract suite that ServerLog
// passes (packages/raft/test/log/log-reader.test.ts): the core is simulated on a log
// that behaves as the one it ships on.
import { describeLogReader } from '../packages/raft/test/log/log-reader-suite.js';
import { openSimLog } from './sim-log-under-test.js';

describeLogReader('SimLog (tools/sim)', async () => openSimLog());
