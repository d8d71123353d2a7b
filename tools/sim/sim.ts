// One deterministic simulated run: Raft cores on a simulated network, disk and clock,
// with faults, clients and invariant checks, all derived from one seed (the VOPR idea).

import { AssertionError, RaftCore, assertNever, sameServer, type Effect, type Event, type LogEntry, type Member, type RaftMessage, type ServerId } from '@rafter/raft/core';
import { checkLinearizable, registerModel } from '../check/index.js';
import { SimClients } from './clients.js';
import { FaultInjector } from './faults.js';
import { Invariants, type SimViolation } from './invariants.js';
import { kvMachine } from './machine.js';
import * as o from './options.js';
import { Prng } from './prng.js';
import { EventQueue } from './queue.js';
import { describeEvent, describeMessage } from './trace.js';
import { ClusterDeletion } from './deletion.js';
import { ElectionWatch } from './elections.js';
import { SnapshotWriter } from './snapshots.js';
import { describeProfile, drawProfile, type SwarmProfile } from './swarm.js';
import { SimNetwork, memberOf, newMember, type SimEvent, type SimHost, type SimMember } from './world.js';

export interface RunResult {
  readonly seed: number;
  readonly steps: number;
  readonly simulatedMs: number;
  readonly members: number;
  readonly faults: Record<string, number>;
  /** The seed's fault mix (swarm testing). */
  readonly swarm: string;
  /** Elections while a healthy leader was reachable by a quorum, after faults stopped. */
  readonly spuriousElections: number;
  readonly ops: { ok: number; fail: number; info: number };
  readonly linearizability: 'ok' | 'violation' | 'unknown';
  readonly violation: SimViolation | undefined;
  readonly trace: readonly string[];
}

export class Simulation implements SimHost {
  readonly rng: Prng;
  readonly net: Prng;
  readonly network = new SimNetwork();
  readonly invariants = new Invariants();
  readonly #queue = new EventQueue<SimEvent>();
  readonly #members = new Map<string, SimMember>();
  readonly #faults: Record<string, number> = {};
  readonly #trace: string[] = [];
  readonly profile: SwarmProfile;
  readonly #injector: FaultInjector;
  readonly #elections: ElectionWatch;
  readonly #snapshots = new SnapshotWriter(this);
  readonly #clients = new SimClients(this);
  #now = 0;
  #steps = 0;
  #phase: 'faults' | 'liveness' | 'deleting' | 'done' = 'faults';
  /** The deletion phase: when it began, the members that must end, and where each applied it. */
  #deletion: ClusterDeletion | undefined;
  #healAtMs = 0;
  #quietUntilMs: number | undefined;
  readonly #byteCaps: (typeof o.BYTE_CAPS)[number];

