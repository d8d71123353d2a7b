// Test harness for the pure core: an in-memory log, a tiny cluster that delivers messages
// and completes writes on request (etcd's `stabilize`), and one-line effect formatting.

import {
  RaftCore,
  assert,
  type CoreConfig,
  type CoreMachine,
  type Effect,
  type Event,
  type IndexTerm,
  type LogEntry,
  type LogReader,
  type Member,
  type RaftMessage,
  type ServerId,
  type SnapshotMeta,
  type TimerName,
} from '../../src/core.js';

export class MemLog implements LogReader {
  entries_: LogEntry[] = [];
  snap: SnapshotMeta | undefined;
  snapState: unknown;
  written = 0;

  first(): number {
    return (this.snap?.index ?? 0) + 1;
  }
  last(): IndexTerm {
    const tail = this.entries_[this.entries_.length - 1];
    return tail !== undefined ? { index: tail.index, term: tail.term } : { index: this.snap?.index ?? 0, term: this.snap?.term ?? 0 };
  }
  lastWritten(): IndexTerm {
    return { index: this.written, term: this.termAt(this.written) ?? 0 };
  }
  termAt(index: number): number | undefined {
    if (this.snap !== undefined && index === this.snap.index) return this.snap.term;
    if (index === 0 && this.snap === undefined) return 0;
    if (index < this.first()) return undefined;
    return this.entries_[index - this.first()]?.term;
  }
  entries(from: number, to: number): readonly LogEntry[] {
    return this.entries_.slice(from - this.first(), to - this.first() + 1);
  }
  snapshot(): SnapshotMeta | undefined {
    return this.snap;
  }
  append(entries: readonly LogEntry[]): void {
    const first = entries[0]!;
    this.entries_.length = first.index - this.first();
    this.written = Math.min(this.written, first.index - 1);
    this.entries_.push(...entries);
  }
  writeAll(): void {
    this.written = this.last().index;
  }
  takeSnapshot(meta: SnapshotMeta, state: unknown): void {
    this.entries_ = this.entries_.slice(meta.index - this.first() + 1);
    this.snap = meta;
    this.snapState = state;
  }
  install(meta: SnapshotMeta, state: unknown): void {
    this.entries_ = [];
    this.snap = meta;
    this.snapState = state;
    this.written = meta.index;
  }
}

export const id = (name: string): ServerId => ({ name, node: name });
export const voters = (...names: string[]): Member[] => names.map((name) => ({ id: id(name), membership: 'voter' }));

/** A counter machine: commands add to it; every `releaseEvery` commands it releases the log. */
export function counter(version = 1, releaseEvery = 0): CoreMachine {
  return {
    version,
    init: () => 0,
    apply: (meta, command, state) => {
      const next = (state as number) + (command as number);
      const effects = releaseEvery > 0 && meta.index % releaseEvery === 0 ? [{ type: 'release_cursor' as const, index: meta.index, state: next }] : [];
      return { state: next, reply: next, effects };
    },
  };
}

export const minRandom = { intBetween: (min: number) => min };

/** The timeout event of the timer `core` last set. */
export function timeout(core: RaftCore, timer: TimerName = 'election'): Event {
  return { type: 'timeout', timer, generation: core.timerGeneration(timer) };
}

export function entry(index: number, term: number, command: unknown = 1): LogEntry {
  return { index, term, payload: { type: 'command', command } };
}

export function newCore(name: string, log: MemLog, extra: Partial<CoreConfig> = {}): RaftCore {
  return new RaftCore({ id: id(name), log, machine: counter(), random: minRandom, initialMembers: voters('n1', 'n2', 'n3'), ...extra });
}

/** Performs the log effects a shell would, so the next event sees them. */
export function applyLogEffects(log: MemLog, effects: readonly Effect[]): void {
  for (const effect of effects) {
    if (effect.kind === 'append') log.append(effect.entries);
    if (effect.kind === 'snapshot') log.takeSnapshot(effect.meta, effect.machineState);
  }
}

