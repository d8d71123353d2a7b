// Simulated clients: each issues one put or consistent get at a time against the key/
// register machine and records a Jepsen-style history for the linearizability check.
// A batch group is several clients whose puts go to a member as one `commands` event,
// as a shell hands its core every command waiting in its mailbox; each put stays its
// own operation in the history. The liveness probe is a client that retries one put
// until it succeeds.

import type { CommandRequest, Event, Reply } from '@rafter/raft/core';
import type { HistoryEvent } from '../check/index.js';
import { readKey } from './machine.js';
import * as o from './options.js';
import type { SimHost } from './world.js';

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
  /** The batch group it belongs to, if any. */
  readonly group: number | undefined;
}

/** Clients (`slots`) that start their puts together, once all are idle. */
interface BatchGroup {
  readonly slots: readonly number[];
  guess: string | undefined;
}

export class SimClients {
  readonly history: HistoryEvent[] = [];
  readonly clients: Client[] = [];
  readonly groups: BatchGroup[] = [];
  readonly ops = { ok: 0, fail: 0, info: 0 };
  nextClientId = 0;
  nextOpId = 0;
  nextValue = 1;
  probeDone = false;

  constructor(private readonly host: SimHost) {}

  /** Regular clients, each starting after a short random delay. */
  start(count: number): void {
    for (let c = 0; c < count; c += 1) {
      this.clients.push({ id: this.nextClientId++, op: undefined, guess: undefined, probe: false, group: undefined });
      this.host.schedule(this.host.rng.intBetween(0, 50), { type: 'client', client: c });
    }
  }

  /** Batch groups of `size` clients each; every batch takes a random number of them. */
  startBatchGroups(count: number, size: number): void {
    for (let g = 0; g < count; g += 1) {
      const slots: number[] = [];
      for (let s = 0; s < size; s += 1) {
        slots.push(this.clients.length);
        this.clients.push({ id: this.nextClientId++, op: undefined, guess: undefined, probe: false, group: this.groups.length });
      }
      this.groups.push({ slots, guess: undefined });
      this.host.schedule(this.host.rng.intBetween(0, 50), { type: 'client', client: slots[0]! });
    }
  }

  startProbe(): void {
    this.clients.push({ id: this.nextClientId++, op: undefined, guess: undefined, probe: true, group: undefined });
    this.host.schedule(1, { type: 'client', client: this.clients.length - 1 });
  }

  idle(): boolean {
    return this.clients.every((client) => client.probe || client.op === undefined);
  }

  retry(index: number, opId: number): void {
    const op = this.clients[index]?.op;
    if (op !== undefined && op.opId === opId) this.sendRequest(index, op);
  }

