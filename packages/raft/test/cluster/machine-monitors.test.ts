// Machine monitors across real node processes: a machine watches a process and a node
// elsewhere; the leader's node is killed and, during the election that follows, so is
// the watched node. The new leader re-issues the monitors from stateEnter('leader') and
// the `{ down }` and `{ nodedown }` notices are applied through the log on the survivors;
// once the watched node is back and connected, `{ nodeup }` is.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VICTIM_NAME } from '../../../../tools/cluster/machines/effects.js';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type ServerId, localQuery, processCommand, startCluster } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, leaderOf, sameId, waitFor } from './helpers.js';

const EFFECTS_MODULE = new URL('../../../../tools/cluster/machines/effects.ts', import.meta.url).href;

let cluster: ProcessCluster;

beforeAll(async () => {
  // Members on the first three nodes; the fourth holds the watched process.
  cluster = await ProcessCluster.start({ nodes: 4, machineModules: [EFFECTS_MODULE], tickMs: 100 });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

function events(id: ServerId): Promise<string[]> {
  return localQuery<string[]>(id, 'events', { via: cluster.control, timeoutMs: 1_000 }).then((r) => r.result);
}

describe('machine monitors across node processes', () => {
  it('a process and a node killed during an election still become { down } and { nodedown } through the log, and { nodeup } on return', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = [0, 1, 2].map((i) => cluster.serverId(`mon_${i + 1}`, i));
    await startCluster(cluster.system, 'mon', 'effects', ids, { via: cluster.control });
    const watchedNode = (cluster.nodes[3] as { fullName: string }).fullName;
    await processCommand(ids, { watch: { name: VICTIM_NAME, node: watchedNode } }, { via: cluster.control });
    await processCommand(ids, { watchNode: watchedNode }, { via: cluster.control });
    expect(await events(ids[0] as ServerId)).toEqual([]);

    const oldLeader = await leaderOf(ids, cluster.control);
    await cluster.kill(cluster.indexOf(oldLeader.node));
    // The old leader is gone with its monitors; the watched node dies before a new leader is known.
    await cluster.kill(3);
    const survivors = ids.filter((id) => !sameId(id, oldLeader));
    const newLeader = await leaderOf(survivors, cluster.control, 20_000);
    expect(sameId(newLeader, oldLeader)).toBe(false);

    const down = `down:${VICTIM_NAME}@${watchedNode}:`;
    const nodedown = `nodedown:${watchedNode}`;
    for (const id of survivors) {
      const seen = await waitFor(`down and nodedown on ${id.name}`, () => events(id), (list) => list.some((e) => e.startsWith(down)) && list.includes(nodedown), 20_000);
      expect(seen.filter((e) => e.startsWith(down))).toHaveLength(1);
    }
    // Applied through the log: the survivors hold the same events in the same order.
    expect(await events(survivors[0] as ServerId)).toEqual(await events(survivors[1] as ServerId));

    // As in Erlang, nodeup comes when a connection to the node is made again: watching
    // its process again dials it.
    await cluster.restart(3);
    await processCommand(survivors, { watch: { name: VICTIM_NAME, node: watchedNode } }, { via: cluster.control });
    for (const id of survivors) await waitFor(`nodeup on ${id.name}`, () => events(id), (list) => list.includes(`nodeup:${watchedNode}`), 30_000);
  });
});
