// Carrying out a machine's effects (Ra's ra_server_proc:handle_effect for machines).
// The core passes on only what the member should do: on the leader every effect of
// `apply`, elsewhere checkpoints. Effects from `stateEnter` and `tick` come here with the
// role the member is in. What happens outside the log comes back through it: monitors
// and timers make the leader propose `{ down }`, `{ nodeup }`, `{ nodedown }`, `{ timeout }`.

import { assertNever } from '../internal/core/assert.js';
import { MACHINE_EFFECT_DEPTH_MAX, MACHINE_LOG_READ_ENTRIES_MAX } from '../internal/core/limits.js';
import type { LogReader } from '../internal/core/log.js';
import type { MachineEffect, ReadEntry, Role } from '../internal/core/types.js';

/** What a machine's effects need from the server actor: the world outside the log. */
export interface MachinePort {
  /** A pid or `{ name, node }`; a send to nobody is dropped (as Erlang's). */
  send(to: unknown, msg: unknown): void;
  /** Arms (replacing one of the same name) or, with `afterMs` Infinity, cancels a named timer. */
  setTimer(name: string, afterMs: number): void;
  monitorProcess(target: unknown): void;
  demonitorProcess(target: unknown): void;
  monitorNode(node: string): void;
  demonitorNode(node: string): void;
  /** Proposes `command` with no caller (it is dropped if this member no longer leads). */
  append(command: unknown): void;
}

export interface MachineEffectDeps {
  readonly port: MachinePort;
  readonly log: LogReader;
  /** The storage's recovery checkpoint hook (may do nothing). */
  readonly checkpoint: ((index: number, state: unknown) => void) | undefined;
  readonly warn: (message: string) => void;
}

/** Effects from `apply`, as the core passed them on (it already filtered by role). */
export function runAppliedEffects(deps: MachineEffectDeps, effects: readonly MachineEffect[]): void {
  run(deps, effects, 'leader', 0);
}

/**
 * Effects from `stateEnter` or `tick`, in `role`: a leader carries out all but the
 * snapshot ones (which need an applied index: return them from `apply`); another role
 * only sends, as in Ra.
 */
export function runEffectsOutsideApply(deps: MachineEffectDeps, effects: readonly MachineEffect[] | undefined, role: Role): void {
  if (effects === undefined || effects.length === 0) return;
  const runnable = effects.filter((e) => e.type !== 'release_cursor' && e.type !== 'checkpoint');
  if (runnable.length < effects.length) deps.warn('a release_cursor or checkpoint effect from stateEnter or tick was ignored: return it from apply');
  run(deps, runnable, role, 0);
}

function run(deps: MachineEffectDeps, effects: readonly MachineEffect[], role: Role, depth: number): void {
  for (const effect of effects) {
    if (role !== 'leader' && effect.type !== 'send' && effect.type !== 'checkpoint') continue;
    switch (effect.type) {
      case 'send':
        deps.port.send(effect.to, effect.msg);
        break;
      case 'timer':
        deps.port.setTimer(effect.name, effect.afterMs);
        break;
      case 'monitor':
        if ('node' in effect) deps.port.monitorNode(effect.node);
        else deps.port.monitorProcess(effect.process);
        break;
      case 'demonitor':
        if ('node' in effect) deps.port.demonitorNode(effect.node);
        else deps.port.demonitorProcess(effect.process);
        break;
      case 'append':
        deps.port.append(effect.command);
        break;
      case 'logRead':
        logRead(deps, effect, depth);
        break;
      case 'checkpoint':
        deps.checkpoint?.(effect.index, effect.state);
        break;
      case 'release_cursor':
        // The core turns release cursors into `snapshot` effects itself.
        break;
      default:
        assertNever(effect, 'unknown machine effect');
    }
  }
}

/** Reads the command entries asked for and runs what the machine's function returns. */
function logRead(deps: MachineEffectDeps, effect: Extract<MachineEffect, { type: 'logRead' }>, depth: number): void {
  if (depth >= MACHINE_EFFECT_DEPTH_MAX) {
    deps.warn(`a logRead effect nested ${depth} deep was dropped (at most ${MACHINE_EFFECT_DEPTH_MAX})`);
    return;
  }
  let indexes = effect.indexes;
  if (indexes.length > MACHINE_LOG_READ_ENTRIES_MAX) {
    deps.warn(`a logRead effect asked for ${indexes.length} entries; read the first ${MACHINE_LOG_READ_ENTRIES_MAX}`);
    indexes = indexes.slice(0, MACHINE_LOG_READ_ENTRIES_MAX);
  }
  const entries = readCommands(deps.log, indexes);
  let next: readonly MachineEffect[] | undefined;
  try {
    next = effect.onEntries(entries);
  } catch (err) {
    deps.warn(`a logRead effect's function threw: ${String(err)}`);
    return;
  }
  if (next !== undefined) run(deps, next, 'leader', depth + 1);
}

/** The command entries at `indexes` that the log still holds (not compacted into a snapshot). */
export function readCommands(log: LogReader, indexes: readonly number[]): ReadEntry[] {
  const floor = Math.max(log.snapshot()?.index ?? 0, log.first() - 1);
  const last = log.last().index;
  const out: ReadEntry[] = [];
  for (const index of indexes) {
    if (!Number.isInteger(index) || index <= floor || index > last) continue;
    const entry = log.entries(index, index)[0];
    if (entry?.payload.type === 'command') out.push({ index: entry.index, term: entry.term, command: entry.payload.command });
  }
  return out;
}
