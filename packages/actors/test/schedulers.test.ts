// Goal: actors on worker schedulers behave as on the main thread (calls, names,
// monitors, links across threads), messages keep their order, and a busy actor
// starves neither its neighbours nor the event loop.

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidEquals, type ActorContext, type Node, type Pid } from '../src/index.js';
import { fixtures, inbox, startNode } from './helpers.js';

let node: Node;
beforeAll(async () => {
  node = await startNode({ schedulers: 3 });
});
afterAll(async () => {
  await node?.stop({ timeoutMs: 500 });
});

const relay = { module: fixtures, export: 'relay' };
const counter = { module: fixtures, export: 'counter' };

describe('worker schedulers', () => {
  it('start actors from a module on a chosen scheduler, with pids valid everywhere', async () => {
    const a = await node.start(counter, 41, { scheduler: 1 });
    const b = await node.start(relay, undefined, { scheduler: 2 });
    expect(a.scheduler).toBe(1);
    expect(await node.call(a, 'where')).toBe(1);
    node.send(a, 'inc');
    expect(await node.call(a, 'get')).toBe(42);
    // Scheduler 2 calls scheduler 1.
    expect(await node.call(b, { op: 'call', dest: a, request: 'get' })).toBe(42);
    expect((await node.info(a))?.queueLength).toBe(0);
  });

  it('refuse closures for another thread, and unknown modules, with typed errors', async () => {
    await expect(node.start({ init: () => null }, undefined, { scheduler: 1 })).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    await expect(node.start({ module: fixtures, export: 'nothing' }, undefined, { scheduler: 1 })).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    await expect(node.start({ module: fixtures, export: 'failingInit' }, undefined, { scheduler: 2 })).rejects.toMatchObject({ code: 'ACTORS_SPAWN_FAILED' });
  });

  it('share names node-wide', async () => {
    const a = await node.start(relay, undefined, { scheduler: 1 });
    const b = await node.start(relay, undefined, { scheduler: 2 });
    await node.call(a, { op: 'register', name: 'worker-a' });
    expect(pidEquals(node.whereis('worker-a')!, a)).toBe(true);
    const seen = (await node.call(b, { op: 'whereis', name: 'worker-a' })) as Pid;
    expect(pidEquals(seen, a)).toBe(true);
    expect(await node.call(b, { op: 'call', dest: 'worker-a', request: { op: 'whereis', name: 'worker-a' } })).toEqual(a);
    const down = node.monitor(a);
    node.exit(a, 'kill');
    await down;
    // The name is freed on every thread once its holder exits.
    const box = inbox(node);
    await node.call(b, { op: 'monitor', target: node.spawn(async () => undefined), reportTo: box.pid });
    await box.next();
    expect(node.whereis('worker-a')).toBeUndefined();
  });

  it('deliver DOWN across threads with the crash reason', async () => {
    const box = inbox(node);
    const watcher = await node.start(relay, undefined, { scheduler: 2 });
    const victim = await node.start(relay, undefined, { scheduler: 1 });
    await node.call(watcher, { op: 'monitor', target: victim, reportTo: box.pid });
    await expect(node.call(victim, { op: 'crash' })).rejects.toMatchObject({ code: 'ACTORS_CALL_EXIT' });
    expect(await box.next()).toEqual({ relayedDown: 'Error: relay asked to crash', pid: victim });
  });

  it('propagate exits over links across threads', async () => {
    const mainActor = node.spawn(async (ctx: ActorContext) => {
      await ctx.receive();
    });
    const worker = await node.start(relay, undefined, { scheduler: 1 });
    await node.call(worker, { op: 'link', target: mainActor });
    const down = node.monitor(worker);
    node.exit(mainActor, 'boom');
    expect((await down).reason).toBe('boom');
  });

  it('fail a call to a worker actor that dies with typed errors', async () => {
    const victim = await node.start(counter, 0, { scheduler: 1 });
    const down = node.monitor(victim);
    node.exit(victim, 'kill');
    await down;
    await expect(node.call(victim, 'get')).rejects.toMatchObject({ code: 'ACTORS_NOPROC' });
  });

  it('refuse data that cannot be copied to another thread with typed errors, and lose nothing sent beside it', async () => {
    const fn = () => 1;
    await expect(node.start(counter, { fn }, { scheduler: 1 })).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    const seq = await node.start({ module: fixtures, export: 'sequence' }, undefined, { scheduler: 2 });
    const echoer = await node.start(counter, 0, { scheduler: 1 });
    await expect(node.call(echoer, { fn })).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    // One bad message in a batch: it is dropped, the rest of the batch arrives in order.
    for (let n = 0; n < 100; n++) {
      node.send(seq, n);
      if (n === 50) node.send(seq, { fn });
    }
    expect(await node.call(seq, 'state')).toEqual({ next: 100, inOrder: true });
    expect(await node.call(echoer, 'get')).toBe(0);
  });

  it('keep message order from one sender across threads', async () => {
    const seq = await node.start({ module: fixtures, export: 'sequence' }, undefined, { scheduler: 2 });
    for (let n = 0; n < 20_000; n++) node.send(seq, n);
    expect(await node.call(seq, 'state')).toEqual({ next: 20_000, inOrder: true });
  });
});

