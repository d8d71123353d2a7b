// ServerLog driven as a LogUnderTest (see log-reader-suite.ts): an in-process LogSystem
// in a temporary directory, with snapshots installed from a donor server's file.
import type { SnapshotMeta } from '../../src/internal/core/log.js';
import type { ServerLog } from '../../src/internal/log/server-log.js';
import { LogSystem } from '../../src/internal/log/system.js';
import { tempDir } from './helpers.js';
import type { LogUnderTest } from './log-reader-suite.js';

export async function openServerLogUnderTest(): Promise<LogUnderTest> {
  const t = tempDir('rafter-log-reader-');
  const sys = await LogSystem.open({ dir: t.dir, random: () => 0.5, segmentMaxEntries: 64, snapshotPolicy: { minIntervalMs: 0, minEntries: 1 } });
  const log: ServerLog = await sys.openServer('s1');
  let donors = 0;
  return {
    reader: log,
    append: (entries) => log.append(entries),
    writeAll: () => sys.idle(),
    async snapshot(meta: SnapshotMeta, state: unknown) {
      if (!(await log.releaseCursor(meta, state))) throw new Error(`no snapshot taken at ${meta.index}`);
    },
    async install(meta: SnapshotMeta, state: unknown) {
      // A leader that holds meta.index in meta.term streams its snapshot file.
      const leader = await sys.openServer(`leader-${++donors}`);
      leader.append(Array.from({ length: meta.index }, (_, k) => ({ index: k + 1, term: meta.term, payload: { type: 'noop', machineVersion: 0 } as const })));
      await sys.idle();
      await leader.releaseCursor(meta, state);
      const accept = log.acceptSnapshot();
      for await (const chunk of leader.readSnapshotChunks(256)) await accept.accept(chunk);
    },
    async settle() {
      await sys.walWriter().rollover();
      await sys.idle();
    },
    async close() {
      await sys.close();
      t.cleanup();
    },
  };
}

