// Applying committed entries to the machine, in order, and answering their callers.
// Only the leader replies and passes machine effects to the shell (as in Ra); every
// member handles release cursors, which become snapshots (snapshot.ts), and passes
// checkpoints on. A noop that raises the machine version switches `apply` from there.

import { assert, assertNever } from './assert.js';
import type { RaftMember } from './member.js';
import type { LogEntry } from './log.js';
import type { ApplyResult, MachineEffect } from './types.js';
import { MachineFailedError } from '../../errors.js';

/** Applies at most the step's budget (APPLY_BATCH_ENTRIES_MAX); more owes a `continue`. */
export function applyCommitted(core: RaftMember): void {
  const to = Math.min(core.commitIndex, core.log.last().index);
  if (core.lastApplied < to && !core.upgradeRequired && core.endOfLifeIndex === undefined) {
    const batchTo = Math.min(to, core.lastApplied + core.applyBudget);
    core.applyOwed = batchTo < to;
    const from = core.lastApplied + 1;
    const entries = core.log.entries(from, batchTo);
    if (entries.length !== batchTo - core.lastApplied) assert(false, () => `${core.key} term ${core.currentTerm}: log misses entries ${from}..${batchTo}`);
    core.applyBudget -= entries.length;
    for (const entry of entries) {
      if (!applyEntry(core, entry)) break;
    }
  }
  snapshotEveryN(core);
  // Configurations at or below the applied index are never truncated: keep the latest.
  core.cluster.compactTo(core.lastApplied);
}

/** snapshotEvery: a release cursor of our own at the applied index, every N entries, for machines that release none. */
function snapshotEveryN(core: RaftMember): void {
  if (core.snapshotEvery === 0 || core.machineReleasesCursor) return;
  const base = Math.max(core.log.snapshotIndex(), core.snapshotInFlight?.index ?? 0, core.pendingReleaseCursor?.index ?? 0);
  if (core.lastApplied - base < core.snapshotEvery) return;
  const members = core.cluster.at(core.lastApplied).members;
  core.pendingReleaseCursor = { index: core.lastApplied, state: core.machineState, machineVersion: core.machineVersion, members };
}

/** Returns false when applying must stop (a machine version this code cannot run). */
function applyEntry(core: RaftMember, entry: LogEntry): boolean {
  assert(entry.index === core.lastApplied + 1, () => `${core.key}: applying ${entry.index} after ${core.lastApplied}`);
  const payload = entry.payload;
  switch (payload.type) {
    case 'command': {
      const meta = { index: entry.index, term: entry.term, machineVersion: core.machineVersion, systemTime: payload.systemTime ?? 0 };
      let result: ApplyResult;
      try {
        result = core.machine.apply(meta, payload.command, core.machineState);
      } catch (error) {
        // Nothing of the entry took effect; the server stops, as a crashing Ra machine does.
        return core.stopWith(new MachineFailedError(core.id, entry.index, error));
      }
      core.machineState = result.state;
      core.lastApplied = entry.index;
      replyApplied(core, entry.index, entry.term, result.reply);
      for (const effect of result.effects ?? []) onMachineEffect(core, effect);
      return true;
    }
    case 'noop':
      if (payload.machineVersion > core.machine.version) {
        // Ra's rule: never run a machine version we don't have; wait for an upgrade.
        core.upgradeRequired = true;
        return false;
      }
      // Never backwards: a leader on older code (elected by transfer, or without
      // pre-vote) must not lower the version that upgraded members run.
      if (payload.machineVersion > core.machineVersion) return changeVersion(core, entry, payload.machineVersion);
      core.lastApplied = entry.index;
      return true;
    case 'cluster':
      core.lastApplied = entry.index;
      replyApplied(core, entry.index, entry.term, 'ok');
      return true;
    case 'delete_cluster':
      // Ra's virtual `eol` state: nothing after this entry is applied (ops.ts ends the member).
      core.lastApplied = entry.index;
      replyApplied(core, entry.index, entry.term, 'ok');
      core.endOfLifeIndex = entry.index;
      core.emit({ kind: 'endOfLife', machineState: core.machineState });
      return false;
    default:
      return assertNever(payload, `${core.key}: unknown entry`);
  }
}

/** From this entry on, the new version's apply runs; it first sees the change (Ra's `{machine_version, Old, New}`). */
function changeVersion(core: RaftMember, entry: LogEntry, to: number): boolean {
  const from = core.machineVersion;
  const versionChanged = core.machine.versionChanged;
  let result: ApplyResult | undefined;
  if (versionChanged !== undefined) {
    const meta = { index: entry.index, term: entry.term, machineVersion: to, systemTime: 0 };
    try {
      result = versionChanged.call(core.machine, meta, from, core.machineState);
    } catch (error) {
      return core.stopWith(new MachineFailedError(core.id, entry.index, error));
    }
  }
  core.machineVersion = to;
  core.lastApplied = entry.index;
  if (result === undefined) return true;
  core.machineState = result.state;
  for (const effect of result.effects ?? []) onMachineEffect(core, effect);
  return true;
}

function replyApplied(core: RaftMember, index: number, term: number, reply: unknown): void {
  if (core.role !== 'leader') return;
  const from = core.lead.takePending(index);
  if (from === undefined) return;
  core.reply(from, { type: 'ok', index, term, reply, leader: core.id });
}

function onMachineEffect(core: RaftMember, effect: MachineEffect): void {
  if (effect.type === 'release_cursor') {
    assert(effect.index <= core.lastApplied, () => `${core.key}: release cursor ${effect.index} past applied ${core.lastApplied}`);
    // The configuration is taken now: the history is compacted to the applied index.
    const members = core.cluster.at(effect.index).members;
    core.pendingReleaseCursor = { index: effect.index, state: effect.state, machineVersion: core.machineVersion, members };
    core.machineReleasesCursor = true;
    return;
  }
  // A checkpoint is every member's own (the shell's storage writes it); the rest are the leader's.
  if (effect.type === 'checkpoint') {
    assert(effect.index <= core.lastApplied, () => `${core.key}: checkpoint ${effect.index} past applied ${core.lastApplied}`);
    core.machineEffects.push(effect);
    return;
  }
  if (core.role === 'leader') core.machineEffects.push(effect);
}