describe('fairness', () => {
  it('a busy actor on the main scheduler starves neither its neighbours nor timers and I/O', async () => {
    const busy = node.spawn((await import('./fixtures/actors.js')).busy);
    const neighbour = node.spawn({ init: () => 'alive', handleCall: (_r, _f, s) => ({ reply: s, state: s }) });
    expect(await node.call(neighbour, 'ping')).toBe('alive');
    await new Promise((resolve) => setTimeout(resolve, 1)); // a timer fires while busy spins
    expect((await readFile(new URL(import.meta.url))).length).toBeGreaterThan(0); // and file I/O completes
    const info = await node.info(busy);
    expect(info?.queueLength).toBe(1);
    node.exit(busy, 'kill');
  });

  it('a busy actor on a worker scheduler starves neither its neighbours nor timers there', async () => {
    const busy = await node.start({ module: fixtures, export: 'busy' }, undefined, { scheduler: 1 });
    const neighbour = await node.start(relay, undefined, { scheduler: 1 });
    const box = inbox(node);
    await node.call(neighbour, { op: 'timer', ms: 5, msg: 'timer fired', dest: box.pid });
    expect(await box.next()).toBe('timer fired');
    expect((await node.info(busy))?.status).not.toBe('waiting');
    node.exit(busy, 'kill');
  });
});

describe('dirty pool', () => {
  it('runs blocking jobs off the schedulers and types failures', async () => {
    expect(await node.dirty({ module: fixtures, export: 'square' }, 12)).toBe(144);
    await expect(node.dirty({ module: fixtures, export: 'explode' }, 'this')).rejects.toMatchObject({
      code: 'ACTORS_DIRTY_JOB_FAILED',
      causeMessage: 'cannot handle this',
    });
    const worker = await node.start(relay, undefined, { scheduler: 2 });
    expect(await node.call(worker, { op: 'dirty', job: { module: fixtures, export: 'square' }, input: 9 })).toBe(81);
    await expect(node.call(worker, { op: 'dirty', job: { module: fixtures, export: 'explode' }, input: 'it' })).rejects.toMatchObject({ code: 'ACTORS_CALL_EXIT' });
  });

  it('hands transferred buffers over rather than copying them, from any scheduler', async () => {
    const sumBytes = { module: fixtures, export: 'sumBytes' };
    const kept = new Uint8Array(1_000).fill(1);
    expect(await node.dirty(sumBytes, { bytes: kept })).toBe(1_000);
    expect(kept.byteLength).toBe(1_000);
    const handed = new Uint8Array(100_000).fill(2);
    expect(await node.dirty(sumBytes, { bytes: handed }, { transfer: [handed.buffer as ArrayBuffer] })).toBe(200_000);
    expect(handed.byteLength).toBe(0); // detached: it is the job's now
    const worker = await node.start(relay, undefined, { scheduler: 1 });
    expect(await node.call(worker, { op: 'dirtyTransfer', job: sumBytes, length: 100_000 })).toEqual({ sum: 300_000, leftHere: 0 });
    await expect(node.dirty(sumBytes, { bytes: kept }, { transfer: ['not a buffer' as unknown as ArrayBuffer] })).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    // A list postMessage refuses (the same buffer twice) fails that job alone, on either thread.
    await expect(node.dirty(sumBytes, { bytes: kept }, { transfer: [kept.buffer as ArrayBuffer, kept.buffer as ArrayBuffer] })).rejects.toMatchObject({ code: 'ACTORS_DIRTY_JOB_FAILED' });
    expect(await node.call(worker, { op: 'dirtyTransfer', job: sumBytes, length: 10, repeat: true })).toEqual({ failed: 'ACTORS_DIRTY_JOB_FAILED' });
    expect(await node.call(worker, { op: 'dirtyTransfer', job: sumBytes, length: 10 })).toEqual({ sum: 30, leftHere: 0 });
  });

  it('keeps the scheduler responsive while a job blocks a dirty thread', async () => {
    const job = node.dirty({ module: fixtures, export: 'spin' }, 200);
    const neighbour = node.spawn({ init: () => 'responsive', handleCall: (_r, _f, s) => ({ reply: s, state: s }) });
    expect(await node.call(neighbour, 'ping')).toBe('responsive');
    expect(await job).toBeGreaterThan(0);
  });
});
