// Goal: one connection per pair of nodes whatever the timing (simultaneous dials, a
// peer that dials again over a stale connection), bounded memory for a peer that does
// not read, and heartbeats ahead of queued data.

import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/distribution/internal/connection.js';
import type { NodeDistribution } from '../../src/distribution/distribution.js';
import type { ActorContext, Node, Pid } from '../../src/index.js';
import { inbox } from '../helpers.js';
import { closeReasons, freePort, peers } from './peers.js';

const cluster = peers();
afterEach(() => cluster.cleanup());

interface DistInternals {
  peers: Map<string, { conn: Connection | undefined }>;
  onHeartbeat: ((node: string) => void) | undefined;
  sendHeartbeat(node: string): boolean;
}

function dist(node: Node): DistInternals {
  return (node as unknown as { dist: NodeDistribution }).dist as unknown as DistInternals;
}

function connection(node: Node, peer: string): Connection {
  const conn = dist(node).peers.get(peer)?.conn;
  if (conn === undefined) throw new Error(`${node.name} has no connection to ${peer}`);
  return conn;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

const counter = {
  init: () => 0,
  handle: (_msg: unknown, n: number) => n + 1,
  handleCall: (_req: unknown, _from: unknown, n: number) => ({ reply: n, state: n }),
};

function nodedown(node: Node, peer: string): Promise<{ type: 'nodedown'; node: string; reason: string }> {
  return new Promise((resolve) => {
    node.spawn(async (ctx: ActorContext) => {
      ctx.monitorNode(peer);
      resolve((await ctx.receive((m) => m.type === 'nodedown'))!);
    });
  });
}

describe('one connection per pair', () => {
  it('two nodes dialling each other at once keep one connection and lose no message', async () => {
    let raced = 0;
    for (let round = 0; round < 8; round++) {
      const a = await cluster.node(`a${round}`, { failureDetector: false });
      const b = await cluster.node(`b${round}`, { failureDetector: false });
      const inA = inbox(a);
      const inB = inbox(b);
      // Both sends in one turn: both nodes dial before either hello arrives.
      a.send(inB.pid, 'from a');
      b.send(inA.pid, 'from b');
      expect(await inB.next()).toBe('from a');
      expect(await inA.next()).toBe('from b');
      const ab = connection(a, b.name);
      const ba = connection(b, a.name);
      expect(ab.socket.localPort).toBe(ba.socket.remotePort);
      expect(ab.outbound).toBe(!ba.outbound);
      expect(a.nodes()).toEqual([b.name]);
      expect(b.nodes()).toEqual([a.name]);
      if ([...closeReasons(a), ...closeReasons(b)].some((r) => r.includes('dialled each other at once'))) raced++;
    }
    expect(raced).toBeGreaterThan(0); // the tie-break really ran
  });

  it('a peer that dials over a connection it no longer has replaces it, and what hung on the old one fires', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const server = b.spawn(counter, undefined);
    const down = a.monitor(server);
    await a.call(server, 'sync'); // the monitor is in place on b by now
    // b forgets the connection without closing it, as if its close were still on the way.
    const stale = connection(b, a.name);
    dist(b).peers.get(a.name)!.conn = undefined;
    const box = inbox(a);
    b.send(box.pid, 'over a new connection');
    expect(await box.next()).toBe('over a new connection');
    expect((await down).reason).toBe('noconnection');
    expect(a.nodes()).toEqual([b.name]);
    expect(connection(a, b.name).socket.remotePort).toBe(connection(b, a.name).socket.localPort);
    expect(closeReasons(a).some((r) => r.startsWith('replaced by a newer connection'))).toBe(true);
    stale.close('test over');
  });
});

describe('flow control', () => {
  it('heartbeats overtake data frames queued for a peer that does not read', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const sink = b.spawn(counter, undefined);
    await a.call(sink, 'connect');
    const ab = connection(a, b.name);
    const ba = connection(b, a.name);
    ba.socket.pause();
    const payload = 'x'.repeat(64 * 1024);
    let payloads = 0;
    while (ab.queuedByteCount === 0) {
      for (let i = 0; i < 8; i++) a.send(sink, payload);
      payloads += 8;
      await turn();
    }
    const sentBefore = ab.signalsSent;
    let receivedAtBeat = -1;
    dist(b).onHeartbeat = () => {
      if (receivedAtBeat < 0) receivedAtBeat = ba.signalsReceived;
    };
    expect(dist(a).sendHeartbeat(b.name)).toBe(true);
    ba.socket.resume();
    await expect.poll(() => receivedAtBeat, { timeout: 10_000 }).toBeGreaterThanOrEqual(0);
    expect(receivedAtBeat).toBeLessThan(sentBefore);
    expect(await a.call(sink, 'count')).toBe(payloads);
  });

  it('closes the connection to a peer that stops reading once maxQueuedBytes wait, then reconnects', async () => {
    const maxQueuedBytes = 4 * 2 ** 20;
    const a = await cluster.node('a', { maxQueuedBytes, netTickMs: 60_000, failureDetector: false });
    const peer = await cluster.child('slow', { netTickMs: 60_000 });
    const echo = await whereisEcho(a, peer.name);
    const down = a.monitor(echo);
    const gone = nodedown(a, peer.name);
    await a.call(echo, 'sync');
    const conn = connection(a, peer.name);
    peer.child.kill('SIGSTOP');
    let closed = false;
    void down.then(() => (closed = true));
    const payload = 'x'.repeat(64 * 1024);
    while (!closed) {
      for (let i = 0; i < 16; i++) a.send(echo, payload);
      await turn();
    }
    expect((await down).reason).toBe('noconnection');
    expect((await gone).reason).toMatch(/^peer is overloaded/);
    // Bounded: the bound plus at most the frame that crossed it.
    expect(conn.queuedBytesPeak).toBeLessThanOrEqual(maxQueuedBytes + 17 * 64 * 1024);
    peer.child.kill('SIGCONT');
    expect(await a.call(echo, 'back')).toMatchObject({ echoed: 'back' });
  });
});

describe('node monitors', () => {
  it('a node that stays unreachable is reported down once, not at every dial, and again after it was up', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const port = await freePort();
    const ghost = `ghost@127.0.0.1:${port}`;
    const box = inbox(a);
    a.spawn(async (ctx: ActorContext) => {
      ctx.monitorNode(ghost);
      for (;;) ctx.send(box.pid, await ctx.receive());
    });
    expect(await box.next()).toMatchObject({ type: 'nodedown', node: ghost });
    expect(await a.connect(ghost)).toBe(false);
    expect(await a.connect(ghost)).toBe(false);
    a.send(box.pid, 'probe');
    expect(await box.next()).toBe('probe');
    // Once it is up and goes down again, the watcher hears of both.
    const peer = await cluster.child('ghost', { port });
    expect(await a.connect(peer.name)).toBe(true);
    expect(await box.next()).toEqual({ type: 'nodeup', node: ghost });
    peer.child.kill('SIGKILL');
    expect(await box.next()).toMatchObject({ type: 'nodedown', node: ghost });
  });
});

async function whereisEcho(node: Node, peer: string): Promise<Pid> {
  const box = inbox(node);
  node.send({ name: 'echo', node: peer }, { replyTo: box.pid, body: 'where' });
  return (await box.next<{ from: Pid }>()).from;
}
