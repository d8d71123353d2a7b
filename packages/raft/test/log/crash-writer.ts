// Child process for the crash test: recovers the system in argv[2], then appends to
// every server as fast as it can, printing "uid index" for each written notice, until
// it is killed. Every printed index was synced before it was printed.
import { LogSystem } from '../../src/internal/log/system.js';

const dir = process.argv[2] as string;
const servers = Number(process.argv[3] ?? 20);

const sys = await LogSystem.open({
  dir,
  wal: { maxSizeBytes: 96 * 1024 },
  segmentMaxEntries: 128,
  snapshotPolicy: { minIntervalMs: 0, minEntries: 200 },
  onWritten: (uid, w) => process.stdout.write(`${uid} ${w.index}\n`),
  onFailure: (what, err) => {
    process.stderr.write(`${what} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(3);
  },
});
const logs = [];
for (let s = 0; s < servers; s++) logs.push(await sys.openServer(`s${s}`));
process.stdout.write('ready\n');
const members = [{ id: { name: 's0', node: 'n' }, membership: 'voter' as const }];
let round = 0;
for (;;) {
  round++;
  for (const log of logs) {
    const next = log.last().index + 1;
    const batch = [];
    for (let i = next; i < next + 1 + (round % 7); i++) batch.push({ index: i, term: 1, payload: { type: 'command' as const, command: `${log.uid}:${i}` } });
    log.append(batch);
    const w = log.lastWritten();
    if (round % 50 === 0 && w.index > 300) void log.releaseCursor({ index: w.index - 100, term: 1, members, machineVersion: 0 }, { upTo: w.index - 100 });
  }
  if (sys.walWriter().pendingEntries() > 4000) await sys.walWriter().idle();
  else await new Promise((r) => setImmediate(r));
}
