// One Raft node process for tests, benchmarks, the demo and chaos runs: a distributed
// node with one system. Arguments: a JSON object (see NodeProcessArgs). It prints one
// line `{"ready":true,"node":...}` once its system has started, and stops cleanly on
// SIGTERM or when its stdin closes (so a dying parent leaves no orphans).

import { Node, silentLogger } from '@rafter/actors';
import { NodeFs } from '@rafter/raft/storage';
import { startControlActor } from './control-actor.js';
import { FaultyFs, type StorageMutation } from './faulty-fs.js';
import { type CoreTimeouts, createLogger, type RaftSystem, type RecoveryProgress, startSystem, useCaller } from '@rafter/raft';

export interface NodeProcessArgs {
  readonly name: string;
  readonly port: number;
  readonly cookie: string;
  readonly dataDir: string;
  readonly system: string;
  /** Modules to import first: they register machines; an exported `nodeStarted({ node, system })` runs once the system is up. */
  readonly machineModules: readonly string[];
  readonly tickMs?: number;
  /** Election delays and timeouts of the system's servers (default: the system's, SERVER_TIMEOUTS_DEFAULT). */
  readonly timeouts?: Partial<CoreTimeouts>;
  readonly netTickMs?: number;
  /** The system's snapshot policy (tests set a small one so release cursors become snapshots soon). */
  readonly snapshotPolicy?: { readonly minIntervalMs: number; readonly minEntries: number };
  readonly verbose?: boolean;
  /** Print the system's progress restarting its servers to stderr, one JSON line each. */
  readonly recoveryProgress?: boolean;
  /** Chaos runs: the storage under a FaultyFs, and a control actor (see control-actor.ts) to drive faults. */
  readonly chaos?: { readonly mutation?: StorageMutation };
}

const args = JSON.parse(process.argv[2] ?? '{}') as NodeProcessArgs;
type NodeStartedHook = (started: { node: Node; system: RaftSystem }) => void | Promise<void>;
const modules: Array<{ nodeStarted?: NodeStartedHook }> = [];
for (const mod of args.machineModules) modules.push((await import(mod)) as { nodeStarted?: NodeStartedHook });
const node = await Node.start({
  name: args.name,
  port: args.port,
  cookie: args.cookie,
  dirtyThreads: 1,
  ...(args.netTickMs !== undefined ? { netTickMs: args.netTickMs } : {}),
  logger: args.verbose === true ? createLogger({ bindings: { node: args.name } }) : silentLogger,
});
useCaller(node);
const fs = args.chaos !== undefined ? new FaultyFs(new NodeFs(), args.chaos.mutation) : undefined;
if (fs !== undefined) await startControlActor(node, fs);
const system = await startSystem(node, {
  name: args.system,
  dataDir: args.dataDir,
  ...(args.tickMs !== undefined ? { tickMs: args.tickMs } : {}),
  ...(args.snapshotPolicy !== undefined ? { snapshotPolicy: args.snapshotPolicy } : {}),
  ...(fs !== undefined ? { fs } : {}),
  ...(args.timeouts !== undefined ? { timeouts: args.timeouts } : {}),
  ...(args.recoveryProgress === true ? { onRecoveryProgress: (p: RecoveryProgress) => process.stderr.write(`${JSON.stringify({ node: args.name, recovery: p })}\n`) } : {}),
});
for (const mod of modules) await mod.nodeStarted?.({ node, system });
// A parent that is gone closed our stdout: stop rather than crash on EPIPE.
process.stdout.on('error', () => void stop());
process.stdout.write(`${JSON.stringify({ ready: true, node: node.name, restarted: system.restartFailures.size })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await system.stop().catch(() => undefined);
  await node.stop({ timeoutMs: 2_000 }).catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
