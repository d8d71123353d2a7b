// Goal: process-style actors receive selectively, time out, and return to exit normally.

import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, type ActorContext, type CallMessage, type Node } from '../src/index.js';
import { inbox, startNode } from './helpers.js';

let node: Node;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

describe('process actors', () => {
  it('receive picks the first matching message and keeps the others in order', async () => {
    node = await startNode();
    const box = inbox(node);
    const pid = node.spawn(async (ctx: ActorContext) => {
      const urgent = await ctx.receive((m) => m.kind === 'urgent');
      const rest = [await ctx.receive(), await ctx.receive()];
      ctx.send(box.pid, { urgent, rest });
    });
    node.send(pid, { kind: 'normal', n: 1 });
    node.send(pid, { kind: 'normal', n: 2 });
    node.send(pid, { kind: 'urgent', n: 3 });
    expect(await box.next()).toEqual({
      urgent: { kind: 'urgent', n: 3 },
      rest: [{ kind: 'normal', n: 1 }, { kind: 'normal', n: 2 }],
    });
  });

  it('receive resolves undefined after its timeout (on the node clock)', async () => {
    const clock = new ManualClock();
    node = await startNode({ clock });
    const box = inbox(node);
    node.spawn(async (ctx: ActorContext) => {
      ctx.send(box.pid, 'waiting');
      ctx.send(box.pid, { got: await ctx.receive(undefined, 1_000) });
    });
    await box.next();
    clock.advance(999);
    clock.advance(1);
    expect(await box.next()).toEqual({ got: undefined });
  });

  it('exits normal on return and with the error on throw', async () => {
    node = await startNode();
    const ok = node.spawn(async () => 'done');
    expect((await node.monitor(ok)).reason).toBe('normal');
    const bad = node.spawn(async () => {
      throw new Error('process failed');
    });
    expect(((await node.monitor(bad)).reason as Error).message).toBe('process failed');
  });

  it('answers calls from its mailbox with ctx.reply', async () => {
    node = await startNode();
    const pid = node.spawn(async (ctx: ActorContext) => {
      for (;;) {
        const call = await ctx.receive<CallMessage>((m) => m.type === '$call');
        ctx.reply(call!.from, { echo: call!.request });
      }
    });
    expect(await node.call(pid, 'ping')).toEqual({ echo: 'ping' });
  });

  it('refuses receive in a behaviour and a second concurrent receive', async () => {
    node = await startNode();
    const box = inbox(node);
    node.spawn({
      init: (ctx) => {
        try {
          void ctx.receive();
        } catch (err) {
          ctx.send(box.pid, (err as { code: string }).code);
        }
        return null;
      },
    });
    expect(await box.next()).toBe('ACTORS_INVALID_ARGUMENT');
    node.spawn(async (ctx: ActorContext) => {
      ctx.receive().catch(() => undefined);
      try {
        await ctx.receive();
      } catch (err) {
        ctx.send(box.pid, (err as { code: string }).code);
      }
    });
    expect(await box.next()).toBe('ACTORS_INVALID_ARGUMENT');
  });
});
