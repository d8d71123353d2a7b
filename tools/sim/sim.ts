// One deterministic simulated run: Raft cores on a simulated network, disk and clock,
// with faults, clients and invariant checks, all derived from one seed (the VOPR idea).

import {
  AssertionError,
  RaftCore,
  sameServer,
  type Effect,
  type Event,
  type Member,
  type RaftMessage,
  type Reply,
  type ServerId,
  type TimerName,
} from '@rafter/raft';
import { checkLinearizable, registerModel, type HistoryEvent } from '../check/index.js';
import { Invariants, type SimViolation } from './invariants.js';
import { kvMachine, readKey } from './machine.js';
import { SimLog } from './mem-log.js';
import * as o from './options.js';
import { Prng } from './prng.js';
import { EventQueue } from './queue.js';
import { describeEvent, describeMessage } from './trace.js';

type SimEvent =
  | { type: 'deliver'; from: ServerId; fromInc: number; to: string; inc: number; msg: RaftMessage }
  | { type: 'core'; to: string; inc: number; event: Event }
  | { type: 'timer'; to: string; inc: number; timer: TimerName; gen: number }
  | { type: 'disk'; to: string; inc: number }
  | { type: 'tick' }
  | { type: 'fd' }
  | { type: 'fault' }
  | { type: 'restart'; to: string }
  | { type: 'stop'; to: string }
  | { type: 'clientRetry'; client: number; opId: number }
  | { type: 'heal'; blocks: string[] }
  | { type: 'lossEnd' }
  | { type: 'client'; client: number }
  | { type: 'clientReply'; client: number; opId: number; reply: Reply }
  | { type: 'clientTimeout'; client: number; opId: number };

interface SimMember {
  readonly id: ServerId;
  readonly key: string;
  readonly log: SimLog;
  core: RaftCore | undefined;
  inc: number;
  started: boolean;
  /** The cluster it was started with, kept like Ra's server config for restarts. */
  initialMembers: readonly Member[];
  /** Machine code version this member runs; a rolling upgrade raises it. */
  machineVersion: number;
  removed: boolean;
  readonly timers: Map<TimerName, number>;
  diskFreeAtMs: number;
  diskSlowUntilMs: number;
  chunks: unknown[];
  /** A snapshot the shell installed in this step, to notify the core of at once. */
  installed: { meta: import('@rafter/raft').SnapshotMeta; state: unknown } | undefined;
  leader: ServerId | undefined;
  commitSeen: number;
  unreachableSince: Map<string, number>;
  suspected: Set<string>;
  disconnected: Set<string>;
}

interface ClientOp {
  readonly opId: number;
  readonly kind: 'put' | 'get';
  readonly key: string;
  readonly value?: number;
  target: string;
}

interface Client {
  id: number;
  op: ClientOp | undefined;
  guess: string | undefined;
  /** The liveness probe: it keeps retrying the same put until it succeeds. */
  readonly probe: boolean;
}

export interface RunResult {
  readonly seed: number;
  readonly steps: number;
  readonly simulatedMs: number;
  readonly members: number;
  readonly faults: Record<string, number>;
  readonly ops: { ok: number; fail: number; info: number };
  readonly linearizability: 'ok' | 'violation' | 'unknown';
  readonly violation: SimViolation | undefined;
  readonly trace: readonly string[];
}

export class Simulation {
  readonly #rng: Prng;
  readonly #net: Prng;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #members = new Map<string, SimMember>();
  readonly #inv = new Invariants();
  readonly #faults: Record<string, number> = {};
  readonly #history: HistoryEvent[] = [];
  readonly #clients: Client[] = [];
  readonly #trace: string[] = [];
  readonly #blocked = new Set<string>();
  #loss = 0.01;
  #now = 0;
  #steps = 0;
  #phase: 'faults' | 'liveness' | 'done' = 'faults';
  #healAtMs = 0;
  #nextClientId = 0;
  #nextOpId = 0;
  #nextValue = 1;
  #ops = { ok: 0, fail: 0, info: 0 };
  #probeDone = false;

