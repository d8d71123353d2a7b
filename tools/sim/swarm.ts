// Swarm testing (Groce et al., 2012): each seed draws its own fault mix, so some seeds
// see one kind of fault at a high rate and others a few kinds together. A fixed mix of
// everything lets frequent faults mask the interleavings that rarer ones need.

import type { Prng } from './prng.js';

export const FAULT_KINDS = [
  'crash',
  'powerLoss',
  'pause',
  'partition',
  'oneWayPartition',
  'lossBurst',
  'slowDisk',
  'membership',
  'transferLeadership',
  'triggerElection',
  'upgrade',
  'cutOffAcrossElections',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Weights out of 100 for the default mix; what is left is a quiet period. */
const DEFAULT_WEIGHTS: Record<FaultKind, number> = {
  crash: 16,
  powerLoss: 3,
  pause: 6,
  partition: 11,
  oneWayPartition: 7,
  lossBurst: 7,
  slowDisk: 7,
  membership: 13,
  transferLeadership: 9,
  triggerElection: 5,
  upgrade: 3,
  cutOffAcrossElections: 4,
};
const DEFAULT_QUIET_WEIGHT = 9;

export interface NetworkRates {
  /** Messages lost outside of loss bursts. */
  readonly loss: number;
  readonly duplicate: number;
  /** Messages held back 10-200 ms, so later ones overtake them. */
  readonly reorder: number;
}

const DEFAULT_NETWORK: NetworkRates = { loss: 0.01, duplicate: 0.01, reorder: 0.03 };

export interface SwarmProfile {
  /** 'all' (the default mix), 'swarm' (a random subset at random rates) or 'single'. */
  readonly mode: 'all' | 'swarm' | 'single';
  readonly weights: readonly (readonly [FaultKind, number])[];
  readonly totalWeight: number;
  readonly quietWeight: number;
  /** Simulated ms between two fault draws. */
  readonly gapMsMin: number;
  readonly gapMsMax: number;
  readonly network: NetworkRates;
}

const MODE_ALL_CHANCE = 0.3;
const MODE_SINGLE_CHANCE = 0.15;
const KIND_ENABLED_CHANCE = 0.6;

export function drawProfile(rng: Prng): SwarmProfile {
  const roll = rng.float();
  if (roll < MODE_ALL_CHANCE) return profile('all', FAULT_KINDS.map((kind) => [kind, DEFAULT_WEIGHTS[kind]]), DEFAULT_QUIET_WEIGHT, 200, 1500, DEFAULT_NETWORK);
  if (roll < MODE_ALL_CHANCE + MODE_SINGLE_CHANCE) {
    const kind = rng.pick(FAULT_KINDS);
    return profile('single', [[kind, 1]], rng.pick([0, 0.5, 1]), 200, 1500, DEFAULT_NETWORK);
  }
  let kinds = FAULT_KINDS.filter(() => rng.chance(KIND_ENABLED_CHANCE));
  if (kinds.length === 0) kinds = [rng.pick(FAULT_KINDS)];
  const scale = (): number => 2 ** (rng.float() * 4 - 2);
  const weights = kinds.map((kind): [FaultKind, number] => [kind, DEFAULT_WEIGHTS[kind] * scale()]);
  const pace = 2 ** (rng.float() * 2 - 1);
  const network: NetworkRates = {
    loss: rng.pick([0, 0.01, 0.05]),
    duplicate: rng.pick([0, 0.01, 0.05]),
    reorder: rng.pick([0, 0.03, 0.15]),
  };
  return profile('swarm', weights, DEFAULT_QUIET_WEIGHT * scale(), Math.round(200 * pace), Math.round(1500 * pace), network);
}

function profile(
  mode: SwarmProfile['mode'],
  weights: readonly (readonly [FaultKind, number])[],
  quietWeight: number,
  gapMsMin: number,
  gapMsMax: number,
  network: NetworkRates,
): SwarmProfile {
  const totalWeight = weights.reduce((sum, [, weight]) => sum + weight, 0);
  return { mode, weights, totalWeight, quietWeight, gapMsMin, gapMsMax, network };
}

/** One line for reports: the mode and the kinds drawn. */
export function describeProfile(p: SwarmProfile): string {
  if (p.mode === 'all') return 'all';
  return `${p.mode}:${p.weights.map(([kind]) => kind).join(',')}`;
}
