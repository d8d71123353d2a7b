// Many clusters on three node processes: a thousand clusters of three start in batches
// and all elect a leader; idle, they send nothing between nodes and take no tick (read
// from the directories' counters and the distribution's, not by calling servers); a
// node killed and restarted brings all its servers back, and every cluster leads again.

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { SCALE_AGENT_NAME, type ScaleAgentRequest, type ScaleStats } from '../../../../tools/cluster/scale-agent.js';
import { type ClusterSpec, type ServerId, startClusters } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, waitFor } from './helpers.js';

const AGENT_MODULE = new URL('../../../../tools/cluster/scale-agent.ts', import.meta.url).href;
const CLUSTERS = 1_000;
const TICK_MS = 100;

let cluster: ProcessCluster;

let dataRoot: string;

beforeAll(async () => {
  dataRoot = mkdtempSync(join(tmpdir(), 'rafter-scale-'));
  cluster = await ProcessCluster.start({ nodes: 3, machineModules: [AGENT_MODULE], tickMs: TICK_MS, dataRoot });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  // kill -9 rather than a clean stop of 3,000 servers, and the 12,000 directories they
  // leave are removed in the background: on a busy disk that takes tens of seconds.
  for (let i = 0; i < (cluster?.nodes.length ?? 0); i++) await cluster.kill(i);
  await cluster?.stop();
  if (dataRoot !== undefined) spawn('rm', ['-rf', dataRoot], { detached: true, stdio: 'ignore' }).unref();
}, CLUSTER_HOOK_TIMEOUT_MS);

function stats(index: number): Promise<ScaleStats> {
  return cluster.control.call<ScaleStats>({ name: SCALE_AGENT_NAME, node: cluster.nodes[index]!.fullName }, { op: 'stats' } satisfies ScaleAgentRequest, { timeoutMs: 10_000 });
}

function allStats(): Promise<ScaleStats[]> {
  return Promise.all(cluster.nodes.map((_, i) => stats(i)));
}

/** Raft messages and signals between the nodes so far, summed over the nodes. */
function traffic(all: readonly ScaleStats[]): number {
  return all.reduce((n, s) => n + s.messagesSent + s.messagesReceived + s.peerSignalsSent + s.peerSignalsReceived, 0);
}

describe('a thousand clusters of three on three nodes', () => {
  it('start in batches and elect, stay quiet when idle, and come back after a node restart', { timeout: 120_000 }, async () => {
    const specs: ClusterSpec[] = [];
    for (let i = 0; i < CLUSTERS; i++) {
      const servers: ServerId[] = cluster.nodes.map((_, n) => cluster.serverId(`s${i}_${n + 1}`, n));
      specs.push({ clusterName: `s${i}`, machine: 'tiny', servers, electFirst: servers[i % servers.length]! });
    }
    const started = await startClusters(cluster.system, specs, { via: cluster.control, timeoutMs: 60_000 });
    expect(started.filter((c) => c.leader === undefined).map((c) => String(c.error))).toEqual([]);
    expect((await allStats()).reduce((n, s) => n + s.servers, 0)).toBe(3 * CLUSTERS);

    // Settled: the last commit indexes have reached the followers, the applied indexes are
    // stored. Between two looks a system tick passed on every node, and in that time no
    // message went and no server took a tick (storing an applied index sends nothing).
    let previous: ScaleStats[] | undefined;
    await waitFor(
      'the clusters to settle',
      async () => {
        const all = await allStats();
        const last = previous;
        previous = all;
        if (last === undefined || !all.every((s, i) => s.systemTicks > last[i]!.systemTicks)) return false;
        const ticked = all.some((s, i) => s.ticksDelivered !== last[i]!.ticksDelivered);
        return traffic(all) === traffic(last) && !ticked && all.every((s) => s.withLeader === CLUSTERS);
      },
      (settled) => settled,
      30_000,
    );
    // Idle for at least ten system ticks: no Raft message, no signal between the nodes
    // (failure-detector heartbeats are not signals), and no server wanted a tick.
    const before = await allStats();
    const after = await waitFor('ten system ticks', allStats, (all) => all.every((s, i) => s.systemTicks >= before[i]!.systemTicks + 10), 30_000);
    expect(traffic(after)).toBe(traffic(before));
    expect(after.map((s, i) => s.ticksDelivered - before[i]!.ticksDelivered)).toEqual([0, 0, 0]);

    // kill -9 of node 1 and a restart: all its servers come back, and every cluster leads again.
    await cluster.restart(0);
    const back = await waitFor(
      'every cluster to have a leader after the restart',
      allStats,
      (all) => all[0]!.servers === CLUSTERS && all.reduce((n, s) => n + s.leaders, 0) === CLUSTERS && all.every((s) => s.withLeader === CLUSTERS),
      60_000,
    );
    expect(back[0]!.servers).toBe(CLUSTERS);
  });
});
