// The server's effect interpreter: it steps a RaftCore and carries out its effects through
// narrow interfaces (storage, transport, timers, host). It is a plain object, so the
// server actor is a thin wrapper over it and a simulator can drive the same code.
//
// Ordering rules from the core (docs/internals/protocol.md): effects run in order; a
// `persist` is durable before the next effect runs (so a vote is never answered before
// it is stored, and no entry of a term reaches the WAL before the term); an `append` is
// visible through the log before the next event; after `installSnapshot` nothing but
// `snapshot_installed` reaches the core.

import { assertNever } from '../internal/core/assert.js';
import type { RaftCore } from '../internal/core/core.js';
import type { LogEntry, LogReader, ServerId, SnapshotMeta } from '../internal/core/log.js';
import type { Effect, Event, MachineEffect, RaftMessage, Reply, ReplyTo, Role, TimerName } from '../internal/core/types.js';
import { serverKey } from '../internal/core/cluster.js';
import { type MachineEffectDeps, type MachinePort, runAppliedEffects, runEffectsOutsideApply } from './machine-effects.js';
import { IncomingSnapshot, OutgoingSnapshot, toBuffer, type SnapshotChunkReader, type SnapshotIntake } from './snapshot-transfers.js';

export type { SnapshotChunkData, SnapshotChunkReader, SnapshotIntake } from './snapshot-transfers.js';

/** What the interpreter needs of a server's log storage (ServerLog and the meta store). */
export interface ServerStorage {
  readonly log: LogReader & {
    append(entries: readonly LogEntry[]): void;
    releaseCursor(meta: SnapshotMeta, state: unknown): Promise<boolean>;
    /** A recovery checkpoint (the machine's `checkpoint` effect); resolves false if skipped. */
    checkpoint(meta: SnapshotMeta, state: unknown): Promise<boolean>;
    readSnapshot(): Promise<{ meta: SnapshotMeta; state: unknown }>;
    openSnapshotReader(chunkBytes?: number): Promise<SnapshotChunkReader>;
    acceptSnapshot(): SnapshotIntake;
  };
  /** Durable when the promise resolves. */
  storeTermAndVote(term: number, votedFor: ServerId | undefined): Promise<void>;
  /** Lazily stored; bounds what a restart re-applies without a leader. */
  storeLastApplied(index: number): void;
}

export interface ServerTransport {
  send(to: ServerId, msg: RaftMessage): void;
  reply(to: ReplyTo, reply: Reply): void;
}

export interface ServerTimers {
  set(timer: TimerName, afterMs: number, generation: number): void;
  cancel(timer: TimerName): void;
}

/** The interpreter's way back to its owner: events that must go through the mailbox, role changes, logging. */
export interface ServerHost {
  /** Feed `event` later, after what is already queued (for completions of async work and `continue`). */
  post(event: Event): void;
  roleChanged(role: Role, term: number, leader: ServerId | undefined): void;
  /** The member was removed from its cluster. */
  removed(): void;
  /** The member applied its cluster's deletion (the machine's stateEnter('eol')). */
  endOfLife?(machineState: unknown): void;
  /** The deletion is done here: delete the member's data and stop it for good. */
  deleted?(): void;
  warn(message: string): void;
}

export interface InterpreterDeps {
  readonly core: RaftCore;
  readonly storage: ServerStorage;
  readonly transport: ServerTransport;
  readonly timers: ServerTimers;
  readonly host: ServerHost;
  /** Where a machine's sends, timers, monitors and appends go (machine-effects.ts). */
  readonly machine: MachinePort;
  /** Bytes per install_snapshot chunk; well under the distribution's frame limit. */
  readonly snapshotChunkBytes: number;
  /** Breaks one of the interpreter's rules, for the simulator to prove that it catches the break. */
  readonly mutation?: InterpreterMutation;
}

/**
 * `persistedBeforeDurable`: the core hears `persisted` (and so lets a vote out) as soon
 * as the term and vote are handed to storage, not once they are durable.
 */
export type InterpreterMutation = 'persistedBeforeDurable';

export class ServerInterpreter {
  readonly core: RaftCore;
  private readonly storage: ServerStorage;
  private readonly transport: ServerTransport;
  private readonly timers: ServerTimers;
  private readonly host: ServerHost;
  private readonly snapshotChunkBytes: number;
  private readonly mutation: InterpreterMutation | undefined;
  private readonly machinePort: MachinePort;
  /** Made on a machine's first effect: most machines of an idle member have none. */
  private madeMachineDeps: MachineEffectDeps | undefined;
  /** Events produced while carrying out effects (persisted), fed before the next outside event. */
  private followUps: Event[] | undefined;
  /** While a received snapshot is being installed, events wait here. */
  private deferred: Event[] | undefined;
  private incoming: IncomingSnapshot | undefined;
  /** A chunk of the incoming snapshot failed to write: the server stops (write_failed posted once). */
  private incomingFailed = false;
  /** Snapshot transfers by follower key; only a leader that sends snapshots has one. */
  private outgoing: Map<string, OutgoingSnapshot> | undefined;
  private storedApplied = 0;

