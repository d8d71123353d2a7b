// Counters across real node processes: each process reads its own servers' counters
// and leaderboard without calling them, they move with commands and with the election
// after the leader's process is killed, and each node serves them on /metrics.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type KeyMetrics, type ServerId, fetchKeyMetrics, processCommand, startCluster } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, leaderOf, sameId, waitFor } from '../cluster/helpers.js';
import { PROBE_NAME, type ProbeRequest } from './metrics-probe.js';

const COUNTER_MODULE = new URL('../../../../tools/cluster/machines/counter.ts', import.meta.url).href;
const PROBE_MODULE = new URL('./metrics-probe.ts', import.meta.url).href;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [COUNTER_MODULE, PROBE_MODULE], tickMs: 100 });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

function ask<R>(node: string, request: ProbeRequest): Promise<R> {
  return cluster.control.call<R>({ name: PROBE_NAME, node }, request, { timeoutMs: 5_000 });
}

const metricsOf = (id: ServerId) => fetchKeyMetrics(id, { via: cluster.control });

describe('counters in node processes', () => {
  it('move with commands and elections, and are served on /metrics', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = cluster.serverIds('pm_');
    await startCluster(cluster.system, 'pm', 'counter', ids, { via: cluster.control });
    const leader = await leaderOf(ids, cluster.control);
    for (let i = 0; i < 10; i++) await processCommand(ids, { add: 1 }, { via: cluster.control });
    const onLeader = await metricsOf(leader);
    expect(onLeader.role).toBe('leader');
    expect(onLeader.commands).toBeGreaterThanOrEqual(10);
    expect(onLeader.messagesSent).toBeGreaterThan(0);
    for (const id of ids.filter((s) => !sameId(s, leader))) {
      // The leader commits with one follower: the other may still be writing.
      const m = await waitFor(`${id.name} to write the commands`, () => metricsOf(id), (k) => k.entriesWritten >= 10);
      expect(m.role).toBe('follower');
      expect(m.messagesReceived).toBeGreaterThan(0);
      expect(m.entriesWritten).toBeGreaterThanOrEqual(10);
      expect(await ask<ServerId | null>(id.node, { op: 'leader', cluster: 'pm' })).toEqual(leader);
    }
    expect((await ask<{ entries: number }>(leader.node, { op: 'wal' })).entries).toBeGreaterThanOrEqual(10);

    const text = await (await fetch(await ask<string>(leader.node, { op: 'url' }))).text();
    const commands = /^rafter_commands_total\{[^}]*\} (\d+)$/m.exec(text);
    expect(Number(commands?.[1])).toBeGreaterThanOrEqual(10);

    // The leader's process dies: a survivor is elected, and its counters and leaderboard say so.
    const survivors = ids.filter((s) => !sameId(s, leader));
    const before = new Map<string, KeyMetrics>();
    for (const id of survivors) before.set(id.name, await metricsOf(id));
    await cluster.kill(cluster.indexOf(leader.node));
    const after = await processCommand(survivors, { add: 1 }, { via: cluster.control, timeoutMs: 10_000 });
    const next = after.leader;
    const nextMetrics = await waitFor('the new leader to count the command', () => metricsOf(next), (m) => m.commands >= 1);
    expect(nextMetrics.role).toBe('leader');
    expect(nextMetrics.elections).toBeGreaterThan(before.get(next.name)?.elections ?? 0);
    expect(nextMetrics.leaderChanges).toBeGreaterThan(before.get(next.name)?.leaderChanges ?? 0);
    for (const id of survivors) expect(await ask<ServerId | null>(id.node, { op: 'leader', cluster: 'pm' })).toEqual(next);
  });
});
