// Simulated clients: each issues one put or consistent get at a time against the key/
// register machine and records a Jepsen-style history for the linearizability check.
// The liveness probe is a client that retries one put until it succeeds.

import type { Event, Reply } from '@rafter/raft/core';
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
}

export class SimClients {
  readonly history: HistoryEvent[] = [];
  readonly clients: Client[] = [];
  readonly ops = { ok: 0, fail: 0, info: 0 };
  nextClientId = 0;
  nextOpId = 0;
  nextValue = 1;
  probeDone = false;

  constructor(private readonly host: SimHost) {}

  /** Regular clients, each starting after a short random delay. */
  start(count: number): void {
    for (let c = 0; c < count; c += 1) {
      this.clients.push({ id: this.nextClientId++, op: undefined, guess: undefined, probe: false });
      this.host.schedule(this.host.rng.intBetween(0, 50), { type: 'client', client: c });
    }
  }

  startProbe(): void {
    this.clients.push({ id: this.nextClientId++, op: undefined, guess: undefined, probe: true });
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

  sendRequest(index: number, op: ClientOp): void {
    const member = this.host.members().find((m) => m.key === op.target);
    if (member?.core === undefined) return; // no reply: the client times out
    const from = { client: index, opId: op.opId };
    const event: Event =
      op.kind === 'put'
        ? { type: 'command', command: { type: 'put', key: op.key, value: op.value }, priority: this.host.rng.chance(0.2) ? 'low' : 'normal', from }
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
      client.guess = reply.leader?.name;
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
    client.guess = op.target;
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
    client.guess = undefined;
    if (client.probe) return this.next(index);
    this.host.schedule(this.host.rng.intBetween(20, 100), { type: 'client', client: index });
  }
}
