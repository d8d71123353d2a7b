// Disaster recovery across node processes: two of three nodes are killed for good, so the
// cluster has no quorum; forceShrinkMembersToCurrentMember makes the survivor the whole
// cluster, it leads alone and takes commands, and new members on a fresh node join it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type ServerId, addMember, forceShrinkMembersToCurrentMember, localQuery, members, membersInfo, processCommand, serverStatus, startCluster, startServer } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, codeOf, waitFor } from './helpers.js';

const OPS_MODULE = new URL('../../../../tools/cluster/machines/ops.ts', import.meta.url).href;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ nodes: 4, machineModules: [OPS_MODULE], tickMs: 100 });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

describe('a quorum lost for good', () => {
  it('the survivor shrunk to itself leads alone, takes commands, and grows again with new members', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const ids = [0, 1, 2].map((i) => cluster.serverId(`dr_${i + 1}`, i));
    await startCluster(cluster.system, 'dr', 'ops', ids, { via });
    for (let i = 0; i < 10; i++) await processCommand(ids, { add: 1 }, { via });
    const survivor = ids[0] as ServerId;

    await cluster.kill(1);
    await cluster.kill(2);
    // No quorum: a command cannot commit.
    const stuck = await processCommand(survivor, { add: 1 }, { via, timeoutMs: 1_500 }).catch((e: unknown) => e);
    expect(['RAFTER_TIMEOUT', 'RAFTER_NOT_LEADER', 'RAFTER_LEADERSHIP_LOST']).toContain(codeOf(stuck));

    await forceShrinkMembersToCurrentMember(survivor, { via });
    await waitFor('the survivor leading', () => serverStatus(survivor, { via }), (s) => s.role === 'leader');
    expect((await members(survivor, { via })).members).toEqual([survivor]);
    const after = await processCommand<{ total: number }>(survivor, { add: 1 }, { via });
    // Every acknowledged command is there; the one that timed out may have been applied too.
    expect([11, 12]).toContain(after.reply.total);

    // New members on a fresh node: started with the survivor as their cluster, then added.
    const fresh = [cluster.serverId('dr_4a', 3), cluster.serverId('dr_4b', 3)];
    let current: ServerId[] = [survivor];
    for (const id of fresh) {
      await startServer(cluster.system, 'dr', id, 'ops', [...current, id], { via });
      await addMember(survivor, id, { via, expectedMembers: current });
      current = [...current, id];
    }
    const grown = await processCommand<{ total: number }>(current, { add: 100 }, { via });
    for (const id of fresh) {
      const read = await localQuery<number>(id, 'total', { via, minIndex: grown.index });
      expect(read.result).toBe(grown.reply.total);
    }
    const info = await waitFor('every member matched', () => membersInfo(current, { via }), (v) => v.members.every((m) => m.matchIndex >= grown.index));
    expect(info.members.map((m) => m.id.name).sort()).toEqual(['dr_1', 'dr_4a', 'dr_4b']);
    expect(info.members.every((m) => m.live && m.membership === 'voter')).toBe(true);
  });
});
