// The deterministic simulator as a test: many seeds with faults must show no violation,
// a seed must replay byte for byte, and the simulated disk must lose exactly what a
// power loss loses. Deliberately broken cores are in sim-mutations.test.ts.

import { describe, expect, it } from 'vitest';
import type { LogEntry } from '@rafter/raft/core';
import { hashState } from '../tools/sim/invariants.js';
import { SimLog } from '../tools/sim/mem-log.js';
import { runBatch } from '../tools/sim/report.js';
import { runSeed } from '../tools/sim/sim.js';

const SEEDS = 300;
const STEPS = 6_000;

function entries(first: number, last: number, term: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let index = first; index <= last; index += 1) out.push({ index, term, payload: { type: 'command', command: `${index}/${term}` } });
  return out;
}

function terms(log: SimLog): string {
  const last = log.last().index;
  return log.entries(log.first(), last).map((e) => `${e.index}/${e.term}`).join(' ');
}

describe('simulated disk', () => {
  it('brings an overwritten suffix back when the overwrite was not synced', () => {
    const log = new SimLog();
    log.append(entries(1, 3, 1));
    log.completeWrite();
    log.append(entries(2, 4, 2));
    expect(log.lastWritten()).toEqual({ index: 1, term: 1 });
    expect(log.crash()).toBe(2);
    expect(terms(log)).toBe('1/1 2/1 3/1');
    expect(log.lastWritten()).toEqual({ index: 3, term: 1 });
    expect(log.hasPendingWrites()).toBe(false);
  });

  it('keeps a synced overwrite across a crash', () => {
    const log = new SimLog();
    log.append(entries(1, 3, 1));
    log.append(entries(2, 4, 2));
    // The first batch reaches the disk, but the process already overwrote part of it.
    expect(log.completeWrite().written).toEqual({ index: 1, term: 1 });
    expect(log.completeWrite().written).toEqual({ index: 4, term: 2 });
    expect(log.crash()).toBe(0);
    expect(terms(log)).toBe('1/1 2/2 3/2 4/2');
  });

  it('loses a vote that was not synced; a snapshot install flushes what came before it', () => {
    const log = new SimLog();
    log.append(entries(1, 5, 1));
    log.completeWrite();
    log.persist({ term: 2, votedFor: undefined }, true);
    log.append(entries(6, 7, 2));
    log.crash();
    expect(terms(log)).toBe('1/1 2/1 3/1 4/1 5/1');
    expect(log.persisted.term).toBe(0);

    log.persist({ term: 3, votedFor: undefined }, false);
    log.installSnapshot({ index: 10, term: 3, members: [], machineVersion: 0 }, { v: 1 });
    log.crash();
    expect(log.first()).toBe(11);
    expect(log.last()).toEqual({ index: 10, term: 3 });
    expect(log.snapshotState()).toEqual({ v: 1 });
    expect(log.persisted.term).toBe(3);
  });

  it('truncates the log only once its own snapshot is written, and not below a newer one', () => {
    const log = new SimLog();
    log.append(entries(1, 6, 1));
    log.completeWrite();
    log.takeSnapshot({ index: 4, term: 1, members: [], machineVersion: 0 }, 'at 4');
    expect(log.first()).toBe(5);
    log.takeSnapshot({ index: 2, term: 1, members: [], machineVersion: 0 }, 'at 2');
    expect(log.first()).toBe(5);
    log.crash();
    expect(log.snapshotState()).toBe('at 4');
    expect(terms(log)).toBe('5/1 6/1');
  });
});

describe('stored applied index', () => {
  // A follower applied a committed entry that overwrote its log before the overwrite was
  // synced; a power loss undid the overwrite. Re-applying up to an applied index stored
  // past the written one would apply the old entry: the shell must not store it so.
  // Seeds where it shows are rare (about one in a hundred), and change as the simulator
  // does: the test searches for the first, then checks the same seed without the break.
  it.each([false, true])('is kept at or below the written index, else a restart re-applies overwritten entries (batching %s)', (batching) => {
    let caught: number | undefined;
    for (let seed = 1; seed <= 600 && caught === undefined; seed++) {
      if (runSeed({ seed, steps: STEPS, batching, storeAppliedPastWritten: true }).violation?.kind === 'machine state') caught = seed;
    }
    expect(caught, 'no seed of 600 caught an applied index stored past the written one').toBeDefined();
    expect(runSeed({ seed: caught!, steps: STEPS, batching }).violation).toBeUndefined();
  }, 120_000);
});