  constructor(readonly options: o.SimOptions) {
    const root = new Prng(options.seed);
    this.rng = root.fork();
    this.net = root.fork();
    this.profile = drawProfile(root.fork());
    this.network.setRates(this.profile.network);
    this.#injector = new FaultInjector(this, this.profile, root.fork());
    this.#elections = new ElectionWatch(this, options.strictElections === true);
    const batching = options.batching ?? true;
    // Forked after the others, and only with batching: recorded seeds keep their course.
    this.#byteCaps = batching ? root.fork().pick(o.BYTE_CAPS) : {};
    const total = this.rng.intBetween(o.MEMBERS_MIN, o.MEMBERS_MAX);
    const initial = Math.max(o.MEMBERS_MIN, total - this.rng.intBetween(0, 2));
    const ids: ServerId[] = [];
    for (let i = 1; i <= total; i += 1) ids.push({ name: `n${i}`, node: `node${i}` });
    const voters: Member[] = ids.slice(0, initial).map((id) => ({ id, membership: 'voter' }));
    for (const id of ids) this.#members.set(id.name, newMember(id));
    for (const voter of voters) this.startMember(this.member(voter.id.name), voters);
    this.#clients.start(o.CLIENTS);
    if (batching) this.#clients.startBatchGroups(o.BATCH_GROUPS, o.BATCH_CLIENTS_MAX);
    if (this.#byteCaps.appendEntriesBytesMax !== undefined) this.note(`byte caps: ${this.#byteCaps.appendEntriesBytesMax} per AppendEntries, ${this.#byteCaps.inflightBytesMax} in flight`);
    this.schedule(o.TICK_MS, { type: 'tick' });
    this.schedule(o.FD_POLL_MS, { type: 'fd' });
    this.schedule(this.rng.intBetween(500, 1500), { type: 'fault' });
  }

  now(): number {
    return this.#now;
  }

  phase(): 'faults' | 'liveness' | 'deleting' | 'done' {
    return this.#phase;
  }

  members(): readonly SimMember[] {
    return [...this.#members.values()];
  }

  // --- run ------------------------------------------------------------------------

  run(): RunResult {
    const eventsMax = this.options.steps * o.EVENTS_PER_STEP_MAX + 100_000;
    while (this.#phase !== 'done' && this.invariants.violation === undefined) {
      const next = this.#queue.pop();
      if (next === undefined) break;
      this.#now = next.atMs;
      if (this.deferWhilePaused(next.item)) continue;
      this.invariants.setTime(this.#now);
      this.#steps += 1;
      this.handle(next.item);
      if (this.#phase === 'faults' && this.#steps >= this.options.steps) this.healAll();
      if (this.#phase === 'liveness') this.checkLiveness();
      if (this.#phase === 'deleting') this.checkDeletion();
      if (this.#steps > eventsMax) this.invariants.fail('liveness', `no end after ${this.#steps} events`);
    }
    const linearizability = this.invariants.violation === undefined ? this.checkHistory() : 'ok';
    return {
      seed: this.options.seed,
      steps: this.#steps,
      simulatedMs: this.#now,
      members: this.#members.size,
      faults: this.#faults,
      swarm: describeProfile(this.profile),
      spuriousElections: this.#elections.spurious,
      ops: this.#clients.ops,
      linearizability,
      violation: this.invariants.violation,
      trace: this.#trace,
    };
  }

  private checkLiveness(): void {
    if (this.#clients.probeDone && this.#clients.idle()) {
      // Then a quiet period with one follower restarted: no election may follow it.
      this.#quietUntilMs ??= this.#elections.startQuietPeriod();
      if (this.#now < this.#quietUntilMs) return;
      const leader = this.leader();
      if (leader !== undefined) this.invariants.checkAckedAt(leader.key, leader.log);
      this.startDeletion(leader);
      return;
    }
    if (this.#now > this.#healAtMs + o.LIVENESS_BOUND_MS) {
      const roles = [...this.#members.values()].map((m) => {
        const core = m.core;
        if (core === undefined) return `${m.key}:${m.removed ? 'removed' : m.started ? 'down' : 'spare'}`;
        const last = core.log.last();
        return `${m.key}:${core.role}/t${core.currentTerm} leader=${core.leaderId?.name ?? '-'} last=${last.index}/${last.term} voter=${core.isVoter()} v${core.machineVersion}`;
      });
      this.invariants.fail('liveness', `no command committed within ${o.LIVENESS_BOUND_MS}ms after faults stopped (${roles.join(' ')})`);
    }
  }

  /** Last, the cluster is deleted: every member of the leader's configuration must end, at the same entry. */
  private startDeletion(leader: SimMember | undefined): void {
    const core = leader?.core;
    if (leader === undefined || core === undefined) {
      this.#phase = 'done';
      return;
    }
    const members = new Set(core.cluster.current().members.map((m) => m.id.name));
    this.#deletion = new ClusterDeletion(members, this.#now, this.invariants);
    this.#phase = 'deleting';
    this.stepNow(leader, { type: 'delete_cluster', from: { client: -1, opId: 0 } });
  }

  private checkDeletion(): void {
    if (!this.#deletion!.done(this.#now)) return;
    this.count('clusterDeleted');
    this.#phase = 'done';
  }

  private checkHistory(): 'ok' | 'violation' | 'unknown' {
    // The default budget counts search steps, not time: a seed's verdict never depends on the machine's load.
    const result = checkLinearizable(this.#clients.history, registerModel);
    if (result.ok === true) return 'ok';
    if (result.ok === 'unknown') {
      // Fails like a violation: an undecided history is an unchecked one.
      this.invariants.fail('linearizability undecided', `the checker's budget of ${result.steps} search steps ran out on key ${result.key ?? '-'}; make the checker decide such histories`);
      return 'unknown';
    }
    this.invariants.fail('linearizability', result.explanation);
    return 'violation';
  }

  count(kind: string): void {
    this.#faults[kind] = (this.#faults[kind] ?? 0) + 1;
  }

  note(line: string): void {
    const size = this.options.traceEvents ?? o.TRACE_EVENTS_DEFAULT;
    this.#trace.push(`${String(this.#now).padStart(7)}ms ${line}`);
    if (this.#trace.length > size) this.#trace.shift();
  }

  schedule(afterMs: number, event: SimEvent): void {
    this.#queue.push(this.#now + afterMs, event);
  }

  member(key: string): SimMember {
    const member = this.#members.get(key);
    if (member === undefined) throw new Error(`no member ${key}`);
    return member;
  }

  alive(): SimMember[] {
    return [...this.#members.values()].filter((m) => m.core !== undefined);
  }

  // --- members --------------------------------------------------------------------

  startMember(member: SimMember, initialMembers: readonly Member[]): void {
    if (!member.started) member.initialMembers = initialMembers;
    member.started = true;
    member.inc += 1;
    member.timers.clear();
    member.chunks = [];
    member.leader = undefined;
    member.suspected.clear();
    member.unreachableSince.clear();
    member.disconnected.clear();
    const inv = this.invariants;
    const base = kvMachine({ releaseEvery: o.RELEASE_EVERY_COMMANDS, checkpointEvery: o.CHECKPOINT_EVERY_COMMANDS, version: member.machineVersion });
    const machine = {
      version: base.version,
      init: base.init,
      apply: (meta: Parameters<typeof base.apply>[0], command: unknown, state: unknown) => {
        // Every member applies an entry with the same version in force and the same leader's time.
        inv.onApply(member.key, meta.index, meta.term, { command, machineVersion: meta.machineVersion, systemTime: meta.systemTime });
        return base.apply(meta, command, state);
      },
    };
    const rng = this.rng.fork();
    const core = new RaftCore({
      id: member.id,
      log: member.log,
      machine,
      random: rng,
      persisted: { ...member.log.persisted, lastApplied: member.log.lastApplied },
      initialMembers: member.initialMembers,
      machineState: member.log.snapshotState(),
      ...(this.options.mutation === undefined ? {} : { mutation: this.options.mutation }),
      // As the servers run: a rolling upgrade takes effect once every member runs the new code.
      machineUpgradeStrategy: 'all',
      ...this.#byteCaps,
    });
    member.core = core;
    member.commitSeen = core.commitIndex;
    member.appliedSeen = -1;
    this.note(`${member.key} start (inc ${member.inc}, term ${core.currentTerm}, log ${member.log.last().index}, snapshot ${member.log.snapshot()?.index ?? 0})`);
    this.execute(member, () => core.start());
  }

  crash(member: SimMember, why: 'crash' | 'removed'): void {
    member.core = undefined;
    member.inc += 1;
    member.pausedUntilMs = 0;
    member.timers.clear();
    if (why === 'crash' && member.log.crash() > 0) this.count('overwriteUndone');
    if (why === 'removed') member.removed = true;
    this.note(`${member.key} ${why === 'crash' ? 'CRASH' : 'stopped (removed)'}`);
    // Monitors of its server fire on every member that follows it (process exit / connection reset).
    for (const other of this.alive()) {
      if (sameServer(other.leader, member.id)) {
        this.schedule(this.net.intBetween(5, 30), { type: 'core', to: other.key, inc: other.inc, event: { type: 'leader_down', id: member.id } });
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
      // Stored lazily, like Ra's meta store: a restart re-applies up to it. A follower
      // applies committed entries it has not written yet; stored past its written index,
      // a crash that undoes an overwrite would have it re-apply the old entries there.
      member.log.lastApplied = this.options.storeAppliedPastWritten === true ? core.lastApplied : core.storableApplied();
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      this.invariants.fail('core assertion', `${member.key}: ${error.message}`);
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
      this.invariants.onCommit(member.key, before + 1, core.commitIndex, before, member.log, core.currentTerm);
      if (core.role === 'leader' && core.commitIndex > before) this.checkCommitDurable(member, core);
      member.commitSeen = core.commitIndex;
    }
    if (core.lastApplied !== member.appliedSeen) {
      member.appliedSeen = core.lastApplied;
      this.invariants.onMachineState(member.key, core.lastApplied, core.machineState);
    }
  }

  /**
   * Raft's commit rule read at the disks: an entry a leader has just committed is on the
   * synced storage of a majority of its configuration's voters, so no crash, not even a
   * power loss of the whole cluster, can take it back.
   */
  private checkCommitDurable(leader: SimMember, core: RaftCore): void {
    const index = core.commitIndex;
    const term = leader.log.termAt(index);
    if (term === undefined) return;
    const voters = core.cluster.current().members.filter((m) => m.membership === 'voter');
    const holding = voters.filter((v) => this.#members.get(v.id.name)?.log.holdsDurably(index, term) === true);
    if (holding.length * 2 <= voters.length) {
      const names = holding.map((v) => v.id.name).join(', ') || 'none';
      this.invariants.fail('commit not durable', `${leader.key} committed ${index}/${term} while only ${holding.length} of ${voters.length} voters had it synced (${names})`);
    }
  }

  /**
   * Raft's single-server membership rule read at the leader's log: a leader appends a
   * configuration only once an entry of its own term is committed (its noop), and only
   * while no other configuration above the commit index is pending.
   */
  private checkClusterChanges(leader: SimMember, core: RaftCore, entries: readonly LogEntry[]): void {
    const commitIndex = core.commitIndex;
    let pending = leader.log.entries(commitIndex + 1, Math.min(leader.log.last().index, (entries[0]?.index ?? 1) - 1)).some((e) => e.payload.type === 'cluster');
    for (const entry of entries) {
      if (entry.payload.type !== 'cluster' || entry.term !== core.currentTerm) continue;
      if (leader.log.termAt(commitIndex) !== core.currentTerm) {
        return this.invariants.fail('membership change', `${leader.key} appended a configuration at ${entry.index} in term ${core.currentTerm} before committing an entry of its term (commit index ${commitIndex})`);
      }
      if (pending) return this.invariants.fail('membership change', `${leader.key} appended a configuration at ${entry.index} while another above commit index ${commitIndex} is pending`);
      pending = true;
    }
  }

  /** A paused member handles nothing: what arrives for it waits until the pause ends. */
  private deferWhilePaused(event: SimEvent): boolean {
    const key = memberOf(event);
    const member = key === undefined ? undefined : this.#members.get(key);
    if (member?.core === undefined || member.pausedUntilMs <= this.#now) return false;
    this.#queue.push(member.pausedUntilMs, event);
    return true;
  }

  private paused(member: SimMember): boolean {
    return member.pausedUntilMs > this.#now;
  }

  private perform(member: SimMember, core: RaftCore, effect: Effect): void {
    switch (effect.kind) {
      case 'persist':
        member.log.persist({ term: effect.term, votedFor: effect.votedFor }, effect.sync);
        this.scheduleDiskWrite(member);
        return;
      case 'send':
        return this.send(member.id, effect.to, effect.msg);
      case 'append':
        if (core.role === 'leader') this.checkClusterChanges(member, core, effect.entries);
        return this.appendToDisk(member, effect.entries);
      case 'reply':
        return this.#clients.replyTo(effect.to as { client: number; opId: number }, effect.reply);
      case 'setTimer':
        // Cancelled and replaced timers still fire: the core drops them by generation.
        this.schedule(effect.afterMs, { type: 'timer', to: member.key, inc: member.inc, timer: effect.timer, gen: effect.generation });
        return;
      case 'cancelTimer':
        return;
      case 'continue':
        this.schedule(0, { type: 'core', to: member.key, inc: member.inc, event: { type: 'continue' } });
        return;
      case 'invalidMessage':
        // Correct peers never send one: in the simulator it is a bug.
        this.invariants.fail('core assertion', `${member.key}: invalid ${effect.type} from ${effect.from.name}: ${effect.reason}`);
        return;
      case 'snapshot':
        return this.#snapshots.start(member, effect.meta, effect.machineState);
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
        // Every member passes on its checkpoints: each must hold the state all members have at its index.
        for (const machineEffect of effect.effects) {
          if (machineEffect.type === 'checkpoint') this.invariants.onMachineState(member.key, machineEffect.index, machineEffect.state);
        }
        return;
      case 'roleChanged':
        member.leader = effect.leader;
        this.note(`${member.key} -> ${effect.role} term ${effect.term}${effect.leader ? ` leader ${effect.leader.name}` : ''}`);
        if (effect.role === 'leader') {
          this.invariants.onLeader(member.key, effect.term, core.log);
          if (this.#phase === 'faults') this.#injector.onNewLeader();
        }
        if (effect.role === 'candidate') this.#elections.onCandidate(member);
        // Monitoring a leader on a disconnected node yields DOWN at once (Erlang semantics),
        // unless the link is back: the monitor then reconnects.
        if (effect.leader !== undefined && effect.role !== 'leader' && member.disconnected.has(effect.leader.name)) {
          if (this.linkUp(member.key, effect.leader.name)) member.disconnected.delete(effect.leader.name);
          else this.schedule(1, { type: 'core', to: member.key, inc: member.inc, event: { type: 'leader_down', id: effect.leader } });
        }
        return;
      case 'removed':
        this.schedule(0, { type: 'stop', to: member.key });
        return;
      case 'endOfLife':
        if (this.#deletion === undefined) return this.invariants.fail('cluster deletion', `${member.key} applied a deletion nobody asked for`);
        this.#deletion.endOfLife(member.key, core.lastApplied);
        return;
      case 'deleted':
        if (this.#deletion === undefined) return this.invariants.fail('cluster deletion', `${member.key} deleted though nobody asked for a deletion`);
        // The core has stopped; its process is left running so what it sent last (the
        // acknowledgement the leader waits for) still arrives, as on a normal exit.
        return this.#deletion.memberDeleted(member.key);
      default:
        return assertNever(effect, 'unknown effect');
    }
  }

  private appendToDisk(member: SimMember, entries: readonly import('@rafter/raft/core').LogEntry[]): void {
    const overwrites = entries[0]!.index <= member.log.last().index;
    member.log.append(entries);
    this.invariants.onAppend(member.key, entries, member.log);
    const doneAt = this.scheduleDiskWrite(member);
    if (this.#phase === 'faults') this.#injector.onAppend(member, doneAt - this.#now, overwrites);
  }

  /** One more write in the member's FIFO disk queue; returns when it will be synced. */
  private scheduleDiskWrite(member: SimMember): number {
    const slow = this.#now < member.diskSlowUntilMs ? o.SLOW_DISK_FACTOR : 1;
    const doneAt = Math.max(this.#now + this.net.intBetween(o.DISK_WRITE_MS_MIN, o.DISK_WRITE_MS_MAX) * slow, member.diskFreeAtMs);
    member.diskFreeAtMs = doneAt;
    this.#queue.push(doneAt, { type: 'disk', to: member.key, inc: member.inc });
    return doneAt;
  }

  private sendSnapshotChunk(member: SimMember, to: ServerId, term: number, meta: import('@rafter/raft/core').SnapshotMeta, chunkIndex: number): void {
    const current = member.log.snapshot();
    if (current === undefined || current.index !== meta.index) return; // replaced; the leader restarts on tick
    const data = JSON.stringify(member.log.snapshotState());
    const chunks = Math.max(1, Math.ceil(data.length / o.SNAPSHOT_CHUNK_CHARS));
    if (chunkIndex >= chunks) return;
    const slice = data.slice(chunkIndex * o.SNAPSHOT_CHUNK_CHARS, (chunkIndex + 1) * o.SNAPSHOT_CHUNK_CHARS);
    this.send(member.id, to, { type: 'install_snapshot', term, leaderId: member.id, meta, chunkIndex, last: chunkIndex === chunks - 1, data: slice });
  }

  // --- network --------------------------------------------------------------------

  /** Both directions work and the other member runs: a connection would come up. */
  private linkUp(a: string, b: string): boolean {
    return this.member(b).core !== undefined && !this.linkBlocked(a, b) && !this.linkBlocked(b, a);
  }

  private linkBlocked(from: string, to: string): boolean {
    return this.network.linkBlocked(from, to);
  }

  private send(from: ServerId, to: ServerId, msg: RaftMessage): void {
    const target = this.#members.get(to.name);
    if (target === undefined || target.core === undefined) return;
    for (const delay of this.network.deliveryDelays(this.net, from.name, to.name, (kind) => this.count(kind))) {
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
        if (member?.core === undefined || member.inc !== event.inc) return;
        const core = member.core;
        if (core.timerGeneration(event.timer) === event.gen) this.note(`${event.to} <- timeout ${event.timer}`);
        return this.execute(member, () => core.step({ type: 'timeout', timer: event.timer, generation: event.gen }));
      }
      case 'disk': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc || !member.log.hasPendingWrites()) return;
        const { write, written } = member.log.completeWrite();
        const core = member.core;
        if (write.kind === 'entries') return this.execute(member, () => core.step({ type: 'written', index: written.index, term: written.term }));
        if (write.kind === 'meta' && write.sync) return this.execute(member, () => core.step({ type: 'persisted', term: write.state.term, votedFor: write.state.votedFor }));
        return;
      }
      case 'tick':
        for (const member of this.alive()) {
          const core = member.core!;
          if (core.role === 'leader' && !this.paused(member)) this.execute(member, () => core.step({ type: 'tick' }));
        }
        return this.schedule(o.TICK_MS, { type: 'tick' });
      case 'fd':
        this.pollFailureDetector();
        return this.schedule(o.FD_POLL_MS, { type: 'fd' });
      case 'fault':
        if (this.#phase !== 'faults') return;
        this.#injector.inject();
        return this.schedule(this.rng.intBetween(this.profile.gapMsMin, this.profile.gapMsMax), { type: 'fault' });
      case 'restart':
        return this.onRestart(event.to);
      case 'stop': {
        const member = this.member(event.to);
        if (member.core !== undefined) this.crash(member, 'removed');
        return;
      }
      case 'clientRetry': {
        return this.#clients.retry(event.client, event.opId);
      }
      case 'heal':
        for (const block of event.blocks) this.network.blocked.delete(block);
        this.note(`heal ${event.blocks.length} links`);
        return;
      case 'lossEnd':
        if (this.#phase === 'faults') this.network.loss = this.network.rates.loss;
        return;
      case 'client':
        return this.#clients.next(event.client);
      case 'clientReply':
        return this.#clients.onReply(event.client, event.opId, event.reply);
      case 'clientTimeout':
        return this.#clients.onTimeout(event.client, event.opId);
      case 'nemesis':
        return event.step();
      case 'snapshotWritten':
        return this.#snapshots.finish(event);
      default:
        return assertNever(event, 'unknown sim event');
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
      if (this.paused(observer)) continue;
      for (const target of this.#members.values()) {
        if (target === observer || !target.started) continue;
        const reachable = target.core !== undefined && !this.linkBlocked(target.key, observer.key);
        // A paused process sends no heartbeats, but its connections stay up.
        const heard = reachable && !this.paused(target);
        const connected = reachable && !this.linkBlocked(observer.key, target.key);
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

  leader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const member of this.alive()) {
      if (member.core!.role !== 'leader') continue;
      if (best === undefined || member.core!.currentTerm > best.core!.currentTerm) best = member;
    }
    return best;
  }

  toCore(member: SimMember, event: Event): void {
    this.schedule(this.net.intBetween(1, 3), { type: 'core', to: member.key, inc: member.inc, event });
  }

  stepNow(member: SimMember, event: Event): void {
    const core = member.core;
    if (core === undefined) return;
    this.note(`${member.key} <- ${describeEvent(event)}`);
    this.execute(member, () => core.step(event));
  }

  private healAll(): void {
    this.#phase = 'liveness';
    this.#healAtMs = this.#now;
    this.network.healAll();
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
    this.#clients.startProbe();
  }

}

/** Runs one seed. */
export function runSeed(options: o.SimOptions): RunResult {
  return new Simulation(options).run();
}