export function fmtMessage(msg: RaftMessage): string {
  switch (msg.type) {
    case 'append_entries':
      return `append t${msg.term} prev=${msg.prevIndex}/${msg.prevTerm} [${msg.entries.map((e) => `${e.index}/${e.term}`).join(' ')}] commit=${msg.commitIndex}`;
    case 'append_entries_reply':
      return `append_reply t${msg.term} ${msg.success ? 'ok' : 'fail'} last=${msg.lastIndex}/${msg.lastTerm} next=${msg.nextIndex}`;
    case 'pre_vote':
      return `pre_vote t${msg.term} last=${msg.lastIndex}/${msg.lastTerm} v${msg.machineVersion}`;
    case 'pre_vote_reply':
      return `pre_vote_reply t${msg.term} ${msg.granted ? 'granted' : 'denied'}`;
    case 'request_vote':
      return `request_vote t${msg.term} last=${msg.lastIndex}/${msg.lastTerm}`;
    case 'request_vote_reply':
      return `vote_reply t${msg.term} ${msg.granted ? 'granted' : 'denied'}`;
    case 'heartbeat':
      return `heartbeat t${msg.term} seq=${msg.querySeq}`;
    case 'heartbeat_reply':
      return `heartbeat_reply t${msg.term} seq=${msg.querySeq}`;
    case 'install_snapshot':
      return `install_snapshot t${msg.term} ${msg.meta.index}/${msg.meta.term} chunk=${msg.chunkIndex}${msg.last ? ' last' : ''}`;
    case 'install_snapshot_reply':
      return `snapshot_reply t${msg.term} chunk=${msg.chunkIndex}${msg.done ? ` done ${msg.lastIndex}` : ''}`;
    case 'timeout_now':
      return `timeout_now t${msg.term}`;
  }
}

export function fmt(effect: Effect): string {
  switch (effect.kind) {
    case 'persist':
      return `persist t${effect.term} vote=${effect.votedFor?.name ?? '-'}${effect.sync ? ' sync' : ''}`;
    case 'send':
      return `-> ${effect.to.name} ${fmtMessage(effect.msg)}`;
    case 'append':
      return `append [${effect.entries.map((e) => `${e.index}/${e.term}${e.payload.type === 'command' ? '' : ` ${e.payload.type}`}`).join(' ')}]`;
    case 'reply': {
      const r = effect.reply;
      const to = JSON.stringify(effect.to);
      if (r.type === 'ok') return `reply ${to} ok ${r.index} ${JSON.stringify(r.reply)}`;
      if (r.type === 'query') return `reply ${to} query ${JSON.stringify(r.result)}`;
      return `reply ${to} ${r.code} leader=${r.leader?.name ?? '-'}`;
    }
    case 'setTimer':
      return `timer ${effect.timer} ${effect.afterMs}`;
    case 'cancelTimer':
      return `cancel ${effect.timer}`;
    case 'snapshot':
      return `snapshot ${effect.meta.index}/${effect.meta.term}`;
    case 'sendSnapshotChunk':
      return `send_snapshot_chunk ${effect.to.name} ${effect.meta.index} chunk=${effect.chunkIndex}`;
    case 'writeSnapshotChunk':
      return `write_snapshot_chunk ${effect.meta.index} chunk=${effect.chunkIndex}`;
    case 'installSnapshot':
      return `install_snapshot ${effect.meta.index}`;
    case 'machineEffects':
      return `machine_effects ${effect.effects.length}`;
    case 'roleChanged':
      return `role ${effect.role} t${effect.term} leader=${effect.leader?.name ?? '-'}`;
    case 'removed':
      return 'removed';
    case 'endOfLife':
      return `end_of_life ${JSON.stringify(effect.machineState)}`;
    case 'deleted':
      return 'deleted';
    case 'continue':
      return 'continue';
    case 'invalidMessage':
      return `invalid ${effect.type} from ${effect.from.name}: ${effect.reason}`;
  }
}

/**
 * A few cores joined by a lossless in-order network. Writes complete only on `writeAll`
 * or inside `stabilize`, so tests can hold them back.
 */
export class Cluster {
  readonly cores = new Map<string, RaftCore>();
  readonly logs = new Map<string, MemLog>();
  readonly initialMembers = new Map<string, Member[]>();
  queue: { from: ServerId; to: ServerId; msg: RaftMessage }[] = [];
  readonly out: string[] = [];
  /** Members whose incoming messages are dropped. */
  readonly isolated = new Set<string>();
  /** Directed links (`from>to`) whose messages are dropped. */
  readonly blocked = new Set<string>();
  /** Called after every delivered message (a per-step invariant check). */
  afterDeliver: (() => void) | undefined = undefined;
  snapshotChunks = 1;

  constructor(names: string[], config: Partial<CoreConfig> = {}, members: Member[] = voters(...names)) {
    for (const name of names) this.add(name, members, config);
  }

  add(name: string, members: Member[], config: Partial<CoreConfig> = {}): RaftCore {
    const log = new MemLog();
    this.initialMembers.set(name, members);
    const core = new RaftCore({ id: id(name), log, machine: counter(), random: minRandom, initialMembers: members, ...config });
    this.cores.set(name, core);
    this.logs.set(name, log);
    this.take(name, core.start());
    return core;
  }

  /** Crash and restart: a new core over the same log (all of it written) and persisted term and vote. */
  restart(name: string, config: Partial<CoreConfig> = {}): string[] {
    const old = this.core(name);
    const log = this.log(name);
    log.writeAll();
    this.queue = this.queue.filter((m) => m.to.name !== name && m.from.name !== name);
    const members = this.initialMembers.get(name) ?? [];
    const core = new RaftCore({
      id: id(name),
      log,
      machine: counter(),
      random: minRandom,
      initialMembers: members,
      persisted: { term: old.currentTerm, votedFor: old.votedFor, lastApplied: old.storableApplied() },
      ...(log.snap === undefined ? {} : { machineState: log.snapState }),
      ...config,
    });
    this.cores.set(name, core);
    return this.take(name, core.start());
  }

