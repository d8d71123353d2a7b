// Elections over slow links, in simulated time. On a loaded node a message can take longer
// than the election retry window: with a fixed window every pre-vote is retried (with a new
// token) before its replies arrive, so no round ever completes. Lost rounds widen the window.

import { describe, expect, it } from 'vitest';
import { RaftCore, type CoreConfig, type Effect, type Event, type Random } from '../../src/core.js';
import { Cluster, id } from './harness.js';

/** The servers' election delays (src/system/system.ts). */
const timeouts = { leaderDownDelayMsMin: 10, leaderDownDelayMsMax: 100, electionTimeoutMsMin: 150, electionTimeoutMsMax: 450 };

function seeded(seed: number): Random {
  let s = seed >>> 0 || 1;
  return {
    intBetween: (min, max) => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return min + ((s >>> 0) % (max - min + 1));
    },
  };
}

/**
 * The followers n2 and n3 of a dead leader n1 both learn of its loss at time 0; every
 * message between them takes `oneWayMs`. Returns when one leads, or undefined by `limitMs`.
 */
function reelect(seed: number, oneWayMs: number, limitMs: number, extra: Partial<CoreConfig> = {}): number | undefined {
  const c = new Cluster(['n1', 'n2', 'n3'], { timeouts, random: seeded(seed), ...extra });
  c.elect('n1');
  const due: { at: number; seq: number; name: string; event: Event }[] = [];
  let now = 0;
  let seq = 0;
  const at = (delayMs: number, name: string, event: Event) => due.push({ at: now + delayMs, seq: seq++, name, event });
  const step = (name: string, event: Event): void => perform(name, c.core(name).step(event));
  const perform = (name: string, effects: readonly Effect[]): void => {
    for (const effect of effects) {
      if (effect.kind === 'send' && effect.to.name !== 'n1') at(oneWayMs, effect.to.name, { type: 'message', from: id(name), msg: effect.msg });
      if (effect.kind === 'setTimer') at(effect.afterMs, name, { type: 'timeout', timer: effect.timer, generation: effect.generation });
      if (effect.kind === 'persist' && effect.sync) at(1, name, { type: 'persisted', term: effect.term, votedFor: effect.votedFor });
      if (effect.kind === 'append') {
        c.log(name).append(effect.entries);
        const last = effect.entries[effect.entries.length - 1]!;
        at(1, name, { type: 'written', index: last.index, term: last.term });
      }
    }
  };
  step('n2', { type: 'leader_down', id: id('n1') });
  step('n3', { type: 'leader_down', id: id('n1') });
  while (due.length > 0) {
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = due.shift()!;
    now = next.at;
    if (now > limitMs) return undefined;
    step(next.name, next.event);
    if (['n2', 'n3'].some((name) => c.core(name).role === 'leader')) return now;
  }
  return undefined;
}

describe('election retries over slow links', () => {
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1);

  it('a leader is elected while messages take longer than the retry window (600 ms each way)', () => {
    const times = seeds.map((seed) => reelect(seed, 600, 60_000));
    expect(times.filter((t) => t === undefined)).toEqual([]);
  });

  it('on a fast link the first rounds keep their short window', () => {
    const times = seeds.map((seed) => reelect(seed, 1, 60_000)!);
    expect(Math.max(...times)).toBeLessThan(1_000);
  });

  it('mutation fixed_election_retry (no widening) never elects over the slow link', () => {
    const times = seeds.map((seed) => reelect(seed, 600, 60_000, { mutation: 'fixed_election_retry' }));
    expect(times.every((t) => t === undefined)).toBe(true);
  });

  it('the window widens per lost round, up to 16 times, and a known leader resets it', () => {
    const top = { intBetween: (_min: number, max: number) => max };
    const core = new RaftCore({ id: id('n2'), log: new Cluster(['n2']).log('n2'), machine: { version: 1, init: () => 0, apply: (_m, _c, s) => ({ state: s }) }, random: top, initialMembers: [{ id: id('n1'), membership: 'voter' }, { id: id('n2'), membership: 'voter' }, { id: id('n3'), membership: 'voter' }], timeouts });
    core.start();
    const windows: number[] = [];
    for (let round = 0; round < 7; round++) {
      const effects = core.step({ type: 'timeout', timer: 'election', generation: core.timerGeneration('election') });
      const timer = effects.find((e) => e.kind === 'setTimer' && e.timer === 'election');
      windows.push(timer?.kind === 'setTimer' ? timer.afterMs : -1);
    }
    expect(windows).toEqual([450, 750, 1350, 2550, 4950, 4950, 4950]);
    core.step({ type: 'message', from: id('n3'), msg: { type: 'append_entries', term: core.currentTerm, leaderId: id('n3'), prevIndex: 0, prevTerm: 0, entries: [], commitIndex: 0 } });
    expect(core.leaderId?.name).toBe('n3');
    const after = core.step({ type: 'leader_down', id: id('n3') });
    expect(after.some((e) => e.kind === 'setTimer')).toBe(true);
    const retry = core.step({ type: 'timeout', timer: 'election', generation: core.timerGeneration('election') });
    expect(retry.find((e) => e.kind === 'setTimer' && e.timer === 'election')).toMatchObject({ afterMs: 450 });
  });
});
