// A machine's effects carried out by real server actors (three members on one node):
// named timers, appends, log reads, process and node monitors whose notices come back
// through the log on every member, monitors re-issued by a new leader, the leader's
// clock in the command metadata, tick, and the machine's overview in serverStatus.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ActorContext, Node, type Pid, silentLogger } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fetched, targetKey } from '../../../../tools/cluster/machines/effects.js';
import { type RaftSystem, type ServerId, localQuery, processCommand, serverStatus, startCluster, startSystem, transferLeadership } from '../../src/index.js';
import { leaderOf, sameId, waitFor } from '../cluster/helpers.js';

let node: Node;
let system: RaftSystem;
let dir: string;
let clusterSeq = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rafter-effects-'));
  node = await Node.start({ name: 'fx', dirtyThreads: 1, logger: silentLogger });
  system = await startSystem(node, { name: 'fx', dataDir: dir, tickMs: 50 });
});
afterAll(async () => {
  await system?.stop();
  await node?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function newCluster(): Promise<ServerId[]> {
  const seq = ++clusterSeq;
  const ids = ['a', 'b', 'c'].map((name) => ({ name: `fx${seq}_${name}`, node: node.name }));
  await startCluster(system, `fx${seq}`, 'effects', ids, { via: node });
  return ids;
}

/** Waits until every member has applied events satisfying `done`; returns each member's events. */
async function eventsOnAll(ids: readonly ServerId[], done: (events: readonly string[]) => boolean): Promise<string[][]> {
  const all: string[][] = [];
  for (const id of ids) {
    all.push(await waitFor(`events on ${id.name}`, async () => (await localQuery<string[]>(id, 'events', { via: node })).result, done));
  }
  return all;
}

/** An actor that waits for `{ type: 'exit' }`, and the messages it got before. */
function spawnIdle(): { pid: Pid; got: unknown[] } {
  const got: unknown[] = [];
  const pid = node.spawn(async (ctx: ActorContext) => {
    for (;;) {
      const msg = await ctx.receive<{ type?: string }>();
      if (msg?.type === 'exit') return;
      got.push(msg);
    }
  });
  return { pid, got };
}

describe('named timers', () => {
  it('fire as { timeout } commands on every member; a later timer of the same name replaces one, Infinity cancels', async () => {
    const ids = await newCluster();
    await processCommand(ids, { timer: 'replaced', afterMs: 30 }, { via: node });
    await processCommand(ids, { timer: 'replaced', afterMs: 60_000 }, { via: node });
    await processCommand(ids, { timer: 'cancelled', afterMs: 30 }, { via: node });
    await processCommand(ids, { cancelTimer: 'cancelled' }, { via: node });
    await processCommand(ids, { timer: 'plain', afterMs: 120 }, { via: node });
    const all = await eventsOnAll(ids, (events) => events.includes('timeout:plain'));
    for (const events of all) expect(events).toEqual(['timeout:plain']);
  });
});

describe('append and logRead', () => {
  it('an append effect makes the leader propose the command; logRead hands stored commands to a function on the leader', async () => {
    const ids = await newCluster();
    await processCommand(ids, { propose: { note: 'from the machine' } }, { via: node });
    const all = await eventsOnAll(ids, (events) => events.includes('note:from the machine'));
    for (const events of all) expect(events).toEqual(['note:from the machine']);

    const first = await processCommand(ids, { store: { blob: 'one' } }, { via: node });
    const second = await processCommand(ids, { store: { blob: 'two' } }, { via: node });
    const reader = spawnIdle();
    await processCommand(ids, { fetch: reader.pid }, { via: node });
    const [fetched] = (await waitFor('the fetched entries', async () => reader.got, (got) => got.length > 0)) as Fetched[];
    expect(fetched?.entries).toEqual([
      { index: first.index, command: { store: { blob: 'one' } } },
      { index: second.index, command: { store: { blob: 'two' } } },
    ]);
    node.send(reader.pid, { type: 'exit' });
  });
});

describe('process and node monitors', () => {
  it('a watched process that exits becomes { down } on every member; an unwatched one does not', async () => {
    const ids = await newCluster();
    const kept = spawnIdle();
    const dropped = spawnIdle();
    await processCommand(ids, { watch: kept.pid }, { via: node });
    await processCommand(ids, { watch: dropped.pid }, { via: node });
    await processCommand(ids, { unwatch: dropped.pid }, { via: node });
    node.send(dropped.pid, { type: 'exit' });
    node.send(kept.pid, { type: 'exit' });
    const expected = `down:${targetKey(kept.pid)}:normal`;
    const all = await eventsOnAll(ids, (events) => events.includes(expected));
    // The unwatched process exited first: had its monitor fired, its notice would be there.
    for (const events of all) expect(events).toEqual([expected]);
    for (const id of ids) expect((await localQuery<string[]>(id, 'watched', { via: node })).result).toEqual([]);
  });

  it('a watched node that cannot be reached becomes { nodedown }', async () => {
    const ids = await newCluster();
    await processCommand(ids, { watchNode: 'nowhere@127.0.0.1:1' }, { via: node });
    const all = await eventsOnAll(ids, (events) => events.length > 0);
    for (const events of all) expect(events).toEqual(['nodedown:nowhere@127.0.0.1:1']);
  });

  it('a new leader watches again from stateEnter(leader): a process that exits after a transfer still becomes { down }', async () => {
    const ids = await newCluster();
    const watched = spawnIdle();
    await processCommand(ids, { watch: watched.pid }, { via: node });
    const before = await leaderOf(ids, node);
    const target = ids.find((id) => !sameId(id, before)) as ServerId;
    await transferLeadership(ids, target, { via: node });
    await waitFor('the new leader', () => leaderOf(ids, node), (leader) => sameId(leader, target));
    node.send(watched.pid, { type: 'exit' });
    const expected = `down:${targetKey(watched.pid)}:normal`;
    const all = await eventsOnAll(ids, (events) => events.includes(expected));
    // Once, from the new leader: the old one dropped its monitor when it stopped leading.
    for (const events of all) expect(events).toEqual([expected]);
  });
});

describe('metadata, tick and overview', () => {
  it("stamps the leader's clock into the command's meta, ticks the leader's machine, and shows its overview", async () => {
    const ids = await newCluster();
    const before = Date.now();
    const { reply } = await processCommand<number>(ids, { stamp: true }, { via: node });
    const after = Date.now();
    // The node's clock is performance.timeOrigin + performance.now(): within a few ms of Date.now().
    expect(reply).toBeGreaterThanOrEqual(before - 50);
    expect(reply).toBeLessThanOrEqual(after + 50);

    const ticks = spawnIdle();
    const { leader } = await processCommand(ids, { tickTo: ticks.pid }, { via: node });
    const got = (await waitFor('two ticks', async () => ticks.got, (list) => list.length >= 2)) as Array<{ type: string; timeMs: number }>;
    expect(got[0]?.type).toBe('fx_tick');
    expect(got[1]!.timeMs).toBeGreaterThan(got[0]!.timeMs);
    node.send(ticks.pid, { type: 'exit' });

    await processCommand(ids, { note: 'one' }, { via: node });
    const status = await serverStatus(leader, { via: node });
    expect(status.machineOverview).toEqual({ watched: 0, events: 1 });
    expect(status.machineVersion).toBe(0);
  });
});
