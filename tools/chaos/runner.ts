// A chaos run: three node processes with one register cluster, concurrent clients, and a
// seeded nemesis; then heal, read every key back, and check the history.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processCommand, serverStatus, startCluster, useCaller, type ServerId } from '@rafter/raft';
import { ProcessCluster } from '../cluster/process-cluster.js';
import type { StorageMutation } from '../cluster/faulty-fs.js';
import { faultSchedule, SCHEDULE_DEFAULTS, type FaultKind, type FaultStep } from './schedule.js';
import { Nemesis } from './nemesis.js';
import { checkHistory, countOperations, countStaleLocalReads } from './verdict.js';
import { Workload, WORKLOAD_DEFAULTS } from './workload.js';

export interface ChaosOptions {
  readonly seconds: number;
  readonly seed: number;
  readonly mutation?: StorageMutation;
  /** Progress lines (faults as they are injected). */
  readonly log?: (line: string) => void;
  /** Where to write the history when it is not linearizable; default a new temporary directory. */
  readonly historyDir?: string;
  /** Replaces the seeded fault schedule (tests that need one fault in particular). */
  readonly schedule?: Iterator<FaultStep>;
}

export interface ChaosReport {
  readonly seed: number;
  readonly seconds: number;
  readonly mutation: StorageMutation | null;
  readonly linearizable: boolean;
  /** 'unknown' when the checker ran out of search budget. */
  readonly check: 'ok' | 'violation' | 'unknown';
  readonly explanation?: string;
  readonly checkSteps: number;
  readonly operationsOk: number;
  readonly operationsFailed: number;
  readonly operationsIndeterminate: number;
  readonly operationsByType: ReturnType<typeof countOperations>['byType'];
  readonly localReads: number;
  readonly staleLocalReads: number;
  /** Terms in which a leader was seen (polled, so short-lived leaders may be missed). */
  readonly elections: number;
  readonly faults: Record<FaultKind, number>;
  readonly killAll: number;
  /** From the end of the last fault to the first command committed after it. */
  readonly recoveryMs: number | null;
  readonly historyFile: string | null;
  readonly wallMs: number;
}

const CLUSTER_NAME = 'chaos';
const REGISTER_MODULE = new URL('../cluster/machines/register.ts', import.meta.url).href;
const TICK_MS = 200;
const NET_TICK_MS = 2_000;
const LEADER_POLL_MS = 200;
const RECOVERY_TIMEOUT_MS = 30_000;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const cluster = await ProcessCluster.start({
    nodes: SCHEDULE_DEFAULTS.nodes,
    machineModules: [REGISTER_MODULE],
    tickMs: TICK_MS,
    netTickMs: NET_TICK_MS,
    chaos: options.mutation !== undefined ? { mutation: options.mutation } : {},
  });
  try {
    useCaller(cluster.control);
    const servers = cluster.serverIds('reg');
    await startCluster(cluster.system, CLUSTER_NAME, 'register', servers, { timeoutMs: 10_000 });
    const elections = new ElectionWatch(servers);
    const workload = new Workload(servers, { ...WORKLOAD_DEFAULTS, seed: options.seed }, (node) => cluster.control.nodes().includes(node));
    const startMs = performance.now();
    const nemesis = new Nemesis(cluster, servers, log, startMs);
    workload.start();
    elections.start();
    await nemesis.run(options.schedule ?? faultSchedule(options.seed), startMs + options.seconds * 1000);
    await workload.stop();
    await nemesis.healAll();
    const healedMs = performance.now();
    const recovered = await awaitCommit(servers, RECOVERY_TIMEOUT_MS);
    const recoveryMs = recovered ? Math.round(performance.now() - healedMs) : null;
    await workload.finalReads();
    await elections.stop();
    const result = checkHistory(workload.history);
    const counts = countOperations(workload.history);
    const linearizable = result.ok === true;
    let historyFile: string | null = null;
    if (!linearizable) {
      const dir = options.historyDir ?? mkdtempSync(join(tmpdir(), 'rafter-chaos-'));
      historyFile = join(dir, `chaos-seed-${options.seed}.json`);
      writeFileSync(historyFile, JSON.stringify({ seed: options.seed, history: workload.history, localReads: workload.localReads }));
    }
    return {
      seed: options.seed,
      seconds: options.seconds,
      mutation: options.mutation ?? null,
      linearizable,
      check: result.ok === true ? 'ok' : result.ok === false ? 'violation' : 'unknown',
      ...(result.ok === false ? { explanation: result.explanation } : {}),
      checkSteps: result.steps,
      operationsOk: counts.ok,
      operationsFailed: counts.failed,
      operationsIndeterminate: counts.indeterminate,
      operationsByType: counts.byType,
      localReads: workload.localReads.length,
      staleLocalReads: countStaleLocalReads(workload.history, workload.localReads),
      elections: elections.count,
      faults: { ...nemesis.faults },
      killAll: nemesis.killAll,
      recoveryMs,
      historyFile,
      wallMs: Math.round(performance.now() - started),
    };
  } finally {
    await cluster.stop();
  }
}

/** Polls each member's status and counts the terms in which one of them led. */
class ElectionWatch {
  private readonly terms = new Set<number>();
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly servers: readonly ServerId[]) {}

  get count(): number {
    return this.terms.size;
  }

  start(): void {
    this.running = this.poll();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async poll(): Promise<void> {
    while (!this.stopping) {
      await Promise.all(
        this.servers.map((s) =>
          serverStatus(s, { timeoutMs: LEADER_POLL_MS }).then(
            (status) => (status.role === 'leader' ? this.terms.add(status.term) : undefined),
            () => undefined,
          ),
        ),
      );
      await sleep(LEADER_POLL_MS);
    }
  }
}

/** True once a command commits (on a key the clients never use). */
async function awaitCommit(servers: readonly ServerId[], timeoutMs: number): Promise<boolean> {
  const deadlineMs = performance.now() + timeoutMs;
  for (let i = 0; performance.now() < deadlineMs; i++) {
    try {
      await processCommand(servers[i % servers.length] as ServerId, { op: 'put', key: 'probe', value: i }, { timeoutMs: 1_000 });
      return true;
    } catch {
      await sleep(100);
    }
  }
  return false;
}
