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

/** One file per server under `configs/`, written atomically. */
export class ConfigStore {
  constructor(
    private readonly fs: LogFs,
    private readonly dir: string,
  ) {}

  async load(): Promise<StoredConfig[]> {
    await this.fs.mkdirp(this.dir);
    const names = (await this.fs.readdir(this.dir)).filter((n) => n.endsWith('.cfg'));
    const out: StoredConfig[] = [];
    for (const file of names) {
      const config = decodeValue(await this.fs.readFile(joinPath(this.dir, file))) as StoredConfig;
      if (config.name !== unsafeFileName(file.slice(0, -4))) throw new Error(`server config ${file} names server ${config.name}`);
      out.push(config);
    }
    return out;
  }

  async save(config: ServerConfig): Promise<void> {
    const stored: StoredConfig = { ...config, machine: storableMachineRef(config.machine) };
    await this.fs.writeFileAtomic(this.path(config.name), encodeValue(stored));
  }

  async remove(name: string): Promise<void> {
    await this.fs.rmrf(this.path(name));
    await this.fs.syncDir(this.dir);
  }

  private path(name: string): string {
    return joinPath(this.dir, `${safeFileName(name)}.cfg`);
  }
}

export class SystemRuntime {
  readonly directory = new Map<string, DirectoryEntry>();
  /** Configurations by server name (persisted ones, and simple machines kept in memory). */
  readonly configs = new Map<string, ServerConfig>();
  /** The server supervisor, once started. */
  serverSup: Pid | undefined;
  /**
   * Bytes queued on the connection to a node and not yet read by it, when the system was
   * started from a node (an actor context cannot see its node's connections).
   */
  queuedBytes: (node: string) => number | undefined = () => undefined;

  constructor(
    readonly name: string,
    readonly nodeName: string,
    readonly handle: LogSystemHandle,
    readonly configStore: ConfigStore,
    readonly tuning: ServerTuning,
    /** Counters in shared memory (metrics/): the WAL's, the segment writer's and a slot per server. */
    readonly metrics: SystemMetrics,
  ) {}

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
