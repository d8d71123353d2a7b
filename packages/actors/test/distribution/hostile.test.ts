// Goal: a peer that has not proved the cookie can change nothing and hold little: small
// frames refused from their length header, a handshake deadline kept to the
// millisecond, a cap on handshakes in progress, no peer state taken on a claimed name,
// and refusals logged at a bounded rate. Authenticated peers are checked for shapes too.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { ANSWER, encodeFrame, HELLO, PROTOCOL_VERSION, SIGNALS } from '../../src/distribution/internal/codec.js';
import { Connection } from '../../src/distribution/internal/connection.js';
import { RefusalLog } from '../../src/distribution/internal/refusal-log.js';
import { HANDSHAKE_FRAME_BYTES_MAX, REFUSAL_LOGS_PER_INTERVAL_MAX, UNAUTHENTICATED_CONNECTIONS_MAX } from '../../src/distribution/limits.js';
import { parseNodeName, silentLogger, type Node } from '../../src/index.js';
import { inbox } from '../helpers.js';
import { closeReasons, handDriven, peers } from './peers.js';

const cluster = peers();
afterEach(() => cluster.cleanup());

const echo = {
  init: () => null,
  handleCall: (req: unknown, _from: unknown, s: null) => ({ reply: req, state: s }),
};

function open(node: Node): Promise<Socket> {
  const { host, port } = parseNodeName(node.name)!;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves once the socket is closed. */
function closing(socket: Socket): Promise<void> {
  socket.resume();
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

const challenge = () => 'c'.repeat(32);

describe('before authentication', () => {
  it('refuses a 32 MiB length header at once, from the header alone', async () => {
    // A long net tick: the handshake deadline (10 s) is not what closes it.
    const a = await cluster.node('a', { netTickMs: 60_000, failureDetector: false });
    const socket = await open(a);
    const closed = closing(socket);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(32 * 2 ** 20);
    socket.write(head);
    await closed;
    expect(closeReasons(a).some((r) => r.includes(`exceeds the limit of ${HANDSHAKE_FRAME_BYTES_MAX}`))).toBe(true);
  });

  it('refuses a hello that is larger than a handshake frame may be', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const socket = await open(a);
    const closed = closing(socket);
    socket.write(encodeFrame([HELLO, PROTOCOL_VERSION, 'x@127.0.0.1:1', a.name, challenge(), 'y'.repeat(HANDSHAKE_FRAME_BYTES_MAX)]));
    await closed;
    expect(closeReasons(a).some((r) => r.includes('exceeds the limit'))).toBe(true);
  });

  it('closes a silent connection when the handshake deadline passes, not at the next tick', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect({ host: '127.0.0.1', port });
    client.on('error', () => undefined);
    const socket = await accepted;
    const handshakeTimeoutMs = 300;
    const startMs = performance.now();
    const closed = new Promise<{ reason: string; afterMs: number }>((resolve) => {
      // A net tick of ten minutes: the liveness timer would look again only after 150 s.
      const settings = { myName: 'a@127.0.0.1:1', myCreation: 1, cookie: 'secret', maxFrameBytes: 1 << 20, maxQueuedBytes: 1 << 20, netTickMs: 600_000, handshakeTimeoutMs, logger: silentLogger, refusals: new RefusalLog(silentLogger) };
      new Connection(socket, false, undefined, settings, {
        decideInbound: () => 'accept',
        up: () => undefined,
        signals: () => undefined,
        heartbeat: () => undefined,
        closed: (_conn, reason) => resolve({ reason, afterMs: performance.now() - startMs }),
      });
    });
    const { reason, afterMs } = await closed;
    client.destroy();
    server.close();
    expect(reason).toContain('handshake did not complete');
    expect(afterMs).toBeGreaterThanOrEqual(handshakeTimeoutMs - 1);
    // The deadline's own timer, give or take a loaded machine; the liveness tick is 150 s away.
    expect(afterMs).toBeLessThan(handshakeTimeoutMs + 2_000);
  });

  it('caps the handshakes in progress; dialling out and existing connections go on', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const silent = await Promise.all(Array.from({ length: UNAUTHENTICATED_CONNECTIONS_MAX }, () => open(a)));
    const stillOpen = silent.map((s) => {
      let open = true;
      void closing(s).then(() => (open = false));
      return () => open;
    });
    const extra = await open(a);
    await closing(extra);
    expect(closeReasons(a).some((r) => r.includes(`${UNAUTHENTICATED_CONNECTIONS_MAX} connections are already in their handshake`))).toBe(true);
    // The node dials out as before, and the silent ones wait for their deadline.
    const server = b.spawn(echo, undefined);
    expect(await a.call(server, 'through')).toBe('through');
    expect(stillOpen.every((isOpen) => isOpen())).toBe(true);
    for (const s of silent) s.destroy();
  });

  it('a hello claiming a connected node disturbs neither its connection nor its monitors', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const server = b.spawn(echo, undefined);
    const down = a.monitor(server);
    expect(await a.call(server, 'up')).toBe('up');
    const before = a.connectionInfo(b.name)!;

    const impostor = await open(a);
    const closed = closing(impostor);
    impostor.write(encodeFrame([HELLO, PROTOCOL_VERSION, b.name, a.name, challenge(), 1]));
    impostor.write(encodeFrame([ANSWER, 'f'.repeat(64)]));
    await closed;

    expect(closeReasons(a).some((r) => r.includes('cookie mismatch'))).toBe(true);
    expect(a.nodes()).toEqual([b.name]);
    expect(await a.call(server, 'still')).toBe('still');
    expect(a.connectionInfo(b.name)!.signalsReceived).toBeGreaterThan(before.signalsReceived);
    // The monitor still holds: it fires when the actor goes, with the actor's reason.
    b.exit(server, 'done');
    expect(await down).toMatchObject({ type: 'DOWN', reason: 'done' });
  });

  it('a hello claiming a node this one is dialling does not cancel the dial', async () => {
    // The node dialled plays X here, by hand, and answers only after the impostor is gone.
    const fakeX: Server = createServer();
    await new Promise<void>((resolve) => fakeX.listen(0, '127.0.0.1', () => resolve()));
    const xName = `x@127.0.0.1:${(fakeX.address() as { port: number }).port}`;
    const dialIn = new Promise<Socket>((resolve) => fakeX.once('connection', (s: Socket) => (s.pause(), resolve(s))));
    // 'y' > 'x': by the tie-break, an inbound connection from X would replace this node's own dial.
    const y = await cluster.node('y', { failureDetector: false });
    const connected = y.connect(xName);
    const xSide = await dialIn;

    const impostor = await open(y);
    const closed = closing(impostor);
    impostor.write(encodeFrame([HELLO, PROTOCOL_VERSION, xName, y.name, challenge(), 1]));
    impostor.write(encodeFrame([ANSWER, 'f'.repeat(64)]));
    await closed;

    // X answers the dial now: it still goes through.
    const xUp = new Promise<void>((resolve) => {
      const settings = { myName: xName, myCreation: 1, cookie: 'secret', maxFrameBytes: 1 << 20, maxQueuedBytes: 1 << 20, netTickMs: 60_000, handshakeTimeoutMs: 5_000, logger: silentLogger, refusals: new RefusalLog(silentLogger) };
      new Connection(xSide, false, undefined, settings, { decideInbound: () => 'accept', up: () => resolve(), signals: () => undefined, heartbeat: () => undefined, closed: () => undefined });
      xSide.resume();
    });
    expect(await connected).toBe(true);
    await xUp;
    expect(y.nodes()).toEqual([xName]);
    xSide.destroy();
    fakeX.close();
  });

  it('hellos with made-up names leave no peer entries behind', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const peerEntries = () => (a as unknown as { dist: { peers: Map<string, unknown> } }).dist.peers.size;
    const before = peerEntries();
    for (let i = 0; i < 20; i++) {
      const socket = await open(a);
      const closed = closing(socket);
      socket.write(encodeFrame([HELLO, PROTOCOL_VERSION, `made-up${i}@127.0.0.1:1`, a.name, challenge(), 1]));
      socket.write(encodeFrame([ANSWER, 'f'.repeat(64)]));
      await closed;
    }
    expect(peerEntries()).toBe(before);
  });

  it('logs refused connections at a bounded rate, and sums up the rest', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const floods = 50;
    for (let i = 0; i < floods; i++) {
      const socket = await open(a);
      const closed = closing(socket);
      socket.write(encodeFrame([99]));
      await closed;
    }
    const refused = a.records.filter((r) => r.msg === 'distribution connection refused' || r.msg === 'distribution connection closed');
    expect(refused.length).toBeLessThanOrEqual(REFUSAL_LOGS_PER_INTERVAL_MAX);
    await a.stop({ timeoutMs: 200 });
    const summary = a.records.find((r) => r.obj.count !== undefined);
    expect(summary?.obj.count).toBe(floods - refused.length);
  });
});

