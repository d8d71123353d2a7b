// The whole-server simulator: every member runs the shipped ServerInterpreter over the
// real log storage (a LogSystem with its own WAL writer, ServerLog, segments, snapshots,
// the meta store, recovery on restart) on a simulated disk (sim-fs.ts). Network, time,
// timers, clients, network faults and invariants are the core simulator's; storage
// faults (torn writes, corrupt reads, failed syncs, a full disk) are added here.
//
// Determinism: nothing here does real I/O. After each simulated event the loop runs the
// storage's deferred turns (its `defer` option) and waits one real setImmediate, which
// drains every promise chain first; so the order of everything is fixed by the seed.

import { AssertionError, RaftCore, assertNever, sameServer, type Event, type Member, type RaftMessage, type ServerId } from '@rafter/raft/core';
import { LogCorruptionError, LogSystem, storageLimits, type ServerLog } from '@rafter/raft/storage';
import { ServerInterpreter } from '../../packages/raft/src/server/interpreter.js';
import { checkLinearizable, registerModel } from '../check/index.js';
import { SimClients } from './clients.js';
import { ClusterDeletion } from './deletion.js';
import { FaultInjector } from './faults.js';
import { Invariants } from './invariants.js';
import { kvMachine } from './machine.js';
import * as o from './options.js';
import { Prng } from './prng.js';
import { EventQueue } from './queue.js';
import type { RunResult } from './sim.js';
import { SimDiskFs } from './sim-fs.js';
import { STORAGE_FAULT_KEYS, type StorageMutation, injectStorageFault } from './storage-faults.js';
import { observedLog } from './observed-log.js';
import { describeEvent, describeMessage } from './trace.js';
import { describeProfile, drawProfile, type FaultKind, type SwarmProfile } from './swarm.js';
import { SimNetwork, newMember, type SimEvent, type SimHost, type SimMember } from './world.js';

export { STORAGE_FAULT_KEYS, STORAGE_FAULT_KINDS, STORAGE_MUTATIONS, type StorageMutation } from './storage-faults.js';
/** Network and process faults the whole-server mode leaves out (they read the core shell's in-memory log). */
const LEFT_OUT: readonly FaultKind[] = ['cutOffAcrossElections'];
/**
 * The machine's checkpoint effect every this many commands, between its release cursors,
 * in even seeds: odd ones restart by replaying from the snapshot, so their recoveries
 * read (and meet damage in) the log's files as before.
 */
const CHECKPOINT_EVERY_COMMANDS = 5;
/** Out of 100 fault draws, this many are storage faults. */
const STORAGE_FAULT_SHARE = 30;
const DATA_DIR = '/data';
const SEGMENT_ENTRIES = 32;


export interface WholeServerOptions extends o.SimOptions {
  readonly storageMutation?: StorageMutation;
}

type WsEvent = SimEvent | { type: 'io'; to: string; inc: number; resolve: () => void } | { type: 'storageStop'; to: string; inc: number; why: string; error: unknown };

/** What a member's mailbox holds: core events, and WAL notices read from the log when their turn comes. */
type MailItem = Event | { readonly type: 'walNotice' };

interface WsMember extends SimMember {
  disk: SimDiskFs;
  sys: LogSystem | undefined;
  slog: ServerLog | undefined;
  shell: ServerInterpreter | undefined;
  mailbox: MailItem[];
  busy: boolean;
  lastWrittenFed: number;
  /** What this incarnation was told is durable: entries (by the WAL) and term/vote (by the meta store). */
  metaClaim: { term: number; votedFor: ServerId | undefined } | undefined;
  /** The last `lastWritten` of the incarnation that crashed, checked after recovery. */
  claimWritten: { index: number; term: number } | undefined;
}

export class WholeServerSimulation implements SimHost {
  readonly rng: Prng;
  readonly net: Prng;
  readonly diskRng: Prng;
  readonly network = new SimNetwork();
  readonly invariants = new Invariants();
  readonly #queue = new EventQueue<WsEvent>();
  readonly #members = new Map<string, WsMember>();
  readonly #faults: Record<string, number> = Object.fromEntries(STORAGE_FAULT_KEYS.map((k) => [k, 0]));
  readonly #trace: string[] = [];
  readonly profile: SwarmProfile;
  readonly #injector: FaultInjector;
  readonly #clients = new SimClients(this);
  #immediates: (() => void)[] = [];
  #now = 0;
  #steps = 0;
  #phase: 'faults' | 'liveness' | 'deleting' | 'done' = 'faults';
  /** The deletion phase (as sim.ts): the members that must end, and where each applied it. */
  #deletion: ClusterDeletion | undefined;
  #healAtMs = 0;

