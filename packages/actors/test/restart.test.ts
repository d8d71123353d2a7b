// Goal: pids carry their node's creation, so a node restarted under the same name and
// port never hands an old pid to a new actor: everything sent to a pid of the earlier
// incarnation behaves as sent to a dead process (DOWN and EXIT noproc, failed calls).

import { afterAll, describe, expect, it } from 'vitest';
import { parseNodeName, pidEquals, type ActorContext, type ExitMessage, type Pid } from '../src/index.js';
import { peers } from './distribution/peers.js';
import { inbox, startNode } from './helpers.js';

const cluster = peers();
afterAll(() => cluster.cleanup());

interface PeerPids {
  echo: Pid;
  detector: Pid;
}

describe('a node restarted on the same name and port', () => {
  it('treats the pids of its earlier incarnation as dead processes', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const first = await cluster.child('p');
    const port = parseNodeName(first.name)!.port;
    const old = await a.call<PeerPids>({ name: 'echo', node: first.name }, 'pids');
    const lost = a.monitor(old.echo);
    first.child.kill('SIGKILL');
    expect((await lost).reason).toBe('noconnection');

    const second = await cluster.child('p', { port });
    expect(second.name).toBe(first.name);
    const now = await a.call<PeerPids>({ name: 'echo', node: second.name }, 'pids');
    // The new incarnation numbers its actors as the old one did: only the creation differs.
    expect({ ...now.echo, creation: old.echo.creation }).toEqual(old.echo);
    expect(now.echo.creation).not.toBe(old.echo.creation);

    expect((await a.monitor(old.echo)).reason).toBe('noproc');
    expect((await a.monitor(old.detector)).reason).toBe('noproc');
    expect(pidEquals((await a.monitor(old.echo)).pid as Pid, old.echo)).toBe(true);
    await expect(a.call(old.echo, 'hello')).rejects.toMatchObject({ code: 'ACTORS_NOPROC' });

    // A message to the old pid is dropped; the one sent after it to the new pid arrives first.
    const box = inbox(a);
    a.send(old.echo, { replyTo: box.pid, body: 'to the old echo' });
    a.send(now.echo, { replyTo: box.pid, body: 'to the new echo' });
    expect((await box.next((m) => m.echoed !== undefined)).echoed).toBe('to the new echo');

    // A link to the old pid gets EXIT noproc; an exit signal to it reaches nobody.
    const trapper = a.spawn(async (ctx: ActorContext) => {
      ctx.trapExit(true);
      ctx.link(old.echo);
      ctx.send(box.pid, await ctx.receive((m) => m?.type === 'EXIT'));
    });
    const exit = await box.next<ExitMessage>((m) => m.type === 'EXIT');
    expect(exit.reason).toBe('noproc');
    expect(pidEquals(exit.from, old.echo)).toBe(true);
    expect(trapper).toBeDefined();
    a.exit(old.echo, 'kill');
    expect(await a.call(now.echo, 'still here')).toMatchObject({ echoed: 'still here' });
  });
});

describe('a pid of an earlier incarnation on this very scheduler', () => {
  it('is a dead process to exit signals, from outside actors and from actors', async () => {
    const node = await startNode();
    try {
      const counter = { init: () => 0, handleCall: (_r: unknown, _f: unknown, n: number) => ({ reply: n, state: n }) };
      const alive = node.spawn(counter, undefined);
      // Same node, scheduler and number: only the creation says it is another incarnation's.
      const earlier: Pid = { ...alive, creation: alive.creation === 1 ? 2 : alive.creation - 1 };
      node.exit(earlier, 'kill');
      const killer = node.spawn(async (ctx: ActorContext) => ctx.exit(earlier, 'kill'));
      expect((await node.monitor(killer)).reason).toBe('normal');
      expect(await node.call(alive, 'count')).toBe(0);
    } finally {
      await node.stop();
    }
  });
});
