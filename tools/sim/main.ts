// pnpm sim [--seeds N] [--first-seed F] [--steps M] [--seed S] [--json] [--trace EVENTS] [--mutation NAME] [--strict-elections]
// Deterministic: the same arguments print the same stdout, byte for byte (wallMs aside).

import { parseArgs } from 'node:util';
import type { Mutation } from '@rafter/raft/core';
import { formatFailure, replayCommand, runBatch, worstSpuriousSeeds } from './report.js';

const STEPS_DEFAULT = 10_000;
const PROGRESS_EVERY_SEEDS = 100;
const WORST_SEEDS_SHOWN = 10;

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    steps: { type: 'string', default: String(STEPS_DEFAULT) },
    seed: { type: 'string' },
    'first-seed': { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    mutation: { type: 'string' },
    trace: { type: 'string', default: '40' },
    'strict-elections': { type: 'boolean', default: false },
  },
});

const steps = Number(values.steps);
const single = values.seed !== undefined;
const firstSeed = single ? Number(values.seed) : Number(values['first-seed']);
const seeds = single ? 1 : Number(values.seeds);
const traceEvents = Number(values.trace);
const mutation = values.mutation as Mutation | undefined;
const strictElections = values['strict-elections'];
if (!Number.isInteger(traceEvents) || traceEvents < 0 || !Number.isInteger(steps) || steps <= 0 || !Number.isInteger(firstSeed) || !Number.isInteger(seeds) || seeds <= 0) {
  process.stderr.write('usage: pnpm sim [--seeds N] [--first-seed F] [--steps M] [--seed S] [--json] [--trace EVENTS] [--mutation NAME] [--strict-elections]\n');
  process.exit(2);
}

const started = performance.now();
const summary = runBatch({
  firstSeed,
  seeds,
  steps,
  traceEvents,
  strictElections,
  ...(mutation === undefined ? {} : { mutation }),
  onSeed: (result, done) => {
    if (result.violation !== undefined && !values.json) process.stdout.write(`${formatFailure(result, steps, mutation, strictElections)}\n`);
    if (done % PROGRESS_EVERY_SEEDS === 0 || done === seeds) {
      const wallS = ((performance.now() - started) / 1000).toFixed(1);
      process.stderr.write(`sim: ${done}/${seeds} seeds, ${wallS}s\n`);
    }
  },
});
const wallMs = Math.round(performance.now() - started);

if (values.json) {
  const which = single ? `--seed ${firstSeed}` : `--seeds ${seeds}${firstSeed === 1 ? '' : ` --first-seed ${firstSeed}`}`;
  const command = `pnpm sim ${which} --steps ${steps}${mutation === undefined ? '' : ` --mutation ${mutation}`}${strictElections ? ' --strict-elections' : ''} --json`;
  const out = {
    command,
    seeds: summary.seeds,
    firstSeed,
    violations: summary.violations,
    violationsByKind: summary.violationsByKind,
    failingSeeds: summary.failures.map((f) => ({ seed: f.seed, kind: f.violation?.kind, message: f.violation?.message, replay: replayCommand(f.seed, steps, mutation, strictElections) })),
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
      `faults ${Object.entries(summary.faults).map(([k, v]) => `${k}=${v}`).join(' ')}\n` +
      `swarm ${Object.entries(summary.swarmModes).map(([k, v]) => `${k}=${v}`).join(' ')}\n` +
      `spurious elections ${summary.spuriousElections} in ${Object.keys(summary.spuriousElectionsBySeed).length} seeds` +
      `${summary.spuriousElections === 0 ? '' : ` (most: ${worstSpuriousSeeds(summary, WORST_SEEDS_SHOWN).map((w) => `seed ${w.seed}: ${w.elections}`).join(', ')})`}\n`,
  );
  process.stderr.write(`wall ${(wallMs / 1000).toFixed(1)}s\n`);
}
process.exitCode = summary.violations > 0 ? 1 : 0;
