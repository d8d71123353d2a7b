// Raft node processes on loopback, driven from a node in this process: start, kill -9,
// SIGSTOP/SIGCONT and restart on the same name, port and data directory.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Node, silentLogger } from '@rafter/actors';
import { freePort } from './free-port.js';
import { CONTROL_ACTOR_NAME, type ControlReply, type ControlRequest } from './control-actor.js';
import type { CoreTimeouts, ServerId } from '@rafter/raft';
import type { NodeProcessArgs } from './node-main.js';

export interface ProcessClusterOptions {
  /** Node processes to start (default 3). */
  readonly nodes?: number;
  /** Modules (absolute paths or file URLs) each process imports to register machines. */
  readonly machineModules: readonly string[];
  readonly system?: string;
  readonly cookie?: string;
  readonly tickMs?: number;
  /** Election delays and timeouts of every node's servers (default: the system's, SERVER_TIMEOUTS_DEFAULT). */
  readonly timeouts?: Partial<CoreTimeouts>;
  readonly netTickMs?: number;
  /** The systems' snapshot policy (default the log storage's). */
  readonly snapshotPolicy?: NodeProcessArgs['snapshotPolicy'];
  /** Log warnings of the node processes to stderr. */
  readonly verbose?: boolean;
  /** The node processes print their progress restarting servers to stderr. */
  readonly recoveryProgress?: boolean;
  /** How long a node process may take to be ready, recovery included (default READY_TIMEOUT_MS). */
  readonly readyTimeoutMs?: number;
  /** Where data directories go; default a new temporary directory, removed by stop(). */
  readonly dataRoot?: string;
  /** Chaos runs: fault controls in every process (see `control`), and any storage mutation. */
  readonly chaos?: NodeProcessArgs['chaos'];
}

export interface NodeProcess {
  readonly index: number;
  readonly shortName: string;
  readonly port: number;
  readonly dataDir: string;
  /** The full node name (name@host:port), the same across restarts. */
  fullName: string;
  child: ChildProcess | undefined;
  /** Resolves when the current child exits. */
  exited: Promise<void>;
  /** This node's machine modules, when a restart gave it others (a rolling upgrade); default the cluster's. */
  machineModules?: readonly string[];
}

const NODE_MAIN = new URL('./node-main.ts', import.meta.url).pathname;
const READY_TIMEOUT_MS = 30_000;

export class ProcessCluster {
  readonly nodes: NodeProcess[] = [];
  readonly system: string;
  private readonly ownsDataRoot: boolean;

  private constructor(
    readonly control: Node,
    private readonly options: ProcessClusterOptions,
    readonly dataRoot: string,
  ) {
    this.system = options.system ?? 'default';
    this.ownsDataRoot = options.dataRoot === undefined;
  }

