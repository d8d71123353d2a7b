// Goal: phi rises with silence against the history of arrivals, and an outage does not
// enter that history; the detector tells subscribers when a peer is killed or paused
// and when it comes back (dialling it again itself), bulk traffic does not make it
// suspect a live peer, and it survives a crash and forged timer messages.

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FAILURE_DETECTOR_NAME, ManualClock, PhiAccrual, phiOf, subscribeFailureDetector, type ActorContext, type Node, type NodeOptions } from '../../src/index.js';
import { LocalPauses } from '../../src/distribution/local-pause.js';
import { startFailureDetector, type HeartbeatLink } from '../../src/distribution/failure-detector.js';
import { REDIAL_MS_MAX } from '../../src/distribution/limits.js';
import { inbox, startNode, type Inbox } from '../helpers.js';
import { freePort, peers } from './peers.js';

const nodes: Node[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await Promise.all(nodes.splice(0).map((n) => n.stop({ timeoutMs: 200 })));
});

const fast = { heartbeatIntervalMs: 50, pollIntervalMs: 200 };

async function node(name: string, netTickMs = 60_000, options: NodeOptions = {}) {
  const n = await startNode({ name, port: 0, cookie: 'secret', netTickMs, failureDetector: fast, ...options });
  nodes.push(n);
  return n;
}

function childNode(name: string, netTickMs = 60_000): Promise<{ child: ChildProcess; name: string }> {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const script = new URL('./fixtures/peer.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', loader, script, name, 'secret', String(netTickMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve({ child, name: out.split('\n')[0]!.trim() });
    });
  });
}

/** kill -9 of the peer: the detector must suspect it within ten polls. */
async function expectKilledPeerSuspected(peer: { child: ChildProcess; name: string }, box: Inbox): Promise<void> {
  peer.child.kill('SIGKILL');
  const killedAt = Date.now();
  expect(await box.next((m) => m.type === 'node-maybe-down')).toEqual({ type: 'node-maybe-down', node: peer.name });
  expect(Date.now() - killedAt).toBeLessThan(10 * fast.pollIntervalMs);
}

describe('phi', () => {
  it('stays low while heartbeats keep their rhythm and grows with silence', () => {
    const detector = new PhiAccrual({ windowSize: 1_000, minStdDeviationMs: 100, acceptablePauseMs: 0, firstIntervalMs: 100, phiThreshold: 8 });
    for (let t = 0; t <= 10_000; t += 100) detector.heartbeat(t);
    expect(detector.phi(10_100)).toBeLessThan(1);
    const later = [10_300, 10_500, 10_800, 11_500].map((t) => detector.phi(t));
    for (let i = 1; i < later.length; i++) expect(later[i]).toBeGreaterThan(later[i - 1]!);
    expect(detector.phi(11_500)).toBeGreaterThan(8);
  });

  it('an acceptable pause and the minimum deviation delay suspicion', () => {
    expect(phiOf(700, 100, 100)).toBeGreaterThan(8);
    expect(phiOf(700, 100 + 500, 100)).toBeLessThan(2);
    expect(phiOf(150, 100, 1)).toBeGreaterThan(phiOf(150, 100, 100));
  });

  it('keeps only the window of samples', () => {
    const detector = new PhiAccrual({ windowSize: 10, minStdDeviationMs: 1, acceptablePauseMs: 0, firstIntervalMs: 1_000, phiThreshold: 8 });
    let t = 0;
    for (let i = 0; i < 20; i++) detector.heartbeat((t += 10));
    // The seed of 1,000 ms intervals has left the window: 50 ms of silence is already suspicious.
    expect(detector.phi(t + 50)).toBeGreaterThan(8);
  });

  it('leaves an outage out of the history, so the next failure is detected as fast as the first', () => {
    const detector = new PhiAccrual({ windowSize: 1_000, minStdDeviationMs: 100, acceptablePauseMs: 500, firstIntervalMs: 100, phiThreshold: 8 });
    let t = 0;
    for (; t <= 10_000; t += 100) detector.heartbeat(t);
    const firstDetectionMs = silenceUntilSuspected(detector, t - 100);
    // A 30 s outage, during which the node was suspected, then a regular rhythm again.
    t += 30_000;
    for (const end = t + 5_000; t <= end; t += 100) detector.heartbeat(t);
    expect(silenceUntilSuspected(detector, t - 100)).toBe(firstDetectionMs);
  });

  it('keeps a late heartbeat that came before suspicion', () => {
    const detector = new PhiAccrual({ windowSize: 1_000, minStdDeviationMs: 100, acceptablePauseMs: 500, firstIntervalMs: 100, phiThreshold: 8 });
    let t = 0;
    for (; t <= 10_000; t += 100) detector.heartbeat(t);
    const before = silenceUntilSuspected(detector, t - 100);
    detector.heartbeat(t - 100 + 900);
    expect(silenceUntilSuspected(detector, t + 800)).toBeGreaterThan(before);
  });
});

