// fetchKeyMetrics across real node processes: the control node (no system of its own)
// reads each member's counters from its node's metrics actor, and gets typed errors for
// an unknown server or system on a live node, a node that does not answer in time, and
// a killed node.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { fetchKeyMetrics, processCommand, serverStatus, startCluster } from '../../src/index.js';
import { METRICS_ACTOR_NAME, type MetricsReply } from '../../src/metrics/metrics-actor.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, leaderOf, sameId, waitFor } from '../cluster/helpers.js';

const COUNTER_MODULE = new URL('../../../../tools/cluster/machines/counter.ts', import.meta.url).href;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [COUNTER_MODULE], tickMs: 100 });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

describe('the metrics actor, asked by a peer', () => {
  it('refuses a watch of another node\'s pid and a system that is not a name, and goes on answering', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const ids = cluster.serverIds('rw_');
    await startCluster(cluster.system, 'rw', 'counter', ids, { via });
    const target = ids[0] as (typeof ids)[number];
    const metrics = { name: METRICS_ACTOR_NAME, node: target.node };
    const stranger = via.spawn(async (ctx) => void (await ctx.receive()));
    const asks: unknown[] = [
      { op: 'watch', system: { key: 'any', incarnation: 'any' }, pid: stranger },
      { op: 'watch', system: 'not an identity', pid: { node: target.node } },
      { op: 'keyMetrics', server: target, system: 5 },
      { op: 'keyMetrics', server: 'not an id' },
      { op: 42 },
    ];
    for (const ask of asks) {
      expect(await via.call<MetricsReply>(metrics, ask)).toMatchObject({ ok: false, code: 'RAFTER_INVALID_ARGUMENT' });
    }
    expect((await fetchKeyMetrics(target, { via })).role).toMatch(/leader|follower/);
  });
});

describe('fetchKeyMetrics of a server on another node', () => {
  it('reads its counters there, and fails with typed errors for unknown servers and systems, a stopped and a killed node', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const ids = cluster.serverIds('rk_');
    await startCluster(cluster.system, 'rk', 'counter', ids, { via });
    const leader = await leaderOf(ids, via);
    for (let i = 0; i < 5; i++) await processCommand(leader, { add: 1 }, { via });

    const onLeader = await fetchKeyMetrics(leader, { via });
    expect(onLeader.role).toBe('leader');
    expect(onLeader.commands).toBeGreaterThanOrEqual(5);
    const status = await serverStatus(leader, { via });
    expect(onLeader.term).toBe(status.term);
    for (const id of ids.filter((s) => !sameId(s, leader))) {
      // The leader commits with one follower: the other may still be writing and applying.
      const m = await waitFor(`${id.name} to apply the commands`, () => fetchKeyMetrics(id, { via, system: cluster.system }), (k) => k.lastApplied >= 5);
      expect(m.role).toBe('follower');
      expect(m.commands).toBe(0);
      expect(m.entriesWritten).toBeGreaterThanOrEqual(5);
    }

    const live = ids[0]?.node as string;
    await expect(fetchKeyMetrics({ name: 'nobody', node: live }, { via })).rejects.toMatchObject({ code: 'RAFTER_UNKNOWN_SERVER' });
    await expect(fetchKeyMetrics({ name: 'rk_1', node: live }, { via, system: 'no_such_system' })).rejects.toMatchObject({ code: 'RAFTER_NO_SYSTEM' });
    // A node with no system at all has no metrics actor.
    await expect(fetchKeyMetrics({ name: 'rk_1', node: via.name }, { via })).rejects.toMatchObject({ code: 'RAFTER_NO_SYSTEM' });

    // A stopped (SIGSTOP) process answers nothing: the call ends at its timeout.
    const paused = ids[1] as (typeof ids)[number];
    cluster.pause(cluster.indexOf(paused.node));
    try {
      await expect(fetchKeyMetrics(paused, { via, timeoutMs: 300 })).rejects.toMatchObject({ code: 'RAFTER_TIMEOUT' });
    } finally {
      cluster.resume(cluster.indexOf(paused.node));
    }
    expect((await fetchKeyMetrics(paused, { via })).lastApplied).toBeGreaterThanOrEqual(5);

    const killed = ids[2] as (typeof ids)[number];
    await cluster.kill(cluster.indexOf(killed.node));
    await expect(fetchKeyMetrics(killed, { via })).rejects.toMatchObject({ code: 'RAFTER_NODEDOWN' });
  });
});
