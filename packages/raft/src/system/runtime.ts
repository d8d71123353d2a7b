// What a system's actors share on their scheduler: the log storage, the directory of
// servers (name ↔ uid ↔ pid, with each one's role and leader), the persisted server
// configurations, the options servers run with, and the counters.

import type { Pid } from '@rafter/actors';
import type { Member, ServerId } from '../internal/core/log.js';
import type { CoreTimeouts, Role } from '../internal/core/types.js';
import { decodeValue, encodeValue } from '../internal/log/codec.js';
import { type LogFs, joinPath, safeFileName, unsafeFileName } from '../internal/log/fs.js';
import type { LogSystemHandle } from '../internal/log/log-actors.js';
import type { MachineModule, MachineRef, SimpleMachine } from '../server/machine.js';
import type { SystemMetrics } from '../metrics/system-metrics.js';
import { isSimpleMachine, storableMachineRef } from '../server/machine.js';
import { ElectionSpread } from '../server/election-spread.js';

/** A server's configuration, persisted so that restartServer and a node restart bring it back. */
export interface ServerConfig {
  readonly name: string;
  readonly uid: string;
  readonly clusterName: string;
  readonly machine: MachineRef;
  /** Passed to the machine's `init`. */
  readonly machineConfig?: unknown;
  /** The cluster a new member starts with (ignored once its log holds a configuration). */
  readonly initialMembers: readonly Member[];
  /** Snapshot every this many applied entries while the machine releases no cursor. */
  readonly snapshotEvery?: number;
  /** Archive replaced snapshots (a bounded backup folder) rather than delete them. */
  readonly snapshotBackup?: boolean;
}

export interface ServerTuning {
  /** The server's slow tick: the leader resends to followers that are behind, the applied index is stored. */
  readonly tickMs: number;
  readonly timeouts: Partial<CoreTimeouts>;
  /** Bytes per install_snapshot chunk. */
  readonly snapshotChunkBytes: number;
  /** Election spread per other pending election (server/election-spread.ts); default 0.5 ms. */
  readonly electionSpreadMsPerPending?: number;
}

export interface DirectoryEntry {
  readonly uid: string;
  readonly clusterName: string;
  pid: Pid | undefined;
  role: Role | 'stopped';
  term: number;
  leader: ServerId | undefined;
}

type StoredConfig = Omit<ServerConfig, 'machine'> & { readonly machine: string | MachineModule | { readonly simple: true } };

/**
 * Server configurations under `configs/`: one file per server started alone
 * (`<name>.cfg`), and one file per batch of servers started together (`batch-<n>.cfgs`,
 * so a batch costs one atomic write, not one per server). Each is written atomically; a
 * server removed from a batch rewrites that batch without it.
 */
export class ConfigStore {
  /** The batch file holding each batched server's configuration, and each batch's configurations. */
  private readonly batchOf = new Map<string, string>();
  private readonly batches = new Map<string, Map<string, StoredConfig>>();
  private nextBatch = 0;

  constructor(
    private readonly fs: LogFs,
    private readonly dir: string,
  ) {}

  async load(): Promise<StoredConfig[]> {
    await this.fs.mkdirp(this.dir);
    const files = await this.fs.readdir(this.dir);
    const single = new Map<string, StoredConfig>();
    for (const file of files.filter((n) => n.endsWith('.cfg'))) {
      const config = decodeValue(await this.fs.readFile(joinPath(this.dir, file))) as StoredConfig;
      if (config.name !== unsafeFileName(file.slice(0, -4))) throw new Error(`server config ${file} names server ${config.name}`);
      single.set(config.name, config);
    }
    const out = [...single.values()];
    for (const file of files.filter((n) => n.startsWith('batch-') && n.endsWith('.cfgs'))) {
      const seq = Number(file.slice('batch-'.length, -'.cfgs'.length));
      if (Number.isInteger(seq) && seq >= this.nextBatch) this.nextBatch = seq + 1;
      const configs = decodeValue(await this.fs.readFile(joinPath(this.dir, file))) as StoredConfig[];
      if (!Array.isArray(configs)) throw new Error(`server config batch ${file} is not a list`);
      const batch = new Map<string, StoredConfig>();
      for (const config of configs) {
        // A server saved alone after its batch (a crash between the two writes) is the newer.
        if (single.has(config.name) || this.batchOf.has(config.name)) continue;
        batch.set(config.name, config);
        this.batchOf.set(config.name, file);
        out.push(config);
      }
      this.batches.set(file, batch);
    }
    return out;
  }

  async save(config: ServerConfig): Promise<void> {
    await this.fs.writeFileAtomic(this.path(config.name), encodeValue(stored(config)));
    await this.dropFromBatch(config.name);
  }

