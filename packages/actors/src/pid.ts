// Process identifiers and references: plain values that survive structured clone
// (worker threads) and msgpackr (distribution), compared by value.

/** Identifies an actor: the node it lives on, its scheduler (thread) and its number. */
export interface Pid {
  readonly node: string;
  readonly scheduler: number;
  readonly id: number;
}

/** A unique reference (monitors, calls, timers): unique per node incarnation. */
export type Ref = string;

/** A stable string key for a pid, for maps and sets. */
export function pidKey(pid: Pid): string {
  return `${pid.node}/${pid.scheduler}/${pid.id}`;
}

export function pidEquals(a: Pid, b: Pid): boolean {
  return a.id === b.id && a.scheduler === b.scheduler && a.node === b.node;
}

export function isPid(value: unknown): value is Pid {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.node === 'string' && typeof v.scheduler === 'number' && typeof v.id === 'number';
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
