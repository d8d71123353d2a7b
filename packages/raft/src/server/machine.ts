// Machines as users write them, and how a server finds one: by a registered name, by a
// module specifier (so any node and thread can load it), or as a local simple function.

import type { LogEntry, Member, ServerId } from '../internal/core/log.js';
import type { ApplyResult, CoreMachine, MachineEffect, MachineMeta, MachineVersionChange, Role } from '../internal/core/types.js';
import { InvalidArgumentError, MachineNotFoundError } from '../errors.js';

/** What `init` gets: the cluster, the member, and the config given at start. */
export interface MachineConfig {
  readonly clusterName: string;
  readonly serverId: ServerId;
  readonly config: unknown;
}

/** The roles `stateEnter` is told of: the core's, and `eol` when the cluster is deleted (Ra's). */
export type MachineRole = Role | 'eol';

/**
 * What handleAux may read and do (Ra's ra_aux): the member's machine state and indexes,
 * its log, and compaction. Reading the log is asynchronous (segments are on disk).
 */
export interface AuxContext<S = any> {
  readonly serverId: ServerId;
  readonly clusterName: string;
  readonly term: number;
  readonly leader: ServerId | undefined;
  readonly commitIndex: number;
  readonly lastApplied: number;
  /** The first index still in the log (entries before it are in the snapshot). */
  readonly firstIndex: number;
  readonly lastIndex: number;
  machineState(): S;
  members(): readonly Member[];
  /** Entries from..to (inclusive, at most AUX_READ_ENTRIES_MAX), clipped to what the log holds. */
  readLog(from: number, to: number): Promise<readonly LogEntry[]>;
  /** A release cursor at the applied index with the current machine state: a snapshot, if storage takes it, and a truncated log. */
  compact(): void;
}

export interface AuxResult<A = any> {
  readonly auxState: A;
  /** The answer to auxCommand (ignored for castAux). */
  readonly reply?: unknown;
  /** Carried out as stateEnter's: on the leader all kinds but release_cursor and checkpoint (use ctx.compact()), elsewhere sends. */
  readonly effects?: readonly MachineEffect[];
}

/**
 * A replicated state machine. `apply` must be deterministic: every member applies the
 * same commands in the same order and must reach the same state. State is plain data.
 */
export interface Machine<S = any, C = any, A = any> {
  init(config: MachineConfig): S;
  /**
   * Also receives the commands the server proposes for the machine (MachineNotice:
   * `{ down, reason }`, `{ nodeup }`, `{ nodedown }`, `{ timeout }`) and, on a machine
   * that declares a `version`, `{ machineVersion: { from, to } }` at the switch.
   */
  apply(meta: MachineMeta, command: C, state: S): ApplyResult;
  /** Effects on a role change (a leader re-issues its monitors and timers here, as in Ra). */
  stateEnter?(role: MachineRole, state: S): readonly MachineEffect[] | undefined;
  /** The aux state of a new server (Ra's init_aux): work outside the log, per member. */
  initAux?(serverName: string): A;
  /** Ra's handle_aux: answers auxCommand ('call') and castAux ('cast') on this member. */
  handleAux?(role: Role, kind: 'call' | 'cast', command: unknown, auxState: A, ctx: AuxContext<S>): AuxResult<A> | Promise<AuxResult<A>>;
  /** Called on the leader at the server's tick, with the leader's wall clock. */
  tick?(timeMs: number, state: S): readonly MachineEffect[] | undefined;
  /** A summary of the state, for `serverStatus` (`machineOverview`). */
  overview?(state: S): unknown;
  /** Named queries as data, so they cross threads and nodes: `query(q, state)`. */
  query?(query: any, state: S): unknown;
  /** The highest version this code runs (default 0). */
  readonly version?: number;
  /** The implementation of an older version `v` (below `version`), for entries written before the switch; default this machine. */
  whichVersion?(v: number): Machine<any, any> | undefined;
}

/** A machine for local, single-node use: `apply` is `simple(command, state)`, and the reply is the new state. */
export interface SimpleMachine<S = any, C = any> {
  readonly simple: (command: C, state: S) => S;
  readonly initial: S;
}

/** A module exporting a Machine, loadable from any thread: an absolute path or file URL and an export name. */
export interface MachineModule {
  readonly module: string;
  readonly export: string;
}

/** How a server names its machine: a registered name, a module, or a simple machine (not persisted across node restarts). */
export type MachineRef = string | MachineModule | SimpleMachine;

/** Per thread: a worker scheduler registers its machines itself (or names them by module). */
const registry = new Map<string, Machine>();