  private record(client: Client, kind: HistoryEvent['kind'], op: ClientOp, result?: unknown): void {
    const historyOp = op.kind === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'get', key: op.key };
    this.history.push({ clientId: client.id, opId: op.opId, kind, op: historyOp, ...(result === undefined ? {} : { result }), atMs: this.host.now() });
  }

  next(index: number): void {
    const client = this.clients[index]!;
    if (client.group !== undefined) return this.nextBatch(this.groups[client.group]!);
    if (client.op !== undefined) return;
    if (!client.probe && this.host.phase() !== 'faults') return;
    if (client.probe && this.probeDone) return;
    const key = this.host.rng.pick(o.KEYS);
    const put = client.probe || this.host.rng.chance(0.5);
    const target = client.guess ?? this.host.rng.pick([...this.host.members()].filter((m) => m.started && !m.removed)).key;
    const op: ClientOp = put ? { opId: this.nextOpId++, kind: 'put', key, value: this.nextValue++, target } : { opId: this.nextOpId++, kind: 'get', key, target };
    client.op = op;
    this.record(client, 'invoke', op);
    this.sendRequest(index, op);
    this.host.schedule(o.CLIENT_TIMEOUT_MS, { type: 'clientTimeout', client: index, opId: op.opId });
  }

  /** Starts the group's next batch once every put of the last one has an outcome. */
  private nextBatch(group: BatchGroup): void {
    if (this.host.phase() !== 'faults') return;
    if (group.slots.some((slot) => this.clients[slot]!.op !== undefined)) return;
    const count = this.host.rng.intBetween(1, group.slots.length);
    const target = group.guess ?? this.host.rng.pick([...this.host.members()].filter((m) => m.started && !m.removed)).key;
    const commands: CommandRequest[] = [];
    for (const index of group.slots.slice(0, count)) {
      const client = this.clients[index]!;
      const op: ClientOp = { opId: this.nextOpId++, kind: 'put', key: this.host.rng.pick(o.KEYS), value: this.nextValue++, target };
      client.op = op;
      this.record(client, 'invoke', op);
      const priority = this.host.rng.chance(0.2) ? 'low' : 'normal';
      commands.push({ command: { type: 'put', key: op.key, value: op.value }, priority, from: { client: index, opId: op.opId } });
      this.host.schedule(o.CLIENT_TIMEOUT_MS, { type: 'clientTimeout', client: index, opId: op.opId });
    }
    const member = this.host.members().find((m) => m.key === target);
    if (member?.core === undefined) return; // no replies: the puts time out
    this.host.toCore(member, { type: 'commands', commands, systemTime: this.host.now() });
  }

  private setGuess(client: Client, guess: string | undefined): void {
    client.guess = guess;
    if (client.group !== undefined) this.groups[client.group]!.guess = guess;
  }

  sendRequest(index: number, op: ClientOp): void {
    const member = this.host.members().find((m) => m.key === op.target);
    if (member?.core === undefined) return; // no reply: the client times out
    const from = { client: index, opId: op.opId };
    const event: Event =
      op.kind === 'put'
        ? { type: 'command', command: { type: 'put', key: op.key, value: op.value }, priority: this.host.rng.chance(0.2) ? 'low' : 'normal', from, systemTime: this.host.now() }
        : { type: 'query', kind: 'consistent', fn: readKey(op.key), from };
    this.host.toCore(member, event);
  }

  replyTo(to: { client: number; opId: number; victim?: string }, reply: Reply): void {
    if (to.client === -2 && reply.type === 'ok' && to.victim !== undefined) {
      // leave_and_terminate: a removed member is stopped once its removal committed.
      this.host.schedule(this.host.net.intBetween(1, 50), { type: 'stop', to: to.victim });
      return;
    }
    if (to.client < 0) return;
    this.host.schedule(this.host.net.intBetween(1, 3), { type: 'clientReply', client: to.client, opId: to.opId, reply });
  }

  onReply(index: number, opId: number, reply: Reply): void {
    const client = this.clients[index]!;
    const op = client.op;
    if (op === undefined || op.opId !== opId) return;
    if (reply.type === 'error') {
      this.setGuess(client, reply.leader?.name);
      if (reply.code === 'RAFTER_LEADERSHIP_LOST') return this.indeterminate(index, client, op);
      // Definitely not applied: the probe retries the same put, others move on.
      if (client.probe) {
        op.target = client.guess ?? this.host.rng.pick(this.host.alive()).key;
        this.host.schedule(this.host.rng.intBetween(20, 100), { type: 'clientRetry', client: index, opId: op.opId });
        return;
      }
      this.record(client, 'fail', op);
      this.ops.fail += 1;
      client.op = undefined;
      return this.host.schedule(this.host.rng.intBetween(20, 100), { type: 'client', client: index });
    }
    this.setGuess(client, op.target);
    if (op.kind === 'put' && reply.type === 'ok') this.host.invariants.onAcked(reply.index, reply.term);
    this.record(client, 'ok', op, op.kind === 'get' && reply.type === 'query' ? (reply.result ?? null) : 'ok');
    this.ops.ok += 1;
    client.op = undefined;
    if (client.probe) this.probeDone = true;
    else this.host.schedule(this.host.rng.intBetween(0, 50), { type: 'client', client: index });
  }

  onTimeout(index: number, opId: number): void {
    const client = this.clients[index]!;
    const op = client.op;
    if (op === undefined || op.opId !== opId) return;
    this.indeterminate(index, client, op);
  }

  /** Outcome unknown: Jepsen's 'info'. The process may still act, so it takes a new id. */
  private indeterminate(index: number, client: Client, op: ClientOp): void {
    this.record(client, 'info', op);
    this.ops.info += 1;
    client.op = undefined;
    client.id = this.nextClientId++;
    this.setGuess(client, undefined);
    if (client.probe) return this.next(index);
    this.host.schedule(this.host.rng.intBetween(20, 100), { type: 'client', client: index });
  }
}
