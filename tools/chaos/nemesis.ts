// Carries out a fault schedule on a process cluster: each step starts after its gap,
// holds, and is healed before the next one starts, so at most one fault is active.

import { setTimeout as sleep } from 'node:timers/promises';
import { members, type ServerId } from '@rafter/raft';
import type { ProcessCluster } from '../cluster/process-cluster.js';
import { describeStep, type FaultKind, type FaultStep } from './schedule.js';

const RESTART_ATTEMPTS = 3;
const CONTROL_ATTEMPTS = 3;
const CONTROL_RETRY_MS = 100;

export interface NemesisLog {
  (line: string): void;
}

export class Nemesis {
  readonly faults: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, slowDisk: 0 };
  /** Kills of every node at once (counted in `faults.kill` once per node). */
  killAll = 0;
  private stopping = false;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly servers: readonly ServerId[],
    private readonly log: NemesisLog,
    private readonly startMs: number,
  ) {}

  /** Runs steps until `untilMs` (performance.now()) or stop(); resolves with every fault healed. */
  async run(steps: Iterator<FaultStep>, untilMs: number): Promise<void> {
    while (!this.stopping) {
      const step = steps.next().value as FaultStep;
      if (performance.now() + step.gapMs >= untilMs) break;
      await sleep(step.gapMs);
      await this.inject(step);
    }
  }

  stop(): void {
    this.stopping = true;
  }

  /** Undoes anything left: resumes, restarts and heals every node. */
  async healAll(): Promise<void> {
    for (const n of this.cluster.nodes) this.cluster.resume(n.index);
    await Promise.all(this.cluster.nodes.map((n) => (n.child === undefined ? this.restart(n.index) : undefined)));
    await this.heal();
  }

  /** A restart that times out on a loaded machine is tried again; one that keeps failing ends the run. */
  private async restart(index: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.cluster.restart(index);
      } catch (err) {
        if (attempt >= RESTART_ATTEMPTS) throw new Error(`n${index + 1} did not restart after ${attempt} attempts: ${(err as Error).message}`, { cause: err });
        this.log(`restart of n${index + 1} failed (${(err as Error).message}); trying again`);
      }
    }
  }

  private async inject(step: FaultStep): Promise<void> {
    const targets = await this.resolve(step);
    const names = targets.map((i) => `n${i + 1}`).join(',');
    this.log(`${((performance.now() - this.startMs) / 1000).toFixed(1)}s ${describeStep(step)} -> ${names}`);
    switch (step.kind) {
      case 'kill':
        await Promise.all(targets.map((i) => this.cluster.kill(i)));
        this.faults.kill += targets.length;
        if (targets.length === this.cluster.nodes.length) this.killAll++;
        await sleep(step.holdMs);
        await Promise.all(targets.map((i) => this.restart(i)));
        return;
      case 'pause':
        for (const i of targets) this.cluster.pause(i);
        this.faults.pause += targets.length;
        await sleep(step.holdMs);
        for (const i of targets) this.cluster.resume(i);
        return;
      case 'partition':
        await this.partition(targets, step.oneLink === true);
        this.faults.partition++;
        await sleep(step.holdMs);
        await this.heal();
        return;
      case 'slowDisk':
        await Promise.all(targets.map((i) => this.control(i, { op: 'slowDisk', ms: step.delayMs ?? 0 })));
        this.faults.slowDisk += targets.length;
        await sleep(step.holdMs);
        await Promise.all(targets.map((i) => this.control(i, { op: 'slowDisk', ms: 0 })));
        return;
      default: {
        const never: never = step.kind;
        throw new Error(`unknown fault ${String(never)}`);
      }
    }
  }

  /** Cuts the isolated nodes off from the rest (or from one other node), on both sides; the control node keeps its connections. */
  private async partition(isolated: readonly number[], oneLink: boolean): Promise<void> {
    const all = this.cluster.nodes.map((n) => n.index);
    const others = all.filter((i) => !isolated.includes(i));
    const next = others.find((i) => i > (isolated[0] ?? 0)) ?? others[0];
    const rest = oneLink && next !== undefined ? [next] : others;
    const nameOf = (i: number) => (this.cluster.nodes[i] as { fullName: string }).fullName;
    await Promise.all([
      ...isolated.map((i) => this.control(i, { op: 'block', nodes: rest.map(nameOf) })),
      ...rest.map((i) => this.control(i, { op: 'block', nodes: isolated.map(nameOf) })),
    ]);
  }

  private async heal(): Promise<void> {
    await Promise.all(this.cluster.nodes.map((n) => this.control(n.index, { op: 'heal' })));
  }

  /** Control requests are idempotent, so one whose connection dropped is sent again. */
  private async control(index: number, request: Parameters<ProcessCluster['controlNode']>[1]): Promise<void> {
    for (let attempt = 1; attempt <= CONTROL_ATTEMPTS; attempt++) {
      try {
        const reply = await this.cluster.controlNode(index, request);
        if (!reply.ok) this.log(`control of n${index + 1} refused ${request.op}: ${reply.message}`);
        return;
      } catch (err) {
        this.log(`control of n${index + 1} failed (${request.op}, attempt ${attempt}): ${(err as Error).message}`);
        if (attempt < CONTROL_ATTEMPTS) await sleep(CONTROL_RETRY_MS);
      }
    }
  }

  /** Node indexes the step acts on; "the leader" falls back to a node of the step's choice when none is known. */
  private async resolve(step: FaultStep): Promise<number[]> {
    if ('all' in step.target) return this.cluster.nodes.map((n) => n.index);
    if ('node' in step.target) return [step.target.node];
    const leader = await members(this.servers, { timeoutMs: 500 }).then((m) => m.leader, () => undefined);
    const index = leader === undefined ? -1 : this.cluster.indexOf(leader.node);
    return [index >= 0 ? index : 0];
  }
}
