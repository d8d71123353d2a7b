// The API given bad input across node processes: invalid arguments, unknown servers and
// nodes, a node without the system, a cluster that cannot form, requests too large for
// the distribution, and calls that cannot be answered in time. Every failure is a
// RafterError with a stable code, settles by its timeout, and leaves nothing behind.

import { Node, silentLogger } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../../../tools/cluster/process-cluster.js';
import {
  type ServerId,
  RafterError,
  addMember,
  consistentQuery,
  localQuery,
  members,
  pipelineCommand,
  processCommand,
  restartServer,
  serverStatus,
  startCluster,
  startServer,
  stopServer,
  transferLeadership,
} from '../../src/index.js';
import { CLUSTER_HOOK_TIMEOUT_MS, KV_MODULE, codeOf, leaderOf, sameId, waitFor } from './helpers.js';

let cluster: ProcessCluster;
let kvIds: ServerId[];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  cluster = await ProcessCluster.start({ machineModules: [KV_MODULE], tickMs: 100 });
  kvIds = cluster.serverIds('api_');
  await startCluster(cluster.system, 'api', 'kv', kvIds, { via: cluster.control });
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await cluster?.stop();
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
}, CLUSTER_HOOK_TIMEOUT_MS);

/** Runs `call`, expects it to fail with `code`, within `withinMs` (a call's timeout plus slack for a loaded machine). */
async function failsWith(code: string, call: () => Promise<unknown>, withinMs = 2_000): Promise<RafterError> {
  const started = Date.now();
  const err = await call().then(
    (value) => new Error(`resolved with ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  const tookMs = Date.now() - started;
  expect(err, String(err)).toBeInstanceOf(RafterError);
  expect(codeOf(err), String(err)).toBe(code);
  expect(tookMs).toBeLessThan(withinMs);
  return err as RafterError;
}

describe('invalid arguments', () => {
  it('are refused with RAFTER_INVALID_ARGUMENT before anything is sent', async () => {
    const via = cluster.control;
    const id = kvIds[0] as ServerId;
    const bad: Array<() => Promise<unknown>> = [
      () => processCommand(undefined as unknown as ServerId, { put: 'k', value: 1 }, { via }),
      () => processCommand([], { put: 'k', value: 1 }, { via }),
      () => processCommand({ name: 'x', node: '' }, { put: 'k', value: 1 }, { via }),
      () => processCommand(id, { put: 'k', value: 1 }, { via, timeoutMs: 0 }),
      () => processCommand(id, { put: 'k', value: 1 }, { via, timeoutMs: Number.NaN }),
      () => processCommand(id, { put: 'k', value: 1 }, { via, priority: 'high' as 'low' }),
      () => localQuery(id, 'size', { via, minIndex: -1 }),
      () => localQuery(id, 'size', { via, minIndex: 1.5 }),
      () => members({ name: 7, node: id.node } as unknown as ServerId, { via }),
      () => addMember(id, { id: cluster.serverId('api_x', 0), membership: 'boss' as 'voter' }, { via }),
      () => startServer(cluster.system, 'api', cluster.serverId('api_x', 0), 'kv', 'all' as unknown as ServerId[], { via }),
      () => startServer(cluster.system, '', cluster.serverId('api_x', 0), 'kv', [], { via }),
      () => startCluster(cluster.system, 'dup', 'kv', [id, { ...id }], { via }),
      () => startCluster(cluster.system, 'nomachine', 42 as unknown as string, kvIds, { via }),
      () => startCluster('', 'nosystem', 'kv', kvIds, { via }),
    ];
    const circular: { put: string; value?: unknown } = { put: 'c' };
    circular.value = circular;
    bad.push(
      () => processCommand(id, { put: 'k', value: Symbol('not data') }, { via }),
      () => processCommand(id, circular, { via }),
      // A function is a query only on the server's own thread.
      () => localQuery(id, (state: unknown) => state, { via }),
    );
    // Well under the 5 s default timeout: refused without waiting on any server.
    for (const call of bad) await failsWith('RAFTER_INVALID_ARGUMENT', call, 1_000);
    expect(() => pipelineCommand({ self: cluster.control.whereis('none') as never, send: () => undefined }, { name: '', node: 'n' }, 1)).toThrow(RafterError);
    // Server names the system keeps for itself.
    await failsWith('RAFTER_INVALID_ARGUMENT', () => startServer(cluster.system, 'api', cluster.serverId('rafter_x', 0), 'kv', [], { via }));
  });
});

describe('unknown servers, nodes and systems', () => {
  it('a server that does not run answers RAFTER_NOPROC at once; the system knows it not (RAFTER_UNKNOWN_SERVER)', async () => {
    const via = cluster.control;
    const ghost = cluster.serverId('ghost', 1);
    await failsWith('RAFTER_NOPROC', () => processCommand(ghost, { put: 'k', value: 1 }, { via, timeoutMs: 5_000 }));
    await failsWith('RAFTER_NOPROC', () => localQuery(ghost, 'size', { via, timeoutMs: 5_000 }));
    await failsWith('RAFTER_NOPROC', () => serverStatus(ghost, { via, timeoutMs: 5_000 }));
    await failsWith('RAFTER_UNKNOWN_SERVER', () => restartServer(cluster.system, ghost, { via }));
    await failsWith('RAFTER_UNKNOWN_SERVER', () => stopServer(cluster.system, ghost, { via }));
    // Given a list, the next server answers.
    const { reply } = await processCommand([ghost, ...kvIds], { put: 'ghost', value: 1 }, { via });
    expect(reply).toBeUndefined();
  });

  it('a node that is not there answers RAFTER_NODEDOWN within the timeout', async () => {
    const nowhere: ServerId = { name: 'api_1', node: 'nobody@127.0.0.1:1' };
    await failsWith('RAFTER_NODEDOWN', () => processCommand(nowhere, { put: 'k', value: 1 }, { via: cluster.control, timeoutMs: 1_000 }), 2_500);
    await failsWith('RAFTER_NODEDOWN', () => members(nowhere, { via: cluster.control, timeoutMs: 1_000 }), 2_500);
  });

  it('a node without the system answers RAFTER_NO_SYSTEM', async () => {
    const via = cluster.control;
    await failsWith('RAFTER_NO_SYSTEM', () => startServer('elsewhere', 'api', cluster.serverId('api_x', 0), 'kv', [], { via }));
    await failsWith('RAFTER_NO_SYSTEM', () => startServer(cluster.system, 'api', { name: 'api_x', node: cluster.control.name }, 'kv', [], { via }));
    await failsWith('RAFTER_NO_SYSTEM', () => restartServer('elsewhere', kvIds[0] as ServerId, { via }));
  });
});

describe('startCluster', () => {
  it('with too few members able to start: RAFTER_CLUSTER_NOT_FORMED, and the one that started is deleted', async () => {
    const via = cluster.control;
    const ids = [cluster.serverId('few_1', 0), { name: 'few_2', node: cluster.control.name }, { name: 'few_3', node: 'nobody@127.0.0.1:1' }];
    const err = await failsWith('RAFTER_CLUSTER_NOT_FORMED', () => startCluster(cluster.system, 'few', 'kv', ids, { via, timeoutMs: 2_000 }), 4_000);
    expect(err.message).toMatch(/only 1 of 3/);
    await failsWith('RAFTER_NOPROC', () => serverStatus(ids[0] as ServerId, { via }));
    await failsWith('RAFTER_UNKNOWN_SERVER', () => restartServer(cluster.system, ids[0] as ServerId, { via }));
  });

  it('with a machine no node has: RAFTER_CLUSTER_NOT_FORMED, nothing left behind', async () => {
    const via = cluster.control;
    const ids = cluster.serverIds('nomachine_');
    const err = await failsWith('RAFTER_CLUSTER_NOT_FORMED', () => startCluster(cluster.system, 'nomachine', 'no-such-machine', ids, { via, timeoutMs: 2_000 }), 4_000);
    expect(err.message).toMatch(/only 0 of 3/);
    expect(err.message).toMatch(/machine no-such-machine not found/);
    for (const id of ids) await failsWith('RAFTER_UNKNOWN_SERVER', () => restartServer(cluster.system, id, { via }));
    await failsWith('RAFTER_MACHINE_NOT_FOUND', () => startServer(cluster.system, 'nomachine', ids[0] as ServerId, 'no-such-machine', ids, { via }));
    await failsWith('RAFTER_UNKNOWN_SERVER', () => restartServer(cluster.system, ids[0] as ServerId, { via }));
  });

  it('started again for a running cluster: refused, and the running cluster is untouched', async () => {
    const via = cluster.control;
    await failsWith('RAFTER_CLUSTER_NOT_FORMED', () => startCluster(cluster.system, 'api', 'kv', kvIds, { via }));
    const { reply } = await processCommand(kvIds, { put: 'again', value: 1 }, { via });
    expect(reply).toBeUndefined();
    for (const id of kvIds) expect((await serverStatus(id, { via })).clusterName).toBe('api');
  });
});

describe('timeouts', () => {
  it('a paused node times out with RAFTER_TIMEOUT; without a quorum, commands and consistent reads time out; all recovers', async () => {
    const via = cluster.control;
    const leader = await leaderOf(kvIds, via);
    const others = kvIds.filter((s) => !sameId(s, leader));
    const paused = others.map((s) => cluster.indexOf(s.node));
    for (const i of paused) cluster.pause(i);
    try {
      await failsWith('RAFTER_TIMEOUT', () => serverStatus(others[0] as ServerId, { via, timeoutMs: 300 }), 2_000);
      const err = await failsWith('RAFTER_TIMEOUT', () => processCommand(leader, { put: 'lost?', value: 1 }, { via, timeoutMs: 500 }), 2_500);
      expect(sameId((err as RafterError & { leader?: ServerId }).leader, leader) || (err as { leader?: unknown }).leader === undefined).toBe(true);
      await failsWith('RAFTER_TIMEOUT', () => consistentQuery(leader, 'size', { via, timeoutMs: 500 }), 2_500);
      // A local read needs no quorum.
      expect((await localQuery<number>(leader, 'size', { via, timeoutMs: 500 })).result).toBeGreaterThan(0);
    } finally {
      for (const i of paused) cluster.resume(i);
    }
    const after = await waitFor('a command after the resume', () => processCommand(kvIds, { put: 'after', value: 1 }, { via, timeoutMs: 2_000 }), () => true);
    expect(after.index).toBeGreaterThan(0);
  });
});

describe('a machine that throws', () => {
  it('stops the servers that apply the command (RAFTER_SERVER_STOPPED to the caller), not restarted, and the other clusters of the nodes keep committing', async () => {
    const via = cluster.control;
    const ids = cluster.serverIds('crash_');
    await startCluster(cluster.system, 'crash', 'kv', ids, { via });
    const leader = await leaderOf(ids, via);
    const down = cluster.control.monitor({ name: leader.name, node: leader.node });
    const before = await Promise.all(kvIds.map((s) => serverStatus(s, { via }).then((st) => st.pid)));
    await failsWith('RAFTER_SERVER_STOPPED', () => processCommand(ids, { fail: 'a bug in the machine' }, { via, timeoutMs: 5_000 }));
    // A shutdown, which no supervisor restarts: a crash would be restarted into the same failure.
    expect((await down).reason).toEqual({ shutdown: { code: 'RAFTER_MACHINE_FAILED', message: expect.stringMatching(/a bug in the machine/) } });
    await failsWith('RAFTER_NOPROC', () => serverStatus(leader, { via }));
    const { reply } = await processCommand(kvIds, { put: 'after-crash', value: 1 }, { via });
    expect(reply).toBeUndefined();
    const after = await Promise.all(kvIds.map((s) => serverStatus(s, { via }).then((st) => st.pid)));
    expect(after).toEqual(before);
  });
});

describe('transferLeadership', () => {
  it('moves the lead to a caught-up member; a server outside the cluster is refused with RAFTER_UNKNOWN_MEMBER', async () => {
    const via = cluster.control;
    await processCommand(kvIds, { put: 'transfer', value: 0 }, { via });
    const leader = await leaderOf(kvIds, via);
    const target = kvIds.find((s) => !sameId(s, leader)) as ServerId;
    await waitFor('the target to be caught up', () => transferLeadership(kvIds, target, { via }).then(() => true), (ok) => ok);
    await waitFor('the target to lead', () => leaderOf(kvIds, via, 1_000), (l) => sameId(l, target));
    const { leader: committedBy } = await processCommand(kvIds, { put: 'transfer', value: 1 }, { via });
    expect(sameId(committedBy, target)).toBe(true);
    await failsWith('RAFTER_UNKNOWN_MEMBER', () => transferLeadership(kvIds, cluster.serverId('api_other', 0), { via }));
  });
});

describe('reads after writes', () => {
  it('localQuery with minIndex on a follower sees the caller\'s own write', async () => {
    const via = cluster.control;
    const leader = await leaderOf(kvIds, via);
    const follower = kvIds.find((s) => !sameId(s, leader)) as ServerId;
    for (let i = 0; i < 20; i++) {
      const { index } = await processCommand(kvIds, { put: 'ryw', value: i }, { via });
      const read = await localQuery<number>(follower, { get: 'ryw' }, { via, minIndex: index });
      expect(read.result).toBe(i);
      expect(read.index).toBeGreaterThanOrEqual(index);
    }
  });
});

describe('requests too large for the distribution', () => {
  it('are refused at the sender with a typed error; the cluster keeps working', async () => {
    const small = await Node.start({ name: 'small', port: 0, cookie: 'rafter-cluster', maxFrameBytes: 1 << 20, logger: silentLogger });
    try {
      const value = Buffer.alloc(2 << 20);
      await failsWith('RAFTER_MESSAGE_TOO_LARGE', () => processCommand(kvIds, { put: 'big', value }, { via: small, timeoutMs: 5_000 }));
      await failsWith('RAFTER_MESSAGE_TOO_LARGE', () => startServer(cluster.system, 'api', cluster.serverId('api_big', 0), 'kv', [], { via: small, machineConfig: value }));
      const { reply } = await processCommand(kvIds, { put: 'small', value: 1 }, { via: small });
      expect(reply).toBeUndefined();
      await failsWith('RAFTER_UNKNOWN_SERVER', () => restartServer(cluster.system, cluster.serverId('api_big', 0), { via: small }));
    } finally {
      await small.stop({ timeoutMs: 500 });
    }
  });
});