  core(name: string): RaftCore {
    const core = this.cores.get(name);
    assert(core !== undefined, `no core ${name}`);
    return core;
  }

  log(name: string): MemLog {
    return this.logs.get(name)!;
  }

  step(name: string, event: Event): string[] {
    return this.take(name, this.core(name).step(event));
  }

  /** Performs effects like a shell; returns their formatted lines. */
  take(name: string, effects: readonly Effect[]): string[] {
    const log = this.log(name);
    const lines: string[] = [];
    let synced: { term: number; votedFor: ServerId | undefined } | undefined;
    let snapshotted: SnapshotMeta | undefined;
    for (const effect of effects) {
      lines.push(fmt(effect));
      if (effect.kind === 'send') this.queue.push({ from: id(name), to: effect.to, msg: effect.msg });
      if (effect.kind === 'append') log.append(effect.entries);
      if (effect.kind === 'snapshot') {
        log.takeSnapshot(effect.meta, effect.machineState);
        snapshotted = effect.meta;
      }
      if (effect.kind === 'sendSnapshotChunk') {
        const data = JSON.stringify(log.snapState);
        const last = effect.chunkIndex === this.snapshotChunks - 1;
        this.queue.push({ from: id(name), to: effect.to, msg: { type: 'install_snapshot', term: effect.term, leaderId: id(name), meta: effect.meta, chunkIndex: effect.chunkIndex, last, data: last ? data : '' } });
      }
      if (effect.kind === 'installSnapshot') this.pendingInstall.push({ name, meta: effect.meta });
      if (effect.kind === 'continue') this.continues.push(name);
      if (effect.kind === 'persist' && effect.sync && this.syncVotes) synced = { term: effect.term, votedFor: effect.votedFor };
    }
    this.out.push(...lines.map((line) => `${name}: ${line}`));
    // A shell notifies the core of an install before anything else reaches it.
    for (const install of this.pendingInstall.splice(0)) {
      const state = JSON.parse(this.snapshotDataOf(install.meta)) as unknown;
      this.log(install.name).install(install.meta, state);
      this.step(install.name, { type: 'snapshot_installed', meta: install.meta, machineState: state });
    }
    if (synced !== undefined) this.step(name, { type: 'persisted', term: synced.term, votedFor: synced.votedFor });
    if (snapshotted !== undefined) this.step(name, { type: 'snapshot_written', meta: snapshotted, outcome: 'written' });
    for (const owed of this.continues.splice(0)) this.step(owed, { type: 'continue' });
    return lines;
  }

  continues: string[] = [];
  /** Report votes durable right after their persist effect (a test may hold them back). */
  syncVotes = true;
  pendingInstall: { name: string; meta: SnapshotMeta }[] = [];

  /** Delivers one queued message; returns false when none is left. */
  deliverOne(): boolean {
    const next = this.queue.shift();
    if (next === undefined) return false;
    if (this.isolated.has(next.to.name) || this.isolated.has(next.from.name)) return true;
    if (this.blocked.has(`${next.from.name}>${next.to.name}`)) return true;
    this.step(next.to.name, { type: 'message', from: next.from, msg: next.msg });
    this.afterDeliver?.();
    return true;
  }

  writeAll(name: string): string[] {
    const log = this.log(name);
    log.writeAll();
    const last = log.lastWritten();
    return this.step(name, { type: 'written', index: last.index, term: last.term });
  }

  /** Delivers messages and completes writes and installs until nothing moves. */
  stabilize(rounds = 10_000): void {
    for (let round = 0; round < rounds; round += 1) {
      let moved = false;
      while (this.deliverOne()) moved = true;
      for (const [name, log] of this.logs) {
        if (this.isolated.has(name)) continue;
        if (log.written < log.last().index) {
          this.writeAll(name);
          moved = true;
        }
      }
      if (!moved) return;
    }
    throw new Error('cluster did not stabilize');
  }

  snapshotDataOf(meta: SnapshotMeta): string {
    for (const log of this.logs.values()) {
      if (log.snap?.index === meta.index && log.snap.term === meta.term) return JSON.stringify(log.snapState);
    }
    throw new Error(`no snapshot ${meta.index}`);
  }

  /** Elects `name` through the normal pre-vote and vote path. */
  elect(name: string): void {
    this.step(name, { type: 'trigger_election' });
    this.stabilize();
    assert(this.core(name).role === 'leader', `${name} did not become leader`);
  }

  leaderOf(): string | undefined {
    for (const [name, core] of this.cores) if (core.role === 'leader') return name;
    return undefined;
  }
}
