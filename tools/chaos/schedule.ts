// The seeded fault schedule of a chaos run: which fault, on which member, when and for
// how long. The same seed gives the same schedule; which node is "the leader" when a
// step runs is decided by the live cluster, so a replay repeats the schedule, not the
// exact interleaving.

import { Prng } from '../sim/prng.js';

export type FaultKind = 'kill' | 'pause' | 'partition' | 'slowDisk';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'slowDisk'];

/** The leader at the time the step runs, a node by index, or every node. */
export type FaultTarget = { readonly leader: true } | { readonly node: number } | { readonly all: true };

export interface FaultStep {
  readonly kind: FaultKind;
  readonly target: FaultTarget;
  /** Quiet time before the fault starts. */
  readonly gapMs: number;
  /** How long the fault holds before it is healed. */
  readonly holdMs: number;
  /** slowDisk: the delay added to each write and sync. */
  readonly delayMs?: number;
  /** partition: cut only the link to the next node by index, so the other two still see each other and the target (a partition that is not transitive). */
  readonly oneLink?: boolean;
}

export interface ScheduleOptions {
  readonly nodes: number;
  readonly gapMsMin: number;
  readonly gapMsMax: number;
  readonly holdMsMin: number;
  readonly holdMsMax: number;
}

export const SCHEDULE_DEFAULTS: ScheduleOptions = { nodes: 3, gapMsMin: 500, gapMsMax: 2_000, holdMsMin: 500, holdMsMax: 3_000 };
const LEADER_TARGET_CHANCE = 0.6;
/** Of kills, the share that kill every node at once (a power loss of the whole cluster). */
const KILL_ALL_CHANCE = 0.15;
const SLOW_DISK_MS_MIN = 5;
const SLOW_DISK_MS_MAX = 200;
/** Of partitions, the share that cut a single link rather than isolate the node. */
const ONE_LINK_CHANCE = 0.3;

/**
 * An endless schedule: each block of four steps holds every fault kind once, in a seeded
 * order, so any run long enough for four faults injects each kind.
 */
export function* faultSchedule(seed: number, options: ScheduleOptions = SCHEDULE_DEFAULTS): Generator<FaultStep, never> {
  const random = new Prng(seed);
  for (;;) {
    const block = [...FAULT_KINDS];
    for (let i = block.length - 1; i > 0; i--) {
      const j = random.intBetween(0, i);
      [block[i], block[j]] = [block[j] as FaultKind, block[i] as FaultKind];
    }
    for (const kind of block) yield step(random, kind, options);
  }
}

function step(random: Prng, kind: FaultKind, options: ScheduleOptions): FaultStep {
  const gapMs = random.intBetween(options.gapMsMin, options.gapMsMax);
  const holdMs = random.intBetween(options.holdMsMin, options.holdMsMax);
  const target: FaultTarget =
    kind === 'kill' && random.chance(KILL_ALL_CHANCE)
      ? { all: true }
      : kind === 'slowDisk' && random.chance(0.3)
        ? { all: true }
        : random.chance(LEADER_TARGET_CHANCE)
          ? { leader: true }
          : { node: random.intBetween(0, options.nodes - 1) };
  if (kind === 'partition' && random.chance(ONE_LINK_CHANCE)) return { kind, target, gapMs, holdMs, oneLink: true };
  if (kind !== 'slowDisk') return { kind, target, gapMs, holdMs };
  return { kind, target, gapMs, holdMs, delayMs: random.intBetween(SLOW_DISK_MS_MIN, SLOW_DISK_MS_MAX) };
}

export function describeStep(step: FaultStep): string {
  const target = 'all' in step.target ? 'every node' : 'leader' in step.target ? 'the leader' : `n${step.target.node + 1}`;
  const extra = step.delayMs !== undefined ? ` +${step.delayMs}ms per write` : step.oneLink === true ? ' from the next node only' : '';
  return `${step.kind} ${target}${extra} for ${step.holdMs}ms`;
}