describe('authenticated peers', () => {
  /** Objects as records, as a node's own codec sends them (a plain msgpack map arrives as a Map). */
  const exitOf = (from: number | unknown[], to: number, reason: unknown, link: boolean) => {
    const body = new Packr({ sequential: true, moreTypes: true }).pack([SIGNALS, [[6, from, to, reason, link]]]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    return Buffer.concat([head, body]);
  };
  /** A pid of the receiving node packed as the wire packs it. */
  const packedLocal = (pid: { scheduler: number; id: number }) => (pid.id * 256 + pid.scheduler) * 2 + 1;

  it('refuses a named send whose name is not a string', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const intruder = await handDriven(a, 'intruder@127.0.0.1:1');
    intruder.socket.write(encodeFrame([SIGNALS, [[2, { not: 'a name' }, a.name, 'hi']]]));
    await intruder.closed;
    expect(closeReasons(a).some((r) => r.startsWith('malformed signal from peer'))).toBe(true);
  });

  it('refuses an exit whose reason is a hostile error, and the target lives on', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const target = inbox(a, { trapExit: true });
    const intruder = await handDriven(a, 'intruder@127.0.0.1:1');
    // An error whose name cannot become a string: rebuilding it used to throw out of the socket callback.
    intruder.socket.write(exitOf(2 * 256 * 2, packedLocal(target.pid), { $error: { name: { toString: 0 }, message: 'x', code: 'X' } }, false));
    expect(await intruder.closed).toBe('connection closed by peer');
    expect(closeReasons(a).some((r) => r.includes('exit with a malformed error as its reason'))).toBe(true);
    a.send(target.pid, 'marker');
    expect(await target.next((m) => m === 'marker' || m?.type === 'EXIT')).toBe('marker');
  });

  it('refuses a link that claims to come from a third node, so no exit from it arrives later', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const target = inbox(a, { trapExit: true });
    const intruder = await handDriven(a, 'intruder@127.0.0.1:1');
    intruder.socket.write(encodeFrame([SIGNALS, [[4, ['third@127.0.0.1:3', 0, 7, 1], packedLocal(target.pid)]]]));
    await intruder.closed;
    expect(closeReasons(a).some((r) => r.includes('link from an actor of another node than the sender'))).toBe(true);
    a.send(target.pid, 'marker');
    expect(await target.next((m) => m === 'marker' || m?.type === 'EXIT')).toBe('marker');
  });

  it('refuses a frame that names one object from many places (structured-clone references)', async () => {
    const a = await cluster.node('a', { failureDetector: false });
    const target = inbox(a);
    const intruder = await handDriven(a, 'intruder@127.0.0.1:1');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const body = new Packr({ structuredClone: true }).pack([SIGNALS, [[0, packedLocal(target.pid), { reason: cyclic }]]]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    intruder.socket.write(Buffer.concat([head, body]));
    await intruder.closed;
    expect(closeReasons(a).some((r) => r.includes('extension type 0x69 is not accepted'))).toBe(true);
  });
});
