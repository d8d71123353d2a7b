// Machine effects across real node processes: a machine watches a process and a node
// elsewhere; the leader's node is killed and, during the election that follows, so is
// the watched node. The new leader re-issues the monitors from stateEnter('leader') and
// the `{ down }` and `{ nodedown }` notices are applied through the log on the survivors;
// once the watched node is back and connected, `{ nodeup }` is. Timers, appends, log
// reads and the leader's clock work the same across processes.

import type { ActorContext } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fetched, VICTIM_NAME } from '../../../../tools/cluster/machines/effects.js';
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
    const killed = cluster.indexOf(oldLeader.node);
    await cluster.kill(killed);
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
    await cluster.restart(killed);
  });
});

describe('other leader effects across node processes', () => {
  it('a timer and an append go through the log on every node; a logRead result and ticks reach an actor on another node', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const ids = [0, 1, 2].map((i) => cluster.serverId(`oth_${i + 1}`, i));
    const via = cluster.control;
    await startCluster(cluster.system, 'oth', 'effects', ids, { via });
    const before = Date.now();
    const stamped = await processCommand<number>(ids, { stamp: true }, { via });
    // The leader's clock, in another process on this machine.
    expect(Math.abs(stamped.reply - before)).toBeLessThan(5_000);
    await processCommand(ids, { timer: 'soon', afterMs: 50 }, { via });
    await processCommand(ids, { propose: { note: 'appended' } }, { via });
    for (const id of ids) await waitFor(`timeout and note on ${id.name}`, () => events(id), (list) => list.includes('timeout:soon') && list.includes('note:appended'), 10_000);

    const got: unknown[] = [];
    const listener = via.spawn(async (ctx: ActorContext) => {
      for (;;) {
        const msg = await ctx.receive<{ type?: string }>();
        if (msg?.type === 'stop') return;
        got.push(msg);
      }
    });
    const stored = await processCommand<number>(ids, { store: 'blob' }, { via });
    await processCommand(ids, { fetch: listener }, { via });
    await processCommand(ids, { tickTo: listener }, { via });
    await waitFor('the fetched entries and a tick', async () => got, (list) => list.some((m) => (m as Fetched).type === 'fx_fetched') && list.some((m) => (m as { type: string }).type === 'fx_tick'));
    const fetched = got.find((m) => (m as Fetched).type === 'fx_fetched') as Fetched;
    expect(fetched.entries).toEqual([{ index: stored.index, command: { store: 'blob' } }]);
    via.send(listener, { type: 'stop' });
  });
});
