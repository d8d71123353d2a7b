// Goal: monitors, links and exit signals follow Erlang's rules: 'kill' cannot be
// trapped, a normal exit does not kill a non-trapping linked peer, crashes are logged
// once and seen by monitors and links, and the node keeps running.

import { afterEach, describe, expect, it } from 'vitest';
import { type ActorContext, type Behaviour, type Pid } from '../src/index.js';
import { inbox, startNode } from './helpers.js';

type TestNode = Awaited<ReturnType<typeof startNode>>;
let node: TestNode;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

const idle: Behaviour<null> = {
  init: () => null,
  handle: (msg, state, ctx) => {
    if (msg === 'crash') throw new Error('crashed on purpose');
    if (msg === 'stop') ctx.stop('normal');
    return state;
  },
};

/** A process that links to `target`, optionally traps exits, and reports what it receives. */
function linkedReporter(node: TestNode, target: Pid, trap: boolean, reportTo: Pid): Pid {
  return node.spawn(async (ctx: ActorContext) => {
    ctx.trapExit(trap);
    ctx.link(target);
    ctx.send(reportTo, 'linked');
    for (;;) ctx.send(reportTo, await ctx.receive());
  });
}

describe('monitors', () => {
  it('deliver DOWN with the crash error, and the crash is logged once', async () => {
    node = await startNode();
    const pid = node.spawn(idle);
    const down = node.monitor(pid);
    node.send(pid, 'crash');
    const msg = await down;
    expect(msg.type).toBe('DOWN');
    expect(msg.reason).toBeInstanceOf(Error);
    expect((msg.reason as Error).message).toBe('crashed on purpose');
    const crashes = node.records.filter((r) => r.msg === 'actor crashed');
    expect(crashes).toHaveLength(1);
    // The node goes on serving other actors.
    const other = node.spawn({ init: () => 1, handleCall: (_r, _f, s) => ({ reply: s, state: s }) });
    expect(await node.call(other, 'get')).toBe(1);
  });

  it('on a dead pid deliver DOWN noproc at once', async () => {
    node = await startNode();
    const pid = node.spawn(idle);
    const down = node.monitor(pid);
    node.exit(pid, 'kill');
    expect((await down).reason).toBe('killed');
    expect((await node.monitor(pid)).reason).toBe('noproc');
  });

  it('demonitor drops the DOWN even if it is already queued', async () => {
    node = await startNode();
    const box = inbox(node);
    const target = node.spawn(idle);
    node.spawn(async (ctx: ActorContext) => {
      const ref = ctx.monitor(target);
      ctx.exit(target, 'kill');
      // The DOWN is queued by now (same scheduler, handled synchronously).
      ctx.send(box.pid, { removed: ctx.demonitor(ref) });
      ctx.send(box.pid, { next: await ctx.receive(undefined, 0) });
    });
    expect(await box.next()).toEqual({ removed: false });
    expect(await box.next()).toEqual({ next: undefined });
  });

  it('a monitor by unknown name fires noproc with the name', async () => {
    node = await startNode();
    const box = inbox(node);
    node.spawn(async (ctx: ActorContext) => {
      ctx.monitor('ghost');
      ctx.send(box.pid, await ctx.receive());
    });
    expect(await box.next()).toMatchObject({ type: 'DOWN', reason: 'noproc', pid: { name: 'ghost', node: node.name } });
  });
});

