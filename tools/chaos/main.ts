// pnpm chaos [--seconds N] [--seed S] [--json] [--mutation ack-before-sync]
// Three Raft node processes on loopback under a seeded nemesis (kill -9, SIGSTOP,
// partitions, a slow disk), clients recording every operation, and a linearizability
// check of the history at the end. Exit code 0 when linearizable, 1 when not.

import { parseArgs } from 'node:util';
import type { StorageMutation } from '../cluster/faulty-fs.js';
import { runChaos, type ChaosReport } from './runner.js';

const MUTATIONS: readonly StorageMutation[] = ['ack-before-sync'];
const USAGE = 'usage: pnpm chaos [--seconds N] [--seed S] [--json] [--mutation ack-before-sync]\n';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    mutation: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const mutation = values.mutation as StorageMutation | undefined;
if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isSafeInteger(seed) || (mutation !== undefined && !MUTATIONS.includes(mutation))) {
  process.stderr.write(USAGE);
  process.exit(2);
}

const replay = `pnpm chaos --seed ${seed} --seconds ${seconds}${mutation !== undefined ? ` --mutation ${mutation}` : ''}`;
process.stderr.write(`chaos: seed ${seed}, ${seconds}s (replay: ${replay})\n`);
const report = await runChaos({ seconds, seed, ...(mutation !== undefined ? { mutation } : {}), log: (line) => process.stderr.write(`chaos: ${line}\n`) });
process.stdout.write(values.json ? `${JSON.stringify({ command: `${replay} --json`, ...report }, null, 2)}\n` : formatReport(report, replay));
process.exit(report.linearizable ? 0 : 1);

function formatReport(r: ChaosReport, command: string): string {
  const verdict = r.linearizable ? 'LINEARIZABLE' : r.check === 'unknown' ? 'UNKNOWN (checker budget exhausted)' : 'NOT LINEARIZABLE';
  const types = Object.entries(r.operationsByType)
    .map(([type, c]) => `${type} ${c.ok}/${c.failed}/${c.indeterminate}`)
    .join(', ');
  return [
    `verdict: ${verdict}`,
    `operations: ${r.operationsOk} ok, ${r.operationsFailed} failed, ${r.operationsIndeterminate} indeterminate (ok/failed/indeterminate: ${types})`,
    `local reads: ${r.localReads}, of which surely stale: ${r.staleLocalReads} (not a violation)`,
    `faults: kill ${r.faults.kill} (${r.killAll} of the whole cluster), pause ${r.faults.pause}, partition ${r.faults.partition}, slowDisk ${r.faults.slowDisk}`,
    `elections: ${r.elections} terms with a leader seen; recovery after healing: ${r.recoveryMs === null ? 'none within the timeout' : `${r.recoveryMs} ms`}`,
    `check: ${r.check} in ${r.checkSteps} search steps; wall ${(r.wallMs / 1000).toFixed(1)}s${r.mutation !== null ? `; mutation ${r.mutation}` : ''}`,
    ...(r.explanation !== undefined ? ['', r.explanation] : []),
    ...(r.historyFile !== null ? [`history: ${r.historyFile}`] : []),
    `replay: ${command}`,
    '',
  ].join('\n');
}
