// WalWriter.appendBatch: the same rules as append entry by entry (gaps, resends,
// rewrites, batch and file limits cut inside a batch), and acknowledged batches
// survive SIGKILL.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LogClosedError, LogInvalidError, LogLimitError } from '../../src/internal/log/errors.js';
import { NodeFs } from '../../src/internal/log/fs.js';
import { ENTRY_PAYLOAD_BYTES_MAX } from '../../src/internal/log/limits.js';
import { scanWal } from '../../src/internal/log/wal-format.js';
import { scanWalDir } from '../../src/internal/log/wal-recovery.js';
import { WalWriter } from '../../src/internal/log/wal.js';
import { GatedWalFs } from './gated-fs.js';
import { appendOne, openWal, readAll, runAndKill, seeded, tempDir } from './helpers.js';


function payloads(writer: string, from: number, to: number): Buffer[] {
  return Array.from({ length: to - from + 1 }, (_, k) => Buffer.from(`${writer}${from + k}`));
}

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('WalWriter.appendBatch', () => {
  it('writes batches of many writers with one term or one per entry, notices per run', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir);
    expect(wal.appendBatch('a', 1, 1, payloads('a', 1, 5))).toBe(true);
    wal.appendBatch('b', 1, [1, 1, 2, 2, 3], payloads('b', 1, 5));
    appendOne(wal, 'a', 6, 1, Buffer.from('a6'));
    wal.appendBatch('a', 7, 2, payloads('a', 7, 8));
    await wal.close();
    expect(rec.written).toEqual([
      ['a', 1, 1, 6],
      ['b', 1, 1, 2],
      ['b', 2, 3, 4],
      ['b', 3, 5, 5],
      ['a', 2, 7, 8],
    ]);
    const all = readAll(t.dir);
    expect(all.filter((x) => x[0] === 'a').map((x) => [x[1], x[2], x[3]])).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => [i, i <= 6 ? 1 : 2, `a${i}`]));
    expect(all.filter((x) => x[0] === 'b').map((x) => x[2])).toEqual([1, 1, 2, 2, 3]);
    expect(wal.counters.entries).toBe(13);
  });

  it('asks for a resend at a gap, drops the whole batch and what follows until the resend', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir);
    wal.appendBatch('a', 1, 1, payloads('a', 1, 3));
    wal.appendBatch('a', 6, 1, payloads('a', 6, 8));
    expect(rec.resends).toEqual([['a', 4]]);
    wal.appendBatch('a', 9, 1, payloads('a', 9, 9));
    appendOne(wal, 'a', 10, 1, Buffer.from('a10'));
    expect(rec.resends).toHaveLength(1);
    wal.appendBatch('a', 4, 1, payloads('a', 4, 10));
    await wal.close();
    expect(readAll(t.dir).map((x) => x[3])).toEqual(payloads('a', 1, 10).map(String));
    expect(wal.counters.resends).toBe(1);
  });

  it('accepts a batch that rewrites a suffix and reports it as a new run', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir);
    wal.appendBatch('a', 1, 1, payloads('a', 1, 6));
    await wal.idle();
    wal.appendBatch('a', 4, 2, [Buffer.from('x4'), Buffer.from('x5')]);
    appendOne(wal, 'a', 6, 2, Buffer.from('x6'));
    await wal.close();
    expect(rec.written).toEqual([
      ['a', 1, 1, 6],
      ['a', 2, 4, 6],
    ]);
  });

  it('cuts batches and files inside one call, a writer record in each new file', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir, { maxSizeBytes: 4096, random: () => 0, maxBatchEntries: 7 });
    const big = Array.from({ length: 150 }, (_, k) => Buffer.alloc(40 + (k % 13), k));
    wal.appendBatch('b', 1, 1, [Buffer.from('b1')]);
    wal.appendBatch('a', 1, 3, big);
    wal.appendBatch('b', 2, 1, [Buffer.from('b2')]);
    await wal.close();
    expect(wal.counters.entries).toBe(152);
    expect(wal.counters.batches).toBeGreaterThanOrEqual(Math.ceil(150 / 7));
    expect(rec.rolled.length).toBeGreaterThan(2);
    let nextA = 1;
    for (const f of rec.rolled) {
      const r = f.ranges.get('a');
      expect(r?.from).toBe(nextA);
      nextA = (r?.to as number) + 1;
      expect(readFileSync(f.path).length).toBeLessThanOrEqual(4096);
    }
    const all = readAll(t.dir);
    expect(all.filter((x) => x[0] === 'a').map((x) => x[1])).toEqual(Array.from({ length: 150 }, (_, k) => k + 1));
    const files = readdirSync(t.dir).filter((n) => n.endsWith('.wal')).sort();
    const aIn = files.map((n) => {
      let count = 0;
      scanWal(readFileSync(join(t.dir, n)), n, true, { entry: (w, i, _t, p) => w === 'a' && p.equals(big[i - 1] as Buffer) && count++ });
      return count;
    });
    expect(aIn.reduce((x, y) => x + y, 0)).toBe(150);
    // Written notices cover 1..150 in order, in runs no longer than a batch.
    const mine = rec.written.filter((x) => x[0] === 'a');
    expect(mine[0]?.[2]).toBe(1);
    expect(mine.at(-1)?.[3]).toBe(150);
    mine.forEach(([, term, from, to], k) => {
      expect(term).toBe(3);
      expect(to - from + 1).toBeLessThanOrEqual(7);
      if (k > 0) expect(from).toBe((mine[k - 1] as number[])[3] as number + 1);
    });
  });

  it('matches entry-by-entry appends byte for byte', async () => {
    const random = seeded(7);
    const plan: Array<[string, number, number[], Buffer[]]> = [];
    const next = new Map<string, number>();
    for (let k = 0; k < 200; k++) {
      const w = `w${Math.floor(random() * 5)}`;
      const from = next.get(w) ?? 1;
      const n = 1 + Math.floor(random() * 12);
      const terms = Array.from({ length: n }, (_, i) => 1 + Math.floor((from + i) / 30));
      plan.push([w, from, terms, Array.from({ length: n }, () => Buffer.alloc(Math.floor(random() * 90), k))]);
      next.set(w, from + n);
    }
    const options = { maxSizeBytes: 8192, random: () => 0.3, maxBatchEntries: 16, maxBatchBytes: 1500 };
    const files: string[][] = [];
    for (const batched of [false, true]) {
      const t = tempDir();
      const { wal } = await openWal(t.dir, options);
      // Batch boundaries must not depend on flush timing: queue everything before the first flush.
      for (const [w, from, terms, ps] of plan) {
        if (batched) wal.appendBatch(w, from, terms, ps);
        else ps.forEach((p, i) => appendOne(wal, w, from + i, terms[i] as number, p));
      }
      await wal.close();
      files.push(readdirSync(t.dir).sort().map((n) => readFileSync(join(t.dir, n)).toString('hex')));
      t.cleanup();
    }
    expect(files[1]).toEqual(files[0]);
  });

  it('hashes big frames ahead in pieces and the reader verifies them whole', async () => {
    for (const entry of [false, true]) {
      const t = tempDir();
      const { wal } = await openWal(t.dir, { maxBatchEntries: 5_000, maxBatchBytes: 1 << 20 });
      const ps = Array.from({ length: 3_000 }, (_, k) => Buffer.alloc(50 + (k % 200), k));
      if (entry) ps.forEach((p, k) => appendOne(wal, 'a', k + 1, 1, p));
      else wal.appendBatch('a', 1, 1, ps);
      await wal.close();
      expect(wal.counters.batches).toBe(1);
      expect(wal.counters.bytes).toBeGreaterThan(4 * 64 * 1024);
      // scanWal checks the frame's CRC over head and body in one piece.
      const all = readAll(t.dir);
      expect(all).toHaveLength(3_000);
      const file = join(t.dir, readdirSync(t.dir)[0] as string);
      const damaged = readFileSync(file);
      damaged[damaged.length - 1000] = (damaged[damaged.length - 1000] as number) ^ 1;
      expect(scanWal(damaged, file, true, { entry: () => undefined }).torn).toBe(true);
      t.cleanup();
    }
  });

  it('refuses a bad batch before queueing any of it, and after close', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { wal, rec } = await openWal(t.dir);
    const huge = Buffer.allocUnsafe(ENTRY_PAYLOAD_BYTES_MAX + 1);
    expect(() => wal.appendBatch('a', 1, 1, [Buffer.from('ok'), huge])).toThrow(LogLimitError);
    expect(() => wal.appendBatch('a', 1, [1], payloads('a', 1, 2))).toThrow(LogInvalidError);
    expect(() => wal.appendBatch('a', 1, 1, [Buffer.from('ok'), 'not bytes' as unknown as Uint8Array])).toThrow(LogInvalidError);
    expect(() => wal.appendBatch('a', 1, 1, undefined as unknown as Uint8Array[])).toThrow(LogInvalidError);
    expect(() => wal.appendBatch(7 as unknown as string, 1, 1, [Buffer.from('ok')])).toThrow(LogInvalidError);
    expect(wal.pendingEntries()).toBe(0);
    expect(wal.appendBatch('a', 1, 1, [])).toBe(true);
    wal.appendBatch('a', 1, 1, payloads('a', 1, 2));
    await wal.close();
    expect(rec.written).toEqual([['a', 1, 1, 2]]);
    expect(() => wal.appendBatch('a', 3, 1, payloads('a', 3, 3))).toThrow(/closed/);
  });
});