describe('links and exit signals', () => {
  it('a crash kills a linked non-trapping peer with the same reason', async () => {
    node = await startNode();
    const box = inbox(node);
    const a = node.spawn(idle);
    const b = linkedReporter(node, a, false, box.pid);
    await box.next();
    const downB = node.monitor(b);
    node.send(a, 'crash');
    expect(((await downB).reason as Error).message).toBe('crashed on purpose');
  });

  it('a trapping peer gets an EXIT message instead and lives on', async () => {
    node = await startNode();
    const box = inbox(node);
    const a = node.spawn(idle);
    const b = linkedReporter(node, a, true, box.pid);
    await box.next();
    node.send(a, 'crash');
    const exit = await box.next();
    expect(exit).toMatchObject({ type: 'EXIT', from: a });
    expect(await node.info(b)).toBeDefined();
  });

  it('a normal exit does not kill a non-trapping linked peer', async () => {
    node = await startNode();
    const box = inbox(node);
    const a = node.spawn(idle);
    const b = linkedReporter(node, a, false, box.pid);
    await box.next();
    const downA = node.monitor(a);
    node.send(a, 'stop');
    expect((await downA).reason).toBe('normal');
    expect((await node.info(b))?.links).toEqual([]);
  });

  it('an actor with many links (a map past a few) keeps their order, unlinks any of them and signals the rest', async () => {
    node = await startNode();
    const box = inbox(node);
    const a = node.spawn(idle);
    const peers: Pid[] = [];
    for (let i = 0; i < 12; i++) {
      peers.push(
        node.spawn(async (ctx: ActorContext) => {
          ctx.trapExit(true);
          ctx.link(a);
          ctx.send(box.pid, { i, msg: 'linked' });
          for (;;) {
            const msg = await ctx.receive();
            if (msg === 'unlink') ctx.unlink(a);
            ctx.send(box.pid, { i, msg });
          }
        }),
      );
      await box.next((m) => m.i === i);
    }
    expect((await node.info(a))?.links).toEqual(peers);
    for (const i of [2, 10]) {
      node.send(peers[i]!, 'unlink');
      await box.next((m) => m.i === i && m.msg === 'unlink');
    }
    expect((await node.info(a))?.links).toEqual(peers.filter((_, i) => i !== 2 && i !== 10));
    node.send(a, 'crash');
    const exited: number[] = [];
    for (let k = 0; k < 10; k++) {
      const { i, msg } = await box.next((m) => m.msg?.type === 'EXIT');
      expect(msg.from).toEqual(a);
      exited.push(i);
    }
    expect(exited.sort((x, y) => x - y)).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 9, 11]);
    // The unlinked two got none: each answers a ping with nothing queued before it.
    for (const i of [2, 10]) {
      node.send(peers[i]!, 'ping');
      expect(await box.next((m) => m.i === i)).toEqual({ i, msg: 'ping' });
    }
  });

  it("'kill' cannot be trapped, and linked peers see 'killed'", async () => {
    node = await startNode();
    const box = inbox(node);
    const trapper = node.spawn(async (ctx: ActorContext) => {
      ctx.trapExit(true);
      ctx.send(box.pid, 'trapping');
      for (;;) await ctx.receive();
    });
    await box.next();
    const peer = linkedReporter(node, trapper, true, box.pid);
    await box.next();
    const down = node.monitor(trapper);
    node.exit(trapper, 'kill');
    expect((await down).reason).toBe('killed');
    expect(await box.next()).toMatchObject({ type: 'EXIT', from: trapper, reason: 'killed' });
    expect(await node.info(peer)).toBeDefined();
  });

  it('exit(pid, normal) is ignored by a non-trapping actor; other reasons kill it', async () => {
    node = await startNode();
    const pid = node.spawn(idle);
    node.exit(pid, 'normal');
    expect(await node.info(pid)).toBeDefined();
    const down = node.monitor(pid);
    node.exit(pid, 'shutdown');
    expect((await down).reason).toBe('shutdown');
  });

  it('a trapping actor gets exit signals as EXIT messages, from whoever sent them', async () => {
    node = await startNode();
    const box = inbox(node);
    const trapper = node.spawn(async (ctx: ActorContext) => {
      ctx.trapExit(true);
      ctx.send(box.pid, 'ready');
      ctx.send(box.pid, await ctx.receive());
    });
    await box.next();
    node.exit(trapper, 'please');
    expect(await box.next()).toMatchObject({ type: 'EXIT', reason: 'please', from: { id: 0 } });
  });

  it('linking to a dead pid delivers noproc', async () => {
    node = await startNode();
    const box = inbox(node);
    const dead = node.spawn(idle);
    node.exit(dead, 'kill');
    await node.monitor(dead);
    linkedReporter(node, dead, true, box.pid);
    await box.next();
    expect(await box.next()).toMatchObject({ type: 'EXIT', from: dead, reason: 'noproc' });
  });

  it('unlink stops exit propagation', async () => {
    node = await startNode();
    const box = inbox(node);
    const a = node.spawn(idle);
    const b = node.spawn(async (ctx: ActorContext) => {
      ctx.link(a);
      ctx.unlink(a);
      ctx.send(box.pid, 'unlinked');
      await ctx.receive();
    });
    await box.next();
    node.send(a, 'crash');
    await node.monitor(a);
    expect(await node.info(b)).toBeDefined();
  });

  it('spawn with link ties the child to its parent', async () => {
    node = await startNode();
    const box = inbox(node);
    const parent = node.spawn(async (ctx: ActorContext) => {
      const child = ctx.spawn(idle, undefined, { link: true });
      ctx.send(box.pid, child);
      await ctx.receive();
    });
    const child = (await box.next()) as Pid;
    const down = node.monitor(child);
    node.exit(parent, 'kill');
    expect((await down).reason).toBe('killed');
  });

  it('code that runs on after its actor was killed cannot act', async () => {
    node = await startNode();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let attempt: unknown;
    let started!: () => void;
    const handling = new Promise<void>((resolve) => (started = resolve));
    const box = inbox(node);
    const pid = node.spawn({
      init: () => null,
      async handle(_msg, state, ctx) {
        started();
        await gate;
        try {
          ctx.send(box.pid, 'too late');
        } catch (err) {
          attempt = err;
        }
        ctx.send(box.pid, 'never');
        return state;
      },
    });
    node.send(pid, 'go');
    await handling;
    const down = node.monitor(pid);
    node.exit(pid, 'kill');
    await down;
    release();
    await gate;
    await new Promise((resolve) => setImmediate(resolve));
    expect(attempt).toMatchObject({ code: 'ACTORS_ACTOR_EXITED' });
  });
});