describe('local pauses', () => {
  it('are seen by the timer being late past the tolerance, and counted within a span', () => {
    const pauses = new LocalPauses(100, 100);
    pauses.beat(0);
    pauses.beat(150); // 50 ms late: jitter
    expect(pauses.pausedMs(0, 300)).toBe(0);
    pauses.beat(3_250); // due at 250: paused 3 s
    expect(pauses.pausedMs(0, 3_300)).toBe(3_000);
    expect(pauses.pausedMs(1_250, 2_250)).toBe(1_000);
    expect(pauses.pausedMs(3_250, 3_300)).toBe(0);
  });

  it('count a pause that has just ended before the timer has had its turn', () => {
    const pauses = new LocalPauses(100, 100);
    pauses.beat(0);
    // The timer was due at 100 and has not fired by 2,100: we were held up all along.
    expect(pauses.pausedMs(0, 2_100)).toBe(2_000);
    expect(pauses.pausedMs(0, 150)).toBe(0);
  });

  it('leave a paused span out of phi and out of the history', () => {
    const options = { windowSize: 1_000, minStdDeviationMs: 100, acceptablePauseMs: 500, firstIntervalMs: 100, phiThreshold: 8 };
    const detector = new PhiAccrual(options);
    let t = 0;
    for (; t <= 10_000; t += 100) detector.heartbeat(t);
    const last = t - 100;
    expect(detector.phi(last + 3_000)).toBeGreaterThan(8);
    expect(detector.phi(last + 3_000, 2_950)).toBeLessThan(1);
    const before = silenceUntilSuspected(detector, last);
    // The heartbeats that waited while we were paused: no 3 s sample enters the history.
    detector.heartbeat(last + 3_000, 2_950);
    expect(detector.lastHeartbeatMs).toBe(last + 3_000);
    expect(silenceUntilSuspected(detector, last + 3_000)).toBe(before);
  });
});

/** Milliseconds of silence after the heartbeat at `lastMs` before phi passes 8 (in 10 ms steps). */
function silenceUntilSuspected(detector: PhiAccrual, lastMs: number): number {
  let silenceMs = 0;
  while (detector.phi(lastMs + silenceMs) < 8) silenceMs += 10;
  return silenceMs;
}

