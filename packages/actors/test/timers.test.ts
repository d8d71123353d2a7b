// Goal: timers and call timeouts run on the injected clock, so tests drive them by hand,
// and a dead actor's timers are cancelled.

import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, type ActorContext, type From, type Node } from '../src/index.js';
import { fixtures, inbox, startNode } from './helpers.js';

let node: Node;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

describe('timers', () => {
  it('sendAfter delivers at the due time, in order; cancelTimer stops one', async () => {
    const clock = new ManualClock();
    node = await startNode({ clock });
    const box = inbox(node);
    node.spawn(async (ctx: ActorContext) => {
      ctx.sendAfter(300, 'late');
      ctx.sendAfter(100, 'early');
      const cancelled = ctx.sendAfter(200, 'cancelled');
      ctx.send(box.pid, { cancel: ctx.cancelTimer(cancelled), again: ctx.cancelTimer(cancelled) });
      for (;;) ctx.send(box.pid, await ctx.receive());
    });
    expect(await box.next()).toEqual({ cancel: true, again: false });
    clock.advance(99);
    clock.advance(1);
    expect(await box.next()).toBe('early');
    clock.advance(200);
    expect(await box.next()).toBe('late');
    expect(clock.pending()).toBe(0);
  });

  it("an exiting actor's timers are cancelled", async () => {
    const clock = new ManualClock();
    node = await startNode({ clock });
    const pid = node.spawn({
      init: (ctx) => {
        ctx.sendAfter(1_000, 'tick');
        ctx.sendAfter(2_000, 'tock');
        return null;
      },
    });
    expect((await node.info(pid))?.timers).toBe(2);
    node.exit(pid, 'kill');
    await node.monitor(pid);
    expect(clock.pending()).toBe(0);
  });

  it('a call times out when the clock passes its timeout', async () => {
    const clock = new ManualClock();
    node = await startNode({ clock });
    const pid = node.spawn({ init: () => null, handleCall: (_r, _f, state) => ({ noreply: true, state }) });
    const call = node.call(pid, 'x', { timeoutMs: 5_000 });
    await node.info(pid);
    clock.advance(5_000);
    await expect(call).rejects.toMatchObject({ code: 'ACTORS_CALL_TIMEOUT', timeoutMs: 5_000 });
  });

  it('rejects a bad delay', async () => {
    node = await startNode();
    const box = inbox(node);
    node.spawn(async (ctx: ActorContext) => {
      try {
        ctx.sendAfter(-5, 'x');
      } catch (err) {
        ctx.send(box.pid, (err as { code: string }).code);
      }
    });
    expect(await box.next()).toBe('ACTORS_INVALID_ARGUMENT');
  });

  it('a delay past 2^31-1 ms does not fire early (Node would fire it after 1 ms)', async () => {
    node = await startNode();
    const box = inbox(node);
    node.spawn(async (ctx: ActorContext) => {
      ctx.sendAfter(2 ** 31, 'far future');
      ctx.sendAfter(2 ** 40, 'farther future');
      ctx.sendAfter(5, 'soon');
      const first = await ctx.receive();
      // Anything else already queued would be one of the far timers, fired early.
      ctx.send(box.pid, { first, queuedAfter: (await ctx.receive(undefined, 0)) ?? null });
    });
    expect(await box.next()).toEqual({ first: 'soon', queuedAfter: null });
  });

  it('a call waits out a timeout past 2^31-1 ms instead of failing at once', async () => {
    node = await startNode();
    const pid = node.spawn({
      init: () => [] as From[],
      handle: (msg, waiting, ctx) => {
        for (const from of waiting) ctx.reply(from, msg);
        return [];
      },
      handleCall: (_r, from, waiting) => ({ noreply: true, state: [...waiting, from] }),
    });
    const call = node.call(pid, 'x', { timeoutMs: 2 ** 32 });
    const early = node.spawn(async (ctx: ActorContext) => {
      await ctx.receive(undefined, 20);
    });
    await node.monitor(early); // 20 ms pass on the node's clock
    node.send(pid, 'answered');
    expect(await call).toBe('answered');
  });
});

describe('clocks', () => {
  it('ctx.now() of a worker scheduler is on the same time base as the main one', async () => {
    node = await startNode({ schedulers: 2 });
    const relay = await node.start({ module: fixtures, export: 'relay' }, undefined, { scheduler: 1 });
    const box = inbox(node);
    node.spawn(async (ctx: ActorContext) => {
      const beforeMs = ctx.now();
      const workerMs = await ctx.call<number>(relay, { op: 'now' });
      ctx.send(box.pid, { beforeMs, workerMs, afterMs: ctx.now() });
    });
    const { beforeMs, workerMs, afterMs } = await box.next();
    // Sub-millisecond slack: the two threads derive the base from the wall clock separately.
    expect(workerMs).toBeGreaterThanOrEqual(beforeMs - 1);
    expect(workerMs).toBeLessThanOrEqual(afterMs + 1);
  });
});
