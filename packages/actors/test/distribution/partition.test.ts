// Goal: the blockNode fault hook behaves as a network partition: the connection drops
// with DOWN/EXIT 'noconnection' and nodedown, neither side gets through while it holds
// (dialling out or in), and traffic flows again once it is lifted.

import { afterEach, describe, expect, it } from 'vitest';
import type { ActorContext } from '../../src/index.js';
import { peers } from './peers.js';

const cluster = peers();
afterEach(() => cluster.cleanup());

const echo = {
  init: () => null,
  handleCall: (req: unknown) => ({ reply: { echoed: req }, state: null }),
};

function awaitNodeEvent(node: Awaited<ReturnType<typeof cluster.node>>, peer: string, type: 'nodedown' | 'nodeup'): Promise<unknown> {
  return new Promise((resolve) => {
    node.spawn(async (ctx: ActorContext) => {
      ctx.monitorNode(peer);
      resolve(await ctx.receive((m: { type?: string }) => m.type === type));
    });
  });
}

describe('blockNode', () => {
  it('cuts a live connection as a partition would, both ways, until unblocked', async () => {
    const a = await cluster.node('a');
    const b = await cluster.node('b');
    const onB = b.spawn(echo, undefined, { name: 'echo' });
    const onA = a.spawn(echo, undefined, { name: 'echo' });
    expect(await a.call(onB, 1)).toEqual({ echoed: 1 });
    const down = a.monitor(onB);
    const nodedown = awaitNodeEvent(a, b.name, 'nodedown');
    const seenByB = awaitNodeEvent(b, a.name, 'nodedown');

    a.blockNode(b.name);
    expect((await down).reason).toBe('noconnection');
    expect(await nodedown).toMatchObject({ type: 'nodedown', node: b.name });
    expect(await seenByB).toMatchObject({ type: 'nodedown', node: a.name });
    expect(a.blockedNodes()).toEqual([b.name]);
    // a does not dial b, and refuses b's dial once b has proved who it is.
    await expect(a.call(onB, 2)).rejects.toMatchObject({ code: 'ACTORS_NODEDOWN' });
    await expect(b.call(onA, 3)).rejects.toMatchObject({ code: 'ACTORS_NODEDOWN' });
    expect(await a.connect(b.name)).toBe(false);
    expect(a.nodes()).toEqual([]);

    a.unblockNode(b.name);
    expect(a.blockedNodes()).toEqual([]);
    expect(await a.call(onB, 4)).toEqual({ echoed: 4 });
    expect(await b.call(onA, 5)).toEqual({ echoed: 5 });
  });

  it('refuses to block the node itself', async () => {
    const a = await cluster.node('a');
    expect(() => a.blockNode(a.name)).toThrow(expect.objectContaining({ code: 'ACTORS_INVALID_ARGUMENT' }));
  });
});
