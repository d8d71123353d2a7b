// Elections spread when many servers of a system lose their leader at once: the rule
// (with injected randomness) and servers on a node whose leaders all stop together.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, silentLogger } from '@rafter/actors';
import { afterEach, describe, expect, it } from 'vitest';
import { type Machine, type RaftSystem, type ServerId, registerMachine, startClusters, startSystem } from '../../src/index.js';
import { ELECTION_SPREAD_MS_MAX, ElectionSpread, spreadDelayMs } from '../../src/server/election-spread.js';
import { localSystem } from '../../src/system/system.js';

describe('the spreading rule', () => {
  it('adds a wait uniform over msPerPending per other pending election, capped', () => {
    expect(spreadDelayMs(0, 0.5, 0.999)).toBe(0);
    expect(spreadDelayMs(1_000, 0.5, 0)).toBe(0);
    expect(spreadDelayMs(1_000, 0.5, 0.5)).toBe(250);
    expect(spreadDelayMs(1_000, 0.5, 0.999)).toBe(499);
    expect(spreadDelayMs(1e9, 0.5, 0.5)).toBe(ELECTION_SPREAD_MS_MAX / 2);
  });

  it('lets a lone election start at once, and spreads one of many once per arming', () => {
    const draws = [0.25, 0.75];
    const spread = new ElectionSpread(2, () => draws.shift() ?? 0.5);
    const lone = 'lone';
    spread.armed(lone);
    expect(spread.fired(lone)).toBe(0);
    expect(spread.size).toBe(0);

    const servers = Array.from({ length: 101 }, (_, i) => `s${i}`);
    for (const s of servers) spread.armed(s);
    // 100 others pending at 2 ms each: a window of 200 ms.
    expect(spread.fired(servers[0]!)).toBe(50);
    expect(spread.size).toBe(101);
    // The spread wait ended: the election starts, whatever is pending.
    expect(spread.fired(servers[0]!)).toBe(0);
    expect(spread.size).toBe(100);
    expect(spread.fired(servers[1]!)).toBe(Math.floor(0.75 * 2 * 99));
    // Armed again (a vote granted, a retry): the next firing is spread again.
    spread.armed(servers[1]!);
    expect(spread.fired(servers[1]!)).toBe(Math.floor(0.5 * 2 * 99));
    for (const s of servers) spread.disarmed(s);
    expect(spread.size).toBe(0);
  });

  it('forgets a server whose timer was cancelled', () => {
    const spread = new ElectionSpread(1, () => 0.5);
    const [a, b] = ['a', 'b'];
    spread.armed(a);
    spread.armed(b);
    spread.disarmed(b);
    expect(spread.fired(a)).toBe(0);
  });

  it('counts a server killed with its election pending once, whatever its restarts', () => {
    const spread = new ElectionSpread(1, () => 0.5);
    // Killed without its terminate (no disarmed), then restarted under the same name, three times.
    for (let incarnation = 0; incarnation < 3; incarnation++) spread.armed('c1_1');
    spread.armed('c2_1');
    expect(spread.size).toBe(2);
    expect(spread.fired('c2_1')).toBe(0); // one other pending: a window of 1 ms, half of it rounds down
  });
});

const counter: Machine<number, number> = { init: () => 0, apply: (_meta, n, state) => ({ state: state + n, reply: state + n }) };
registerMachine('spread-counter', counter);

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function start(msPerPending: number): Promise<{ node: Node; system: RaftSystem }> {
  const dir = mkdtempSync(join(tmpdir(), 'rafter-spread-'));
  const node = await Node.start({ name: 'spread', dirtyThreads: 1, logger: silentLogger });
  const system = await startSystem(node, { name: 'spread', dataDir: dir, electionSpreadMsPerPending: msPerPending });
  cleanup.push(async () => {
    await system.stop();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { node, system };
}

/** Starts `count` clusters of three on the node and returns each one's leader. */
async function clusters(node: Node, system: RaftSystem, count: number): Promise<ServerId[]> {
  const specs = Array.from({ length: count }, (_, c) => ({
    clusterName: `c${c}`,
    machine: 'spread-counter',
    servers: ['a', 'b', 'c'].map((m) => ({ name: `c${c}${m}`, node: node.name })),
  }));
  const started = await startClusters(system, specs, { timeoutMs: 30_000, via: node });
  return started.map((c) => {
    expect(c.error).toBeUndefined();
    return c.leader!;
  });
}

/**
 * Shuts every leader down at once (their supervisor leaves a shutdown alone), so their
 * followers get their DOWNs together; resolves with the ms after which each cluster had a leader again.
 */
async function stopLeaders(via: Node, system: RaftSystem, leaders: readonly ServerId[]): Promise<number[]> {
  const runtime = localSystem(system.name)!;
  const clusterOf = (name: string) => runtime.directory.get(name)!.clusterName;
  const lost = new Set(leaders.map((l) => clusterOf(l.name)));
  const stopped = new Set(leaders.map((l) => l.name));
  const stoppedAt = performance.now();
  for (const leader of leaders) via.exit(runtime.directory.get(leader.name)!.pid!, 'shutdown');
  const ledAfter: number[] = [];
  while (lost.size > 0) {
    for (const [name, entry] of runtime.directory) {
      if (entry.role === 'leader' && !stopped.has(name) && lost.delete(entry.clusterName)) ledAfter.push(performance.now() - stoppedAt);
    }
    if (performance.now() - stoppedAt > 30_000) throw new Error(`${lost.size} clusters without a leader after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return ledAfter;
}

describe('servers that lose their leaders at once', () => {
  it('take spread waits over a window that grows with the elections pending, and all elect', async () => {
    const msPerPending = 20;
    const { node, system } = await start(msPerPending);
    const leaders = await clusters(node, system, 60);
    const runtime = localSystem(system.name)!;
    const spread: Array<{ waitMs: number; windowMs: number }> = [];
    const fired = runtime.elections.fired.bind(runtime.elections);
    runtime.elections.fired = (server) => {
      const windowMs = (runtime.elections.size - 1) * msPerPending;
      const waitMs = fired(server);
      if (waitMs > 0) spread.push({ waitMs, windowMs });
      return waitMs;
    };

    await stopLeaders(node, system, leaders);

    // 120 followers lost their leader: most of them wait, over a window of up to 119 × 20 ms.
    expect(spread.length, 'elections that waited').toBeGreaterThanOrEqual(60);
    expect(Math.max(...spread.map((s) => s.windowMs)), 'widest window').toBeGreaterThanOrEqual(1_000);
    for (const { waitMs, windowMs } of spread) expect(waitMs).toBeLessThan(windowMs);
    // Uniform over the window, not bunched at its start.
    const meanShare = spread.reduce((sum, s) => sum + s.waitMs / s.windowMs, 0) / spread.length;
    expect(meanShare, 'mean share of the window waited').toBeGreaterThan(0.3);
    expect(meanShare).toBeLessThan(0.7);
    // The last voters hear from their new leaders and cancel their timers: nothing stays counted.
    const deadline = performance.now() + 10_000;
    while (runtime.elections.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(runtime.elections.size).toBe(0);
  }, 60_000);

  it('leave a lone cluster electing in the usual window', async () => {
    const { node, system } = await start(20);
    const leaders = await clusters(node, system, 3);
    const [ledAfter] = await stopLeaders(node, system, leaders.slice(0, 1));
    // Two followers pending: at most 20 ms added to the core's 10-100 ms.
    expect(ledAfter).toBeLessThan(1_000);
  }, 30_000);
});
