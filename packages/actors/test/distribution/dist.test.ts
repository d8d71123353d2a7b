// Goal: actors on different nodes talk as if local (send, call, monitor, link), the
// cookie handshake refuses strangers, a lost connection fires 'noconnection', and bad
// bytes on the wire close only that connection.

import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/distribution/internal/codec.js';
import { type ActorContext, type From, type Pid } from '../../src/index.js';
import { inbox } from '../helpers.js';
import { closeReasons, handDriven, peers } from './peers.js';

const cluster = peers();
afterEach(() => cluster.cleanup());

function distributedNode(name: string, cookie = 'secret', netTickMs = 15_000) {
  return cluster.node(name, { cookie, netTickMs });
}

function childNode(name: string, cookie = 'secret', netTickMs = 15_000) {
  return cluster.child(name, { cookie, netTickMs });
}

const echo = {
  init: () => 0,
  handle: (msg: { replyTo: Pid; body: unknown }, n: number, ctx: ActorContext) => {
    ctx.send(msg.replyTo, { echoed: msg.body, from: ctx.self });
    return n + 1;
  },
  handleCall: (req: unknown, _from: unknown, n: number) => ({ reply: { echoed: req, count: n }, state: n }),
};

describe('two nodes', () => {
  it('send, call, and named sends work across nodes, in order', async () => {
    const a = await distributedNode('a');
    const b = await distributedNode('b');
    expect(a.name).toMatch(/^a@127\.0\.0\.1:\d+$/);
    const server = b.spawn(echo, undefined, { name: 'echo' });
    const box = inbox(a);
    for (let i = 0; i < 100; i++) a.send({ name: 'echo', node: b.name }, { replyTo: box.pid, body: i });
    for (let i = 0; i < 100; i++) expect((await box.next()).echoed).toBe(i);
    expect(await a.call(server, 'hi')).toEqual({ echoed: 'hi', count: 100 });
    expect(a.nodes()).toEqual([b.name]);
    expect(b.nodes()).toEqual([a.name]);
  });

  it('monitors and links span nodes, with crash reasons', async () => {
    const a = await distributedNode('a');
    const b = await distributedNode('b');
    const victim = b.spawn({ init: () => null, handle: () => { throw new Error('remote crash'); } });
    const down = a.monitor(victim);
    const box = inbox(a);
    a.spawn(async (ctx: ActorContext) => {
      ctx.trapExit(true);
      ctx.link(victim);
      ctx.send(box.pid, 'linked');
      ctx.send(box.pid, await ctx.receive());
    });
    await box.next();
    await a.call(b.spawn(echo, undefined), 'sync'); // the link has reached b by now
    a.send(victim, 'crash');
    const msg = await down;
    expect((msg.reason as Error).message).toBe('remote crash');
    expect(await box.next()).toMatchObject({ type: 'EXIT', from: victim });
  });

  it('calls and monitors reach {name, node} on another node, and leave no monitor behind', async () => {
    const a = await distributedNode('a');
    const b = await distributedNode('b');
    const server = b.spawn(echo, undefined, { name: 'echo' });
    for (let i = 0; i < 20; i++) expect(await a.call({ name: 'echo', node: b.name }, i)).toMatchObject({ echoed: i });
    // A message sent after the last demonitor arrives after it: then no monitor is left.
    const box = inbox(a);
    a.send(server, { replyTo: box.pid, body: 'after' });
    await box.next();
    expect((await b.info(server))?.monitoredBy).toBe(0);
    await expect(a.call({ name: 'nobody', node: b.name }, 'x')).rejects.toMatchObject({ code: 'ACTORS_NOPROC' });
    const down = a.monitor({ name: 'echo', node: b.name });
    await a.call({ name: 'echo', node: b.name }, 'sync'); // the monitor is in place on b by now
    b.exit(server, 'bye');
    expect(await down).toMatchObject({ type: 'DOWN', reason: 'bye', pid: server });
    expect((await a.monitor({ name: 'echo', node: b.name })).reason).toBe('noproc');
  });

  it('a replied call costs the caller one signal and leaves no monitor; a reply from another actor still demonitors', async () => {
    const a = await distributedNode('a');
    const b = await distributedNode('b');
    const server = b.spawn(echo, undefined);
    await a.call(server, 'warm');
    const sentBefore = a.connectionInfo(b.name)!.signalsSent;
    for (let i = 0; i < 50; i++) await a.call(server, i);
    // One signal per call (monitor and request together); the reply carries the demonitor back.
    expect(a.connectionInfo(b.name)!.signalsSent - sentBefore).toBe(50);
    expect((await b.info(server))?.monitoredBy).toBe(0);

    // A front that hands the caller's `from` to a worker: the worker's reply cannot drop
    // the front's monitor, so the caller demonitors as usual.
    const worker = b.spawn({ init: () => null, handle: (m: { from: From; value: unknown }, s: null, ctx: ActorContext) => (ctx.reply(m.from, m.value), s) });
    const front = b.spawn({ init: () => null, handleCall: (req: unknown, from: From, s: null, ctx: ActorContext) => (ctx.send(worker, { from, value: req }), { noreply: true as const, state: s }) });
    for (let i = 0; i < 5; i++) expect(await a.call(front, i)).toBe(i);
    const box = inbox(a);
    a.send(server, { replyTo: box.pid, body: 'after' }); // behind the last demonitor
    await box.next();
    expect((await b.info(front))?.monitoredBy).toBe(0);
  });

  it('a call to a dead remote pid fails with noproc', async () => {
    const a = await distributedNode('a');
    const b = await distributedNode('b');
    const gone = b.spawn(echo, undefined);
    const down = b.monitor(gone);
    b.exit(gone, 'kill');
    await down;
    await expect(a.call(gone, 'x')).rejects.toMatchObject({ code: 'ACTORS_NOPROC' });
  });

  it('refuses a peer with the wrong cookie on both sides, with a logged reason', async () => {
    const a = await distributedNode('a', 'one cookie');
    const b = await distributedNode('b', 'another cookie');
    expect(await a.connect(b.name)).toBe(false);
    expect(a.nodes()).toEqual([]);
    expect(closeReasons(a)).toContain(`cookie mismatch: node ${b.name} does not hold this node's cookie`);
    await expect.poll(() => closeReasons(b)).toContain("peer refused the handshake: cookie mismatch: the peer does not hold this node's cookie");
    // A monitor on a refused node fires noconnection.
    expect((await a.monitor({ node: b.name, scheduler: 0, id: 1, creation: 1 })).reason).toBe('noconnection');
  });

  it('an unreachable node gives DOWN noconnection and failed calls', async () => {
    const a = await distributedNode('a');
    const nowhere = 'ghost@127.0.0.1:1';
    const pid = { node: nowhere, scheduler: 0, id: 1, creation: 1 };
    expect((await a.monitor(pid)).reason).toBe('noconnection');
    await expect(a.call(pid, 'x')).rejects.toMatchObject({ code: 'ACTORS_NODEDOWN' });
  });
});

