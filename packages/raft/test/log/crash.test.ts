// Crash consistency: a child process writes through the WAL and is killed with SIGKILL
// at random points; after each kill every acknowledged entry must be there, in order.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LogSystem } from '../../src/internal/log/system.js';
import { runAndKill, seeded, tempDir } from './helpers.js';

const script = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const SERVERS = 20;

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());


describe('crash consistency under SIGKILL', () => {
  it('keeps every acknowledged entry, in order, across repeated kills', async () => {
    const t = tempDir('rafter-crash-');
    cleanup = t.cleanup;
    const random = seeded(Number(process.env.RAFTER_CRASH_SEED ?? 42));
    const best = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      const acked = await runAndKill(script, t.dir, SERVERS, 200 + Math.floor(random() * 1200));
      for (const [uid, i] of acked) best.set(uid, Math.max(best.get(uid) ?? 0, i));
      const sys = await LogSystem.open({ dir: t.dir });
      expect(sys.failures().size).toBe(0);
      for (let s = 0; s < SERVERS; s++) {
        const uid = `s${s}`;
        const log = sys.server(uid);
        const want = best.get(uid) ?? 0;
        if (want === 0) continue;
        expect(log, uid).toBeDefined();
        if (log === undefined) continue;
        expect(log.last().index, `${uid} round ${round}`).toBeGreaterThanOrEqual(want);
        const first = log.first();
        expect(first).toBeLessThanOrEqual(want + 1);
        const got = log.entries(first, log.last().index);
        got.forEach((e, k) => {
          expect(e.index).toBe(first + k);
          expect(e.payload).toEqual({ type: 'command', command: `${uid}:${e.index}` });
        });
        const snap = log.snapshot();
        if (snap !== undefined) expect((await log.readSnapshot()).state).toEqual({ upTo: snap.index });
      }
      await sys.close();
    }
  }, 90_000);
});
