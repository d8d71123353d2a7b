// Raft servers in real node processes survive kill -9: of the leader's node (a new
// leader commits through a survivor), of a follower far behind (it catches up by log,
// or by snapshot when the leader has compacted past it), and of every node at once
// (no acknowledged command is lost).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type ServerId, consistentQuery, leaderQuery, localQuery, processCommand, restartServer, startCluster, stopServer } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, RECORDER_MODULE, leaderOf, sameId, waitFor } from './helpers.js';

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [RECORDER_MODULE], tickMs: 100, snapshotPolicy: { minIntervalMs: 0, minEntries: 20 } });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

async function form(name: string, machineConfig?: unknown): Promise<ServerId[]> {
  const ids = cluster.serverIds(`${name}_`);
  await startCluster(cluster.system, name, 'recorder', ids, { via: cluster.control, ...(machineConfig !== undefined ? { machineConfig } : {}) });
  return ids;
}

/** Commands `${prefix}${from}` .. `${prefix}${to - 1}`, one at a time, through any member; returns the acknowledged ids. */
async function commands(ids: readonly ServerId[], prefix: string, from: number, to: number): Promise<string[]> {
  const acked: string[] = [];
  for (let i = from; i < to; i++) {
    const id = `${prefix}${i}`;
    const { reply } = await processCommand<number>(ids, { id }, { via: cluster.control, timeoutMs: 10_000 });
    expect(reply).toBe(1);
    acked.push(id);
  }
  return acked;
}

function localApplied(server: ServerId): Promise<number> {
  return localQuery<number>(server, 'applied', { via: cluster.control, timeoutMs: 1_000 }).then((r) => r.result);
}

describe('kill -9 of node processes', () => {
  it('a new leader takes over when the leader is killed, and the killed member catches up by log after its restart', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = await form('fo_log');
    await commands(ids, 'a', 0, 20);
    const oldLeader = await leaderOf(ids, cluster.control);
    const killed = cluster.indexOf(oldLeader.node);
    await cluster.kill(killed);

    const survivors = ids.filter((s) => !sameId(s, oldLeader));
    const started = Date.now();
    const after = await processCommand<number>(survivors, { id: 'b0' }, { via: cluster.control, timeoutMs: 10_000 });
    const failoverMs = Date.now() - started;
    expect(after.reply).toBe(1);
    expect(sameId(after.leader, oldLeader)).toBe(false);
    expect(survivors.some((s) => sameId(s, after.leader))).toBe(true);
    await commands(survivors, 'b', 1, 10);

    await cluster.restart(killed);
    const leaderApplied = (await leaderQuery<number>(ids, 'applied', { via: cluster.control })).result;
    expect(leaderApplied).toBe(30);
    await waitFor('the restarted member to apply what the leader applied', () => localApplied(oldLeader), (n) => n === leaderApplied);
    const counts = (await localQuery<Record<string, number>>(oldLeader, 'counts', { via: cluster.control })).result;
    expect(Object.values(counts).every((n) => n === 1)).toBe(true);
    // Its state came from its own log (its own lineage), not from a snapshot.
    expect((await localQuery<string>(oldLeader, 'origin', { via: cluster.control })).result).toBe(oldLeader.name);
    console.info(`failover: first command through a survivor after kill -9 of the leader's node took ${failoverMs} ms`);
  });

  it('a member far behind catches up by snapshot once the leader has compacted past it', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = await form('fo_snap', { releaseEvery: 20 });
    await commands(ids, 'a', 0, 5);
    const leader = await leaderOf(ids, cluster.control);
    const behind = ids.find((s) => !sameId(s, leader)) as ServerId;
    const killed = cluster.indexOf(behind.node);
    await cluster.kill(killed);
    const survivors = ids.filter((s) => !sameId(s, behind));
    await commands(survivors, 'b', 0, 95);

    await cluster.restart(killed);
    await waitFor('the restarted member to reach the leader applied state', () => localApplied(behind), (n) => n === 100);
    // A state begun by another member's init came in a snapshot.
    const origin = (await localQuery<string>(behind, 'origin', { via: cluster.control })).result;
    expect(origin).not.toBe(behind.name);
    const counts = (await localQuery<Record<string, number>>(behind, 'counts', { via: cluster.control })).result;
    expect(Object.keys(counts)).toHaveLength(100);
    expect(Object.values(counts).every((n) => n === 1)).toBe(true);
    // It takes part again: a command commits with it as one of a quorum of two.
    const other = survivors.find((s) => !sameId(s, leader)) as ServerId;
    await stopServer(cluster.system, other, { via: cluster.control });
    const next = await processCommand<number>(ids, { id: 'c0' }, { via: cluster.control, timeoutMs: 10_000 });
    expect(next.reply).toBe(1);
    await restartServer(cluster.system, other, { via: cluster.control });
  });

  it('a hung leader (SIGSTOP): a command given every member commits through the new leader within its timeout', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = await form('fo_pause');
    await commands(ids, 'a', 0, 5);
    const leader = await leaderOf(ids, cluster.control);
    const paused = cluster.indexOf(leader.node);
    cluster.pause(paused);
    try {
      // The hung leader first in the list: it must not take the whole timeout.
      const order = [leader, ...ids.filter((s) => !sameId(s, leader))];
      const result = await processCommand<number>(order, { id: 'b0' }, { via: cluster.control, timeoutMs: 8_000 });
      expect(result.reply).toBe(1);
      expect(sameId(result.leader, leader)).toBe(false);
    } finally {
      cluster.resume(paused);
    }
    // Back, the old leader learns of the new term and applies what it missed. The command
    // it found in its mailbox was tried again elsewhere: it must not apply twice.
    const read = await consistentQuery<Record<string, number>>(ids, 'counts', { via: cluster.control });
    expect(read.result['b0']).toBe(1);
    expect(Object.keys(read.result)).toHaveLength(6);
    await waitFor('the resumed member to catch up', () => localApplied(leader), (n) => n === 6);
    const next = await processCommand<number>(ids, { id: 'b1' }, { via: cluster.control, timeoutMs: 8_000 });
    const counts = (await localQuery<Record<string, number>>(leader, 'counts', { via: cluster.control, minIndex: next.index })).result;
    expect(Object.values(counts).every((n) => n === 1)).toBe(true);
    expect(Object.keys(counts)).toHaveLength(7);
  });

  it('a full-cluster kill -9 and restart keeps every acknowledged command', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = await form('fo_all');
    const acked = await commands(ids, 'a', 0, 40);
    await Promise.all(cluster.nodes.map((n) => cluster.kill(n.index)));
    await Promise.all(cluster.nodes.map((n) => cluster.restart(n.index)));
    const read = await waitFor('a consistent read after the restart', () => consistentQuery<Record<string, number>>(ids, 'counts', { via: cluster.control, timeoutMs: 2_000 }), () => true, 15_000);
    for (const id of acked) expect(read.result[id]).toBe(1);
    expect(Object.keys(read.result)).toHaveLength(acked.length);
    const more = await processCommand<number>(ids, { id: 'b0' }, { via: cluster.control, timeoutMs: 10_000 });
    expect(more.reply).toBe(1);
  });
});