  constructor(deps: InterpreterDeps) {
    this.core = deps.core;
    this.storage = deps.storage;
    this.transport = deps.transport;
    this.timers = deps.timers;
    this.host = deps.host;
    this.snapshotChunkBytes = deps.snapshotChunkBytes;
    this.mutation = deps.mutation;
    this.machinePort = deps.machine;
  }

  private get machineDeps(): MachineEffectDeps {
    return (this.madeMachineDeps ??= new InterpreterMachineDeps(this, this.machinePort, this.storage.log, this.host));
  }

  /** Leaves recovery. Resolves once the effects of the first step are carried out. */
  start(): void | Promise<void> {
    return this.run(this.core.start(), 0);
  }

  /**
   * Steps the core with `event` and carries out the effects. Returns a promise only when
   * an effect must be awaited (a persist); the caller takes no other event until then.
   */
  handle(event: Event): void | Promise<void> {
    if (this.deferred !== undefined) {
      if (event.type !== 'snapshot_installed' && event.type !== 'write_failed') {
        this.deferred.push(event);
        return;
      }
      const waiting = this.deferred;
      this.deferred = undefined;
      return this.feed([event, ...waiting], 0);
    }
    return this.run(this.core.step(event), 0);
  }

  /** Feeds events in order, each after the previous one's effects are carried out. */
  private feed(events: readonly Event[], from: number): void | Promise<void> {
    for (let i = from; i < events.length; i++) {
      const pending = this.handle(events[i] as Event);
      if (pending !== undefined) return pending.then(() => this.feed(events, i + 1));
    }
  }

  /** True when storeApplied would store something. */
  appliedUnstored(): boolean {
    return this.core.storableApplied() > this.storedApplied;
  }

  /** Stores the applied index now and then (Ra keeps it in its meta store lazily). */
  storeApplied(): void {
    const applied = this.core.storableApplied();
    if (applied > this.storedApplied) {
      this.storedApplied = applied;
      this.storage.storeLastApplied(applied);
    }
  }

  private run(effects: readonly Effect[], from: number): void | Promise<void> {
    for (let i = from; i < effects.length; i++) {
      const effect = effects[i] as Effect;
      if (effect.kind === 'persist') {
        const durable = this.storage.storeTermAndVote(effect.term, effect.votedFor);
        if (effect.sync) (this.followUps ??= []).push({ type: 'persisted', term: effect.term, votedFor: effect.votedFor });
        if (this.mutation === 'persistedBeforeDurable') {
          durable.catch(() => undefined);
          continue;
        }
        return durable.then(() => this.run(effects, i + 1));
      }
      this.perform(effect);
    }
    return this.drainFollowUps();
  }

  private drainFollowUps(): void | Promise<void> {
    const next = this.followUps?.shift();
    if (next === undefined) return;
    if (this.followUps?.length === 0) this.followUps = undefined;
    return this.handle(next);
  }

  private perform(effect: Effect): void {
    switch (effect.kind) {
      case 'persist':
        throw new Error('persist is carried out by run()');
      case 'send':
        // A chunk is acknowledged once written: the leader sends the next one no sooner (back-pressure).
        if (effect.msg.type === 'install_snapshot_reply' && this.incoming !== undefined) return this.sendAfterChunkWrites(this.incoming, effect.to, effect.msg);
        return this.transport.send(effect.to, effect.msg);
      case 'append':
        return this.storage.log.append(effect.entries);
      case 'reply':
        return this.transport.reply(effect.to, effect.reply);
      case 'setTimer':
        return this.timers.set(effect.timer, effect.afterMs, effect.generation);
      case 'cancelTimer':
        return this.timers.cancel(effect.timer);
      case 'continue':
        return this.host.post({ type: 'continue' });
      case 'invalidMessage':
        return this.host.warn(`dropped an invalid ${effect.type} from ${serverKey(effect.from)}: ${effect.reason}`);
      case 'snapshot':
        return this.writeSnapshot(effect.meta, effect.machineState);
      case 'sendSnapshotChunk':
        return this.sendSnapshotChunk(effect.to, effect.term, effect.meta, effect.chunkIndex);
      case 'writeSnapshotChunk':
        return this.writeSnapshotChunk(effect.meta, effect.chunkIndex, effect.data);
      case 'installSnapshot':
        return this.installSnapshot(effect.meta);
      case 'machineEffects':
        return runAppliedEffects(this.machineDeps, effect.effects);
      case 'roleChanged':
        if (effect.role !== 'leader') this.closeOutgoing();
        return this.host.roleChanged(effect.role, effect.term, effect.leader);
      case 'removed':
        return this.host.removed();
      case 'endOfLife':
        return this.host.endOfLife?.(effect.machineState);
      case 'deleted':
        return this.host.deleted?.();
      default:
        return assertNever(effect, 'unknown effect');
    }
  }

  /** Effects a machine returned outside `apply` (from `stateEnter` or `tick`), carried out as this member's role allows. */
  machineEffectsOutsideApply(effects: readonly MachineEffect[] | undefined): void {
    if (effects === undefined || effects.length === 0) return;
    runEffectsOutsideApply(this.machineDeps, effects, this.core.role);
  }