  /** Starts a control node in this process and the node processes, in parallel. */
  static async start(options: ProcessClusterOptions): Promise<ProcessCluster> {
    const cookie = options.cookie ?? 'rafter-cluster';
    const control = await Node.start({ name: 'control', port: 0, cookie, logger: silentLogger, ...(options.netTickMs !== undefined ? { netTickMs: options.netTickMs } : {}) });
    const dataRoot = options.dataRoot ?? mkdtempSync(join(tmpdir(), 'rafter-cluster-'));
    const cluster = new ProcessCluster(control, { ...options, cookie }, dataRoot);
    try {
      for (let i = 0; i < (options.nodes ?? 3); i++) {
        const port = await freePort();
        cluster.nodes.push({ index: i, shortName: `n${i + 1}`, port, dataDir: join(dataRoot, `n${i + 1}`), fullName: '', child: undefined, exited: Promise.resolve() });
      }
      await Promise.all(cluster.nodes.map((n) => cluster.launch(n)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The server id of `name` on node `index`. */
  serverId(name: string, index: number): ServerId {
    return { name, node: (this.nodes[index] as NodeProcess).fullName };
  }

  /** One server per node, named `${prefix}${i + 1}`. */
  serverIds(prefix: string): ServerId[] {
    return this.nodes.map((n, i) => this.serverId(`${prefix}${i + 1}`, i));
  }

  /** The node index of a full node name. */
  indexOf(fullName: string): number {
    return this.nodes.findIndex((n) => n.fullName === fullName);
  }

  private launch(n: NodeProcess): Promise<void> {
    const args: NodeProcessArgs = {
      name: n.shortName,
      port: n.port,
      cookie: this.options.cookie ?? 'rafter-cluster',
      dataDir: n.dataDir,
      system: this.system,
      machineModules: n.machineModules ?? this.options.machineModules,
      ...(this.options.tickMs !== undefined ? { tickMs: this.options.tickMs } : {}),
      ...(this.options.timeouts !== undefined ? { timeouts: this.options.timeouts } : {}),
      ...(this.options.netTickMs !== undefined ? { netTickMs: this.options.netTickMs } : {}),
      ...(this.options.snapshotPolicy !== undefined ? { snapshotPolicy: this.options.snapshotPolicy } : {}),
      ...(this.options.verbose === true ? { verbose: true } : {}),
      ...(this.options.recoveryProgress === true ? { recoveryProgress: true } : {}),
      ...(this.options.chaos !== undefined ? { chaos: this.options.chaos } : {}),
    };
    const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const child = spawn(process.execPath, ['--import', loader, NODE_MAIN, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
    n.child = child;
    n.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      let out = '';
      const readyTimeoutMs = this.options.readyTimeoutMs ?? READY_TIMEOUT_MS;
      const timer = setTimeout(() => reject(new Error(`node ${n.shortName} did not start within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      const onData = (chunk: Buffer): void => {
        out += chunk.toString();
        const line = out.split('\n')[0];
        if (!out.includes('\n') || line === undefined) return;
        child.stdout?.off('data', onData);
        clearTimeout(timer);
        try {
          n.fullName = (JSON.parse(line) as { node: string }).node;
          resolve();
        } catch (err) {
          reject(new Error(`node ${n.shortName} printed ${line}: ${String(err)}`));
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`node ${n.shortName} exited with ${code ?? signal} before it was ready`));
      });
    });
  }

  /** kill -9: no chance to flush or close anything. Resolves once the process is gone. */
  async kill(index: number): Promise<void> {
    const n = this.nodes[index] as NodeProcess;
    if (n.child === undefined || n.child.exitCode !== null || n.child.signalCode !== null) return;
    n.child.kill('SIGCONT');
    n.child.kill('SIGKILL');
    await n.exited;
    n.child = undefined;
  }

  /** Asks node `index`'s control actor (started with the `chaos` option) to block nodes, heal or slow its disk. */
  async controlNode(index: number, request: ControlRequest, timeoutMs = 2_000): Promise<ControlReply> {
    const n = this.nodes[index] as NodeProcess;
    return this.control.call<ControlReply>({ name: CONTROL_ACTOR_NAME, node: n.fullName }, request, { timeoutMs });
  }

  pause(index: number): void {
    this.nodes[index]?.child?.kill('SIGSTOP');
  }

  resume(index: number): void {
    this.nodes[index]?.child?.kill('SIGCONT');
  }

  /**
   * Starts the node again on the same name, port and data directory (kill it first);
   * with `machineModules`, it loads those from now on (new code in a rolling upgrade).
   */
  async restart(index: number, options?: { readonly machineModules?: readonly string[] }): Promise<void> {
    const n = this.nodes[index] as NodeProcess;
    if (n.child !== undefined) await this.kill(index);
    if (options?.machineModules !== undefined) n.machineModules = options.machineModules;
    await this.launch(n);
  }

  /** Stops every process (SIGTERM, then SIGKILL after a grace period), the control node, and the data if it is ours. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const child = n.child;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const grace = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await n.exited;
        clearTimeout(grace);
      }),
    );
    await this.control.stop({ timeoutMs: 500 }).catch(() => undefined);
    if (this.ownsDataRoot) rmSync(this.dataRoot, { recursive: true, force: true });
  }
}
