// Goal: a short chaos run against real node processes injects every fault kind and the
// recorded history of puts, compare-and-swaps and consistent reads is linearizable.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChaos } from './runner.js';
import { faultSchedule, FAULT_KINDS, type FaultStep } from './schedule.js';

describe('chaos', () => {
  it('the schedule is fixed by the seed and holds every kind in each block of four', () => {
    const take = (seed: number) => {
      const steps = faultSchedule(seed);
      return Array.from({ length: 8 }, () => steps.next().value);
    };
    expect(take(3)).toEqual(take(3));
    expect(take(3)).not.toEqual(take(4));
    const first = take(3).slice(0, 4).map((s) => s.kind);
    expect([...first].sort()).toEqual([...FAULT_KINDS].sort());
  });

  it('a 30 s run under every fault kind stays linearizable', { timeout: 180_000 }, async () => {
    const report = await runChaos({ seconds: 30, seed: 20261205 });
    expect(report.explanation).toBeUndefined();
    expect(report.linearizable).toBe(true);
    for (const kind of FAULT_KINDS) expect(report.faults[kind], kind).toBeGreaterThan(0);
    expect(report.operationsOk).toBeGreaterThan(100);
    expect(report.elections).toBeGreaterThan(1);
    expect(report.recoveryMs).not.toBeNull();
  });

  it('catches a WAL that acknowledges writes before they reach the disk', { timeout: 180_000 }, async () => {
    const killAll: FaultStep = { kind: 'kill', target: { all: true }, gapMs: 1_500, holdMs: 300 };
    const historyDir = mkdtempSync(join(tmpdir(), 'rafter-chaos-test-'));
    try {
      const report = await runChaos({ seconds: 15, seed: 1, mutation: 'ack-before-sync', historyDir, schedule: (function* () { for (;;) yield killAll; })() });
      expect(report.killAll).toBeGreaterThan(0);
      expect(report.check).toBe('violation');
      expect(report.linearizable).toBe(false);
    } finally {
      rmSync(historyDir, { recursive: true, force: true });
    }
  });
});
