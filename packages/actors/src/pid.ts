// Process identifiers and references: plain values that survive structured clone
// (worker threads) and msgpackr (distribution), compared by value.

import { randomInt } from 'node:crypto';

/**
 * Identifies an actor: the node it lives on, its scheduler (thread), its number, and the
 * creation of the node incarnation (or replacement thread) that made it. A node started
 * again under the same name hands out the same numbers, but under another creation: a pid
 * of an earlier incarnation names a dead process, as in Erlang.
 */
export interface Pid {
  readonly node: string;
  readonly scheduler: number;
  readonly id: number;
  readonly creation: number;
}

/** A unique reference (monitors, calls, timers): unique per node incarnation. */
export type Ref = string;

/** A stable string key for a pid, for maps and sets. */
export function pidKey(pid: Pid): string {
  return `${pid.node}/${pid.scheduler}/${pid.id}/${pid.creation}`;
}

export function pidEquals(a: Pid, b: Pid): boolean {
  return a.id === b.id && a.scheduler === b.scheduler && a.creation === b.creation && a.node === b.node;
}

export function isPid(value: unknown): value is Pid {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.node === 'string' && typeof v.scheduler === 'number' && typeof v.id === 'number' && typeof v.creation === 'number';
}

/** Creations are below this: small integers in V8, so a pid's creation costs no heap number. */
export const CREATION_LIMIT = 2 ** 30;

/**
 * A new creation: 20 bits of the start time in ms (two starts within ~17 minutes always
 * differ) above 10 random bits; never 0, which stands for "no incarnation".
 */
export function newCreation(unlike?: number): number {
  for (;;) {
    const creation = (((Date.now() & 0xfffff) << 10) | randomInt(0, 1024)) % CREATION_LIMIT;
    if (creation !== 0 && creation !== unlike) return creation;
  }
}

export function formatPid(pid: Pid): string {
  return `<${pid.node}.${pid.scheduler}.${pid.id}>`;
}

/** A registered name on a given node; `node` omitted means the local node. */
export interface RemoteName {
  readonly name: string;
  readonly node: string;
}

/** Where a message can go: a pid, a locally registered name, or a name on some node. */
export type Dest = Pid | string | RemoteName;

export function isRemoteName(value: unknown): value is RemoteName {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === 'string' && typeof v.node === 'string' && !('id' in v);
}
