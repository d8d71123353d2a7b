// Goal: a call names the calling actor in its `from`, on one scheduler and across
// threads, so the callee can monitor or link its caller as in Erlang.

import { afterEach, describe, expect, it } from 'vitest';
import { pidEquals, type ActorContext, type Behaviour, type DownMessage, type ExitMessage, type From, type Pid } from '../src/index.js';
import { fixtures, inbox, startNode, type Inbox } from './helpers.js';

type TestNode = Awaited<ReturnType<typeof startNode>>;
let node: TestNode;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

/** Monitors and links whoever calls it, answers with the caller's pid, and reports DOWN and EXIT to `box`. */
function watchingServer(box: Inbox): Behaviour<null> {
  return {
    init: (ctx) => {
      ctx.trapExit(true);
      return null;
    },
    handleCall: (_req, from: From, state, ctx) => {
      ctx.monitor(from.pid);
      ctx.link(from.pid);
      return { reply: from.pid, state };
    },
    handle: (msg: DownMessage | ExitMessage, state, ctx) => {
      ctx.send(box.pid, msg);
      return state;
    },
  };
}

describe('the from of a call', () => {
  it('is the calling actor: a monitor and a link on it fire when the caller exits, not before', async () => {
    node = await startNode();
    const box = inbox(node);
    const server = node.spawn(watchingServer(box));
    const caller = node.spawn(async (ctx: ActorContext) => {
      ctx.send(box.pid, { answered: await ctx.call<Pid>(server, 'who am i') });
      await ctx.receive((m) => m === 'quit');
      ctx.stop('bye');
    });
    const answered = (await box.next((m) => m.answered !== undefined)).answered as Pid;
    expect(pidEquals(answered, caller)).toBe(true);
    // The first DOWN is the caller's exit (a monitor on a non-actor would say noproc at once).
    node.send(caller, 'quit');
    const down = await box.next<DownMessage>((m) => m.type === 'DOWN');
    expect(down.reason).toBe('bye');
    expect(pidEquals(down.pid as Pid, caller)).toBe(true);
    const exit = await box.next<ExitMessage>((m) => m.type === 'EXIT' && pidEquals(m.from, caller));
    expect(exit.reason).toBe('bye');
  });

  it('names the calling actor across threads', async () => {
    node = await startNode({ schedulers: 2 });
    const box = inbox(node);
    const server = node.spawn(watchingServer(box));
    const relay = await node.start({ module: fixtures, export: 'relay' }, undefined, { scheduler: 1 });
    const answered = await node.call<Pid>(relay, { op: 'call', dest: server, request: 'who am i' });
    expect(pidEquals(answered, relay)).toBe(true);
    node.exit(relay, 'kill');
    const down = await box.next<DownMessage>((m) => m.type === 'DOWN');
    expect(down.reason).toBe('killed');
    expect(pidEquals(down.pid as Pid, relay)).toBe(true);
  });
});
