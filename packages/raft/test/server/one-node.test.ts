// Three members of a cluster on one node: the server actor, the system actor and the API
// over the real log storage.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  type Machine,
  type RaftSystem,
  type ServerId,
  consistentQuery,
  keyMetrics,
  localQuery,
  members,
  processCommand,
  registerMachine,
  restartServer,
  startCluster,
  startSystem,
  stopServer,
} from '../../src/index.js';

const counter: Machine<number, { add: number }> = {
  init: () => 0,
  apply: (_meta, command, state) => ({ state: state + command.add, reply: state + command.add }),
  query: (q: 'value', state) => (q === 'value' ? state : undefined),
};
registerMachine('counter', counter);
registerMachine('fragile', {
  init: () => 0,
  apply: (_meta: unknown, command: string, state: number) => {
    if (command === 'boom') throw new Error('boom');
    return { state: state + 1, reply: state + 1 };
  },
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function start(tickMs?: number): Promise<{ node: Node; system: RaftSystem; ids: ServerId[]; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-server-'));
  const node = await Node.start({ name: 'one', dirtyThreads: 1, logger: silentLogger });
  const system = await startSystem(node, { name: 'test', dataDir: dir, ...(tickMs !== undefined ? { tickMs } : {}) });
  cleanup.push(async () => {
    await system.stop();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const ids = ['a', 'b', 'c'].map((name) => ({ name, node: node.name }));
  return { node, system, ids, dir };
}

describe('a cluster of three members on one node', () => {
  it('elects a leader, applies commands in order and answers queries', async () => {
    const { node, system, ids } = await start();
    const started = await startCluster(system, 'counter1', 'counter', ids, { via: node });
    expect(started.started).toHaveLength(3);
    expect(started.leader).toBeDefined();
    for (let i = 1; i <= 20; i++) {
      const { reply } = await processCommand<number>(ids, { add: 1 }, { via: node });
      expect(reply).toBe(i);
    }
    const read = await consistentQuery<number>(ids[0] as ServerId, 'value', { via: node });
    expect(read.result).toBe(20);
    const m = await members(ids[1] as ServerId, { via: node });
    expect(m.members.map((s) => s.name).sort()).toEqual(['a', 'b', 'c']);
    const local = await localQuery<number>(ids[2] as ServerId, 'value', { via: node });
    expect(local.result).toBeLessThanOrEqual(20);
  });

  it('a stopped member restarts from its log and catches up', async () => {
    const { node, system, ids } = await start();
    await startCluster(system, 'counter2', 'counter', ids, { via: node });
    await processCommand(ids, { add: 5 }, { via: node });
    const { leader } = await members(ids, { via: node });
    const follower = ids.find((s) => s.name !== leader?.name) as ServerId;
    await stopServer(system, follower, { via: node });
    await processCommand(ids, { add: 5 }, { via: node });
    await restartServer(system, follower, { via: node });
    const after = await processCommand<number>(ids, { add: 1 }, { via: node });
    expect(after.reply).toBe(11);
  });

  it('elects a new leader soon after the leader actor is killed', async () => {
    const { node, system, ids } = await start();
    await startCluster(system, 'counter3', 'counter', ids, { via: node });
    await processCommand(ids, { add: 1 }, { via: node });
    const { leader } = await members(ids, { via: node });
    const pid = node.whereis((leader as ServerId).name);
    expect(pid).toBeDefined();
    const down = node.monitor(pid!);
    const t0 = Date.now();
    node.exit(pid!, 'kill');
    await down;
    const { reply, leader: next } = await processCommand<number>(ids, { add: 1 }, { via: node });
    expect(reply).toBe(2);
    // A follower's DOWN for the leader starts an election after a short delay, not an election timeout.
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(next).toBeDefined();
  });

  it('runs several systems on one node, each with its own storage', async () => {
    const { node, system, ids } = await start();
    const dir2 = mkdtempSync(join(tmpdir(), 'rafter-server-'));
    const other = await startSystem(node, { name: 'other', dataDir: dir2 });
    cleanup.push(async () => {
      await other.stop();
      rmSync(dir2, { recursive: true, force: true });
    });
    const otherIds = ['x', 'y', 'z'].map((name) => ({ name, node: node.name }));
    await startCluster(system, 'first', 'counter', ids, { via: node });
    await startCluster(other, 'second', 'counter', otherIds, { via: node });
    await processCommand(ids, { add: 2 }, { via: node });
    const second = await processCommand<number>(otherIds, { add: 3 }, { via: node });
    expect(second.reply).toBe(3);
    await expect(startSystem(node, { name: 'other', dataDir: dir2 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('brings every server back when the node restarts', async () => {
    const { node, system, ids, dir } = await start();
    await startCluster(system, 'counter4', 'counter', ids, { via: node });
    for (let i = 0; i < 10; i++) await processCommand(ids, { add: 1 }, { via: node });
    await system.stop();
    cleanup = cleanup.filter(() => false);
    const again = await startSystem(node, { name: 'test', dataDir: dir });
    cleanup.push(async () => {
      await again.stop();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    expect(again.restartFailures.size).toBe(0);
    const { reply } = await processCommand<number>(ids, { add: 1 }, { via: node, timeoutMs: 10_000 });
    expect(reply).toBe(11);
  });

  it('a machine that keeps failing stops its own cluster, not the system', async () => {
    const { node, system, ids } = await start();
    const fragile = ['f1', 'f2', 'f3'].map((name) => ({ name, node: node.name }));
    await startCluster(system, 'healthy', 'counter', ids, { via: node });
    await startCluster(system, 'fragile', 'fragile', fragile, { via: node });
    await processCommand(fragile, 'ok', { via: node });
    await expect(processCommand(fragile, 'boom', { via: node, timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'RAFTER_SERVER_STOPPED' });
    // The leader applied the failing entry and stopped for good (no restart into the same failure).
    const stopped = fragile.filter((id) => node.whereis(id.name) === undefined);
    expect(stopped.length).toBeGreaterThan(0);
    const { reply } = await processCommand<number>(ids, { add: 7 }, { via: node });
    expect(reply).toBe(7);
  });

  it('an idle cluster sends nothing between its members', async () => {
    const tickMs = 20;
    const { node, system, ids } = await start(tickMs);
    await startCluster(system, 'quiet', 'counter', ids, { via: node });
    let index = 0;
    for (let i = 0; i < 5; i++) index = (await processCommand(ids, { add: 1 }, { via: node })).index;
    // Followers learn the last commit index on the leader's next tick; then all is quiet.
    for (const id of ids) expect((await localQuery<number>(id, 'value', { via: node, minIndex: index })).result).toBe(5);
    const sent = () => ids.map((id) => keyMetrics(id).messagesSent).reduce((a, b) => a + b, 0);
    const before = sent();
    await new Promise((r) => setTimeout(r, 20 * tickMs));
    expect(sent()).toBe(before);
  });

  it('calls stateEnter of the machine on role changes and its tick on the leader', async () => {
    const { node, system, ids } = await start(20);
    const seen: string[] = [];
    node.spawn({ init: () => undefined, handle: (msg: string) => void seen.push(msg) }, undefined, { name: 'watcher' });
    registerMachine('watched', {
      init: () => 0,
      apply: (_meta: unknown, _c: unknown, state: number) => ({ state: state + 1 }),
      stateEnter: (role: string) => [{ type: 'send', to: 'watcher', msg: `enter:${role}` }],
      tick: () => [{ type: 'send', to: 'watcher', msg: 'tick' }],
    });
    await startCluster(system, 'watched', 'watched', ids, { via: node });
    await expect.poll(() => seen.includes('tick')).toBe(true);
    expect(seen.filter((m) => m === 'enter:leader').length).toBeGreaterThanOrEqual(1);
    expect(seen.filter((m) => m === 'enter:follower').length).toBeGreaterThanOrEqual(2);
  });

  it('refuses invalid arguments with typed errors', async () => {
    const { node, system, ids } = await start();
    await expect(processCommand({ name: '', node: node.name }, 1, { via: node })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(startCluster(system, '', 'counter', ids, { via: node })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(processCommand(ids, 1, { via: node, timeoutMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
