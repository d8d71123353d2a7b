// Concurrent register clients on the control node. Every operation is recorded with its
// invocation and completion (performance.now(), one clock for all clients): puts, compare-
// and-swaps and consistent reads go to the checked history; local reads are kept apart,
// since they may be stale by design.

import { setTimeout as sleep } from 'node:timers/promises';
import { consistentQuery, localQuery, processCommand, RafterError, type ServerId } from '@rafter/raft';
import type { HistoryEvent, HistoryOp } from '../check/index.js';
import { Prng } from '../sim/prng.js';
import type { RegisterCommand, RegisterQuery } from '../cluster/machines/register.js';

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  readonly seed: number;
  readonly opTimeoutMs: number;
  /** Pause between a client's operations, drawn from [0, thinkMsMax]. */
  readonly thinkMsMax: number;
}

export const WORKLOAD_DEFAULTS: Omit<WorkloadOptions, 'seed'> = { clients: 5, keys: 4, opTimeoutMs: 1_500, thinkMsMax: 10 };

export interface LocalRead {
  readonly key: string;
  readonly value: unknown;
  readonly invokeMs: number;
  readonly returnMs: number;
}

interface Answer {
  readonly value: unknown;
  readonly leader?: ServerId | undefined;
}

/** Operation mix, cumulative: put, cas, consistent get, local get. */
const PUT_UNTIL = 0.35;
const CAS_UNTIL = 0.55;
const GET_UNTIL = 0.9;
const FINAL_READ_ATTEMPTS = 5;
/** After a failure a client waits before its next operation, so an outage yields a few indeterminate writes, not hundreds. */
const BACKOFF_MS_MIN = 50;
const BACKOFF_MS_MAX = 250;
const UNREACHABLE_WAIT_MS = 100;

export class Workload {
  readonly history: HistoryEvent[] = [];
  readonly localReads: LocalRead[] = [];
  private stopping = false;
  private running: Promise<void>[] = [];
  /** Unique per written value, so the checker can tell who wrote what. */
  private nextValue = 1;

  /**
   * `connected(node)`: whether the client's node holds a live connection to `node`. A
   * client sends nothing to a node it is not connected to: such a call fails at once
   * without reaching the node, yet it would count as indeterminate, and every one of
   * those is a write the checker has to place somewhere.
   */
  constructor(
    private readonly servers: readonly ServerId[],
    private readonly options: WorkloadOptions,
    private readonly connected: (node: string) => boolean,
  ) {}

  keyName(i: number): string {
    return `k${i}`;
  }

  start(): void {
    const seeds = new Prng(this.options.seed);
    for (let c = 0; c < this.options.clients; c++) this.running.push(this.client(c, seeds.fork()));
  }

  /** Lets every client finish its operation in flight, then stops them. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
    this.running = [];
  }

  /** Consistent reads of every key by a client of its own, once the cluster has healed; each retried a few times. */
  async finalReads(): Promise<void> {
    let leader = this.servers[0] as ServerId;
    let opId = 0;
    for (let k = 0; k < this.options.keys; k++) {
      for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS; attempt++) {
        const answer = await this.record('final', opId++, { type: 'get', key: this.keyName(k) }, async () => {
          const got = await consistentQuery(leader, { get: this.keyName(k) } satisfies RegisterQuery, { timeoutMs: this.options.opTimeoutMs * 2 });
          return { value: got.result, leader: got.leader };
        });
        if (answer !== undefined) {
          if (answer.leader !== undefined) leader = answer.leader;
          break;
        }
        leader = this.servers[(this.servers.indexOf(leader) + 1) % this.servers.length] as ServerId;
      }
    }
  }

  private async client(id: number, random: Prng): Promise<void> {
    let server = random.pick(this.servers);
    const seen = new Map<string, unknown>();
    for (let opId = 0; !this.stopping; opId++) {
      if (!this.connected(server.node)) {
        const reachable = this.servers.filter((s) => this.connected(s.node));
        if (reachable.length === 0) {
          await sleep(UNREACHABLE_WAIT_MS);
          continue;
        }
        server = random.pick(reachable);
      }
      const key = this.keyName(random.intBetween(0, this.options.keys - 1));
      const roll = random.float();
      let result: Answer | undefined;
      if (roll < PUT_UNTIL) {
        const value = this.nextValue++;
        result = await this.record(id, opId, { type: 'put', key, value }, () => this.command(server, { op: 'put', key, value }));
        if (result !== undefined) seen.set(key, value);
      } else if (roll < CAS_UNTIL) {
        const from = seen.get(key) ?? null;
        const to = this.nextValue++;
        result = await this.record(id, opId, { type: 'cas', key, value: { from, to } }, () => this.command(server, { op: 'cas', key, from, to }));
        if (result?.value === true) seen.set(key, to);
      } else if (roll < GET_UNTIL) {
        result = await this.record(id, opId, { type: 'get', key }, async () => {
          const answer = await consistentQuery(server, { get: key } satisfies RegisterQuery, { timeoutMs: this.options.opTimeoutMs });
          return { value: answer.result, leader: answer.leader };
        });
        if (result !== undefined) seen.set(key, result.value);
      } else {
        result = await this.localRead(random.pick(this.servers), key);
      }
      if (result?.leader !== undefined) server = result.leader;
      else if (result === undefined) server = random.pick(this.servers);
      const thinkMs = result === undefined ? random.intBetween(BACKOFF_MS_MIN, BACKOFF_MS_MAX) : random.intBetween(0, this.options.thinkMsMax);
      if (thinkMs > 0) await sleep(thinkMs);
    }
  }

  private async command(server: ServerId, command: RegisterCommand): Promise<{ value: unknown; leader: ServerId }> {
    // One server, not the list: processCommand retries a list after an ambiguous failure,
    // which may apply the command twice.
    const answer = await processCommand(server, command, { timeoutMs: this.options.opTimeoutMs });
    return { value: answer.reply, leader: answer.leader };
  }

  private async localRead(server: ServerId, key: string): Promise<Answer | undefined> {
    const invokeMs = performance.now();
    try {
      const answer = await localQuery(server, { get: key } satisfies RegisterQuery, { timeoutMs: this.options.opTimeoutMs });
      this.localReads.push({ key, value: answer.result, invokeMs, returnMs: performance.now() });
      return { value: answer.result };
    } catch {
      return undefined;
    }
  }

  /**
   * Runs `invoke` and records the operation: 'ok' with its value, 'fail' when it surely
   * did not take effect (a read, or a write refused as not the leader), otherwise 'info'.
   */
  private async record(clientId: number | string, opId: number, op: HistoryOp, invoke: () => Promise<Answer>): Promise<Answer | undefined> {
    this.history.push({ clientId, opId, kind: 'invoke', op, atMs: performance.now() });
    try {
      const answer = await invoke();
      this.history.push({ clientId, opId, kind: 'ok', op, result: answer.value, atMs: performance.now() });
      return answer;
    } catch (err) {
      const code = err instanceof RafterError ? err.code : String((err as { code?: unknown } | undefined)?.code ?? err);
      const surelyNot = op.type === 'get' || code === 'RAFTER_NOT_LEADER';
      // The checker reads the result of 'ok' events only: the code is for whoever reads the history.
      this.history.push({ clientId, opId, kind: surelyNot ? 'fail' : 'info', op, result: { error: code }, atMs: performance.now() });
      return undefined;
    }
  }
}
