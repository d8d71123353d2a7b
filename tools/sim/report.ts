// Runs many seeds and sums them up; shared by the CLI and the tests.

import type { Mutation } from '@rafter/raft/core';
import { runSeed, type RunResult } from './sim.js';
import { STORAGE_FAULT_KEYS, runWholeServerSeed, type StorageMutation } from './whole-server.js';

export interface BatchOptions {
  readonly firstSeed: number;
  readonly seeds: number;
  readonly steps: number;
  readonly mutation?: Mutation;
  readonly traceEvents?: number;
  readonly strictElections?: boolean;
  /** Whole-server mode: the shipped interpreter and log storage on simulated disks. */
  readonly wholeServer?: boolean;
  readonly storageMutation?: StorageMutation;
  /** Stops the batch early once this returns true for a seed. */
  readonly stopWhen?: (result: RunResult) => boolean;
  readonly onSeed?: (result: RunResult, done: number) => void;
}

export interface BatchSummary {
  seeds: number;
  violations: number;
  steps: number;
  simulatedMs: number;
  faults: Record<string, number>;
  ops: { ok: number; fail: number; info: number };
  linearizabilityUnknown: number;
  /** Elections while a healthy leader was reachable by a quorum, after faults stopped. */
  spuriousElections: number;
  /** Seed -> spurious elections, for seeds with any. */
  spuriousElectionsBySeed: Record<number, number>;
  /** Seeds per swarm mode ('all', 'swarm', 'single'). */
  swarmModes: Record<string, number>;
  violationsByKind: Record<string, number>;
  failures: RunResult[];
}

function newSummary(): BatchSummary {
  return {
    seeds: 0,
    violations: 0,
    steps: 0,
    simulatedMs: 0,
    // Storage fault kinds are reported even at zero, beside the network faults.
    faults: Object.fromEntries(STORAGE_FAULT_KEYS.map((k) => [k, 0])),
    ops: { ok: 0, fail: 0, info: 0 },
    linearizabilityUnknown: 0,
    spuriousElections: 0,
    spuriousElectionsBySeed: {},
    swarmModes: {},
    violationsByKind: {},
    failures: [],
  };
}

function addResult(summary: BatchSummary, seed: number, result: RunResult): void {
  summary.seeds += 1;
  summary.steps += result.steps;
  summary.simulatedMs += result.simulatedMs;
  for (const [kind, count] of Object.entries(result.faults)) summary.faults[kind] = (summary.faults[kind] ?? 0) + count;
  summary.ops.ok += result.ops.ok;
  summary.ops.fail += result.ops.fail;
  summary.ops.info += result.ops.info;
  if (result.linearizability === 'unknown') summary.linearizabilityUnknown += 1;
  if (result.spuriousElections > 0) {
    summary.spuriousElections += result.spuriousElections;
    summary.spuriousElectionsBySeed[seed] = result.spuriousElections;
  }
  const mode = result.swarm.split(':')[0]!;
  summary.swarmModes[mode] = (summary.swarmModes[mode] ?? 0) + 1;
  if (result.violation !== undefined) {
    summary.violations += 1;
    summary.violationsByKind[result.violation.kind] = (summary.violationsByKind[result.violation.kind] ?? 0) + 1;
    if (summary.failures.length < 10) summary.failures.push(result);
  }
}

function sortFaults(summary: BatchSummary): BatchSummary {
  summary.faults = Object.fromEntries(Object.entries(summary.faults).sort(([a], [b]) => a.localeCompare(b)));
  return summary;
}

export function runBatch(options: BatchOptions): BatchSummary {
  const summary = newSummary();
  for (let i = 0; i < options.seeds; i += 1) {
    const seed = options.firstSeed + i;
    const result = runSeed({
      seed,
      steps: options.steps,
      ...(options.traceEvents === undefined ? {} : { traceEvents: options.traceEvents }),
      ...(options.mutation === undefined ? {} : { mutation: options.mutation }),
      ...(options.strictElections === true ? { strictElections: true } : {}),
    });
    addResult(summary, seed, result);
    options.onSeed?.(result, i + 1);
    if (options.stopWhen?.(result) === true) break;
  }
  return sortFaults(summary);
}

/** The whole-server mode's batch: each seed runs the shipped server and storage code (asynchronous, still deterministic). */
export async function runWholeServerBatch(options: BatchOptions): Promise<BatchSummary> {
  const summary = newSummary();
  for (let i = 0; i < options.seeds; i += 1) {
    const seed = options.firstSeed + i;
    const result = await runWholeServerSeed({
      seed,
      steps: options.steps,
      ...(options.traceEvents === undefined ? {} : { traceEvents: options.traceEvents }),
      ...(options.mutation === undefined ? {} : { mutation: options.mutation }),
      ...(options.storageMutation === undefined ? {} : { storageMutation: options.storageMutation }),
    });
    addResult(summary, seed, result);
    options.onSeed?.(result, i + 1);
    if (options.stopWhen?.(result) === true) break;
  }
  return sortFaults(summary);
}

export function replayCommand(seed: number, steps: number, mutation?: Mutation, strictElections = false, wholeServer?: { storageMutation?: StorageMutation }): string {
  const mode = wholeServer === undefined ? '' : ` --whole-server${wholeServer.storageMutation === undefined ? '' : ` --storage-mutation ${wholeServer.storageMutation}`}`;
  return `pnpm sim${mode} --seed ${seed} --steps ${steps}${mutation === undefined ? '' : ` --mutation ${mutation}`}${strictElections ? ' --strict-elections' : ''}`;
}

export function formatFailure(result: RunResult, steps: number, mutation?: Mutation, strictElections = false, wholeServer?: { storageMutation?: StorageMutation }): string {
  const v = result.violation;
  if (v === undefined) return '';
  return [
    `VIOLATION seed ${result.seed}: ${v.kind} at ${v.atMs}ms`,
    `  ${v.message}`,
    `  replay: ${replayCommand(result.seed, steps, mutation, strictElections, wholeServer)}`,
    `  faults: ${result.swarm}`,
    `  last events:`,
    ...result.trace.map((line) => `    ${line}`),
  ].join('\n');
}

/** The seeds with the most spurious elections, most first. */
export function worstSpuriousSeeds(summary: BatchSummary, count: number): { seed: number; elections: number }[] {
  return Object.entries(summary.spuriousElectionsBySeed)
    .map(([seed, elections]) => ({ seed: Number(seed), elections }))
    .sort((a, b) => b.elections - a.elections || a.seed - b.seed)
    .slice(0, count);
}
