// Safety invariants, checked after every step of every member (see docs/internals/protocol.md):
// election safety, log matching, leader completeness, state machine safety, commit index
// monotonic per member, no acknowledged write lost, equal machine state at equal applied
// index.

import type { LogEntry, LogReader } from '@rafter/raft/core';

export type ViolationKind =
  | 'election safety'
  | 'log matching'
  | 'leader completeness'
  | 'commit not durable'
  | 'membership change'
  | 'state machine safety'
  | 'commit index monotonic'
  | 'acknowledged write lost'
  | 'machine state'
  | 'spurious election'
  | 'linearizability'
  | 'linearizability undecided'
  | 'liveness'
  | 'cluster deletion'
  | 'core assertion';

export interface SimViolation {
  readonly kind: ViolationKind;
  readonly message: string;
  readonly atMs: number;
}

export class Invariants {
  readonly #leaders = new Map<number, string>();
  // (index/term) -> payload and previous term: identical everywhere by induction = log matching.
  readonly #entries = new Map<string, { payload: string; prevTerm: number | undefined }>();
  // index -> the entry's term, and the earliest term any member saw it committed in.
  readonly #committed = new Map<number, { term: number; inTerm: number }>();
  readonly #applied = new Map<number, string>();
  readonly #states = new Map<number, { hash: string; member: string }>();
  readonly #acked: { index: number; term: number }[] = [];
  violation: SimViolation | undefined;
  #now = 0;

  setTime(atMs: number): void {
    this.#now = atMs;
  }

  fail(kind: ViolationKind, message: string): void {
    this.violation ??= { kind, message, atMs: this.#now };
  }

  onLeader(member: string, term: number, log: LogReader): void {
    const other = this.#leaders.get(term);
    if (other !== undefined && other !== member) return this.fail('election safety', `${other} and ${member} are both leaders of term ${term}`);
    this.#leaders.set(term, member);
    // Raft 5.4: what was committed in an earlier term. A leader of an older term can
    // still appear late (a paused candidate wakes up to its votes); it lacks newer ones.
    const floor = log.snapshot()?.index ?? 0;
    for (const [index, committed] of this.#committed) {
      if (index <= floor || committed.inTerm >= term) continue;
      const has = log.termAt(index);
      if (has !== committed.term) {
        return this.fail('leader completeness', `${member}, leader of term ${term}, has term ${has} at ${index}, committed in term ${committed.inTerm} with term ${committed.term}`);
      }
    }
    for (const ack of this.#acked) {
      if (ack.index <= floor || (this.#committed.get(ack.index)?.inTerm ?? ack.term) >= term) continue;
      if (log.termAt(ack.index) !== ack.term) {
        return this.fail('acknowledged write lost', `${member}, leader of term ${term}, lacks acknowledged write ${ack.index}/${ack.term}`);
      }
    }
  }

  onAppend(member: string, entries: readonly LogEntry[], log: LogReader): void {
    for (const entry of entries) {
      const key = `${entry.index}/${entry.term}`;
      const payload = JSON.stringify(entry.payload);
      const prevTerm = log.termAt(entry.index - 1);
      const seen = this.#entries.get(key);
      if (seen === undefined) {
        this.#entries.set(key, { payload, prevTerm });
        continue;
      }
      if (seen.payload !== payload) return this.fail('log matching', `${member} holds a different entry at ${key}`);
      if (prevTerm !== undefined && seen.prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        return this.fail('log matching', `${member} has term ${prevTerm} before ${key}, another log has ${seen.prevTerm}`);
      }
    }
  }

  onCommit(member: string, from: number, to: number, before: number, log: LogReader, inTerm: number): void {
    if (to < before) return this.fail('commit index monotonic', `${member} commit index fell from ${before} to ${to}`);
    for (let index = from; index <= to; index += 1) {
      const term = log.termAt(index);
      if (term === undefined) continue;
      const known = this.#committed.get(index);
      if (known === undefined) this.#committed.set(index, { term, inTerm });
      else if (known.term !== term) return this.fail('state machine safety', `${member} committed term ${term} at ${index}, another member term ${known.term}`);
      else if (inTerm < known.inTerm) known.inTerm = inTerm;
    }
  }

  onApply(member: string, index: number, term: number, command: unknown): void {
    const key = `${term}:${JSON.stringify(command)}`;
    const known = this.#applied.get(index);
    if (known === undefined) this.#applied.set(index, key);
    else if (known !== key) this.fail('state machine safety', `${member} applied ${key} at ${index}, another member applied ${known}`);
  }

  /** The machine state after applying up to `index` is the same on every member. */
  onMachineState(member: string, index: number, state: unknown): void {
    const hash = hashState(state);
    const known = this.#states.get(index);
    if (known === undefined) this.#states.set(index, { hash, member });
    else if (known.hash !== hash) this.fail('machine state', `${member} state at applied ${index} is ${hash}, ${known.member} had ${known.hash}`);
  }

  /** Every write a client saw acknowledged, in order. */
  ackedWrites(): readonly { readonly index: number; readonly term: number }[] {
    return this.#acked;
  }

  onAcked(index: number, term: number): void {
    this.#acked.push({ index, term });
  }

  /** At the end: every acknowledged write is in the final leader's log or snapshot. */
  checkAckedAt(member: string, log: LogReader): void {
    const floor = log.snapshot()?.index ?? 0;
    for (const ack of this.#acked) {
      if (ack.index > floor && log.termAt(ack.index) !== ack.term) {
        return this.fail('acknowledged write lost', `${member} lacks acknowledged write ${ack.index}/${ack.term} at the end`);
      }
    }
  }
}

/** FNV-1a over a key-sorted JSON form: equal plain data gives an equal hash. */
export function hashState(state: unknown): string {
  const text = stableJson(state);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return `${(hash >>> 0).toString(16).padStart(8, '0')}/${text.length}`;
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record).sort().map((key) => `${JSON.stringify(key)}:${stableJson(record[key])}`).join(',')}}`;
}