describe('failure detector', () => {
  it('reports a killed peer within about two poll intervals', async () => {
    const a = await node('a');
    const peer = await childNode('fd1');
    const box = inbox(a);
    await subscribeFailureDetector(a, box.pid);
    expect(await a.connect(peer.name)).toBe(true);
    await box.next((m) => m.type === 'node-up' && m.node === peer.name);
    await expectKilledPeerSuspected(peer, box);
  });

  it('reports a paused peer down, then up once it runs again', async () => {
    const a = await node('a');
    const peer = await childNode('fd2');
    const box = inbox(a);
    await subscribeFailureDetector(a, box.pid);
    expect(await a.connect(peer.name)).toBe(true);
    await box.next((m) => m.type === 'node-up');
    peer.child.kill('SIGSTOP');
    expect(await box.next()).toEqual({ type: 'node-maybe-down', node: peer.name });
    peer.child.kill('SIGCONT');
    expect(await box.next()).toEqual({ type: 'node-up', node: peer.name });
  });

  it('does not suspect a live peer, nor drop its connection, for a pause of its own; a killed peer is still found', async () => {
    // The net tick (2 s) is shorter than the pause: only our own lateness explains the silence.
    const a = await node('a', 2_000);
    const peer = await childNode('fd5');
    const box = inbox(a);
    await subscribeFailureDetector(a, box.pid);
    expect(await a.connect(peer.name)).toBe(true);
    await box.next((m) => m.type === 'node-up' && m.node === peer.name);
    a.spawn(async (ctx: ActorContext) => {
      ctx.monitorNode(peer.name);
      for (;;) ctx.send(box.pid, await ctx.receive());
    });
    const detector = a.whereis(FAILURE_DETECTOR_NAME)!;

    const busyUntil = performance.now() + 3_000;
    while (performance.now() < busyUntil) {
      // A blocked event loop: no timer, no socket read, no actor runs.
    }

    // The connection is up (a round trip) and the detector polled several times since.
    a.send({ name: 'echo', node: peer.name }, { replyTo: box.pid, body: 'after the pause' });
    expect(await box.next((m) => m.echoed !== undefined)).toMatchObject({ echoed: 'after the pause' });
    await new Promise((resolve) => setTimeout(resolve, 5 * fast.pollIntervalMs));
    expect(await a.call<number | null>(detector, { op: 'phi', node: peer.name })).toBeLessThan(1);
    const seen: unknown[] = [];
    a.send(box.pid, 'marker');
    for (let m = await box.next(); m !== 'marker'; m = await box.next()) seen.push(m);
    expect(seen.filter((m) => (m as { type?: string }).type === 'node-maybe-down' || (m as { type?: string }).type === 'nodedown')).toEqual([]);

    await expectKilledPeerSuspected(peer, box);
  });

  it('hears a peer whose actors are all busy: its heartbeats do not wait for the detector actor\'s turn', async () => {
    const a = await node('a');
    const peer = await childNode('fd6');
    const box = inbox(a);
    await subscribeFailureDetector(a, box.pid);
    expect(await a.connect(peer.name)).toBe(true);
    await box.next((m) => m.type === 'node-up' && m.node === peer.name);

    a.send({ name: 'echo', node: peer.name }, { replyTo: box.pid, body: 'busy', actors: 3_000, workMs: 0.5, durationMs: 4_000 });
    const done = await box.next((m) => m.busyDone === true);
    // The peer's actors waited well past the silence that makes phi pass 8 (about 1 s here)...
    expect(done.worstTurnLateMs).toBeGreaterThan(1_500);
    // ...yet it was never suspected.
    const seen: unknown[] = [];
    a.send(box.pid, 'marker');
    for (let m = await box.next(); m !== 'marker'; m = await box.next()) seen.push(m);
    expect(seen.filter((m) => (m as { type?: string }).type === 'node-maybe-down')).toEqual([]);
  });

  it('a new subscriber gets the current status at once', async () => {
    const a = await node('a');
    const b = await node('b');
    expect(await a.connect(b.name)).toBe(true);
    const first = inbox(a);
    await subscribeFailureDetector(a, first.pid);
    await first.next((m) => m.type === 'node-up');
    const second = inbox(a);
    await subscribeFailureDetector(a, second.pid);
    expect(await second.next()).toEqual({ type: 'node-up', node: b.name });
  });

  it('does not suspect a peer that streams bulk traffic', async () => {
    const a = await node('a');
    const b = await node('b');
    const box = inbox(b);
    await subscribeFailureDetector(b, box.pid);
    const sink = b.spawn({ init: () => 0, handle: (_m, n: number) => n + 1, handleCall: (_r, _f, n: number) => ({ reply: n, state: n }) });
    const payload = 'x'.repeat(256 * 1024);
    let sent = 0;
    const started = Date.now();
    // Stream 256 KiB messages for several poll intervals, letting the loop turn between bursts.
    while (Date.now() - started < 8 * fast.pollIntervalMs) {
      for (let i = 0; i < 8; i++) a.send(sink, payload);
      sent += 8;
      await a.call(sink, 'count');
    }
    expect(await a.call(sink, 'count')).toBe(sent);
    const events: unknown[] = [];
    for (;;) {
      const next = await Promise.race([box.next(), new Promise((resolve) => setImmediate(() => resolve(undefined)))]);
      if (next === undefined) break;
      events.push(next);
    }
    expect(events.filter((e) => (e as { type: string }).type === 'node-maybe-down')).toEqual([]);
  });
});

describe('failure detector resilience', () => {
  const cluster = peers();
  afterEach(() => cluster.cleanup());

  it('is restarted by its supervisor after a crash, and its subscribers keep getting events', async () => {
    const a = await node('a');
    const b = await node('b');
    const box = inbox(a);
    await subscribeFailureDetector(a, box.pid);
    expect(await a.connect(b.name)).toBe(true);
    await box.next((m) => m.type === 'node-up' && m.node === b.name);
    const first = a.whereis(FAILURE_DETECTOR_NAME)!;
    a.exit(first, 'kill');
    await expect.poll(() => a.whereis(FAILURE_DETECTOR_NAME)?.id ?? first.id).not.toBe(first.id);
    await b.stop({ timeoutMs: 200 });
    expect(await box.next()).toEqual({ type: 'node-maybe-down', node: b.name });
  });

  it('ignores timer messages that other actors send it', async () => {
    const clock = new ManualClock();
    const a = await node('a', 60_000, { clock });
    const detector = a.whereis(FAILURE_DETECTOR_NAME)!;
    const timersBefore = clock.pending();
    for (let i = 0; i < 20; i++) {
      a.send(detector, { type: '$beat' });
      a.send(detector, { type: '$poll' });
      a.send(detector, { type: '$heartbeat', node: 'ghost@127.0.0.1:9', atMs: 0 });
    }
    // Handled in order: once this call is answered, so are the forged messages.
    expect(await a.call(detector, { op: 'phi', node: 'ghost@127.0.0.1:9' })).toBeNull();
    expect(clock.pending()).toBe(timersBefore);
  });

  it('dials a suspected node again, so node-up comes when it returns without other traffic', async () => {
    const a = await node('a');
    const port = await freePort();
    const first = await cluster.child('fd3', { port, netTickMs: 60_000 });
    const box = inbox(a);
    await subscribeFailureDetector(a, box.pid);
    expect(await a.connect(first.name)).toBe(true);
    await box.next((m) => m.type === 'node-up' && m.node === first.name);
    first.child.kill('SIGKILL');
    await box.next((m) => m.type === 'node-maybe-down' && m.node === first.name);
    const again = await cluster.child('fd3', { port, netTickMs: 60_000 });
    expect(again.name).toBe(first.name);
    expect(await box.next()).toEqual({ type: 'node-up', node: first.name });
  });
});

