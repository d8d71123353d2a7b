// Raft servers are ordinary actors: an actor on another node monitors and links one by
// { name, node } and its pid, sees it go when it is killed, and the system restarts it
// from its log; and a member under an application's own supervisor, among app actors,
// is restarted alone after a kill while its cluster keeps committing.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ActorContext, type ChildSpec, type DownMessage, type ExitMessage, type Pid, pidEquals, startSupervisor, whichChildren } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import '../../../../tools/cluster/machines/kv.js';
import { type RaftSystem, type ServerConfig, type ServerId, localQuery, processCommand, serverChildSpec, serverStatus, startCluster, startServer, startSystem, triggerElection } from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, CLUSTER_TEST_TIMEOUT_MS, KV_MODULE, leaderOf, waitFor } from './helpers.js';

let cluster: ProcessCluster;
let system: RaftSystem;
let dataDir: string;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ machineModules: [KV_MODULE], tickMs: 100 });
  // The control node hosts a system too, for a member under an app supervisor here.
  dataDir = mkdtempSync(join(tmpdir(), 'rafter-app-'));
  system = await startSystem(cluster.control, { name: cluster.system, dataDir, tickMs: 100 });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await system?.stop();
  await cluster?.stop();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
}, CLUSTER_HOOK_TIMEOUT_MS);

function pidOf(server: ServerId): Promise<Pid> {
  return serverStatus(server, { via: cluster.control, timeoutMs: 1_000 }).then((s) => s.pid);
}

describe('a server watched from another node', () => {
  it('is monitored by name and linked by pid; killed, it sends DOWN and EXIT, and restarts from its log', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const ids = cluster.serverIds('watched_');
    await startCluster(cluster.system, 'watched', 'kv', ids, { via });
    const { index } = await processCommand(ids, { put: 'before', value: 1 }, { via });
    const target = ids[1] as ServerId;
    await localQuery(target, 'size', { via, minIndex: index });
    const pid = await pidOf(target);

    const seen: Array<DownMessage | ExitMessage> = [];
    const watcherReady = new Promise<void>((ready) => {
      cluster.control.spawn(async (ctx: ActorContext) => {
        ctx.trapExit(true);
        const ref = ctx.monitor({ name: target.name, node: target.node });
        ctx.link(pid);
        ready();
        for (let i = 0; i < 2; i++) {
          const msg = await ctx.receive<DownMessage | ExitMessage>((m: { type?: string; ref?: unknown }) => (m.type === 'DOWN' && m.ref === ref) || m.type === 'EXIT', 10_000);
          if (msg !== undefined) seen.push(msg);
        }
      });
    });
    await watcherReady;
    // Monitor and link are set up once the peer has them: a status call behind them on the same connection.
    await pidOf(target);
    cluster.control.exit(pid, 'kill');

    await waitFor('DOWN and EXIT for the killed server', async () => seen.length, (n) => n === 2);
    const down = seen.find((m): m is DownMessage => m.type === 'DOWN');
    const exit = seen.find((m): m is ExitMessage => m.type === 'EXIT');
    expect(down?.reason).toBe('killed');
    expect(exit !== undefined && pidEquals(exit.from, pid)).toBe(true);
    expect(exit?.reason).toBe('killed');

    // The system's supervisor restarts it under the same name; it has its state from its log.
    const restarted = await waitFor('the server to be back with a new pid', () => pidOf(target), (p) => !pidEquals(p, pid));
    expect(pidEquals(restarted, pid)).toBe(false);
    const after = await processCommand(ids, { put: 'after', value: 2 }, { via });
    const read = await localQuery<number>(target, { get: 'before' }, { via, minIndex: after.index });
    expect(read.result).toBe(1);
    expect((await localQuery<number>(target, { get: 'after' }, { via, minIndex: after.index })).result).toBe(2);
  });
});

