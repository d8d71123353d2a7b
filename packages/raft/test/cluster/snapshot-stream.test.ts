// A large snapshot installed on a new member in another node process: the leader
// streams the file chunk by chunk, the follower writes each chunk to disk before it
// acknowledges it, and the member ends with the leader's exact state.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import { type ServerId, addMember, localQuery, processCommand, serverStatus, startCluster, startServer } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, waitFor } from './helpers.js';

const BLOB_MODULE = new URL('../../../../tools/cluster/machines/blob.ts', import.meta.url).href;
const STATE_MIB = 24;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [BLOB_MODULE], tickMs: 100, snapshotPolicy: { minIntervalMs: 0, minEntries: 1 } });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
}, CLUSTER_HOOK_TIMEOUT_MS);

/** The snapshot files under a node's data directory. */
function snapshotFiles(dataDir: string): { path: string; bytes: number }[] {
  const out: { path: string; bytes: number }[] = [];
  const servers = join(dataDir, 'log', 'servers');
  for (const uid of readdirSync(servers)) {
    const dir = join(servers, uid, 'snapshots');
    for (const name of readdirSync(dir)) out.push({ path: join(dir, name), bytes: statSync(join(dir, name)).size });
  }
  return out;
}

describe('a large snapshot streamed to a new member', () => {
  it('arrives whole on a member started in another process, in many chunks', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const all = cluster.serverIds('big_');
    const founders = all.slice(0, 2);
    const newcomer = all[2] as ServerId;
    await startCluster(cluster.system, 'big', 'blob', founders, { via });
    for (let i = 0; i < STATE_MIB / 4; i++) await processCommand(founders, { grow: 4 }, { via, timeoutMs: 20_000 });
    const { reply: releasedAt } = await processCommand<number>(founders, { release: true }, { via, timeoutMs: 20_000 });
    const leaderDigest = (await localQuery<number>(founders[0] as ServerId, 'digest', { via })).result;
    // Both founders drop their log below the snapshot: the newcomer can only get it whole.
    const snapName = `${String(releasedAt).padStart(16, '0')}.snap`;
    for (const node of cluster.nodes.slice(0, 2)) {
      await waitFor('the founders to snapshot', async () => snapshotFiles(node.dataDir), (files) => files.some((f) => f.path.endsWith(snapName)), 30_000);
    }

    await startServer(cluster.system, 'big', newcomer, 'blob', all, { via });
    await addMember(founders, newcomer, { via, timeoutMs: 20_000 });
    await waitFor('the new member to install the snapshot', () => serverStatus(newcomer, { via, timeoutMs: 2_000 }), (s) => s.lastApplied >= releasedAt, 60_000);

    // Its snapshot file is the leader's, byte for byte in size, and far larger than a chunk.
    const installed = snapshotFiles(cluster.nodes[2]!.dataDir).filter((f) => f.path.endsWith('.snap'));
    expect(installed.map((f) => f.path.slice(-snapName.length))).toEqual([snapName]);
    expect(installed[0]!.bytes).toBeGreaterThan(STATE_MIB * (1 << 20));
    expect(snapshotFiles(cluster.nodes[2]!.dataDir).some((f) => f.path.endsWith('.tmp'))).toBe(false);
    expect((await localQuery<number>(newcomer, 'bytes', { via })).result).toBe(STATE_MIB * (1 << 20));
    expect((await localQuery<number>(newcomer, 'digest', { via })).result).toBe(leaderDigest);

    // It takes part from there on: a command commits and it applies it.
    const { index } = await processCommand(all, { grow: 1 }, { via, timeoutMs: 20_000 });
    await waitFor('the new member to apply the next command', () => serverStatus(newcomer, { via }), (s) => s.lastApplied >= index, 20_000);
    expect((await localQuery<number>(newcomer, 'bytes', { via })).result).toBe((STATE_MIB + 1) * (1 << 20));
  });
});
