// The counters, leaderboard and Prometheus exposition: they move with commands and
// elections, another thread reads them while the servers' thread is blocked, unknown
// servers fail with typed errors, and the default series stay bounded at 10,000 clusters.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BroadcastChannel, Worker } from 'node:worker_threads';
import { Node, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type RaftSystem,
  type ServerId,
  type Caller,
  type LeaderboardEntry,
  deleteCluster,
  fetchKeyMetrics,
  forceDeleteServer,
  keyMetrics,
  leaderboard,
  localQuery,
  lookupLeader,
  lookupMembers,
  members,
  metricsRegistry,
  overview,
  processCommand,
  registerMachine,
  restartServer,
  serveMetrics,
  startCluster,
  startSystem,
  stopServer,
  transferLeadership,
  triggerElection,
} from '../../src/index.js';
import { systemKey } from '../../src/metrics/registry.js';
import { SystemMetrics } from '../../src/metrics/system-metrics.js';
import { sameId, waitFor } from '../cluster/helpers.js';
import type { ReaderReply, ReaderRequest } from './scheduler-reader.js';
import type { HostRequest, HostStarted } from './system-on-worker.js';

registerMachine('metrics-counter', {
  init: () => 0,
  apply: (_meta: unknown, command: { add: number }, state: number) => ({ state: state + command.add, reply: state + command.add }),
  overview: (state: number) => ({ value: state }),
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function start(name = 'm', schedulers = 1): Promise<{ node: Node; system: RaftSystem; ids: ServerId[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-metrics-'));
  const node = await Node.start({ name, schedulers, dirtyThreads: 1, logger: silentLogger });
  const system = await startSystem(node, { name: 'metrics', dataDir: dir });
  cleanup.push(async () => {
    await system.stop();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const ids = ['a', 'b', 'c'].map((n) => ({ name: n, node: node.name }));
  return { node, system, ids };
}

function byName(ids: readonly ServerId[]): string[] {
  return ids.map((id) => id.name).sort();
}

/** Prometheus text format, version 0.0.4: every line a comment or `name{labels} value`. */
function parseExposition(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
      const at = pair.indexOf('=');
      labels[pair.slice(0, at)] = pair.slice(at + 2, -1);
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

describe('server counters', () => {
  it('count commands, writes, messages and commit latency on the leader, and WAL batches', async () => {
    const { node, system, ids } = await start();
    const { leader } = await startCluster(system, 'c1', 'metrics-counter', ids, { via: node });
    if (leader === undefined) throw new Error('no leader');
    const before = keyMetrics(leader);
    for (let i = 0; i < 20; i++) await processCommand(leader, { add: 1 }, { via: node });
    const after = keyMetrics(leader);
    expect(after.role).toBe('leader');
    expect(after.commands - before.commands).toBe(20);
    expect(after.entriesWritten - before.entriesWritten).toBeGreaterThanOrEqual(20);
    expect(after.commitIndex).toBeGreaterThanOrEqual(before.commitIndex + 20);
    expect(after.lastApplied).toBe(after.commitIndex);
    expect(after.messagesSent).toBeGreaterThan(before.messagesSent);
    expect(after.messagesReceived).toBeGreaterThan(before.messagesReceived);
    expect(after.commitLatencyMs).toBeGreaterThan(0);
    // A command sent to a follower is redirected: the leader counts it, the follower does not.
    const follower = ids.find((id) => id.name !== leader.name) as ServerId;
    await processCommand(follower, { add: 1 }, { via: node });
    expect(keyMetrics(follower).role).toBe('follower');
    expect(keyMetrics(follower).commands).toBe(0);
    expect(keyMetrics(leader).commands - before.commands).toBe(21);

    const o = overview(system);
    expect(Object.keys(o.servers).sort()).toEqual(['a', 'b', 'c']);
    expect(o.servers[leader.name]?.cluster).toBe('c1');
    // The machine's own overview, for servers on the calling thread.
    expect(o.servers[leader.name]?.machine).toEqual({ value: 21 });
    expect(o.wal.entries).toBeGreaterThanOrEqual(3 * 20);
    expect(o.wal.batches).toBeGreaterThan(0);
    expect(o.wal.syncs).toBeGreaterThan(0);
    expect(o.wal.syncLatencyMsTotal).toBeGreaterThan(0);
  });

  it('count elections and leader changes, and the leaderboard follows the leader', async () => {
    const { node, system, ids } = await start();
    const { leader } = await startCluster(system, 'c2', 'metrics-counter', ids, { via: node });
    if (leader === undefined) throw new Error('no leader');
    expect(lookupLeader('c2')).toEqual(leader);
    expect(byName(lookupMembers('c2') ?? [])).toEqual(['a', 'b', 'c']);
    const elections = () => ids.map((id) => keyMetrics(id).elections).reduce((a, b) => a + b, 0);
    const electionsBefore = elections();
    expect(electionsBefore).toBeGreaterThanOrEqual(1);
    const next = ids.find((id) => id.name !== leader.name) as ServerId;
    // With a live leader, a triggered election stops at its pre-vote.
    const preVotesBefore = keyMetrics(next).preVotes;
    await triggerElection(next, { via: node });
    expect(keyMetrics(next).preVotes).toBe(preVotesBefore + 1);
    const changesBefore = keyMetrics(next).leaderChanges;
    // A transfer goes only to a member that has caught up.
    const { index } = await processCommand(leader, { add: 1 }, { via: node });
    await localQuery(next, (state: unknown) => state, { via: node, minIndex: index });
    await transferLeadership(leader, next, { via: node });
    await processCommand(next, { add: 1 }, { via: node });
    expect(elections()).toBeGreaterThan(electionsBefore);
    expect(keyMetrics(next).role).toBe('leader');
    expect(keyMetrics(next).leaderChanges).toBeGreaterThan(changesBefore);
    const newLeader = (await members(ids, { via: node })).leader;
    expect(newLeader).toEqual(next);
    expect(lookupLeader('c2')).toEqual(next);
    expect(leaderboard().find((e) => e.cluster === 'c2')?.leader).toEqual(newLeader);
  });

  it('a stopped server keeps its counters; a deleted one frees its slot and leaderboard line', async () => {
    const { node, system, ids } = await start();
    await startCluster(system, 'c3', 'metrics-counter', [ids[0] as ServerId], { via: node });
    const id = ids[0] as ServerId;
    await processCommand(id, { add: 1 }, { via: node });
    await stopServer(system, id, { via: node });
    expect(keyMetrics(id).role).toBe('stopped');
    expect(keyMetrics(id).commands).toBe(1);
    expect(lookupLeader('c3')).toBeUndefined();
    await forceDeleteServer(system, id, { via: node });
    expect(() => keyMetrics(id)).toThrow(expect.objectContaining({ code: 'RAFTER_UNKNOWN_SERVER' }));
    expect(overview(system).servers[id.name]).toBeUndefined();
    expect(leaderboard().some((e) => e.cluster === 'c3')).toBe(false);
  });

  it('deleteCluster frees the slots of its members and its leaderboard line', async () => {
    const { node, system, ids } = await start();
    await startCluster(system, 'c6', 'metrics-counter', ids, { via: node });
    await processCommand(ids, { add: 1 }, { via: node });
    const downs = ids.map((id) => node.monitor({ name: id.name, node: id.node }));
    await deleteCluster(ids, { via: node });
    await Promise.all(downs);
    // The members told the system actor before they stopped: once it answers this, it has forgotten
    // them (configuration, entry, metrics slot) in its turns; their logs go outside its turns.
    await expect(restartServer(system, ids[0] as ServerId, { via: node })).rejects.toMatchObject({ code: 'RAFTER_UNKNOWN_SERVER' });
    for (const id of ids) expect(() => keyMetrics(id)).toThrow(expect.objectContaining({ code: 'RAFTER_UNKNOWN_SERVER' }));
    expect(lookupLeader('c6')).toBeUndefined();
    expect(Object.keys(overview(system).servers)).toEqual([]);
  });

  it('fail with typed errors for unknown servers and systems', async () => {
    const { node } = await start();
    expect(() => keyMetrics({ name: 'nobody', node: node.name })).toThrow(expect.objectContaining({ code: 'RAFTER_UNKNOWN_SERVER' }));
    expect(() => keyMetrics({ name: 'a', node: 'elsewhere@127.0.0.1:1' })).toThrow(expect.objectContaining({ code: 'RAFTER_UNKNOWN_SERVER' }));
    expect(() => keyMetrics('a' as unknown as ServerId)).toThrow(expect.objectContaining({ code: 'RAFTER_INVALID_ARGUMENT' }));
    expect(() => overview('no-such-system')).toThrow(expect.objectContaining({ code: 'RAFTER_NO_SYSTEM' }));
  });
});

describe('fetchKeyMetrics', () => {
  /** A caller that fails any call: what it is given is answered without a message. */
  const noCalls: Caller = {
    call: () => Promise.reject(new Error('fetchKeyMetrics made a call')),
    send: () => {
      throw new Error('fetchKeyMetrics sent a message');
    },
  };

  it('reads a server of this process from shared memory, without a call, with the errors of keyMetrics', async () => {
    const { node, system, ids } = await start();
    const { leader } = await startCluster(system, 'c8', 'metrics-counter', ids, { via: node });
    if (leader === undefined) throw new Error('no leader');
    await processCommand(leader, { add: 1 }, { via: node });
    expect(await fetchKeyMetrics(leader, { via: noCalls })).toEqual(keyMetrics(leader));
    expect((await fetchKeyMetrics(leader, { via: noCalls, system })).commands).toBeGreaterThanOrEqual(1);
    await expect(fetchKeyMetrics({ name: 'nobody', node: node.name }, { via: noCalls })).rejects.toMatchObject({ code: 'RAFTER_UNKNOWN_SERVER' });
    await expect(fetchKeyMetrics('a' as unknown as ServerId, { via: noCalls })).rejects.toMatchObject({ code: 'RAFTER_INVALID_ARGUMENT' });
    await expect(fetchKeyMetrics(leader, { via: noCalls, timeoutMs: 0 })).rejects.toMatchObject({ code: 'RAFTER_INVALID_ARGUMENT' });
    await expect(fetchKeyMetrics(leader, { via: noCalls, system: 'other' })).rejects.toMatchObject({ code: 'RAFTER_NO_SYSTEM' });
  });
});

describe('another thread', () => {
  it('reads the counters from shared memory while the servers thread is blocked', async () => {
    const { node, system, ids } = await start();
    const { leader } = await startCluster(system, 'c4', 'metrics-counter', ids, { via: node });
    if (leader === undefined) throw new Error('no leader');
    const flag = new SharedArrayBuffer(4);
    const result = new SharedArrayBuffer(16);
    const worker = new Worker(new URL('./reader-thread.mjs', import.meta.url), { workerData: { flag, result } });
    cleanup.push(() => worker.terminate().then(() => undefined));
    const ready = new Promise<{ known: boolean; leader: ServerId | null }>((resolve) => worker.once('message', resolve));
    worker.postMessage({ op: 'ready', id: leader, cluster: 'c4' });
    const seen = await ready;
    expect(seen.known).toBe(true);
    expect(seen.leader).toEqual(leader);

    for (let i = 0; i < 7; i++) await processCommand(leader, { add: 1 }, { via: node });
    const expected = keyMetrics(leader);
    worker.postMessage({ op: 'read', id: leader });
    // This thread runs every server: while it waits here none of them can answer anything.
    expect(Atomics.wait(new Int32Array(flag), 0, 0, 10_000)).not.toBe('timed-out');
    const values = new Float64Array(result);
    expect(values[0]).toBe(expected.commands);
    expect(values[1]).toBe(expected.commitIndex);
    expect(expected.commands).toBeGreaterThanOrEqual(7);
  });
});

describe('a worker scheduler', () => {
  it('reads the counters and the leaderboard of servers on the main thread', async () => {
    const { node, system, ids } = await start('w', 2);
    const { leader } = await startCluster(system, 'c7', 'metrics-counter', ids, { via: node });
    if (leader === undefined) throw new Error('no leader');
    for (let i = 0; i < 5; i++) await processCommand(leader, { add: 1 }, { via: node });
    const pid = await node.start({ module: new URL('./scheduler-reader.ts', import.meta.url).href, export: 'reader' }, undefined, { scheduler: 1 });
    const read = await node.call<ReaderReply>(pid, { op: 'read', id: leader, cluster: 'c7' } satisfies ReaderRequest);
    expect(read.thread).not.toBe(0);
    expect(read.leader).toEqual(leader);
    expect(read.metrics.role).toBe('leader');
    expect(read.metrics.commands).toBe(keyMetrics(leader).commands);
    expect(read.metrics.commands).toBeGreaterThanOrEqual(5);
  });
});

describe('a worker scheduler that dies', () => {
  it('takes its system out of the counters, leaderboard and Prometheus series of every other thread', async () => {
    // No system on the main thread: the worker's system starts the node's metrics actor there.
    const node = await Node.start({ name: 'wd', schedulers: 3, dirtyThreads: 1, logger: silentLogger });
    const dataDir = mkdtempSync(join(tmpdir(), 'rafter-metrics-worker-'));
    cleanup.push(async () => {
      await node.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const host = await node.start({ module: new URL('./system-on-worker.ts', import.meta.url).href, export: 'systemHost' }, { name: 'onworker', dataDir }, { scheduler: 1 });
    const ids = ['wa', 'wb', 'wc'].map((name) => ({ name, node: node.name }));
    const started = await node.call<HostStarted>(host, { op: 'startCluster', cluster: 'cw', ids } satisfies HostRequest, { timeoutMs: 20_000 });
    const reader = await node.start({ module: new URL('./scheduler-reader.ts', import.meta.url).href, export: 'reader' }, undefined, { scheduler: 2 });
    const boardOf2 = () => node.call<LeaderboardEntry[]>(reader, { op: 'leaderboard' } satisfies ReaderRequest);
    const series = async () => parseExposition(await metricsRegistry().metrics()).filter((s) => s.labels.system === 'onworker');

    // The main thread and scheduler 2 see the system of scheduler 1 and its leader.
    await waitFor('the main thread to learn the leader', async () => lookupLeader('cw'), (leader) => sameId(leader, started.leader));
    await waitFor('scheduler 2 to learn the leader', boardOf2, (board) => board.some((e) => e.cluster === 'cw' && sameId(e.leader, started.leader)));
    expect(keyMetrics(started.leader).role).toBe('leader');
    expect(Object.keys(overview('onworker').servers).sort()).toEqual(['wa', 'wb', 'wc']);
    expect((await series()).find((s) => s.name === 'rafter_servers' && s.labels.role === 'leader')?.value).toBe(1);
    expect(node.whereis('rafter_metrics')?.scheduler).toBe(0);

    const down = node.monitor(started.system);
    await expect(node.call(host, { op: 'exitThread' } satisfies HostRequest)).rejects.toMatchObject({ code: 'ACTORS_CALL_EXIT' });
    expect((await down).reason).toMatchObject({ schedulerExited: 1 });
    await waitFor('the main thread to drop the lost system', async () => lookupLeader('cw'), (leader) => leader === undefined);
    expect(leaderboard().some((e) => e.cluster === 'cw')).toBe(false);
    expect(() => overview('onworker')).toThrow(expect.objectContaining({ code: 'RAFTER_NO_SYSTEM' }));
    expect(() => keyMetrics(started.leader)).toThrow(expect.objectContaining({ code: 'RAFTER_UNKNOWN_SERVER' }));
    expect(await series()).toEqual([]);
    await waitFor('scheduler 2 to drop the lost system', boardOf2, (board) => !board.some((e) => e.cluster === 'cw'));

    // The system started again on the thread that took scheduler 1's place is a new run: it shows.
    const again = await node.start({ module: new URL('./system-on-worker.ts', import.meta.url).href, export: 'systemHost' }, { name: 'onworker', dataDir }, { scheduler: 1 });
    cleanup.push(() => node.call(again, { op: 'stop' }));
    await waitFor('the restarted system to show its leader', async () => lookupLeader('cw'), (leader) => leader !== undefined);
    expect(Object.keys(overview('onworker').servers).sort()).toEqual(['wa', 'wb', 'wc']);
  });
});

describe('a lost system run', () => {
  it('stays lost when the dead thread\'s last deltas arrive after the loss; a new run of the same system shows', async () => {
    // The deltas as an owner and the metrics actor post them, from another channel of this thread.
    const channel = new BroadcastChannel('rafter:metrics');
    cleanup.push(() => channel.close());
    const node = 'ghost@local';
    const key = systemKey(node, 'ghost');
    const leader = { name: 'g1', node };
    const announce = (incarnation: string) => [
      { k: 'system', key, system: 'ghost', node, incarnation, buffer: new SharedArrayBuffer(8 * 64) },
      { k: 'report', report: { cluster: 'ghosts', reporter: leader, systemKey: key, leader, members: [leader], term: 1 } },
    ];
    channel.postMessage([{ k: 'systemLost', key, incarnation: 'run-1' }]);
    channel.postMessage(announce('run-1'));
    channel.postMessage([{ k: 'report', report: { cluster: 'ghosts-late', reporter: leader, systemKey: key, leader, members: [leader], term: 1 } }]);
    channel.postMessage(announce('run-2'));
    // One sender's messages arrive in order: once run 2 shows, run 1's deltas were applied before it.
    await waitFor('the second run to show', async () => lookupLeader('ghosts'), (found) => sameId(found, leader));
    expect(overview('ghost').node).toBe(node);
    expect(lookupLeader('ghosts-late')).toBeUndefined();
    // The loss of run 1 told again does not take run 2.
    channel.postMessage([{ k: 'systemLost', key, incarnation: 'run-1' }]);
    channel.postMessage([{ k: 'report', report: { cluster: 'ghosts-marker', reporter: leader, systemKey: key, leader, members: [leader], term: 1 } }]);
    await waitFor('the marker report', async () => lookupLeader('ghosts-marker'), (found) => found !== undefined);
    expect(lookupLeader('ghosts')).toEqual(leader);
    channel.postMessage([{ k: 'systemLost', key, incarnation: 'run-2' }]);
    await waitFor('the second run to be lost', async () => lookupLeader('ghosts'), (found) => found === undefined);
    expect(() => overview('ghost')).toThrow(expect.objectContaining({ code: 'RAFTER_NO_SYSTEM' }));
  });
});

describe('Prometheus exposition', () => {
  it('parses, carries the system aggregates, and is served on /metrics', async () => {
    const { node, system, ids } = await start();
    await startCluster(system, 'c5', 'metrics-counter', ids, { via: node });
    for (let i = 0; i < 5; i++) await processCommand(ids, { add: 1 }, { via: node });
    const registry = metricsRegistry(system);
    const samples = parseExposition(await registry.metrics());
    const sample = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(sample('rafter_commands_total', { system: 'metrics', node: node.name })?.value).toBeGreaterThanOrEqual(5);
    expect(sample('rafter_wal_entries_total')?.value).toBeGreaterThanOrEqual(15);
    expect(sample('rafter_servers', { role: 'leader' })?.value).toBe(1);
    expect(sample('rafter_servers', { role: 'follower' })?.value).toBe(2);
    expect(sample('rafter_leaderboard_clusters', { leader: 'known' })?.value).toBe(1);
    expect(samples.some((s) => 'cluster' in s.labels)).toBe(false);

    const perCluster = parseExposition(await metricsRegistry(system, { perCluster: true }).metrics());
    expect(perCluster.find((s) => s.name === 'rafter_cluster_commands_total' && s.labels.cluster === 'c5')?.value).toBeGreaterThanOrEqual(5);

    const served = await serveMetrics(registry);
    cleanup.push(() => served.close());
    const res = await fetch(served.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(parseExposition(await res.text()).some((s) => s.name === 'rafter_commands_total')).toBe(true);
    expect((await fetch(served.url.replace('/metrics', '/other'))).status).toBe(404);
  });

  it('keeps the default series bounded at 10,000 clusters; per-cluster series are opt-in', async () => {
    // Slots as 10,000 one-member clusters would take them, without running the servers.
    const metrics = new SystemMetrics('many');
    metrics.publish('big@local');
    cleanup.push(() => metrics.close());
    const count = async (perCluster: boolean) => parseExposition(await metricsRegistry('many', { perCluster }).metrics()).length;
    metrics.server('s0', 'cluster0', 'u0');
    const withOne = await count(false);
    for (let i = 1; i < 10_000; i++) metrics.server(`s${i}`, `cluster${i}`, `u${i}`);
    expect(metrics.serverCount()).toBe(10_000);
    expect(await count(false)).toBe(withOne);
    expect(withOne).toBeLessThan(100);
    const perCluster = await count(true);
    expect(perCluster).toBeGreaterThanOrEqual(withOne + 10_000 * 10);
    // Deleting frees slots for reuse: the buffer does not grow with churn.
    for (let i = 0; i < 10_000; i++) metrics.deleteServer(`s${i}`);
    expect(metrics.serverCount()).toBe(0);
  });
});
