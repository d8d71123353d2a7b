// Operations across real node processes: deleteCluster with a member whose node is down
// at deletion time (the leader waits for it, as Ra's terminating_leader does; once its
// node is back it applies the deletion too, and nothing comes back after node restarts),
// membersInfo's liveness, and the aux handler, conditional membership changes and
// low-priority commands on remote servers.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ActorContext } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type ServerId, addMember, auxCommand, castAux, deleteCluster, membersInfo, processCommand, serverStatus, startCluster } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, codeOf, leaderOf, sameId, waitFor } from './helpers.js';

const OPS_MODULE = new URL('../../../../tools/cluster/machines/ops.ts', import.meta.url).href;

let cluster: ProcessCluster;
const seen: unknown[] = [];
let watcher: ServerId;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [OPS_MODULE], tickMs: 100 });
  cluster.control.spawn(
    async (ctx: ActorContext) => {
      for (;;) seen.push(await ctx.receive());
    },
    undefined,
    { name: 'ops_watcher' },
  );
  watcher = { name: 'ops_watcher', node: cluster.control.name };
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

async function form(name: string): Promise<ServerId[]> {
  const ids = cluster.serverIds(`${name}_`);
  await startCluster(cluster.system, name, 'ops', ids, { via: cluster.control, machineConfig: { watcher } });
  return ids;
}

function eolsOf(prefix: string): string[] {
  return seen.filter((m) => (m as { type?: string }).type === 'eol' && (m as { me: string }).me.startsWith(prefix)).map((m) => (m as { me: string }).me);
}

/** NOPROC once the server is gone from its node (and its node is up). */
async function gone(server: ServerId): Promise<boolean> {
  return serverStatus(server, { via: cluster.control, timeoutMs: 1_000 }).then(
    () => false,
    (err: unknown) => codeOf(err) === 'RAFTER_NOPROC',
  );
}

function configsOn(index: number, prefix: string): string[] {
  const dir = join(cluster.nodes[index]!.dataDir, 'configs');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(prefix)) : [];
}

describe('deleteCluster across node processes', () => {
  it('a member down at deletion time applies it when its node is back; then every member is gone for good', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const ids = await form('del');
    for (let i = 0; i < 5; i++) await processCommand(ids, { add: 1 }, { via });
    const leader = await leaderOf(ids, via);
    const down = ids.find((id) => !sameId(id, leader)) as ServerId;
    const downIndex = cluster.indexOf(down.node);
    await cluster.kill(downIndex);

    // membersInfo, from the leader: the killed member is not live.
    const info = await membersInfo(ids, { via, liveTimeoutMs: 500 });
    expect(sameId(info.leader, leader)).toBe(true);
    for (const m of info.members) {
      expect(m.live).toBe(!sameId(m.id, down));
      expect(m.role).toBe(sameId(m.id, leader) ? 'leader' : 'follower');
    }

    await deleteCluster(ids, { via });
    const other = ids.find((id) => !sameId(id, leader) && !sameId(id, down)) as ServerId;
    await waitFor('the live follower deleted', () => gone(other), (v) => v, 20_000);
    expect(eolsOf('del_').sort()).toEqual([leader.name, other.name].sort());
    // The leader stays for the member that is down, taking no commands.
    const refused = await processCommand(leader, { add: 1 }, { via, timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(codeOf(refused)).toBe('RAFTER_CLUSTER_DELETED');
    expect((await serverStatus(leader, { via })).role).toBe('leader');

    // Its node back, the member restarts from its configuration, gets the entry and ends; so does the leader.
    await cluster.restart(downIndex);
    await waitFor('every member gone', async () => (await Promise.all(ids.map(gone))).every(Boolean), (v) => v, 30_000);
    expect(eolsOf('del_').sort()).toEqual(ids.map((id) => id.name).sort());
    for (let i = 0; i < 3; i++) expect(configsOn(i, 'del_')).toEqual([]);

    // Restarting every node brings none of them back.
    for (let i = 0; i < 3; i++) await cluster.restart(i);
    for (const id of ids) expect(await gone(id)).toBe(true);
  });
});

describe('operations on remote servers', () => {
  it('aux calls and casts, conditional membership changes and low-priority commands', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const ids = await form('remote');
    const target = ids[2] as ServerId;
    expect(await auxCommand(target, { op: 'count' }, { via })).toMatchObject({ name: target.name, calls: 1, kind: 'call' });
    castAux(target, { op: 'send', to: watcher, msg: { type: 'aux_remote', from: target.name } }, { via });
    await waitFor('the remote aux send', async () => seen.some((m) => (m as { type?: string }).type === 'aux_remote'), (v) => v);
    expect(await auxCommand(target, { op: 'count' }, { via })).toMatchObject({ calls: 3 });
    expect(codeOf(await auxCommand(target, { op: 'boom' }, { via }).catch((e: unknown) => e))).toBe('RAFTER_AUX_FAILED');

    const low = await processCommand<{ total: number }>(ids, { add: 7 }, { via, priority: 'low' });
    expect(low.reply.total).toBe(7);

    const stranger = { name: 'remote_x', node: cluster.nodes[0]!.fullName };
    const changed = await addMember(ids, { id: stranger, membership: 'non_voter' }, { via, expectedMembers: ids.slice(0, 2) }).catch((e: unknown) => e);
    expect(codeOf(changed)).toBe('RAFTER_PEERS_CHANGED');
  });
});