  private writeSnapshot(meta: SnapshotMeta, state: unknown): void {
    this.storage.log.releaseCursor(meta, state).then(
      (written) => this.host.post({ type: 'snapshot_written', meta, outcome: written ? 'written' : 'declined' }),
      (err: unknown) => {
        this.host.warn(`snapshot at ${meta.index} failed: ${String(err)}`);
        this.host.post({ type: 'snapshot_written', meta, outcome: 'declined' });
      },
    );
  }

  /**
   * A recovery checkpoint at applied `index` (every member: the machine's `checkpoint`
   * effect, and the server at a clean stop). Storage writes it once the entry is written.
   */
  checkpoint(index: number, state: unknown): Promise<boolean> {
    const core = this.core;
    const term = core.log.termAt(index);
    if (index > core.lastApplied || term === undefined) {
      this.host.warn(`a checkpoint at ${index} was ignored: applied ${core.lastApplied}, log from ${core.log.snapshotIndex() + 1}`);
      return Promise.resolve(false);
    }
    const meta: SnapshotMeta = { index, term, members: core.cluster.at(index).members, machineVersion: core.machineVersion };
    return this.storage.log.checkpoint(meta, state).catch((err: unknown) => {
      // A checkpoint only saves replay at a restart: a failed one is logged, not fatal.
      this.host.warn(`checkpoint at ${index} failed: ${String(err)}`);
      return false;
    });
  }

  // ---- snapshots to followers: one reader per follower, chunk by chunk ----

  private sendSnapshotChunk(to: ServerId, term: number, meta: SnapshotMeta, chunkIndex: number): void {
    const key = serverKey(to);
    const outgoing = (this.outgoing ??= new Map<string, OutgoingSnapshot>());
    let transfer = outgoing.get(key);
    if (transfer === undefined || transfer.index !== meta.index) {
      transfer?.close();
      transfer = new OutgoingSnapshot(meta.index, () => this.storage.log.openSnapshotReader(this.snapshotChunkBytes));
      outgoing.set(key, transfer);
    }
    const current = transfer;
    current.ask(
      chunkIndex,
      (index, chunk) => this.transport.send(to, { type: 'install_snapshot', term, leaderId: this.core.id, meta, chunkIndex: index, last: chunk.last, data: chunk.data }),
      (err: unknown) => {
        // The snapshot was replaced meanwhile, or reading failed: the leader retries on tick.
        this.host.warn(`reading snapshot ${meta.index} for ${key} failed: ${String(err)}`);
        if (this.outgoing?.get(key) === current) this.outgoing?.delete(key);
      },
    );
  }

  private closeOutgoing(): void {
    if (this.outgoing === undefined) return;
    for (const transfer of this.outgoing.values()) transfer.close();
    this.outgoing = undefined;
  }

  // ---- snapshots from the leader ----

  private writeSnapshotChunk(meta: SnapshotMeta, chunkIndex: number, data: unknown): void {
    const bytes = toBuffer(data);
    if (chunkIndex === 0 || this.incoming === undefined || this.incoming.index !== meta.index) {
      const replaced = this.incoming?.abort();
      this.incoming = new IncomingSnapshot(meta.index, this.storage.log.acceptSnapshot(), replaced);
      this.incomingFailed = false;
    }
    this.incoming.write(chunkIndex, bytes);
  }

  private sendAfterChunkWrites(incoming: IncomingSnapshot, to: ServerId, msg: RaftMessage): void {
    incoming.afterWrites(
      () => this.transport.send(to, msg),
      (err: unknown) => {
        if (this.incoming !== incoming || this.incomingFailed) return;
        this.incomingFailed = true;
        this.host.post({ type: 'write_failed', index: incoming.index, reason: `writing snapshot ${incoming.index} failed: ${String(err)}` });
      },
    );
  }

  private installSnapshot(meta: SnapshotMeta): void {
    const incoming = this.incoming;
    this.deferred = [];
    this.incoming = undefined;
    const done = (async () => {
      if (incoming === undefined || incoming.index !== meta.index) throw new Error(`no chunks received for snapshot ${meta.index}`);
      await incoming.finish();
      return this.storage.log.readSnapshot();
    })();
    done.then(
      ({ meta: stored, state }) => this.host.post({ type: 'snapshot_installed', meta: stored, machineState: state }),
      (err: unknown) => this.host.post({ type: 'write_failed', index: meta.index, reason: `installing snapshot ${meta.index} failed: ${String(err)}` }),
    );
  }
}

/** What a machine's effects reach through the interpreter; methods, not closures, as one exists per server. */
class InterpreterMachineDeps implements MachineEffectDeps {
  constructor(
    private readonly shell: ServerInterpreter,
    readonly port: MachinePort,
    readonly log: LogReader,
    private readonly host: ServerHost,
  ) {}

  checkpoint(index: number, state: unknown): void {
    void this.shell.checkpoint(index, state);
  }

  warn(message: string): void {
    this.host.warn(message);
  }
}