describe('redialling a node that left', () => {
  const gone = 'gone@127.0.0.1:9';

  /** A detector on a hand-driven clock, over a link that records its dials and never connects. */
  async function detectorOverFakeLink() {
    const clock = new ManualClock();
    const n = await startNode({ name: 'fd', clock });
    nodes.push(n);
    const dialsAtMs: number[] = [];
    const link: HeartbeatLink & { wanted: boolean } = {
      wanted: true,
      nodes: () => [],
      sendHeartbeat: () => false,
      redial: (node: string) => {
        expect(node).toBe(gone);
        dialsAtMs.push(clock.now());
        return Promise.resolve(false);
      },
      isWanted: () => link.wanted,
      onHeartbeat: undefined,
    };
    const pollIntervalMs = 1_000;
    await startFailureDetector(n, link, { heartbeatIntervalMs: 100, pollIntervalMs }, (pid, msg) => n.send(pid, msg), clock);
    /** Moves the clock a poll interval at a time; each poll is handled before the next. */
    const run = async (ms: number) => {
      for (let t = 0; t < ms; t += pollIntervalMs) {
        clock.advance(pollIntervalMs);
        await n.call(FAILURE_DETECTOR_NAME, { op: 'phi', node: gone });
      }
    };
    return { link, dialsAtMs, run };
  }

  const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

  it('waits twice as long after each failed dial, up to REDIAL_MS_MAX', async () => {
    const { link, dialsAtMs, run } = await detectorOverFakeLink();
    link.onHeartbeat!(gone);
    await run(10 * REDIAL_MS_MAX);
    expect(gaps(dialsAtMs).slice(0, 9)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, REDIAL_MS_MAX, REDIAL_MS_MAX, REDIAL_MS_MAX]);
    expect(new Set(gaps(dialsAtMs).slice(6))).toEqual(new Set([REDIAL_MS_MAX]));
  });

  it('stops once nothing refers to the node, and starts over from the shortest wait when something does again', async () => {
    const { link, dialsAtMs, run } = await detectorOverFakeLink();
    link.onHeartbeat!(gone);
    await run(20_000);
    expect(dialsAtMs.length).toBeGreaterThan(2);
    link.wanted = false;
    const dialsBefore = dialsAtMs.length;
    await run(10 * REDIAL_MS_MAX);
    expect(dialsAtMs.length).toBe(dialsBefore);
    link.wanted = true;
    await run(10_000);
    expect(gaps(dialsAtMs.slice(dialsBefore)).slice(0, 2)).toEqual([1_000, 2_000]);
  });

  it('a node is wanted while connected on request or monitored, and no longer once disconnected and demonitored', async () => {
    const a = await node('a');
    const b = await node('b');
    const distA = (a as unknown as { dist: { isWanted(node: string): boolean } }).dist;
    expect(distA.isWanted(b.name)).toBe(false);
    expect(await a.connect(b.name)).toBe(true);
    expect(distA.isWanted(b.name)).toBe(true);
    const watcher = inbox(a);
    const monitoring = a.spawn(async (ctx: import('../../src/index.js').ActorContext) => {
      ctx.monitorNode(b.name);
      ctx.send(watcher.pid, 'monitoring');
      await ctx.receive();
    }, undefined);
    await watcher.next();
    expect(a.disconnect(b.name)).toBe(true);
    expect(a.nodes()).toEqual([]);
    expect(distA.isWanted(b.name)).toBe(true);
    a.exit(monitoring, 'kill');
    await expect.poll(() => distA.isWanted(b.name)).toBe(false);
  });
});