  /** Saves many configurations with one atomic write (names not already saved). */
  async saveBatch(configs: readonly ServerConfig[]): Promise<void> {
    if (configs.length === 0) return;
    if (configs.length === 1) return this.save(configs[0] as ServerConfig);
    const file = `batch-${this.nextBatch++}.cfgs`;
    const batch = new Map(configs.map((c) => [c.name, stored(c)] as const));
    await this.fs.writeFileAtomic(joinPath(this.dir, file), encodeValue([...batch.values()]));
    this.batches.set(file, batch);
    for (const name of batch.keys()) this.batchOf.set(name, file);
  }

  async remove(name: string): Promise<void> {
    await this.fs.rmrf(this.path(name));
    await this.fs.syncDir(this.dir);
    await this.dropFromBatch(name);
  }

  private async dropFromBatch(name: string): Promise<void> {
    const file = this.batchOf.get(name);
    if (file === undefined) return;
    this.batchOf.delete(name);
    const batch = this.batches.get(file);
    batch?.delete(name);
    if (batch === undefined || batch.size === 0) {
      this.batches.delete(file);
      await this.fs.rmrf(joinPath(this.dir, file));
      await this.fs.syncDir(this.dir);
      return;
    }
    await this.fs.writeFileAtomic(joinPath(this.dir, file), encodeValue([...batch.values()]));
  }

  private path(name: string): string {
    return joinPath(this.dir, `${safeFileName(name)}.cfg`);
  }
}

function stored(config: ServerConfig): StoredConfig {
  return { ...config, machine: storableMachineRef(config.machine) };
}

/** A running server as the system's tick sees it. */
export interface Ticker {
  readonly pid: Pid;
  /** Whether the server has anything for a tick to do (server/tick.ts). */
  wantsTick(): boolean;
}

/** A caller of awaitLeaders: the servers of the request that know no leader yet. */
export interface LeaderWait {
  readonly missing: Set<string>;
  /** All of `missing` learned a leader (or the wait timed out): answer, or wait again for those that lost it since. */
  done(timedOut?: boolean): void;
}

export class SystemRuntime {
  readonly directory = new Map<string, DirectoryEntry>();
  /** Running servers by name, for the system's tick. */
  readonly tickers = new Map<string, Ticker>();
  /**
   * The servers that said, at the end of their last turn, that a tick has work for them.
   * Whether one does changes only in its own turns, so the tick visits these alone and
   * an idle server costs the tick nothing.
   */
  readonly wantingTick = new Set<Ticker>();
  /** The system's ticks so far. */
  ticks = 0;
  /** Ticks delivered to servers since the system started (one per server that wanted one, per tick). */
  ticksDelivered = 0;
  /** Callers waiting for servers to know a leader, by server name. */
  readonly leaderWaits = new Map<string, Set<LeaderWait>>();
  /** Configurations by server name (persisted ones, and simple machines kept in memory). */
  readonly configs = new Map<string, ServerConfig>();
  /** The server supervisor, once started. */
  serverSup: Pid | undefined;
  /**
   * Bytes queued on the connection to a node and not yet read by it, when the system was
   * started from a node (an actor context cannot see its node's connections).
   */
  queuedBytes: (node: string) => number | undefined = () => undefined;
  /** The servers with an election pending, whose starts are spread when many are due at once. */
  readonly elections: ElectionSpread;

  constructor(
    readonly name: string,
    readonly nodeName: string,
    readonly handle: LogSystemHandle,
    readonly configStore: ConfigStore,
    readonly tuning: ServerTuning,
    /** Counters in shared memory (metrics/): the WAL's, the segment writer's and a slot per server. */
    readonly metrics: SystemMetrics,
  ) {
    this.elections = new ElectionSpread(tuning.electionSpreadMsPerPending);
  }

  /** A server learned its leader (or leads): callers waiting for it are told. */
  leaderKnown(name: string): void {
    const waits = this.leaderWaits.get(name);
    if (waits === undefined) return;
    this.leaderWaits.delete(name);
    for (const wait of waits) {
      wait.missing.delete(name);
      if (wait.missing.size === 0) wait.done();
    }
  }

  /** Loads what a previous run persisted; simple machines were not, and must be given again. */
  async loadConfigs(): Promise<void> {
    for (const stored of await this.configStore.load()) {
      if (typeof stored.machine === 'object' && 'simple' in stored.machine) {
        this.configs.set(stored.name, { ...stored, machine: stored.machine as unknown as SimpleMachine });
        continue;
      }
      this.configs.set(stored.name, stored as ServerConfig);
    }
  }

  /** True if `config` names a simple machine that this run has not been given. */
  static missingSimple(config: ServerConfig): boolean {
    const m = config.machine as unknown;
    return typeof m === 'object' && m !== null && (m as { simple?: unknown }).simple === true && !isSimpleMachine(m);
  }
}
