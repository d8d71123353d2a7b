// Goal: phi rises with silence against the history of arrivals; the detector tells
// subscribers when a peer is killed or paused and when it comes back, and bulk
// traffic does not make it suspect a live peer.

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PhiAccrual, phiOf, subscribeFailureDetector, type Node } from '../../src/index.js';
import { inbox, startNode } from '../helpers.js';

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

async function node(name: string, netTickMs = 60_000) {
  const n = await startNode({ name, port: 0, cookie: 'secret', netTickMs, failureDetector: fast });
  nodes.push(n);
  return n;
}

function childNode(name: string): Promise<{ child: ChildProcess; name: string }> {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const script = new URL('./fixtures/peer.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', loader, script, name, 'secret', '60000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve({ child, name: out.split('\n')[0]!.trim() });
    });
  });
}

describe('phi', () => {
  it('stays low while heartbeats keep their rhythm and grows with silence', () => {
    const detector = new PhiAccrual({ windowSize: 1_000, minStdDeviationMs: 100, acceptablePauseMs: 0, firstIntervalMs: 100 });
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
    const detector = new PhiAccrual({ windowSize: 10, minStdDeviationMs: 1, acceptablePauseMs: 0, firstIntervalMs: 1_000 });
    let t = 0;
    for (let i = 0; i < 20; i++) detector.heartbeat((t += 10));
    // The seed of 1,000 ms intervals has left the window: 50 ms of silence is already suspicious.
    expect(detector.phi(t + 50)).toBeGreaterThan(8);
  });
});

describe('failure detector', () => {
  it('reports a killed peer within about two poll intervals', async () => {
    const a = await node('a');
    const peer = await childNode('fd1');
    const box = inbox(a);
    await subscribeFailureDetector(a, box.pid);
    expect(await a.connect(peer.name)).toBe(true);
    await box.next((m) => m.type === 'node-up' && m.node === peer.name);
    peer.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await box.next((m) => m.type === 'node-maybe-down')).toEqual({ type: 'node-maybe-down', node: peer.name });
    expect(Date.now() - killedAt).toBeLessThan(10 * fast.pollIntervalMs);
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
