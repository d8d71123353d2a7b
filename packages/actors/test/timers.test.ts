// Goal: timers and call timeouts run on the injected clock, so tests drive them by hand,
// and a dead actor's timers are cancelled.

import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, type ActorContext, type Node } from '../src/index.js';
import { inbox, startNode } from './helpers.js';

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
});
