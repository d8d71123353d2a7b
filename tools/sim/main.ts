// pnpm sim [--whole-server [--storage-mutation NAME]] [--seeds N] [--first-seed F] [--steps M] [--seed S] [--json] [--trace EVENTS] [--mutation NAME] [--strict-elections]
// Deterministic: the same arguments print the same stdout, byte for byte (wallMs aside).
// --whole-server runs the shipped server interpreter and log storage on simulated disks
// (slower; its default is fewer steps per seed); without it, the pure core runs.

import { parseArgs } from 'node:util';
import type { Mutation } from '@rafter/raft/core';
import type { RunResult } from './sim.js';
import { formatFailure, replayCommand, runBatch, runWholeServerBatch, worstSpuriousSeeds } from './report.js';
import { STORAGE_FAULT_KEYS, STORAGE_MUTATIONS, type StorageMutation } from './whole-server.js';

const STEPS_DEFAULT = 10_000;
const WHOLE_SERVER_STEPS_DEFAULT = 3_000;
/** Shown on their own line: the storage faults, then how members met them. */
const STORAGE_REPORT_KEYS: readonly string[] = [...STORAGE_FAULT_KEYS, 'stoppedOnCorruption', 'stoppedOnDiskError', 'recoveryChecked', 'checkpointRestarts'];
const PROGRESS_EVERY_SEEDS = 100;
const WORST_SEEDS_SHOWN = 10;

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    steps: { type: 'string' },
    seed: { type: 'string' },
    'first-seed': { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    mutation: { type: 'string' },
    trace: { type: 'string', default: '40' },
    'strict-elections': { type: 'boolean', default: false },
    'whole-server': { type: 'boolean', default: false },
    'storage-mutation': { type: 'string' },
  },
});

const wholeServer = values['whole-server'];
const storageMutation = values['storage-mutation'] as StorageMutation | undefined;
const steps = Number(values.steps ?? (wholeServer ? WHOLE_SERVER_STEPS_DEFAULT : STEPS_DEFAULT));
const single = values.seed !== undefined;
const firstSeed = single ? Number(values.seed) : Number(values['first-seed']);
const seeds = single ? 1 : Number(values.seeds);
const traceEvents = Number(values.trace);
const mutation = values.mutation as Mutation | undefined;
const strictElections = values['strict-elections'];
const badStorageMutation = storageMutation !== undefined && (!wholeServer || !STORAGE_MUTATIONS.includes(storageMutation));
if (badStorageMutation || !Number.isInteger(traceEvents) || traceEvents < 0 || !Number.isInteger(steps) || steps <= 0 || !Number.isInteger(firstSeed) || !Number.isInteger(seeds) || seeds <= 0) {
  process.stderr.write(`usage: pnpm sim [--whole-server [--storage-mutation ${STORAGE_MUTATIONS.join('|')}]] [--seeds N] [--first-seed F] [--steps M] [--seed S] [--json] [--trace EVENTS] [--mutation NAME] [--strict-elections]\n`);
  process.exit(2);
}

const started = performance.now();
const modeArgs = wholeServer ? { storageMutation } : undefined;
const batchOptions = {
  firstSeed,
  seeds,
  steps,
  traceEvents,
  strictElections,
  ...(mutation === undefined ? {} : { mutation }),
  ...(storageMutation === undefined ? {} : { storageMutation }),
  onSeed: (result: RunResult, done: number) => {
    if (result.violation !== undefined && !values.json) process.stdout.write(`${formatFailure(result, steps, mutation, strictElections, modeArgs)}\n`);
    if (done % PROGRESS_EVERY_SEEDS === 0 || done === seeds) {
      const wallS = ((performance.now() - started) / 1000).toFixed(1);
      process.stderr.write(`sim: ${done}/${seeds} seeds, ${wallS}s\n`);
    }
  },
};
const summary = wholeServer ? await runWholeServerBatch(batchOptions) : runBatch(batchOptions);
const wallMs = Math.round(performance.now() - started);

if (values.json) {
  const which = single ? `--seed ${firstSeed}` : `--seeds ${seeds}${firstSeed === 1 ? '' : ` --first-seed ${firstSeed}`}`;
  const command = `pnpm sim ${wholeServer ? `--whole-server ${storageMutation === undefined ? '' : `--storage-mutation ${storageMutation} `}` : ''}${which} --steps ${steps}${mutation === undefined ? '' : ` --mutation ${mutation}`}${strictElections ? ' --strict-elections' : ''} --json`;
  const out = {
    command,
    mode: wholeServer ? 'whole-server' : 'core',
    seeds: summary.seeds,
    firstSeed,
    violations: summary.violations,
    violationsByKind: summary.violationsByKind,
    failingSeeds: summary.failures.map((f) => ({ seed: f.seed, kind: f.violation?.kind, message: f.violation?.message, replay: replayCommand(f.seed, steps, mutation, strictElections, modeArgs) })),
    steps: summary.steps,
    simulatedMs: summary.simulatedMs,
    wallMs,
    faults: summary.faults,
    swarmModes: summary.swarmModes,
    spuriousElections: summary.spuriousElections,
    seedsWithSpuriousElections: Object.keys(summary.spuriousElectionsBySeed).length,
    spuriousElectionsBySeed: summary.spuriousElectionsBySeed,
    ops: summary.ops,
    linearizabilityUnknown: summary.linearizabilityUnknown,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} else {
  process.stdout.write(
    `seeds ${summary.seeds}, violations ${summary.violations}, steps ${summary.steps}, simulated ${(summary.simulatedMs / 1000).toFixed(1)}s, ` +
      `ops ok/fail/info ${summary.ops.ok}/${summary.ops.fail}/${summary.ops.info}, histories undecided ${summary.linearizabilityUnknown}\n` +
      `faults ${Object.entries(summary.faults).filter(([k]) => !STORAGE_REPORT_KEYS.includes(k)).map(([k, v]) => `${k}=${v}`).join(' ')}\n` +
      `storage faults ${STORAGE_REPORT_KEYS.filter((k) => summary.faults[k] !== undefined).map((k) => `${k}=${summary.faults[k]}`).join(' ')}\n` +
      `swarm ${Object.entries(summary.swarmModes).map(([k, v]) => `${k}=${v}`).join(' ')}\n` +
      `spurious elections ${summary.spuriousElections} in ${Object.keys(summary.spuriousElectionsBySeed).length} seeds` +
      `${summary.spuriousElections === 0 ? '' : ` (most: ${worstSpuriousSeeds(summary, WORST_SEEDS_SHOWN).map((w) => `seed ${w.seed}: ${w.elections}`).join(', ')})`}\n`,
  );
  process.stderr.write(`wall ${(wallMs / 1000).toFixed(1)}s\n`);
}
process.exitCode = summary.violations > 0 ? 1 : 0;