describe('peers in other processes', () => {
  it('kill -9 of a peer fires DOWN noconnection and fails pending calls', async () => {
    const a = await distributedNode('a');
    const peer = await childNode('p1');
    const box = inbox(a);
    a.send({ name: 'echo', node: peer.name }, { replyTo: box.pid, body: 'hello' });
    const { from: remoteEcho } = await box.next();
    expect(await a.call(remoteEcho, 'ping')).toMatchObject({ echoed: 'ping' });
    const down = a.monitor(remoteEcho);
    const nodedown = new Promise((resolve) => {
      a.spawn(async (ctx: ActorContext) => {
        ctx.monitorNode(peer.name);
        resolve(await ctx.receive((m) => m.type === 'nodedown'));
      });
    });
    peer.child.kill('SIGKILL');
    expect((await down).reason).toBe('noconnection');
    expect(await nodedown).toMatchObject({ type: 'nodedown', node: peer.name });
    await expect(a.call(remoteEcho, 'ping')).rejects.toMatchObject({ code: 'ACTORS_NODEDOWN' });
  });

  it('a paused peer is dropped by the net tick, and a restarted one reconnects', async () => {
    const a = await distributedNode('a', 'secret', 400);
    const peer = await childNode('p2', 'secret', 400);
    expect(await a.connect(peer.name)).toBe(true);
    const down = new Promise((resolve) => {
      a.spawn(async (ctx: ActorContext) => {
        ctx.monitorNode(peer.name);
        resolve(await ctx.receive((m) => m.type === 'nodedown'));
      });
    });
    peer.child.kill('SIGSTOP');
    expect(await down).toMatchObject({ type: 'nodedown', reason: expect.stringContaining('stopped answering') });
    peer.child.kill('SIGCONT');
    peer.child.kill('SIGKILL');
    const again = await childNode('p2', 'secret', 400);
    expect(await a.connect(again.name)).toBe(true);
  });
});

describe('bad input', () => {
  it('closes a connection that sends a valid frame of an unknown kind after the handshake', async () => {
    const a = await distributedNode('a');
    const b = await distributedNode('b');
    const intruder = await handDriven(a, 'intruder@127.0.0.1:9');
    intruder.socket.write(encodeFrame([99, 'what is this']));
    expect(await intruder.closed).toBe('connection closed by peer');
    expect(closeReasons(a)).toContain('unknown frame kind 99');
    const server = a.spawn(echo, undefined);
    expect(await b.call(server, 'still serving')).toMatchObject({ echoed: 'still serving' });
  });

  function rawSend(port: number, bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      const socket: Socket = connect({ host: '127.0.0.1', port }, () => {
        socket.write(bytes);
        socket.end();
      });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
  }

  it('survives thousands of random, truncated, oversized and premature frames', async () => {
    const a = await distributedNode('a');
    const b = await distributedNode('b');
    const port = Number(a.name.split(':').at(-1));
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const inputs: Buffer[] = [];
    for (let i = 0; i < 2_000; i++) {
      const kind = i % 4;
      const body = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      const length = Buffer.alloc(4);
      if (kind === 0) inputs.push(body); // random bytes
      else if (kind === 1) {
        length.writeUInt32BE(0xffffffff); // oversized length
        inputs.push(Buffer.concat([length, body]));
      } else if (kind === 2) {
        length.writeUInt32BE(body.length + 10); // truncated frame
        inputs.push(Buffer.concat([length, body]));
      } else {
        const frame = Buffer.from([0x92, 0x0a, 0x90]); // [SIGNALS, []] before any handshake
        length.writeUInt32BE(frame.length);
        inputs.push(Buffer.concat([length, frame]));
      }
    }
    for (let i = 0; i < inputs.length; i += 50) await Promise.all(inputs.slice(i, i + 50).map((bytes) => rawSend(port, bytes)));
    const server = a.spawn(echo, undefined);
    expect(await b.call(server, 'still here')).toMatchObject({ echoed: 'still here' });
  });
});
