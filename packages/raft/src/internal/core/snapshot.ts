// Snapshots: taken at the machine's release cursor once the entries are written, and
// sent to a follower that needs entries the leader no longer has, one chunk per round
// trip. The shell reads and writes chunk data; the core only paces the transfer.

import { assert } from './assert.js';
import { sameServer, serverKey } from './cluster.js';
import { resendFrom } from './inflight.js';
import type { RaftMember } from './member.js';
import type { ServerId, SnapshotMeta } from './log.js';
import type { Peer } from './state.js';
import type { InstallSnapshot, InstallSnapshotReply } from './types.js';

function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term;
}

/** Snapshot at the release cursor once it is written locally; the shell truncates the log. */
export function trySnapshot(core: RaftMember): void {
  const cursor = core.pendingReleaseCursor;
  if (cursor === undefined || core.snapshotInFlight !== undefined) return;
  if (cursor.index <= core.log.snapshotIndex()) {
    core.pendingReleaseCursor = undefined;
    return;
  }
  // Only entries the shell has written may be folded into a snapshot; the view knows
  // when this very step overwrote written entries.
  if (cursor.index > core.log.lastWritten().index) return;
  const term = core.log.termAt(cursor.index);
  assert(term !== undefined, () => `${core.key} term ${core.currentTerm}: no term at release cursor ${cursor.index}`);
  const meta: SnapshotMeta = {
    index: cursor.index,
    term,
    members: cursor.members,
    machineVersion: cursor.machineVersion,
  };
  core.pendingReleaseCursor = undefined;
  core.snapshotInFlight = meta;
  core.emit({ kind: 'snapshot', meta, machineState: cursor.state });
}

/** Storage wrote (or declined) our snapshot: a later release cursor may now be taken. */
export function onSnapshotWritten(core: RaftMember, meta: SnapshotMeta, outcome: 'written' | 'declined'): void {
  const inFlight = core.snapshotInFlight;
  if (inFlight === undefined || !sameMeta(inFlight, meta)) return;
  core.snapshotInFlight = undefined;
  if (outcome === 'declined') core.snapshotsDeclined += 1;
}

export function startSnapshot(core: RaftMember, peer: Peer): void {
  const meta = core.log.snapshot();
  assert(meta !== undefined, () => `${core.key} term ${core.currentTerm}: ${peer.id.name} needs ${peer.nextIndex} below a missing snapshot`);
  peer.snapshot = { meta, chunkIndex: 0 };
  core.emit({ kind: 'sendSnapshotChunk', to: peer.id, term: core.currentTerm, meta, chunkIndex: 0 });
}

export function resendSnapshotChunk(core: RaftMember, peer: Peer): void {
  const transfer = peer.snapshot;
  assert(transfer !== undefined, () => `${core.key}: no snapshot transfer to ${peer.id.name}`);
  const current = core.log.snapshot();
  if (current !== undefined && !sameMeta(current, transfer.meta)) return startSnapshot(core, peer);
  core.emit({ kind: 'sendSnapshotChunk', to: peer.id, term: core.currentTerm, meta: transfer.meta, chunkIndex: transfer.chunkIndex });
}

export function onInstallSnapshotReply(core: RaftMember, from: ServerId, msg: InstallSnapshotReply): void {
  const peer = core.lead.peers.get(serverKey(from));
  if (peer === undefined || peer.snapshot === undefined) return;
  if (msg.done) {
    peer.snapshot = undefined;
    peer.matchIndex = Math.max(peer.matchIndex, msg.lastIndex);
    resendFrom(peer, peer.matchIndex + 1);
    peer.rewoundTo = -1;
    return;
  }
  if (msg.chunkIndex < 0) return startSnapshot(core, peer);
  if (msg.chunkIndex !== peer.snapshot.chunkIndex) return;
  peer.snapshot.chunkIndex += 1;
  resendSnapshotChunk(core, peer);
}

export function onInstallSnapshot(core: RaftMember, from: ServerId, msg: InstallSnapshot): void {
  const reply = (chunkIndex: number, done: boolean, lastIndex: number): void =>
    core.send(from, { type: 'install_snapshot_reply', term: core.currentTerm, chunkIndex, done, lastIndex, lastTerm: core.log.termAt(lastIndex) ?? 0 });
  if (msg.term < core.currentTerm) return reply(-1, false, 0);
  if (core.role === 'leader' || core.role === 'await_condition') return core.invalid(from, msg, `snapshot from ${msg.leaderId.name} while we lead this term`);
  if (core.role !== 'receive_snapshot' || !sameServer(core.leaderId, msg.leaderId)) core.becomeFollower(msg.term, msg.leaderId);
  if (msg.meta.index <= core.commitIndex) {
    // We hold everything it covers already: let the leader resume from what we have written.
    core.receiving = undefined;
    if (core.role === 'receive_snapshot') core.setRole('follower', msg.leaderId);
    return reply(msg.chunkIndex, true, Math.min(core.commitIndex, core.log.lastWritten().index));
  }
  if (msg.chunkIndex === 0 && (core.receiving === undefined || !sameMeta(core.receiving.meta, msg.meta))) {
    core.receiving = { meta: msg.meta, nextChunk: 0, installing: false };
    core.setRole('receive_snapshot', msg.leaderId);
  }
  const receiving = core.receiving;
  if (receiving === undefined || !sameMeta(receiving.meta, msg.meta)) return reply(-1, false, 0);
  if (receiving.installing || msg.chunkIndex > receiving.nextChunk) return;
  if (msg.chunkIndex < receiving.nextChunk) return reply(msg.chunkIndex, false, 0);
  core.emit({ kind: 'writeSnapshotChunk', meta: msg.meta, chunkIndex: msg.chunkIndex, data: msg.data });
  receiving.nextChunk += 1;
  if (!msg.last) return reply(msg.chunkIndex, false, 0);
  receiving.installing = true;
  core.emit({ kind: 'installSnapshot', meta: msg.meta });
}

/** The shell installed the snapshot: adopt its state, then tell the leader. */
export function onSnapshotInstalled(core: RaftMember, meta: SnapshotMeta, machineState: unknown): void {
  const receiving = core.receiving;
  assert(receiving !== undefined && receiving.installing, () => `${core.key} term ${core.currentTerm}: snapshot ${meta.index} installed unasked`);
  assert(sameMeta(receiving.meta, meta), () => `${core.key} term ${core.currentTerm}: installed ${meta.index} but asked for ${receiving.meta.index}`);
  assert(meta.index > core.commitIndex, () => `${core.key} term ${core.currentTerm}: snapshot ${meta.index} at or below commit ${core.commitIndex}`);
  core.machineState = machineState;
  core.machineVersion = meta.machineVersion;
  core.upgradeRequired = meta.machineVersion > core.machine.version;
  core.commitIndex = meta.index;
  core.lastApplied = meta.index;
  core.validatedIndex = meta.index;
  core.pendingReleaseCursor = undefined;
  core.cluster.reset({ index: meta.index, members: meta.members });
  core.rebuildClusterAfter(meta.index);
  core.receiving = undefined;
  const leader = core.leaderId;
  core.setRole('follower', leader);
  if (leader !== undefined) {
    core.send(leader, { type: 'install_snapshot_reply', term: core.currentTerm, chunkIndex: -1, done: true, lastIndex: meta.index, lastTerm: meta.term });
  }
}
