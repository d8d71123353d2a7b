// ServerLog (memory table, shared WAL, segments, snapshots) passes the LogReader
// contract suite that the simulator's in-memory log passes too (test/log-reader-sim.test.ts).
import { describeLogReader } from './log-reader-suite.js';
import { openServerLogUnderTest } from './server-log-under-test.js';

describeLogReader('ServerLog', openServerLogUnderTest);