describe('WalWriter notices and an in-flight write', () => {
  it('abandoned with a batch in flight and another queued, writes both unannounced and settles', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const fs = new GatedWalFs();
    const { wal, rec } = await openWal(t.dir, { fs });
    fs.closeGate();
    wal.appendBatch('a', 1, 1, payloads('a', 1, 3));
    await fs.syncHeld;
    wal.appendBatch('a', 4, 1, payloads('a', 4, 6)); // queued behind the held sync
    const abandoned = wal.abandon();
    fs.openGate();
    await abandoned; // a restarted WAL actor's init waits for this
    expect(rec.written).toEqual([]);
    expect(readAll(t.dir).map(([, index]) => index)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('announces a file after its last notices, and a failure after the notices of what was synced', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const events: string[] = [];
    const fs = new NodeFs();
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    let writes = 0;
    // In memory: writes return a turn later; the 25th (headers included) fails at once,
    // while the notices of the batch synced before it are still being sent.
    fs.open = async () => ({
      writeAt: async () => {
        if (++writes === 25) throw new Error('disk gone');
        await turn();
      },
      readAt: async () => Buffer.alloc(0),
      datasync: turn,
      sync: turn,
      truncate: async () => undefined,
      size: async () => 0,
      close: async () => undefined,
    });
    fs.syncDir = async () => undefined;
    const wal = await WalWriter.open({
      dir: t.dir,
      fs,
      maxSizeBytes: 64 * 1024,
      random: () => 0,
      events: {
        written: (w, _term, from, to) => events.push(`written ${w} ${from} ${to}`),
        resend: () => undefined,
        rolledOver: (file) => events.push(`rolled ${file.seq} ${[...file.ranges].map(([w, r]) => `${w}:${r.to}`).join(',')}`),
        failed: () => events.push('failed'),
      },
    });
    // Turns of one entry from each of 600 writers (notices yield every 512 entries while
    // I/O is out), a file per two or three turns, until the failure closes the WAL.
    let i = 1;
    for (; i <= 200; i++) {
      try {
        for (let w = 0; w < 600; w++) wal.appendBatch(`w${w}`, i, 1, payloads(`w${w}`, i, i));
      } catch (err) {
        expect(err).toBeInstanceOf(LogClosedError);
        break;
      }
      await turn();
    }
    expect(i).toBeLessThan(200);
    await wal.idle();
    expect(events.at(-1)).toBe('failed');
    expect(events.filter((e) => e === 'failed')).toHaveLength(1);
    const rolled = events.filter((e) => e.startsWith('rolled'));
    expect(rolled.length).toBeGreaterThan(1);
    // Each file comes after the notices of everything in it.
    const writtenTo = new Map<string, number>();
    for (const e of events) {
      const [kind, ...rest] = e.split(' ');
      if (kind === 'written') writtenTo.set(rest[0] as string, Number(rest[2]));
      if (kind === 'rolled') {
        for (const range of (rest[1] as string).split(',')) {
          const [w, to] = range.split(':');
          expect(writtenTo.get(w as string) ?? 0, `file ${rest[0]}, writer ${w}`).toBeGreaterThanOrEqual(Number(to));
        }
      }
    }
  });

  it('lets the next batch sync start in the middle of a long run of notices', async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const log: string[] = [];
    const fs = new NodeFs();
    // In memory, so the timing is exact: each write returns one turn later, as one on
    // the thread pool would; syncs are logged and return at once.
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    fs.open = async (path) => ({
      writeAt: turn,
      readAt: async () => Buffer.alloc(0),
      datasync: async () => void log.push(`sync ${path}`),
      sync: async () => undefined,
      truncate: async () => undefined,
      size: async () => 0,
      close: async () => undefined,
    });
    const wal = await WalWriter.open({
      dir: t.dir,
      fs,
      maxBatchEntries: 4_000,
      events: { written: (w) => log.push(w), resend: () => undefined, rolledOver: () => undefined },
    });
    // Batch 1: 2,000 writers of one entry each; batch 2 is queued while batch 1 is out.
    const one = [Buffer.from('x')];
    for (let w = 0; w < 2_000; w++) wal.appendBatch(`w${w}`, 1, 1, one);
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (let w = 0; w < 2_000; w++) wal.appendBatch(`w${w}`, 2, 1, one);
    await wal.close();
    const isSync = (x: string) => x.startsWith('sync ');
    const notices = log.map((x, i) => (isSync(x) ? -1 : i)).filter((i) => i >= 0);
    expect(notices).toHaveLength(4_000);
    // Batch 1's 2,000 notices are cut by batch 2's sync rather than all coming first.
    const firstBatchNotices = notices.slice(0, 2_000);
    const syncs = log.map((x, i) => (isSync(x) ? i : -1)).filter((i) => i >= 0);
    expect(syncs.some((s) => s > (firstBatchNotices[0] as number) && s < (firstBatchNotices.at(-1) as number))).toBe(true);
  });
});