  constructor(readonly options: o.SimOptions) {
    const root = new Prng(options.seed);
    this.#rng = root.fork();
    this.#net = root.fork();
    const total = this.#rng.intBetween(o.MEMBERS_MIN, o.MEMBERS_MAX);
    const initial = Math.max(o.MEMBERS_MIN, total - this.#rng.intBetween(0, 2));
    const ids: ServerId[] = [];
    for (let i = 1; i <= total; i += 1) ids.push({ name: `n${i}`, node: `node${i}` });
    const voters: Member[] = ids.slice(0, initial).map((id) => ({ id, membership: 'voter' }));
    for (const id of ids) this.#members.set(id.name, this.newMember(id));
    for (const voter of voters) this.startMember(this.member(voter.id.name), voters);
    for (let c = 0; c < o.CLIENTS; c += 1) {
      this.#clients.push({ id: this.#nextClientId++, op: undefined, guess: undefined, probe: false });
      this.schedule(this.#rng.intBetween(0, 50), { type: 'client', client: c });
    }
    this.schedule(o.TICK_MS, { type: 'tick' });
    this.schedule(o.FD_POLL_MS, { type: 'fd' });
    this.schedule(this.#rng.intBetween(500, 1500), { type: 'fault' });
  }

  // --- run ------------------------------------------------------------------------

  run(): RunResult {
    const eventsMax = this.options.steps * o.EVENTS_PER_STEP_MAX + 100_000;
    while (this.#phase !== 'done' && this.#inv.violation === undefined) {
      const next = this.#queue.pop();
      if (next === undefined) break;
      this.#now = next.atMs;
      this.#inv.setTime(this.#now);
      this.#steps += 1;
      this.handle(next.item);
      if (this.#phase === 'faults' && this.#steps >= this.options.steps) this.healAll();
      if (this.#phase === 'liveness') this.checkLiveness();
      if (this.#steps > eventsMax) this.#inv.fail('liveness', `no end after ${this.#steps} events`);
    }
    const linearizability = this.#inv.violation === undefined ? this.checkHistory() : 'ok';
    return {
      seed: this.options.seed,
      steps: this.#steps,
      simulatedMs: this.#now,
      members: this.#members.size,
      faults: this.#faults,
      ops: this.#ops,
      linearizability,
      violation: this.#inv.violation,
      trace: this.#trace,
    };
  }

  private checkLiveness(): void {
    const clientsIdle = this.#clients.every((client) => client.probe || client.op === undefined);
    if (this.#probeDone && clientsIdle) {
      const leader = this.leader();
      if (leader !== undefined) this.#inv.checkAckedAt(leader.key, leader.log);
      this.#phase = 'done';
      return;
    }
    if (this.#now > this.#healAtMs + o.LIVENESS_BOUND_MS) {
      const roles = [...this.#members.values()].map((m) => {
        const core = m.core;
        if (core === undefined) return `${m.key}:${m.removed ? 'removed' : m.started ? 'down' : 'spare'}`;
        const last = core.log.last();
        return `${m.key}:${core.role}/t${core.currentTerm} leader=${core.leaderId?.name ?? '-'} last=${last.index}/${last.term} voter=${core.isVoter()} v${core.machineVersion}`;
      });
      this.#inv.fail('liveness', `no command committed within ${o.LIVENESS_BOUND_MS}ms after faults stopped (${roles.join(' ')})`);
    }
  }

  private checkHistory(): 'ok' | 'violation' | 'unknown' {
    const result = checkLinearizable(this.#history, registerModel, { timeoutMs: 20_000 });
    if (result.ok === true) return 'ok';
    if (result.ok === 'unknown') return 'unknown';
    this.#inv.fail('linearizability', result.explanation);
    return 'violation';
  }

  private count(kind: string): void {
    this.#faults[kind] = (this.#faults[kind] ?? 0) + 1;
  }

  private note(line: string): void {
    const size = this.options.traceEvents ?? o.TRACE_EVENTS_DEFAULT;
    this.#trace.push(`${String(this.#now).padStart(7)}ms ${line}`);
    if (this.#trace.length > size) this.#trace.shift();
  }

  private schedule(afterMs: number, event: SimEvent): void {
    this.#queue.push(this.#now + afterMs, event);
  }

  private member(key: string): SimMember {
    const member = this.#members.get(key);
    if (member === undefined) throw new Error(`no member ${key}`);
    return member;
  }

  private alive(): SimMember[] {
    return [...this.#members.values()].filter((m) => m.core !== undefined);
  }

  // --- members --------------------------------------------------------------------

  private newMember(id: ServerId): SimMember {
    return {
      id,
      key: id.name,
      log: new SimLog(),
      core: undefined,
      inc: 0,
      started: false,
      initialMembers: [],
      machineVersion: 1,
      removed: false,
      timers: new Map(),
      diskFreeAtMs: 0,
      diskSlowUntilMs: 0,
      chunks: [],
      installed: undefined,
      leader: undefined,
      commitSeen: 0,
      unreachableSince: new Map(),
      suspected: new Set(),
      disconnected: new Set(),
    };
  }

  private startMember(member: SimMember, initialMembers: readonly Member[]): void {
    if (!member.started) member.initialMembers = initialMembers;
    member.started = true;
    member.inc += 1;
    member.timers.clear();
    member.chunks = [];
    member.leader = undefined;
    member.suspected.clear();
    member.unreachableSince.clear();
    member.disconnected.clear();
    const inv = this.#inv;
    const base = kvMachine({ releaseEvery: o.RELEASE_EVERY_COMMANDS, version: member.machineVersion });
    const machine = {
      version: base.version,
      init: base.init,
      apply: (meta: Parameters<typeof base.apply>[0], command: unknown, state: unknown) => {
        inv.onApply(member.key, meta.index, meta.term, command);
        return base.apply(meta, command, state);
      },
    };
    const rng = this.#rng.fork();
    const core = new RaftCore({
      id: member.id,
      log: member.log,
      machine,
      random: rng,
      persisted: member.log.persisted,
      initialMembers: member.initialMembers,
      machineState: member.log.snapshotState(),
      ...(this.options.mutation === undefined ? {} : { mutation: this.options.mutation }),
    });
    member.core = core;
    member.commitSeen = core.commitIndex;
    this.note(`${member.key} start (inc ${member.inc}, term ${core.currentTerm}, log ${member.log.last().index}, snapshot ${member.log.snapshot()?.index ?? 0})`);
    this.execute(member, () => core.start());
  }

  private crash(member: SimMember, why: 'crash' | 'removed'): void {
    member.core = undefined;
    member.inc += 1;
    member.timers.clear();
    if (why === 'crash') member.log.crash();
    if (why === 'removed') member.removed = true;
    this.note(`${member.key} ${why === 'crash' ? 'CRASH' : 'stopped (removed)'}`);
    // Monitors of its server fire on every member that follows it (process exit / connection reset).
    for (const other of this.alive()) {
      if (sameServer(other.leader, member.id)) {
        this.schedule(this.#net.intBetween(5, 30), { type: 'core', to: other.key, inc: other.inc, event: { type: 'leader_down', id: member.id } });
      }
    }
  }

  /** Steps a member's core and performs its effects in order; a thrown assertion is a violation. */
  private execute(member: SimMember, step: () => Effect[]): void {
    const core = member.core;
    if (core === undefined) return;
    try {
      const effects = step();
      // The simulated log asserts the core keeps its side of the LogReader contract.
      for (const effect of effects) this.perform(member, core, effect);
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      this.#inv.fail('core assertion', `${member.key}: ${error.message}`);
      return;
    }
    if (member.core !== core) return;
    const installed = member.installed;
    if (installed !== undefined) {
      member.installed = undefined;
      this.note(`${member.key} <- snapshot_installed ${installed.meta.index}/${installed.meta.term}`);
      this.execute(member, () => core.step({ type: 'snapshot_installed', meta: installed.meta, machineState: installed.state }));
      return;
    }
    const before = member.commitSeen;
    if (core.commitIndex !== before) {
      this.#inv.onCommit(member.key, before + 1, core.commitIndex, before, member.log);
      member.commitSeen = core.commitIndex;
    }
  }

  private perform(member: SimMember, core: RaftCore, effect: Effect): void {
    switch (effect.kind) {
      case 'persist':
        member.log.persisted = { term: effect.term, votedFor: effect.votedFor };
        return;
      case 'send':
        return this.send(member.id, effect.to, effect.msg);
      case 'append':
        return this.appendToDisk(member, effect.entries);
      case 'reply':
        return this.replyToClient(effect.to as { client: number; opId: number }, effect.reply);
      case 'setTimer': {
        const gen = (member.timers.get(effect.timer) ?? 0) + 1;
        member.timers.set(effect.timer, gen);
        this.schedule(effect.afterMs, { type: 'timer', to: member.key, inc: member.inc, timer: effect.timer, gen });
        return;
      }
      case 'cancelTimer':
        member.timers.set(effect.timer, (member.timers.get(effect.timer) ?? 0) + 1);
        return;
      case 'snapshot':
        member.log.takeSnapshot(effect.meta, effect.machineState);
        this.count('snapshotTaken');
        return;
      case 'sendSnapshotChunk':
        return this.sendSnapshotChunk(member, effect.to, effect.term, effect.meta, effect.chunkIndex);
      case 'writeSnapshotChunk':
        if (effect.chunkIndex === 0) member.chunks = [];
        member.chunks[effect.chunkIndex] = effect.data;
        return;
      case 'installSnapshot': {
        const state: unknown = JSON.parse(member.chunks.join(''));
        member.log.installSnapshot(effect.meta, state);
        member.chunks = [];
        member.installed = { meta: effect.meta, state };
        this.count('snapshotInstall');
        return;
      }
      case 'machineEffects':
        return;
      case 'roleChanged':
        member.leader = effect.leader;
        this.note(`${member.key} -> ${effect.role} term ${effect.term}${effect.leader ? ` leader ${effect.leader.name}` : ''}`);
        if (effect.role === 'leader') this.#inv.onLeader(member.key, effect.term, core.log);
        // Monitoring a leader on a disconnected node yields DOWN at once (Erlang semantics).
        if (effect.leader !== undefined && effect.role !== 'leader' && member.disconnected.has(effect.leader.name)) {
          this.schedule(1, { type: 'core', to: member.key, inc: member.inc, event: { type: 'leader_down', id: effect.leader } });
        }
        return;
      case 'removed':
        this.schedule(0, { type: 'stop', to: member.key });
        return;
      default: {
        const never: never = effect;
        throw new Error(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  private appendToDisk(member: SimMember, entries: readonly import('@rafter/raft').LogEntry[]): void {
    member.log.append(entries);
    this.#inv.onAppend(member.key, entries, member.log);
    const slow = this.#now < member.diskSlowUntilMs ? 20 : 1;
    const doneAt = Math.max(this.#now + this.#net.intBetween(1, 8) * slow, member.diskFreeAtMs);
    member.diskFreeAtMs = doneAt;
    this.#queue.push(doneAt, { type: 'disk', to: member.key, inc: member.inc });
  }

  private sendSnapshotChunk(member: SimMember, to: ServerId, term: number, meta: import('@rafter/raft').SnapshotMeta, chunkIndex: number): void {
    const current = member.log.snapshot();
    if (current === undefined || current.index !== meta.index) return; // replaced; the leader restarts on tick
    const data = JSON.stringify(member.log.snapshotState());
    const chunks = Math.max(1, Math.ceil(data.length / o.SNAPSHOT_CHUNK_CHARS));
    if (chunkIndex >= chunks) return;
    const slice = data.slice(chunkIndex * o.SNAPSHOT_CHUNK_CHARS, (chunkIndex + 1) * o.SNAPSHOT_CHUNK_CHARS);
    this.send(member.id, to, { type: 'install_snapshot', term, leaderId: member.id, meta, chunkIndex, last: chunkIndex === chunks - 1, data: slice });
  }

  // --- network --------------------------------------------------------------------

  private linkBlocked(from: string, to: string): boolean {
    return this.#blocked.has(`${from}>${to}`);
  }

  private send(from: ServerId, to: ServerId, msg: RaftMessage): void {
    const target = this.#members.get(to.name);
    if (target === undefined || target.core === undefined) return;
    if (this.linkBlocked(from.name, to.name)) return;
    if (this.#net.chance(this.#loss)) {
      this.count('drop');
      return;
    }
    const copies = this.#net.chance(0.01) ? 2 : 1;
    if (copies === 2) this.count('duplicate');
    for (let i = 0; i < copies; i += 1) {
      let delay = this.#net.intBetween(1, 5);
      if (this.#net.chance(0.03)) {
        delay += this.#net.intBetween(10, 200);
        this.count('reorder');
      }
      this.schedule(delay, { type: 'deliver', from, fromInc: this.member(from.name).inc, to: to.name, inc: target.inc, msg });
    }
  }

  // --- events ---------------------------------------------------------------------

  private handle(event: SimEvent): void {
    switch (event.type) {
      case 'deliver': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc) return;
        // A crashed sender's connection is gone, and what it still carried with it
        // (Erlang: nothing from a process arrives after its DOWN).
        if (this.member(event.from.name).inc !== event.fromInc) return;
        this.note(`${event.to} <- ${event.from.name} ${describeMessage(event.msg)}`);
        const core = member.core;
        return this.execute(member, () => core.step({ type: 'message', from: event.from, msg: event.msg }));
      }
      case 'core': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc) return;
        this.note(`${event.to} <- ${describeEvent(event.event)}`);
        const core = member.core;
        return this.execute(member, () => core.step(event.event));
      }
      case 'timer': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc || member.timers.get(event.timer) !== event.gen) return;
        this.note(`${event.to} <- timeout ${event.timer}`);
        const core = member.core;
        return this.execute(member, () => core.step({ type: 'timeout', timer: event.timer }));
      }
      case 'disk': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc || !member.log.hasPendingWrites()) return;
        const written = member.log.completeWrite();
        const core = member.core;
        return this.execute(member, () => core.step({ type: 'written', index: written.index, term: written.term }));
      }
      case 'tick':
        for (const member of this.alive()) {
          const core = member.core!;
          if (core.role === 'leader') this.execute(member, () => core.step({ type: 'tick' }));
        }
        return this.schedule(o.TICK_MS, { type: 'tick' });
      case 'fd':
        this.pollFailureDetector();
        return this.schedule(o.FD_POLL_MS, { type: 'fd' });
      case 'fault':
        if (this.#phase !== 'faults') return;
        this.injectFault();
        return this.schedule(this.#rng.intBetween(200, 1500), { type: 'fault' });
      case 'restart':
        return this.onRestart(event.to);
      case 'stop': {
        const member = this.member(event.to);
        if (member.core !== undefined) this.crash(member, 'removed');
        return;
      }
      case 'clientRetry': {
        const op = this.#clients[event.client]?.op;
        if (op !== undefined && op.opId === event.opId) this.sendClientRequest(event.client, op);
        return;
      }
      case 'heal':
        for (const block of event.blocks) this.#blocked.delete(block);
        this.note(`heal ${event.blocks.length} links`);
        return;
      case 'lossEnd':
        this.#loss = 0.01;
        return;
      case 'client':
        return this.clientNext(event.client);
      case 'clientReply':
        return this.clientReply(event.client, event.opId, event.reply);
      case 'clientTimeout':
        return this.clientTimeout(event.client, event.opId);
      default: {
        const never: never = event;
        throw new Error(`unknown sim event ${JSON.stringify(never)}`);
      }
    }
  }

  private onRestart(what: string): void {
    const member = this.member(what);
    if (member.core !== undefined || member.removed || !member.started) return;
    this.count('restart');
    this.startMember(member, []);
  }

  /** aten and Erlang distribution, simulated: suspicion after silence, DOWN on disconnect. */
  private pollFailureDetector(): void {
    for (const observer of this.alive()) {
      for (const target of this.#members.values()) {
        if (target === observer || !target.started) continue;
        const heard = target.core !== undefined && !this.linkBlocked(target.key, observer.key);
        const connected = heard && !this.linkBlocked(observer.key, target.key);
        if (heard) observer.unreachableSince.delete(target.key);
        else if (!observer.unreachableSince.has(target.key)) observer.unreachableSince.set(target.key, this.#now);
        const since = observer.unreachableSince.get(target.key);
        const core = observer.core!;
        if (since !== undefined && this.#now - since >= o.FD_SUSPECT_MS && !observer.suspected.has(target.key)) {
          observer.suspected.add(target.key);
          this.execute(observer, () => core.step({ type: 'node_maybe_down', node: target.id.node }));
        } else if (heard && observer.suspected.has(target.key)) {
          observer.suspected.delete(target.key);
          this.execute(observer, () => core.step({ type: 'node_up', node: target.id.node }));
        }
        this.pollConnection(observer, target, connected, since);
      }
    }
  }

  private pollConnection(observer: SimMember, target: SimMember, connected: boolean, since: number | undefined): void {
    if (connected) {
      observer.disconnected.delete(target.key);
      return;
    }
    const down = target.core === undefined || (since !== undefined && this.#now - since >= o.CONNECTION_DROP_MS) || this.linkBlocked(observer.key, target.key);
    if (!down || observer.disconnected.has(target.key)) return;
    observer.disconnected.add(target.key);
    if (sameServer(observer.leader, target.id) && observer.core?.role !== 'leader') {
      const core = observer.core!;
      this.execute(observer, () => core.step({ type: 'leader_down', id: target.id }));
    }
  }

  // --- faults ---------------------------------------------------------------------

  private leader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const member of this.alive()) {
      if (member.core!.role !== 'leader') continue;
      if (best === undefined || member.core!.currentTerm > best.core!.currentTerm) best = member;
    }
    return best;
  }

  private voterKeys(): string[] {
    const leader = this.leader();
    const config = leader?.core?.cluster.current().members ?? [];
    return config.filter((m) => m.membership === 'voter').map((m) => m.id.name);
  }

  private injectFault(): void {
    const roll = this.#rng.intBetween(0, 99);
    if (roll < 18) return this.faultCrash();
    if (roll < 30) return this.faultPartition();
    if (roll < 38) return this.faultOneWay();
    if (roll < 46) return this.faultLoss();
    if (roll < 54) return this.faultSlowDisk();
    if (roll < 68) return this.faultMembership();
    if (roll < 78) return this.faultTransfer();
    if (roll < 84) return this.faultTriggerElection();
    if (roll < 87) return this.faultUpgrade();
    // otherwise a quiet period
  }

  private faultCrash(): void {
    const started = [...this.#members.values()].filter((m) => m.started && !m.removed);
    const down = started.filter((m) => m.core === undefined).length;
    if (down >= Math.floor((started.length - 1) / 2)) return;
    const candidates = this.alive();
    if (candidates.length === 0) return;
    const member = this.#rng.pick(candidates);
    this.count('crash');
    this.crash(member, 'crash');
    this.schedule(this.#rng.intBetween(200, 4000), { type: 'restart', to: member.key });
  }

  private faultPartition(): void {
    const keys = [...this.#members.keys()];
    const side = new Set(keys.filter(() => this.#rng.chance(0.4)));
    if (side.size === 0 || side.size === keys.length) return;
    const blocks: string[] = [];
    for (const a of keys) for (const b of keys) if (side.has(a) !== side.has(b)) blocks.push(`${a}>${b}`);
    this.block(blocks, 'partition', `partition {${[...side].join(',')}} | rest`);
  }

  private faultOneWay(): void {
    const keys = [...this.#members.keys()];
    const a = this.#rng.pick(keys);
    const b = this.#rng.pick(keys);
    if (a === b) return;
    this.block([`${a}>${b}`], 'oneWayPartition', `one-way ${a} -/-> ${b}`);
  }

  private block(blocks: string[], kind: string, what: string): void {
    for (const block of blocks) this.#blocked.add(block);
    this.count(kind);
    this.note(what);
    this.schedule(this.#rng.intBetween(300, 4000), { type: 'heal', blocks });
  }

  private faultLoss(): void {
    this.#loss = 0.25;
    this.count('lossBurst');
    this.note('loss burst 25%');
    this.schedule(this.#rng.intBetween(300, 2000), { type: 'lossEnd' });
  }

  private faultSlowDisk(): void {
    const candidates = this.alive();
    if (candidates.length === 0) return;
    const member = this.#rng.pick(candidates);
    member.diskSlowUntilMs = this.#now + this.#rng.intBetween(500, 3000);
    this.count('slowDisk');
    this.note(`${member.key} disk slow`);
  }

  private faultMembership(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const config = leader.core!.cluster.current().members;
    const spares = [...this.#members.values()].filter((m) => !m.started);
    const voters = config.filter((m) => m.membership === 'voter');
    const from = { client: -1, opId: -1 };
    if (spares.length > 0 && (this.#rng.chance(0.6) || voters.length <= 3)) {
      const spare = spares[0]!;
      this.startMember(spare, []);
      const membership = this.#rng.chance(0.75) ? 'promotable' : 'non_voter';
      this.count('addMember');
      this.note(`add ${spare.key} as ${membership}`);
      this.toCore(leader, { type: 'add_member', member: { id: spare.id, membership }, from });
      return;
    }
    const removable = config.filter((m) => m.membership !== 'voter' || voters.length > 3);
    if (removable.length === 0) return;
    const victim = this.#rng.pick(removable);
    this.count('removeMember');
    this.note(`remove ${victim.id.name}`);
    this.toCore(leader, { type: 'remove_member', id: victim.id, from: { client: -2, opId: -1, victim: victim.id.name } });
  }

  private faultTransfer(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const others = this.voterKeys().filter((key) => key !== leader.key);
    if (others.length === 0) return;
    const to = this.member(this.#rng.pick(others)).id;
    this.count('transferLeadership');
    this.note(`transfer leadership ${leader.key} -> ${to.name}`);
    this.toCore(leader, { type: 'transfer_leadership', to, from: { client: -1, opId: -1 } });
  }

  private faultTriggerElection(): void {
    const voters = this.voterKeys().map((key) => this.member(key)).filter((m) => m.core !== undefined);
    if (voters.length === 0) return;
    const member = this.#rng.pick(voters);
    this.count('triggerElection');
    this.toCore(member, { type: 'trigger_election' });
  }

  /** One step of a rolling upgrade: restart a member with the next machine version. */
  private faultUpgrade(): void {
    const candidates = this.alive().filter((m) => m.machineVersion === 1);
    if (candidates.length === 0) return;
    const member = this.#rng.pick(candidates);
    this.count('upgrade');
    this.note(`${member.key} upgrade to machine version 2`);
    this.crash(member, 'crash');
    member.machineVersion = 2;
    this.schedule(this.#rng.intBetween(50, 500), { type: 'restart', to: member.key });
  }

  private toCore(member: SimMember, event: Event): void {
    this.schedule(this.#net.intBetween(1, 3), { type: 'core', to: member.key, inc: member.inc, event });
  }

  private healAll(): void {
    this.#phase = 'liveness';
    this.#healAtMs = this.#now;
    this.#blocked.clear();
    this.#loss = 0;
    this.note('HEAL: faults stop');
    const upgrading = [...this.#members.values()].some((m) => m.machineVersion === 2);
    for (const member of this.#members.values()) {
      member.diskSlowUntilMs = 0;
      if (upgrading && member.machineVersion === 1) {
        // Finish the rolling upgrade: members on old code would wait forever.
        if (member.core !== undefined) this.crash(member, 'crash');
        member.machineVersion = 2;
      }
      if (member.started && !member.removed && member.core === undefined) this.schedule(1, { type: 'restart', to: member.key });
    }
    this.#clients.push({ id: this.#nextClientId++, op: undefined, guess: undefined, probe: true });
    this.schedule(1, { type: 'client', client: this.#clients.length - 1 });
  }

  // --- clients --------------------------------------------------------------------

  private record(client: Client, kind: HistoryEvent['kind'], op: ClientOp, result?: unknown): void {
    const historyOp = op.kind === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'get', key: op.key };
    this.#history.push({ clientId: client.id, opId: op.opId, kind, op: historyOp, ...(result === undefined ? {} : { result }), atMs: this.#now });
  }

  private clientNext(index: number): void {
    const client = this.#clients[index]!;
    if (client.op !== undefined) return;
    if (!client.probe && this.#phase !== 'faults') return;
    if (client.probe && this.#probeDone) return;
    const key = this.#rng.pick(o.KEYS);
    const put = client.probe || this.#rng.chance(0.5);
    const target = client.guess ?? this.#rng.pick([...this.#members.values()].filter((m) => m.started && !m.removed)).key;
    const op: ClientOp = put ? { opId: this.#nextOpId++, kind: 'put', key, value: this.#nextValue++, target } : { opId: this.#nextOpId++, kind: 'get', key, target };
    client.op = op;
    this.record(client, 'invoke', op);
    this.sendClientRequest(index, op);
    this.schedule(o.CLIENT_TIMEOUT_MS, { type: 'clientTimeout', client: index, opId: op.opId });
  }

  private sendClientRequest(index: number, op: ClientOp): void {
    const member = this.#members.get(op.target);
    if (member?.core === undefined) return; // no reply: the client times out
    const from = { client: index, opId: op.opId };
    const event: Event =
      op.kind === 'put'
        ? { type: 'command', command: { type: 'put', key: op.key, value: op.value }, priority: this.#rng.chance(0.2) ? 'low' : 'normal', from }
        : { type: 'query', kind: 'consistent', fn: readKey(op.key), from };
    this.toCore(member, event);
  }

  private replyToClient(to: { client: number; opId: number; victim?: string }, reply: Reply): void {
    if (to.client === -2 && reply.type === 'ok' && to.victim !== undefined) {
      // leave_and_terminate: a removed member is stopped once its removal committed.
      this.schedule(this.#net.intBetween(1, 50), { type: 'stop', to: to.victim });
      return;
    }
    if (to.client < 0) return;
    this.schedule(this.#net.intBetween(1, 3), { type: 'clientReply', client: to.client, opId: to.opId, reply });
  }

  private clientReply(index: number, opId: number, reply: Reply): void {
    const client = this.#clients[index]!;
    const op = client.op;
    if (op === undefined || op.opId !== opId) return;
    if (reply.type === 'error') {
      client.guess = reply.leader?.name;
      if (reply.code === 'RAFTER_LEADERSHIP_LOST') return this.clientIndeterminate(index, client, op);
      // Definitely not applied: the probe retries the same put, others move on.
      if (client.probe) {
        op.target = client.guess ?? this.#rng.pick(this.alive()).key;
        this.schedule(this.#rng.intBetween(20, 100), { type: 'clientRetry', client: index, opId: op.opId });
        return;
      }
      this.record(client, 'fail', op);
      this.#ops.fail += 1;
      client.op = undefined;
      return this.schedule(this.#rng.intBetween(20, 100), { type: 'client', client: index });
    }
    client.guess = op.target;
    if (op.kind === 'put' && reply.type === 'ok') this.#inv.onAcked(reply.index, reply.term);
    this.record(client, 'ok', op, op.kind === 'get' && reply.type === 'query' ? (reply.result ?? null) : 'ok');
    this.#ops.ok += 1;
    client.op = undefined;
    if (client.probe) this.#probeDone = true;
    else this.schedule(this.#rng.intBetween(0, 50), { type: 'client', client: index });
  }

  private clientTimeout(index: number, opId: number): void {
    const client = this.#clients[index]!;
    const op = client.op;
    if (op === undefined || op.opId !== opId) return;
    this.clientIndeterminate(index, client, op);
  }

  /** Outcome unknown: Jepsen's 'info'. The process may still act, so it takes a new id. */
  private clientIndeterminate(index: number, client: Client, op: ClientOp): void {
    this.record(client, 'info', op);
    this.#ops.info += 1;
    client.op = undefined;
    client.id = this.#nextClientId++;
    client.guess = undefined;
    if (client.probe) return this.clientNext(index);
    this.schedule(this.#rng.intBetween(20, 100), { type: 'client', client: index });
  }
}

/** Runs one seed. */
export function runSeed(options: o.SimOptions): RunResult {
  return new Simulation(options).run();
}
