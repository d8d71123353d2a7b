// The whole-server simulator's storage faults: one at a time, on one running member,
// drawn from the seed. The disk (sim-fs.ts) carries each out at its next write, read or sync.

import { assertNever } from '@rafter/raft/core';
import type { Prng } from './prng.js';
import type { SimDiskFs } from './sim-fs.js';
import type { SimEvent, SimMember } from './world.js';

/** Storage fault kinds, with the key each has in the report. */
export const STORAGE_FAULT_KINDS = ['tornWrite', 'corruptRead', 'syncError', 'diskFull'] as const;
/** Keys every whole-server report carries in `faults`, even at zero. */
export const STORAGE_FAULT_KEYS = ['powerLoss', ...STORAGE_FAULT_KINDS] as const;

/**
 * Mutations of the storage and the server's interpreter, each of which the simulator
 * must catch: `ackBeforeSync`, file syncs return before the data is durable (so the WAL
 * acknowledges `written` before its fsync is done); `walNoSync`, the WAL never syncs its
 * batches; `persistedBeforeDurable`, the interpreter lets a vote out before it is stored.
 */
export const STORAGE_MUTATIONS = ['ackBeforeSync', 'walNoSync', 'persistedBeforeDurable'] as const;
export type StorageMutation = (typeof STORAGE_MUTATIONS)[number];

/** What the faults need of the simulation. */
export interface StorageFaultHost {
  readonly rng: Prng;
  now(): number;
  note(line: string): void;
  schedule(afterMs: number, event: SimEvent): void;
  alive(): SimMember[];
  crash(member: SimMember, why: 'crash'): void;
  diskOf(member: SimMember): SimDiskFs;
  /** Whether one more member may go down and leave a majority running. */
  mayCrashOne(): boolean;
}

export function injectStorageFault(host: StorageFaultHost): void {
  const candidates = host.alive();
  if (candidates.length === 0) return;
  const { rng } = host;
  const member = rng.pick(candidates);
  const disk = host.diskOf(member);
  const kind = rng.pick(STORAGE_FAULT_KINDS);
  const crashable = host.mayCrashOne();
  switch (kind) {
    case 'tornWrite':
      // The machine loses power during its next write: some of it reaches the disk, torn at a sector.
      if (!crashable) return;
      disk.crashAtNextWrite = true;
      return;
    case 'corruptRead':
      // A read (at recovery or of a segment) returns a flipped bit: crash and restart it so recovery reads.
      disk.corruptReads = 1;
      if (crashable && rng.chance(0.7)) {
        host.note(`${member.key} restarts over a disk that returns a bad read`);
        host.crash(member, 'crash');
        disk.corruptReads = 1;
        host.schedule(rng.intBetween(50, 500), { type: 'restart', to: member.key });
      }
      return;
    case 'syncError':
      disk.failSyncs = 1;
      return;
    case 'diskFull':
      disk.fullUntilMs = host.now() + rng.intBetween(200, 2000);
      host.note(`${member.key} disk full until ${disk.fullUntilMs}ms`);
      return;
    default:
      return assertNever(kind, 'unknown storage fault');
  }
}