/** Registers a machine under a name that servers on this thread can be started with. */
export function registerMachine(name: string, machine: Machine): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('machine name', 'a non-empty string', name);
  checkMachine(machine, name);
  registry.set(name, machine);
}

export function unregisterMachine(name: string): boolean {
  return registry.delete(name);
}

function checkMachine(machine: unknown, what: string): asserts machine is Machine {
  const m = machine as Partial<Machine> | undefined;
  if (m === null || typeof m !== 'object' || typeof m.init !== 'function' || typeof m.apply !== 'function') {
    throw new InvalidArgumentError(`machine ${what}`, 'an object with init and apply functions', machine);
  }
}

export function isSimpleMachine(ref: unknown): ref is SimpleMachine {
  return typeof ref === 'object' && ref !== null && typeof (ref as SimpleMachine).simple === 'function';
}

function simpleMachine(ref: SimpleMachine): Machine {
  return {
    init: () => ref.initial,
    apply: (_meta, command, state) => {
      const next = ref.simple(command, state);
      return { state: next, reply: next };
    },
  };
}

/** Checks a reference's shape (not that it resolves); throws InvalidArgumentError. */
export function checkMachineRef(ref: unknown): asserts ref is MachineRef {
  if (typeof ref === 'string' && ref.length > 0) return;
  if (isSimpleMachine(ref)) return;
  const m = ref as Partial<MachineModule> | undefined;
  if (typeof m === 'object' && m !== null && typeof m.module === 'string' && typeof m.export === 'string') return;
  throw new InvalidArgumentError('machine', 'a registered name, { module, export } or { simple, initial }', ref);
}

/** Finds the machine a reference names, loading its module if need be. */
export async function resolveMachine(ref: MachineRef): Promise<Machine> {
  if (typeof ref === 'string') {
    const found = registry.get(ref);
    if (found === undefined) throw new MachineNotFoundError(ref, 'no machine is registered under that name on this node and thread; call registerMachine first');
    return found;
  }
  if (isSimpleMachine(ref)) return simpleMachine(ref);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(ref.module)) as Record<string, unknown>;
  } catch (err) {
    throw new MachineNotFoundError(`${ref.module}#${ref.export}`, `the module could not be loaded (${String(err)})`);
  }
  const machine = mod[ref.export];
  if (machine === undefined) throw new MachineNotFoundError(`${ref.module}#${ref.export}`, 'the module has no such export');
  checkMachine(machine, `${ref.module}#${ref.export}`);
  return machine;
}

/** The implementation that runs `version` (the machine itself for its own version and unknown ones). */
export function machineForVersion(machine: Machine, version: number): Machine {
  if (version >= (machine.version ?? 0) || machine.whichVersion === undefined) return machine;
  return machine.whichVersion(version) ?? machine;
}

/**
 * The machine as the core runs it: `init` bound to this member's config, and each entry
 * applied by the implementation of the version in force at it (Ra's which_module).
 */
export function coreMachine(machine: Machine, config: MachineConfig): CoreMachine {
  return new VersionedMachine(machine, config);
}

/** Implementations by version, per machine: the same for every member that runs it. */
const versionsOf = new WeakMap<Machine, Map<number, Machine>>();

function implementationAt(machine: Machine, version: number): Machine {
  if (version >= (machine.version ?? 0) || machine.whichVersion === undefined) return machine;
  let versions = versionsOf.get(machine);
  if (versions === undefined) versionsOf.set(machine, (versions = new Map()));
  let found = versions.get(version);
  if (found === undefined) versions.set(version, (found = machineForVersion(machine, version)));
  return found;
}

/** Methods rather than closures: one of these per member, so it holds only its two fields. */
class VersionedMachine implements CoreMachine {
  readonly version: number;

  constructor(
    private readonly machine: Machine,
    private readonly config: MachineConfig,
  ) {
    this.version = machine.version ?? 0;
  }

  // A new member starts at version 0; a later version's apply takes over at its switch.
  init(): unknown {
    return implementationAt(this.machine, 0).init(this.config);
  }

  apply(meta: MachineMeta, command: unknown, state: unknown): ApplyResult {
    return implementationAt(this.machine, meta.machineVersion).apply(meta, command, state);
  }

  versionChanged(meta: MachineMeta, from: number, state: unknown): ApplyResult {
    return implementationAt(this.machine, meta.machineVersion).apply(meta, { machineVersion: { from, to: meta.machineVersion } } satisfies MachineVersionChange, state);
  }
}

/** A persisted form of a reference: simple machines are kept only in memory. */
export function storableMachineRef(ref: MachineRef): string | MachineModule | { readonly simple: true } {
  if (isSimpleMachine(ref)) return { simple: true };
  return typeof ref === 'string' ? ref : { module: ref.module, export: ref.export };
}
