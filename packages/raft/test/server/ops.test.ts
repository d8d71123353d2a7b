// Operations on one node (three members): deleteCluster removes every member and its
// data for good, the machine's aux handler answers calls and casts, membersInfo shows
// the leader's view, membership changes check the expected members, low-priority
// commands go through the public API, and a forced shrink leaves one member leading.

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ActorContext, Node, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import '../../../../tools/cluster/machines/ops.js';
import {
  type PipelineEvent,
  type RaftSystem,
  type ServerId,
  RafterError,
  addMember,
  auxCommand,
  castAux,
  deleteCluster,
  forceShrinkMembersToCurrentMember,
  localQuery,
  members,
  membersInfo,
  pipelineCommand,
  processCommand,
  removeMember,
  startCluster,
  startServer,
  startSystem,
  stopServer,
} from '../../src/index.js';
import { localSystem } from '../../src/system/system.js';
import { waitFor } from '../cluster/helpers.js';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

interface Started {
  node: Node;
  system: RaftSystem;
  ids: ServerId[];
  dir: string;
  /** Messages the watcher actor received (stateEnter('eol') reports, aux sends). */
  seen: unknown[];
  watcher: ServerId;
}

async function start(clusterName: string): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-ops-'));
  const node = await Node.start({ name: 'ops', dirtyThreads: 1, logger: silentLogger });
  const system = await startSystem(node, { name: 'ops', dataDir: dir, tickMs: 50, snapshotPolicy: { minIntervalMs: 0, minEntries: 1 } });
  let current = system;
  cleanup.push(async () => {
    await current.stop().catch(() => undefined);
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const seen: unknown[] = [];
  node.spawn(
    async (ctx: ActorContext) => {
      for (;;) seen.push(await ctx.receive());
    },
    undefined,
    { name: 'watcher' },
  );
  const watcher = { name: 'watcher', node: node.name };
  const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
  await startCluster(system, clusterName, 'ops', ids, { via: node, machineConfig: { watcher } });
  const started: Started = { node, system, ids, dir, seen, watcher };
  // The test may restart the system: cleanup stops whichever runs last.
  Object.defineProperty(started, 'system', { get: () => current, set: (s: RaftSystem) => (current = s) });
  return started;
}

function codeOf(err: unknown): string | undefined {
  return err instanceof RafterError ? err.code : undefined;
}

describe('deleteCluster', () => {
  it('every member calls eol, deletes its log, meta and configuration, and stays gone after a restart of the node', async () => {
    const s = await start('del1');
    const { node, ids } = s;
    for (let i = 0; i < 5; i++) await processCommand(ids, { add: 2 }, { via: node });
    const uids = ids.map((id) => localSystem('ops')?.configs.get(id.name)?.uid);
    expect(uids.every((u) => u !== undefined)).toBe(true);
    const serversDir = join(s.dir, 'log', 'servers');
    expect(readdirSync(serversDir).length).toBeGreaterThanOrEqual(3);

    const { leader } = await deleteCluster(ids, { via: node });
    expect(ids.some((id) => id.name === leader.name)).toBe(true);
    const eols = await waitFor('three eol reports', async () => s.seen.filter((m) => (m as { type?: string }).type === 'eol'), (m) => m.length === 3);
    expect(eols.map((m) => (m as { me: string }).me).sort()).toEqual(['a', 'b', 'c']);
    expect(eols.every((m) => (m as { total: number }).total === 10)).toBe(true);

    await waitFor(
      'names, directory entries, configurations and logs gone',
      async () => ({
        names: ids.filter((id) => node.whereis(id.name) !== undefined).length,
        directory: ids.filter((id) => localSystem('ops')?.directory.has(id.name)).length,
        configs: readdirSync(join(s.dir, 'configs')).length,
        logs: uids.filter((uid) => readdirSync(serversDir).some((f) => f.includes(uid as string))).length,
      }),
      (v) => v.names === 0 && v.directory === 0 && v.configs === 0 && v.logs === 0,
    );
    await expect(processCommand(ids, { add: 1 }, { via: node, timeoutMs: 500 })).rejects.toSatisfy((e) => codeOf(e) === 'RAFTER_NOPROC' || codeOf(e) === 'RAFTER_TIMEOUT');

    // A restart of the system brings nothing back.
    await s.system.stop();
    const again = await startSystem(node, { name: 'ops', dataDir: s.dir, tickMs: 50 });
    s.system = again;
    expect(again.restartFailures.size).toBe(0);
    expect(ids.filter((id) => node.whereis(id.name) !== undefined)).toEqual([]);
    expect(localSystem('ops')?.configs.size).toBe(0);
  });

  it('refuses commands once the deletion is under way', async () => {
    const s = await start('del2');
    const { node, ids } = s;
    // A follower is down: the entry commits, and the leader waits for that follower.
    const { leader } = await members(ids, { via: node });
    const followers = ids.filter((id) => id.name !== leader?.name);
    await stopServer(s.system, followers[0] as ServerId, { via: node });
    const deletion = deleteCluster(ids, { via: node, timeoutMs: 2_000 });
    await expect(deletion).resolves.toBeDefined();
    const err = await processCommand(leader as ServerId, { add: 1 }, { via: node, timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('RAFTER_CLUSTER_DELETED');
    expect(node.whereis((leader as ServerId).name)).toBeDefined();
  });
});

describe('the aux handler', () => {
  it('answers calls with its own state per server, reads the machine state and the log, and compacts', async () => {
    const s = await start('aux1');
    const { node, ids } = s;
    const a = ids[0] as ServerId;
    for (let i = 1; i <= 4; i++) await processCommand(ids, { add: i }, { via: node });
    expect(await auxCommand(a, { op: 'count' }, { via: node })).toMatchObject({ name: 'a', calls: 1, kind: 'call' });
    expect(await auxCommand(a, { op: 'count' }, { via: node })).toMatchObject({ calls: 2 });
    expect(await auxCommand(ids[1] as ServerId, { op: 'count' }, { via: node })).toMatchObject({ name: 'b', calls: 1 });

    const { index } = await processCommand<{ index: number }>(ids, { add: 0 }, { via: node });
    await localQuery(a, 'total', { via: node, minIndex: index });
    const st = await auxCommand<{ total: number; lastApplied: number; firstIndex: number }>(a, { op: 'state' }, { via: node });
    expect(st.total).toBe(10);
    expect(st.lastApplied).toBeGreaterThanOrEqual(index);
    expect(st.firstIndex).toBe(1);

    const read = await auxCommand<Array<{ index: number; type: string; command: unknown }>>(a, { op: 'read', from: 0, to: index }, { via: node });
    expect(read[0]?.index).toBe(1);
    expect(read.filter((e) => e.type === 'command').map((e) => e.command)).toEqual([{ add: 1 }, { add: 2 }, { add: 3 }, { add: 4 }, { add: 0 }]);

    const compactedAt = await auxCommand<number>(a, { op: 'compact' }, { via: node });
    const after = await waitFor('the log truncated by the snapshot', () => auxCommand<{ firstIndex: number }>(a, { op: 'state' }, { via: node }), (v) => v.firstIndex === compactedAt + 1);
    expect(after.firstIndex).toBe(compactedAt + 1);
    // Entries in the snapshot are no longer readable: the read starts after it.
    const rest = await auxCommand<Array<{ index: number }>>(a, { op: 'read', from: 1, to: index + 10 }, { via: node });
    expect(rest.every((e) => e.index > compactedAt)).toBe(true);
  });

  it('runs casts and their effects, and a throwing handler fails the call without stopping the server', async () => {
    const s = await start('aux2');
    const { node, ids, watcher } = s;
    const b = ids[1] as ServerId;
    castAux(b, { op: 'send', to: watcher, msg: { type: 'from_aux' } }, { via: node });
    await waitFor('the aux send', async () => s.seen.some((m) => (m as { type?: string }).type === 'from_aux'), (v) => v);
    const err = await auxCommand(b, { op: 'boom' }, { via: node }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('RAFTER_AUX_FAILED');
    // The cast counted (aux state kept), the throw did not.
    expect(await auxCommand(b, { op: 'count' }, { via: node })).toMatchObject({ calls: 2 });
    await expect(processCommand(ids, { add: 1 }, { via: node })).resolves.toBeDefined();
  });
});

describe('membersInfo and conditional membership changes', () => {
  it('reports each member from the leader with role, membership, match index and liveness', async () => {
    const s = await start('info1');
    const { node, ids } = s;
    const { index, leader } = await processCommand(ids, { add: 1 }, { via: node });
    const info = await waitFor('every member matched', () => membersInfo(ids, { via: node }), (v) => v.members.every((m) => m.matchIndex >= index));
    expect(info.leader.name).toBe(leader.name);
    expect(info.members.map((m) => m.id.name).sort()).toEqual(['a', 'b', 'c']);
    for (const m of info.members) {
      expect(m.role).toBe(m.id.name === leader.name ? 'leader' : 'follower');
      expect(m.membership).toBe('voter');
      expect(m.live).toBe(true);
    }
    const follower = ids.find((id) => id.name !== leader.name) as ServerId;
    await stopServer(s.system, follower, { via: node });
    const later = await membersInfo(ids, { via: node, liveTimeoutMs: 300 });
    expect(later.members.find((m) => m.id.name === follower.name)?.live).toBe(false);
    expect(later.members.filter((m) => m.live)).toHaveLength(2);
  });

  it('adds or removes a member only if the members are the expected ones (RAFTER_PEERS_CHANGED otherwise)', async () => {
    const s = await start('peers1');
    const { node, ids } = s;
    const d = { name: 'd', node: node.name };
    const stale = await addMember(ids, { id: d, membership: 'non_voter' }, { via: node, expectedMembers: [ids[0] as ServerId, ids[1] as ServerId] }).catch((e: unknown) => e);
    expect(codeOf(stale)).toBe('RAFTER_PEERS_CHANGED');
    expect((await members(ids, { via: node })).members).toHaveLength(3);
    await startServer(s.system, 'peers1', d, 'ops', [...ids, d], { via: node, membership: 'non_voter', machineConfig: { watcher: s.watcher } });
    await addMember(ids, { id: d, membership: 'non_voter' }, { via: node, expectedMembers: [...ids].reverse() });
    const info = await membersInfo(ids, { via: node });
    expect(info.members.find((m) => m.id.name === 'd')?.membership).toBe('non_voter');
    const wrong = await removeMember(ids, d, { via: node, expectedMembers: ids }).catch((e: unknown) => e);
    expect(codeOf(wrong)).toBe('RAFTER_PEERS_CHANGED');
    await removeMember(ids, d, { via: node, expectedMembers: [...ids, d] });
    expect((await members(ids, { via: node })).members.map((m) => m.name).sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('low-priority commands', () => {
  it('processCommand with priority low is applied and answered', async () => {
    const s = await start('low1');
    const { node, ids } = s;
    const low = await processCommand<{ total: number }>(ids, { add: 5 }, { via: node, priority: 'low' });
    expect(low.reply.total).toBe(5);
    const err = await processCommand(ids, { add: 1 }, { via: node, priority: 'urgent' as 'low' }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('RAFTER_INVALID_ARGUMENT');
  });

  it('pipelined in one batch, normal commands are appended before the low-priority ones sent earlier', async () => {
    const s = await start('low2');
    const { node, ids } = s;
    const { leader } = await processCommand(ids, { add: 0 }, { via: node });
    const replies = new Map<string, { index: number }>();
    await new Promise<void>((done) => {
      node.spawn(async (ctx: ActorContext) => {
        // One turn: all six reach the leader's mailbox before its flush, as one batch.
        for (const n of [1, 2, 3]) pipelineCommand(ctx, leader, { add: n }, `low${n}`, 'low');
        for (const n of [1, 2, 3]) pipelineCommand(ctx, leader, { add: n }, `normal${n}`);
        while (replies.size < 6) {
          const msg = await ctx.receive<PipelineEvent>((m: { type?: string }) => m.type === 'raft_event', 5_000);
          if (msg?.event.type === 'applied') for (const [corr, reply] of msg.event.replies) replies.set(corr as string, reply as { index: number });
        }
        done();
      });
    });
    const normal = [1, 2, 3].map((n) => replies.get(`normal${n}`)?.index ?? 0);
    const low = [1, 2, 3].map((n) => replies.get(`low${n}`)?.index ?? 0);
    expect(Math.max(...normal)).toBeLessThan(Math.min(...low));
  });
});

describe('forceShrinkMembersToCurrentMember', () => {
  it('leaves the one member leading alone when the others are gone', async () => {
    const s = await start('shrink1');
    const { node, ids } = s;
    await processCommand(ids, { add: 3 }, { via: node });
    const [a, b, c] = ids as [ServerId, ServerId, ServerId];
    await stopServer(s.system, b, { via: node });
    await stopServer(s.system, c, { via: node });
    await forceShrinkMembersToCurrentMember(a, { via: node });
    const after = await processCommand<{ total: number }>(a, { add: 1 }, { via: node });
    expect(after.reply.total).toBe(4);
    expect(after.leader.name).toBe('a');
    expect((await members(a, { via: node })).members.map((m) => m.name)).toEqual(['a']);
    expect(existsSync(s.dir)).toBe(true);
  });
});
