// The whole-server simulator as a test: the shipped server interpreter and log storage on
// simulated disks with storage faults must show no violation; mutations that acknowledge
// writes before they are durable, in storage or in the interpreter, must be caught; a
// seed replays exactly.

import { describe, expect, it } from 'vitest';
import { runWholeServerBatch } from '../tools/sim/report.js';
import { runWholeServerSeed } from '../tools/sim/whole-server.js';

// Enough seeds that every fault kind, and a member stopped on a bad read, shows.
const SEEDS = 40;
const STEPS = 2_000;

describe('whole-server simulator', () => {
  it(`finds no violation in ${SEEDS} seeds, with every storage fault kind injected`, async () => {
    const summary = await runWholeServerBatch({ firstSeed: 1, seeds: SEEDS, steps: STEPS });
    const failures = summary.failures.map((f) => `seed ${f.seed}: ${f.violation?.kind}: ${f.violation?.message}`);
    expect(failures).toEqual([]);
    for (const kind of ['tornWrite', 'corruptRead', 'syncError', 'diskFull', 'crash', 'partition']) expect(summary.faults[kind] ?? 0, kind).toBeGreaterThan(0);
    // Members met the faults: some stopped on a bad read or a failed disk and recovered.
    expect(summary.faults['stoppedOnCorruption'] ?? 0).toBeGreaterThan(0);
    expect(summary.faults['stoppedOnDiskError'] ?? 0).toBeGreaterThan(0);
    expect(summary.ops.ok).toBeGreaterThan(SEEDS * 20);
  }, 120_000);

  it('replays a seed exactly', async () => {
    const a = await runWholeServerSeed({ seed: 4, steps: STEPS, traceEvents: 200 });
    const b = await runWholeServerSeed({ seed: 4, steps: STEPS, traceEvents: 200 });
    expect(b.trace).toEqual(a.trace);
    expect(b.faults).toEqual(a.faults);
    expect(b.ops).toEqual(a.ops);
  }, 30_000);

  it('catches syncs that return before the data is durable (the WAL acknowledges written before its fsync)', async () => {
    const summary = await runWholeServerBatch({ firstSeed: 1, seeds: 5, steps: STEPS, storageMutation: 'ackBeforeSync', stopWhen: (r) => r.violation !== undefined });
    expect(summary.violationsByKind['acknowledged write lost'] ?? 0).toBe(1);
  }, 30_000);

  it('catches an interpreter that goes on before a persist is durable (a term or vote lost in a crash)', async () => {
    const summary = await runWholeServerBatch({ firstSeed: 1, seeds: 40, steps: STEPS, storageMutation: 'persistedBeforeDurable', stopWhen: (r) => r.violation !== undefined });
    const failures = summary.failures.map((f) => f.violation?.message ?? '');
    expect(failures).toHaveLength(1);
    // On restart a log is found ahead of its stored term, or a vote cast twice elects two leaders.
    expect(failures[0]).toMatch(/persisted term \d+ is below its log's last term|are both leaders of term|acknowledged write/);
  }, 60_000);

  it('catches a WAL that never syncs', async () => {
    const result = await runWholeServerSeed({ seed: 1, steps: STEPS, storageMutation: 'walNoSync' });
    expect(result.violation?.kind).toBe('acknowledged write lost');
  }, 30_000);
});