  constructor(readonly options: WholeServerOptions) {
    const root = new Prng(options.seed ^ 0x5eed5eed);
    this.rng = root.fork();
    this.net = root.fork();
    this.diskRng = root.fork();
    const drawn = drawProfile(root.fork());
    const weights = drawn.weights.filter(([kind]) => !LEFT_OUT.includes(kind));
    this.profile = { ...drawn, weights, totalWeight: weights.reduce((sum, [, w]) => sum + w, 0) };
    this.network.setRates(this.profile.network);
    this.#injector = new FaultInjector(this, this.profile, root.fork());
    const total = this.rng.intBetween(o.MEMBERS_MIN, 5);
    const initial = Math.max(o.MEMBERS_MIN, total - this.rng.intBetween(0, 1));
    const ids: ServerId[] = [];
    for (let i = 1; i <= total; i += 1) ids.push({ name: `n${i}`, node: `node${i}` });
    const voters: Member[] = ids.slice(0, initial).map((id) => ({ id, membership: 'voter' }));
    for (const id of ids) {
      const base = newMember(id);
      const disk = new SimDiskFs(DATA_DIR, this.fsHost(base.key), this.diskRng.fork(), () => this.#now);
      disk.syncReturnsEarly = options.storageMutation === 'ackBeforeSync';
      const member: WsMember = Object.assign(base, {
        disk,
        sys: undefined,
        slog: undefined,
        shell: undefined,
        mailbox: [],
        busy: false,
        lastWrittenFed: 0,
        metaClaim: undefined,
        claimWritten: undefined,
      });
      this.#members.set(id.name, member);
    }
    for (const voter of voters) this.startMember(this.member(voter.id.name), voters);
    this.#clients.start(o.CLIENTS);
    this.schedule(o.TICK_MS, { type: 'tick' });
    this.schedule(o.FD_POLL_MS, { type: 'fd' });
    this.schedule(this.rng.intBetween(500, 1500), { type: 'fault' });
  }

  private fsHost(key: string): ConstructorParameters<typeof SimDiskFs>[1] {
    return {
      delay: (inc, ms) => new Promise<void>((resolve) => this.#queue.push(this.#now + ms, { type: 'io', to: key, inc, resolve })),
      syncMs: () => {
        const member = this.member(key);
        const slow = this.#now < member.diskSlowUntilMs ? o.SLOW_DISK_FACTOR : 1;
        return this.net.intBetween(o.DISK_WRITE_MS_MIN, o.DISK_WRITE_MS_MAX) * slow;
      },
      count: (kind) => this.count(kind),
      note: (line) => this.note(`${key} ${line}`),
      // Cut in the next turn of the simulator, before the write's sync can complete.
      cutPower: () => this.#queue.push(this.#now, { type: 'nemesis', step: () => this.cutPower(this.member(key)) }),
    };
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
  member(key: string): WsMember {
    const member = this.#members.get(key);
    if (member === undefined) throw new Error(`no member ${key}`);
    return member;
  }
  alive(): SimMember[] {
    return [...this.#members.values()].filter((m) => m.core !== undefined);
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

  // --- run ------------------------------------------------------------------------

  async run(): Promise<RunResult> {
    const eventsMax = this.options.steps * o.EVENTS_PER_STEP_MAX + 100_000;
    await this.settle();
    while (this.#phase !== 'done' && this.invariants.violation === undefined) {
      const next = this.#queue.pop();
      if (next === undefined) break;
      this.#now = next.atMs;
      if (this.deferWhilePaused(next.item)) continue;
      this.invariants.setTime(this.#now);
      this.#steps += 1;
      this.handle(next.item);
      await this.settle();
      if (this.#phase === 'faults' && this.#steps >= this.options.steps) this.healAll();
      if (this.#phase === 'liveness') this.checkLiveness();
      if (this.#phase === 'deleting') this.checkDeletion();
      if (this.#steps > eventsMax) this.invariants.fail('liveness', `no end after ${this.#steps} events`);
    }
    if (this.invariants.violation === undefined) await this.checkPowerLossAtEnd();
    let linearizability: RunResult['linearizability'] = 'ok';
    if (this.invariants.violation === undefined) {
      const result = checkLinearizable(this.#clients.history, registerModel);
      if (result.ok === 'unknown') {
        this.invariants.fail('linearizability undecided', `the checker's budget of ${result.steps} search steps ran out on key ${result.key ?? '-'}`);
        linearizability = 'unknown';
      } else if (result.ok !== true) {
        this.invariants.fail('linearizability', result.explanation);
        linearizability = 'violation';
      }
    }
    return {
      seed: this.options.seed,
      steps: this.#steps,
      simulatedMs: this.#now,
      members: this.#members.size,
      faults: this.#faults,
      swarm: describeProfile(this.profile),
      spuriousElections: 0,
      ops: this.#clients.ops,
      linearizability,
      violation: this.invariants.violation,
      trace: this.#trace,
    };
  }

  /** Runs the storage's deferred turns until none is left and every promise chain has settled. */
  private async settle(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#immediates.length === 0) return;
      const batch = this.#immediates;
      this.#immediates = [];
      for (const fn of batch) fn();
    }
  }

  private checkLiveness(): void {
    if (this.#clients.probeDone && this.#clients.idle()) {
      const leader = this.leader() as WsMember | undefined;
      if (leader?.slog !== undefined) this.invariants.checkAckedAt(leader.key, leader.slog);
      this.startDeletion(leader);
      return;
    }
    if (this.#now > this.#healAtMs + o.LIVENESS_BOUND_MS) {
      const roles = [...this.#members.values()].map((m) => {
        const core = m.core;
        if (core === undefined) return `${m.key}:${m.removed ? 'removed' : m.started ? 'down' : 'spare'}`;
        return `${m.key}:${core.role}/t${core.currentTerm} leader=${core.leaderId?.name ?? '-'} last=${core.log.last().index} written=${core.log.lastWritten().index}`;
      });
      this.invariants.fail('liveness', `no command committed within ${o.LIVENESS_BOUND_MS}ms after faults stopped (${roles.join(' ')})`);
    }
  }

  /**
   * Last, the cluster is deleted through the shipped interpreter: every member of the
   * leader's configuration must end, at the same entry. Skipped when a member is not
   * running (a disk error stopped it for good): the leader would rightly wait for it.
   */
  private startDeletion(leader: WsMember | undefined): void {
    const core = leader?.core;
    const members = core?.cluster.current().members.map((m) => m.id.name) ?? [];
    const running = members.every((key) => {
      const member = this.#members.get(key);
      return member?.core !== undefined && member.core.role !== 'stopped';
    });
    if (leader === undefined || !running) {
      this.#phase = 'done';
      return;
    }
    this.#deletion = new ClusterDeletion(new Set(members), this.#now, this.invariants);
    this.#phase = 'deleting';
    this.stepNow(leader, { type: 'delete_cluster', from: { client: -1, opId: 0 } });
  }

  private checkDeletion(): void {
    if (!this.#deletion!.done(this.#now)) return;
    this.count('clusterDeleted');
    this.#phase = 'done';
  }

  private onEndOfLife(member: WsMember): void {
    if (this.#deletion === undefined || member.core === undefined) return this.invariants.fail('cluster deletion', `${member.key} applied a deletion nobody asked for`);
    this.#deletion.endOfLife(member.key, member.core.lastApplied);
  }

  private onDeleted(member: WsMember): void {
    // The core has stopped; the process stays, so what it sent last still arrives (a normal exit).
    if (this.#deletion === undefined) return this.invariants.fail('cluster deletion', `${member.key} deleted though nobody asked for a deletion`);
    this.#deletion.memberDeleted(member.key);
  }

  /**
   * The cluster loses power once more at the end, and every member's storage is opened
   * again: each acknowledged write is on the synced disks of a majority of the voters.
   */
  private async checkPowerLossAtEnd(): Promise<void> {
    const leader = this.leader();
    const voters = leader?.core?.cluster.current().members.filter((m) => m.membership === 'voter').map((m) => this.member(m.id.name)) ?? [];
    if (voters.length === 0) return;
    for (const member of this.#members.values()) if (member.core !== undefined || member.shell !== undefined) this.crash(member, 'crash');
    const logs = new Map<string, ServerLog | undefined>();
    for (const member of voters) {
      const inc = (member.inc += 1);
      const fs = member.disk.open(inc);
      const opened = LogSystem.open({ dir: DATA_DIR, fs, clock: { now: () => this.#now }, random: () => 0.5, defer: (fn) => this.#immediates.push(fn), externalWal: true }).then(
        (sys) => logs.set(member.key, sys.failures().has(member.key) ? undefined : sys.server(member.key)),
        (err: unknown) => { this.note(`${member.key} reopen failed: ${String(err)}`); logs.set(member.key, undefined); },
      );
      // Syncs wait on simulated time: run the queue's io events until the open is done.
      let done = false;
      void opened.then(() => (done = true));
      while (!done) {
        await this.settle();
        if (done) break;
        const next = this.#queue.pop();
        if (next === undefined) break;
        this.#now = Math.max(this.#now, next.atMs);
        if (next.item.type === 'io' && next.item.inc === inc) next.item.resolve();
      }
    }
    for (const ack of this.invariants.ackedWrites()) {
      const holding = voters.filter((m) => {
        const log = logs.get(m.key);
        if (log === undefined) return false;
        return ack.index <= (log.snapshot()?.index ?? 0) || log.termAt(ack.index) === ack.term;
      });
      if (holding.length * 2 <= voters.length) {
        return this.invariants.fail('acknowledged write lost', `after a power loss at the end only ${holding.map((m) => m.key).join(', ') || 'no voter'} of ${voters.length} voters hold acknowledged write ${ack.index}/${ack.term}`);
      }
    }
  }

  // --- members --------------------------------------------------------------------

  startMember(simMember: SimMember, initialMembers: readonly Member[]): void {
    const member = simMember as WsMember;
    if (!member.started) member.initialMembers = initialMembers;
    member.started = true;
    member.inc += 1;
    member.leader = undefined;
    member.suspected.clear();
    member.unreachableSince.clear();
    member.disconnected.clear();
    member.mailbox = [];
    member.busy = true;
    const inc = member.inc;
    this.boot(member, inc).catch((err: unknown) => this.storageStopped(member, inc, 'start', err));
  }

  private async boot(member: WsMember, inc: number): Promise<void> {
    const fs = member.disk.open(inc);
    const key = member.key;
    const sys = await LogSystem.open({
      dir: DATA_DIR,
      fs,
      clock: { now: () => this.#now },
      random: () => this.diskRng.float(),
      defer: (fn) => this.#immediates.push(() => member.inc === inc && fn()),
      wal: { maxSizeBytes: storageLimits.WAL_FILE_BYTES_MIN, ...(this.options.storageMutation === 'walNoSync' ? { syncMethod: 'none' as const } : {}) },
      segmentMaxEntries: SEGMENT_ENTRIES,
      snapshotPolicy: { minIntervalMs: 0, minEntries: 1 },
      onWritten: () => this.deliverLocal(member, inc, { type: 'walNotice' }),
      onFailure: (what, err) => this.#queue.push(this.#now, { type: 'storageStop', to: key, inc, why: what, error: err }),
    });
    if (member.inc !== inc) return;
    const failed = sys.failures().get(key);
    if (failed !== undefined) throw failed;
    member.sys = sys;
    const log = await sys.openServer(key);
    if (member.inc !== inc) return;
    member.slog = log;
    this.checkClaims(member, log, sys);
    const stored = sys.meta.get(key);
    const snapshot = log.snapshot() === undefined ? undefined : await log.readSnapshot();
    if (member.inc !== inc) return;
    // A restart starts from the newest intact checkpoint; the machine-state invariant checks it.
    const checkpoint = await log.recoveryCheckpoint();
    if (member.inc !== inc) return;
    for (const warning of log.snapshots.takeWarnings()) this.note(`${key} warn: ${warning}`);
    if (checkpoint !== undefined) this.count('checkpointRestarts');
    const inv = this.invariants;
    const base = kvMachine({ releaseEvery: o.RELEASE_EVERY_COMMANDS, version: member.machineVersion, checkpointEvery: this.options.seed % 2 === 0 ? CHECKPOINT_EVERY_COMMANDS : 0 });
    const machine = {
      version: base.version,
      init: base.init,
      apply: (meta: Parameters<typeof base.apply>[0], command: unknown, state: unknown) => {
        // Every member applies an entry with the same version in force and the same leader's time.
        inv.onApply(key, meta.index, meta.term, { command, machineVersion: meta.machineVersion, systemTime: meta.systemTime });
        return base.apply(meta, command, state);
      },
    };
    const core = new RaftCore({
      id: member.id,
      log,
      machine,
      random: this.rng.fork(),
      persisted: { term: stored.currentTerm, votedFor: stored.votedFor ?? undefined, lastApplied: stored.lastApplied },
      initialMembers: member.initialMembers,
      ...(snapshot === undefined ? {} : { machineState: snapshot.state }),
      machineUpgradeStrategy: 'all',
      ...(checkpoint === undefined ? {} : { checkpoint }),
    });
    const storage = {
      log: observedLog(log, (entries) => inv.onAppend(key, entries, log)),
      storeTermAndVote: async (term: number, votedFor: ServerId | undefined) => {
        await sys.meta.storeTermAndVote(key, term, votedFor ?? null);
        if (member.inc === inc) member.metaClaim = { term, votedFor };
      },
      storeLastApplied: (index: number) => sys.meta.storeLastApplied(key, index),
    };
    const shell = new ServerInterpreter({
      core,
      storage,
      ...(this.options.storageMutation === 'persistedBeforeDurable' ? { mutation: 'persistedBeforeDurable' as const } : {}),
      transport: {
        send: (to, msg) => this.send(member.id, to, msg),
        reply: (to, reply) => this.#clients.replyTo(to as { client: number; opId: number }, reply),
      },
      timers: {
        set: (timer, afterMs, generation) => this.schedule(afterMs, { type: 'timer', to: key, inc, timer, gen: generation }),
        cancel: () => undefined,
      },
      // The simulated machine asks for no effects but release cursors.
      machine: { send: () => undefined, setTimer: () => undefined, monitorProcess: () => undefined, demonitorProcess: () => undefined, monitorNode: () => undefined, demonitorNode: () => undefined, append: () => undefined },
      host: {
        post: (event) => this.deliverLocal(member, inc, event),
        roleChanged: (role, term, leader) => this.onRoleChanged(member, core, role, term, leader),
        removed: () => this.schedule(0, { type: 'stop', to: key }),
        endOfLife: () => this.onEndOfLife(member),
        deleted: () => this.onDeleted(member),
        warn: (message) => this.note(`${key} warn: ${message}`),
      },
      snapshotChunkBytes: 256,
    });
    member.shell = shell;
    member.core = core;
    member.lastWrittenFed = log.lastWritten().index;
    member.commitSeen = core.commitIndex;
    member.appliedSeen = -1;
    this.note(`${key} start (inc ${inc}, term ${core.currentTerm}, log ${log.last().index}, written ${log.lastWritten().index}, snapshot ${log.snapshot()?.index ?? 0})`);
    member.busy = false;
    this.step(member, () => shell.start());
  }

  /** What the last incarnation was told was durable is on the disk after recovery. */
  private checkClaims(member: WsMember, log: ServerLog, sys: LogSystem): void {
    this.count('recoveryChecked');
    const claim = member.claimWritten;
    if (claim !== undefined && claim.index > (log.snapshot()?.index ?? 0) && log.termAt(claim.index) !== claim.term) {
      this.invariants.fail('acknowledged write lost', `${member.key}: the WAL acknowledged ${claim.index}/${claim.term} as written, but after a crash the log has ${log.termAt(claim.index) ?? 'nothing'} there (last ${log.last().index})`);
    }
    const meta = member.metaClaim;
    if (meta !== undefined) {
      const stored = sys.meta.get(member.key);
      const voteLost = stored.currentTerm === meta.term && meta.votedFor !== undefined && !sameServer(stored.votedFor ?? undefined, meta.votedFor);
      if (stored.currentTerm < meta.term || voteLost) {
        this.invariants.fail('acknowledged write lost', `${member.key}: the meta store acknowledged term ${meta.term} vote ${meta.votedFor?.name ?? '-'}, but after a crash it has term ${stored.currentTerm} vote ${stored.votedFor?.name ?? '-'}`);
      }
    }
    member.claimWritten = undefined;
    member.metaClaim = undefined;
  }

  /** An event from the member itself (a post, a WAL notice): behind what is queued. */
  private deliverLocal(member: WsMember, inc: number, event: MailItem): void {
    if (member.inc !== inc) return;
    member.mailbox.push(event);
    this.pump(member);
  }

  private deliver(member: WsMember, event: Event): void {
    if (member.shell === undefined) return;
    member.mailbox.push(event);
    this.pump(member);
  }

  /** Feeds the mailbox in order; a turn that returns a promise holds the next event until it settles. */
  private pump(member: WsMember): void {
    while (!member.busy && member.shell !== undefined) {
      const item = member.mailbox.shift();
      if (item === undefined) return;
      const event = item.type === 'walNotice' ? this.walNoticeEvent(member) : item;
      if (event === undefined) continue;
      const shell = member.shell;
      this.step(member, () => shell.handle(event));
    }
  }

  /** A WAL notice: what moved is read from the log, as the server actor does. */
  private walNoticeEvent(member: WsMember): Event | undefined {
    const log = member.slog!;
    const failure = log.failure();
    if (failure !== undefined) return { type: 'write_failed', index: log.lastWritten().index + 1, reason: failure.message };
    const written = log.lastWritten();
    if (written.index === member.lastWrittenFed) return undefined;
    member.lastWrittenFed = written.index;
    return { type: 'written', index: written.index, term: written.term };
  }

  private step(member: WsMember, turn: () => void | Promise<void>): void {
    const inc = member.inc;
    let pending: void | Promise<void>;
    try {
      pending = turn();
    } catch (err) {
      this.onStepError(member, inc, err);
      return;
    }
    // Checked once the turn's effects are carried out (a persist holds the rest back).
    if (pending === undefined) return this.afterStep(member);
    member.busy = true;
    pending.then(
      () => {
        if (member.inc !== inc) return;
        member.busy = false;
        this.afterStep(member);
        this.pump(member);
      },
      (err: unknown) => this.onStepError(member, inc, err),
    );
  }

  private onStepError(member: WsMember, inc: number, err: unknown): void {
    if (member.inc !== inc) return;
    if (err instanceof AssertionError) {
      this.invariants.fail('core assertion', `${member.key}: ${err.message}`);
      return;
    }
    this.storageStopped(member, inc, 'step', err);
  }

  /** A member whose storage failed stops (the server actor would exit); it is restarted later. */
  private storageStopped(member: WsMember, inc: number, where: string, err: unknown): void {
    if (member.inc !== inc) return;
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    const known = typeof code === 'string' && (code.startsWith('RAFTER_LOG') || code === 'RAFTER_WRITE_FAILED');
    if (!known) {
      this.invariants.fail('core assertion', `${member.key}: ${where} failed with an untyped error: ${err instanceof Error ? (err.stack ?? message) : message}`);
      return;
    }
    if (err instanceof LogCorruptionError && (err.file.length === 0 || !message.includes(err.file) || !message.includes(`offset ${err.offset}`))) {
      this.invariants.fail('core assertion', `${member.key}: a corruption error that names no file and offset: ${message}`);
      return;
    }
    this.count(code === 'RAFTER_LOG_CORRUPT' ? 'stoppedOnCorruption' : 'stoppedOnDiskError');
    this.note(`${member.key} STOPS (${where}): ${message}`);
    if (member.core !== undefined || member.shell !== undefined || member.busy) this.crash(member, 'crash');
    else member.inc += 1;
    member.disk.corruptReads = 0; // the fault was transient: a restart reads good bytes
    const delay = Math.max(this.rng.intBetween(200, 2000), member.disk.fullUntilMs - this.#now + 1);
    this.schedule(delay, { type: 'restart', to: member.key });
  }

  private afterStep(member: WsMember): void {
    const core = member.core;
    if (core === undefined || member.slog === undefined) return;
    const before = member.commitSeen;
    if (core.commitIndex !== before) {
      this.invariants.onCommit(member.key, before + 1, core.commitIndex, before, member.slog, core.currentTerm);
      member.commitSeen = core.commitIndex;
    }
    if (core.lastApplied !== member.appliedSeen) {
      member.appliedSeen = core.lastApplied;
      this.invariants.onMachineState(member.key, core.lastApplied, core.machineState);
    }
  }

  private onRoleChanged(member: WsMember, core: RaftCore, role: string, term: number, leader: ServerId | undefined): void {
    member.leader = leader;
    this.note(`${member.key} -> ${role} term ${term}${leader ? ` leader ${leader.name}` : ''}`);
    if (role === 'leader') {
      this.invariants.onLeader(member.key, term, core.log);
      if (this.#phase === 'faults') this.#injector.onNewLeader();
    }
    if (leader !== undefined && role !== 'leader' && member.disconnected.has(leader.name)) {
      if (this.linkUp(member.key, leader.name)) member.disconnected.delete(leader.name);
      else this.schedule(1, { type: 'core', to: member.key, inc: member.inc, event: { type: 'leader_down', id: leader } });
    }
  }

  crash(simMember: SimMember, why: 'crash' | 'removed'): void {
    const member = simMember as WsMember;
    // What this incarnation was told is durable, to be checked after recovery.
    if (member.slog !== undefined) member.claimWritten = member.slog.lastWritten();
    member.core = undefined;
    member.shell = undefined;
    member.slog = undefined;
    member.sys = undefined;
    member.mailbox = [];
    member.busy = false;
    member.inc += 1;
    member.pausedUntilMs = 0;
    member.disk.crash();
    if (why === 'removed') member.removed = true;
    this.note(`${member.key} ${why === 'crash' ? 'CRASH' : 'stopped (removed)'}`);
    for (const other of this.alive()) {
      if (sameServer(other.leader, member.id)) {
        this.schedule(this.net.intBetween(5, 30), { type: 'core', to: other.key, inc: other.inc, event: { type: 'leader_down', id: member.id } });
      }
    }
  }

  private deferWhilePaused(event: WsEvent): boolean {
    const key = 'to' in event && event.type !== 'restart' && event.type !== 'stop' ? event.to : undefined;
    const member = key === undefined ? undefined : this.#members.get(key);
    if (member?.core === undefined || member.pausedUntilMs <= this.#now) return false;
    this.#queue.push(member.pausedUntilMs, event);
    return true;
  }

  private paused(member: SimMember): boolean {
    return member.pausedUntilMs > this.#now;
  }

  // --- network --------------------------------------------------------------------

  private linkUp(a: string, b: string): boolean {
    return this.member(b).core !== undefined && !this.network.linkBlocked(a, b) && !this.network.linkBlocked(b, a);
  }

  private send(from: ServerId, to: ServerId, msg: RaftMessage): void {
    const target = this.#members.get(to.name);
    if (target === undefined || target.core === undefined) return;
    for (const delay of this.network.deliveryDelays(this.net, from.name, to.name, (kind) => this.count(kind))) {
      this.schedule(delay, { type: 'deliver', from, fromInc: this.member(from.name).inc, to: to.name, inc: target.inc, msg });
    }
  }


  // --- events ---------------------------------------------------------------------

  private handle(event: WsEvent): void {
    switch (event.type) {
      case 'io':
        if (this.member(event.to).inc === event.inc) event.resolve();
        return;
      case 'storageStop':
        return this.storageStopped(this.member(event.to), event.inc, event.why, event.error);
      case 'deliver': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc) return;
        if (this.member(event.from.name).inc !== event.fromInc) return;
        this.note(`${event.to} <- ${event.from.name} ${describeMessage(event.msg)}`);
        return this.deliver(member, { type: 'message', from: event.from, msg: event.msg });
      }
      case 'core': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc) return;
        this.note(`${event.to} <- ${describeEvent(event.event)}`);
        return this.deliver(member, event.event);
      }
      case 'timer': {
        const member = this.#members.get(event.to);
        if (member?.core === undefined || member.inc !== event.inc) return;
        return this.deliver(member, { type: 'timeout', timer: event.timer, generation: event.gen });
      }
      case 'disk':
      case 'snapshotWritten':
        return;
      case 'tick':
        for (const member of this.#members.values()) {
          if (member.core === undefined || this.paused(member)) continue;
          // As the server actor's tick: the applied index is stored lazily, and reaches the
          // disk with the next term or vote the meta store syncs.
          member.shell?.storeApplied();
          if (member.core.role === 'leader') this.deliver(member, { type: 'tick' });
        }
        return this.schedule(o.TICK_MS, { type: 'tick' });
      case 'fd':
        this.pollFailureDetector();
        return this.schedule(o.FD_POLL_MS, { type: 'fd' });
      case 'fault':
        if (this.#phase !== 'faults') return;
        if (this.rng.intBetween(0, 99) < STORAGE_FAULT_SHARE) injectStorageFault(this);
        else this.#injector.inject();
        return this.schedule(this.rng.intBetween(this.profile.gapMsMin, this.profile.gapMsMax), { type: 'fault' });
      case 'restart': {
        const member = this.member(event.to);
        if (member.core !== undefined || member.busy || member.removed || !member.started) return;
        if (this.#now < member.disk.fullUntilMs) return this.schedule(member.disk.fullUntilMs - this.#now + 1, event);
        this.count('restart');
        return this.startMember(member, []);
      }
      case 'stop': {
        const member = this.member(event.to);
        if (member.core !== undefined) this.crash(member, 'removed');
        return;
      }
      case 'clientRetry':
        return this.#clients.retry(event.client, event.opId);
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
      default:
        return assertNever(event, 'unknown sim event');
    }
  }

  diskOf(member: SimMember): SimDiskFs {
    return (member as WsMember).disk;
  }

  private cutPower(member: WsMember): void {
    if (member.core === undefined && !member.busy) return;
    this.note(`${member.key} power cut with a write in flight`);
    this.crash(member, 'crash');
    this.schedule(this.rng.intBetween(200, 2000), { type: 'restart', to: member.key });
  }

  mayCrashOne(): boolean {
    const started = [...this.#members.values()].filter((m) => m.started && !m.removed);
    const down = started.filter((m) => m.core === undefined).length;
    return down < Math.floor((started.length - 1) / 2);
  }

  private pollFailureDetector(): void {
    for (const observer of this.#members.values()) {
      if (observer.core === undefined || this.paused(observer)) continue;
      for (const target of this.#members.values()) {
        if (target === observer || !target.started) continue;
        const reachable = target.core !== undefined && !this.network.linkBlocked(target.key, observer.key);
        const heard = reachable && !this.paused(target);
        const connected = reachable && !this.network.linkBlocked(observer.key, target.key);
        if (heard) observer.unreachableSince.delete(target.key);
        else if (!observer.unreachableSince.has(target.key)) observer.unreachableSince.set(target.key, this.#now);
        const since = observer.unreachableSince.get(target.key);
        if (since !== undefined && this.#now - since >= o.FD_SUSPECT_MS && !observer.suspected.has(target.key)) {
          observer.suspected.add(target.key);
          this.deliver(observer, { type: 'node_maybe_down', node: target.id.node });
        } else if (heard && observer.suspected.has(target.key)) {
          observer.suspected.delete(target.key);
          this.deliver(observer, { type: 'node_up', node: target.id.node });
        }
        if (connected) {
          observer.disconnected.delete(target.key);
          continue;
        }
        const down = target.core === undefined || (since !== undefined && this.#now - since >= o.CONNECTION_DROP_MS) || this.network.linkBlocked(observer.key, target.key);
        if (!down || observer.disconnected.has(target.key)) continue;
        observer.disconnected.add(target.key);
        if (sameServer(observer.leader, target.id) && observer.core?.role !== 'leader') this.deliver(observer, { type: 'leader_down', id: target.id });
      }
    }
  }

  // --- host for faults and clients ------------------------------------------------

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
    this.deliver(member as WsMember, event);
  }

  private healAll(): void {
    this.#phase = 'liveness';
    this.#healAtMs = this.#now;
    this.network.healAll();
    this.note('HEAL: faults stop');
    const upgrading = [...this.#members.values()].some((m) => m.machineVersion === 2);
    for (const member of this.#members.values()) {
      member.diskSlowUntilMs = 0;
      member.disk.failSyncs = 0;
      member.disk.corruptReads = 0;
      member.disk.fullUntilMs = -1;
      member.disk.crashAtNextWrite = false;
      if (upgrading && member.machineVersion === 1) {
        if (member.core !== undefined) this.crash(member, 'crash');
        member.machineVersion = 2;
      }
      if (member.started && !member.removed && member.core === undefined) this.schedule(1, { type: 'restart', to: member.key });
    }
    this.#clients.startProbe();
  }
}

/** Runs one seed of the whole-server simulator. */
export function runWholeServerSeed(options: WholeServerOptions): Promise<RunResult> {
  return new WholeServerSimulation(options).run();
}