describe('machine effects', () => {
  it("a machine's send effect reaches an actor on another node, once, from the leader", { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const ids = cluster.serverIds('effects_');
    await startCluster(cluster.system, 'effects', 'kv', ids, { via });
    const got: unknown[] = [];
    const listener = cluster.control.spawn(async (ctx: ActorContext) => {
      for (;;) {
        const msg = await ctx.receive<{ type?: string }>((m: { type?: string }) => m.type === 'kv_put' || m.type === 'stop');
        if (msg?.type === 'stop') return;
        got.push(msg);
      }
    });
    const first = await processCommand(ids, { put: 'e1', value: 1, notify: listener }, { via });
    const second = await processCommand(ids, { put: 'e2', value: 2, notify: { name: 'no_such_actor', node: cluster.control.name } }, { via });
    const third = await processCommand(ids, { put: 'e3', value: 3, notify: listener }, { via });
    await waitFor('two notices', async () => got.length, (n) => n >= 2);
    // Followers apply the same commands; only the leader sends. A member's send on applying
    // would reach the listener before that member's answer to a later query (one connection, in order).
    for (const id of ids) await localQuery(id, 'size', { via, minIndex: third.index });
    expect(got).toEqual([
      { type: 'kv_put', key: 'e1', value: 1, index: first.index },
      { type: 'kv_put', key: 'e3', value: 3, index: third.index },
    ]);
    expect(second.index).toBeGreaterThan(first.index);
    cluster.control.send(listener, { type: 'stop' });
  });
});

/** An app actor that answers `ping` with its pid, so a test can tell it was not restarted. */
const appWorker = {
  init: () => ({}),
  handleCall: (_req: unknown, _from: unknown, state: object, ctx: ActorContext) => ({ reply: ctx.self, state }),
};

describe('a member under an application supervisor', () => {
  it('is restarted alone after a kill, recovers from its log, and the cluster keeps committing', { timeout: CLUSTER_TEST_TIMEOUT_MS }, async () => {
    const via = cluster.control;
    const a = cluster.serverId('sup_a', 0);
    const b = cluster.serverId('sup_b', 1);
    const c: ServerId = { name: 'sup_c', node: cluster.control.name };
    const initialMembers = [a, b, c].map((id) => ({ id, membership: 'voter' as const }));
    const config: ServerConfig = { name: c.name, uid: 'sup_c_app', clusterName: 'supervised', machine: 'kv', initialMembers };
    for (const id of [a, b]) await startServer(cluster.system, 'supervised', id, 'kv', [a, b, c], { via });
    const children: ChildSpec[] = [
      { id: 'before', start: { spec: appWorker, name: 'app_before' } },
      serverChildSpec(system, config),
      { id: 'after', start: { spec: appWorker, name: 'app_after' } },
    ];
    const sup = await startSupervisor(cluster.control, { strategy: 'one_for_one', intensity: 3, periodMs: 5_000, children });
    await triggerElection(a, { via });
    await leaderOf([a, b, c], via);
    const first = await processCommand([a, b, c], { put: 'k1', value: 'v1' }, { via });
    await localQuery(c, 'size', { via, minIndex: first.index });

    const before = await whichChildren(cluster.control, sup);
    const memberPid = before.find((ch) => ch.id === c.name)?.pid as Pid;
    expect(memberPid).toBeDefined();
    cluster.control.exit(memberPid, 'kill');

    const after = await waitFor('the supervisor to restart the member', () => whichChildren(cluster.control, sup), (list) => {
      const pid = list.find((ch) => ch.id === c.name)?.pid;
      return pid !== undefined && !pidEquals(pid, memberPid);
    });
    // One for one: the app actors kept their pids.
    for (const id of ['before', 'after']) {
      const was = before.find((ch) => ch.id === id)?.pid as Pid;
      const now = after.find((ch) => ch.id === id)?.pid as Pid;
      expect(pidEquals(was, now)).toBe(true);
    }
    // The restarted member gets back what it applied before the kill (re-applied from its
    // own log once it hears the commit index), and takes part again.
    expect((await localQuery<string>(c, { get: 'k1' }, { via, minIndex: first.index })).result).toBe('v1');
    const second = await processCommand([a, b, c], { put: 'k2', value: 'v2' }, { via });
    expect((await localQuery<string>(c, { get: 'k2' }, { via, minIndex: second.index })).result).toBe('v2');
    const status = await serverStatus(c, { via });
    expect(status.clusterName).toBe('supervised');
    expect(status.lastApplied).toBeGreaterThanOrEqual(second.index);
  });
});