const crashWriter = fileURLToPath(new URL('./wal-crash-writer.ts', import.meta.url));
const CRASH_WRITERS = 10;


describe('appendBatch under SIGKILL', () => {
  it('keeps every acknowledged batch entry, in order, across repeated kills', async () => {
    const t = tempDir('rafter-wal-crash-');
    cleanup = t.cleanup;
    const random = seeded(Number(process.env.RAFTER_CRASH_SEED ?? 11));
    const best = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      const acked = await runAndKill(crashWriter, t.dir, CRASH_WRITERS, 100 + Math.floor(random() * 600));
      for (const [id, i] of acked) best.set(id, Math.max(best.get(id) ?? 0, i));
      // Recovery truncates a torn tail; everything before it must be whole and in order.
      const state = await scanWalDir(new NodeFs(), t.dir);
      const seen = new Map<string, number>();
      for (const [k, file] of state.closed.entries()) {
        scanWal(readFileSync(file.path), file.path, k === state.closed.length - 1, {
          entry: (id, index, term, payload) => {
            expect(index, id).toBe((seen.get(id) ?? 0) + 1);
            expect(term).toBe(1 + Math.floor(index / 40));
            expect(payload.toString()).toBe(`${id}:${index}`);
            seen.set(id, index);
          },
        });
      }
      for (const [id, want] of best) expect(seen.get(id) ?? 0, `${id} round ${round}`).toBeGreaterThanOrEqual(want);
      expect(state.lastIndexes).toEqual(seen);
    }
  }, 90_000);
});