describe('machine state hash', () => {
  it('ignores key order and sees any value change', () => {
    expect(hashState({ values: { a: 1, b: 2 }, applied: 2 })).toBe(hashState({ applied: 2, values: { b: 2, a: 1 } }));
    expect(hashState({ values: { a: 1, b: 2 }, applied: 2 })).not.toBe(hashState({ values: { a: 1, b: 3 }, applied: 2 }));
  });
});

describe('simulator', () => {
  it(`finds no violation in ${SEEDS} seeds`, () => {
    const summary = runBatch({ firstSeed: 1, seeds: SEEDS, steps: STEPS });
    const first = summary.failures[0];
    expect(first?.violation, first === undefined ? '' : `seed ${first.seed}: pnpm sim --seed ${first.seed} --steps ${STEPS}`).toBeUndefined();
    expect(summary.seeds).toBe(SEEDS);
    expect(summary.linearizabilityUnknown, 'histories the checker could not decide').toBe(0);
    // The faults the issue asks for are all exercised.
    const kinds = ['crash', 'restart', 'powerLoss', 'pause', 'partition', 'oneWayPartition', 'drop', 'duplicate', 'reorder', 'slowDisk'];
    kinds.push('addMember', 'removeMember', 'transferLeadership', 'snapshotInstall', 'cutOffAcrossElections', 'cutOffReelected');
    kinds.push('crashMidWrite', 'crashMidOverwrite', 'overwriteUndone', 'idleRestart', 'snapshotDeclined');
    for (const kind of kinds) expect(summary.faults[kind] ?? 0, kind).toBeGreaterThan(0);
    // Swarm testing: seeds with every fault, with a random subset, and with one kind only.
    for (const mode of ['all', 'swarm', 'single']) expect(summary.swarmModes[mode] ?? 0, mode).toBeGreaterThan(SEEDS / 10);
    expect(summary.ops.ok).toBeGreaterThan(SEEDS * 50);
  }, 180_000);

  // Seeds that once failed (found by `pnpm sim --seeds 2000 --steps 10000`), kept as regressions:
  // replayed as recorded (before batching, which changes their course) and with batching.
  it.each([284, 610, 821, 847, 1050, 1185, 1321, 1458, 1460, 1544, 1562, 1642, 2221, 566])('seed %i stays clean', (seed) => {
    expect(runSeed({ seed, steps: 10_000, batching: false }).violation).toBeUndefined();
    expect(runSeed({ seed, steps: 10_000 }).violation).toBeUndefined();
  });

  // An idle cluster with one follower restarted must not hold an election. A core whose
  // followers grant pre-votes while they follow a live leader shows such elections.
  it('counts elections that depose a healthy leader', () => {
    const clean = runBatch({ firstSeed: 1, seeds: 20, steps: 2_000 });
    expect(clean.spuriousElections).toBe(0);
    expect(clean.faults['idleRestart']).toBe(20);
    const broken = runBatch({ firstSeed: 1, seeds: 20, steps: 2_000, mutation: 'grant_pre_vote_with_live_leader' });
    expect(broken.spuriousElections).toBeGreaterThan(0);
    expect(broken.violations).toBe(0);
    const strict = runBatch({ firstSeed: 1, seeds: 20, steps: 2_000, mutation: 'grant_pre_vote_with_live_leader', strictElections: true });
    expect(strict.violationsByKind['spurious election']).toBe(broken.spuriousElections > 0 ? Object.keys(broken.spuriousElectionsBySeed).length : 0);
  });

  // Found with the new faults: a paused candidate waking up to the votes of an old term
  // (205; an invariant too strict), an install not yet synced when the member lost power
  // (99 at 50,000 steps; the simulated disk claimed it written too early).
  it.each([
    [205, 6_000],
    [99, 50_000],
  ])('seed %i at %i steps stays clean', (seed, steps) => {
    expect(runSeed({ seed, steps, batching: false }).violation).toBeUndefined();
    expect(runSeed({ seed, steps }).violation).toBeUndefined();
  });

  it('replays a seed exactly', () => {
    const a = runSeed({ seed: 4242, steps: STEPS });
    const b = runSeed({ seed: 4242, steps: STEPS });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const c = runSeed({ seed: 4243, steps: STEPS });
    expect(JSON.stringify(c)).not.toBe(JSON.stringify(a));
  });
});
