// Shared test helpers: temp directories, WAL writers that record their notices, and
// child writers killed with SIGKILL.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntryPayload, IndexTerm, LogEntry } from '../../src/internal/core/log.js';
import { type LogSystemOptions, LogSystem } from '../../src/internal/log/system.js';
import { scanWal } from '../../src/internal/log/wal-format.js';
import { type ClosedWalFile, type WalOptions, WalWriter } from '../../src/internal/log/wal.js';

export function tempDir(prefix = 'rafter-log-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A LogSystem in a temp directory with small files (a 64 KiB WAL, 64-entry segments) and
 * snapshots allowed at any entry; `written` records the WAL's notices per server.
 */
export function smallLogSystem(extra: Partial<LogSystemOptions> = {}) {
  const t = tempDir();
  const written = new Map<string, IndexTerm>();
  const opts: LogSystemOptions = {
    dir: t.dir,
    random: () => 0.5,
    wal: { maxSizeBytes: 64 * 1024 },
    segmentMaxEntries: 64,
    snapshotPolicy: { minIntervalMs: 0, minEntries: 1 },
    onWritten: (uid, w) => written.set(uid, w),
    ...extra,
  };
  return { dir: t.dir, opts, written, open: () => LogSystem.open(opts), cleanup: t.cleanup };
}

export function cmd(command: unknown): EntryPayload {
  return { type: 'command', command };
}

export function entries(from: number, to: number, term: number, tag = 'v'): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, payload: cmd(`${tag}${i}`) });
  return out;
}

/** One entry through appendBatch, as a server appending one command at a time does. */
export function appendOne(wal: WalWriter, writerId: string, index: number, term: number, payload: Uint8Array): boolean {
  return wal.appendBatch(writerId, index, term, [payload]);
}

/** A seeded PRNG (mulberry32) for injected randomness. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

import { NodeFs, type LogFileHandle, type OpenMode } from '../../src/internal/log/fs.js';

/** Real files without syncs: for tests that damage files rather than crash the machine. */
export class NoSyncFs extends NodeFs {
  override async open(path: string, mode: OpenMode, options?: { oSync?: boolean }): Promise<LogFileHandle> {
    const h = await super.open(path, mode, options);
    return Object.assign(Object.create(Object.getPrototypeOf(h) as object) as LogFileHandle, h, {
      datasync: async () => undefined,
      sync: async () => undefined,
    });
  }
  override async syncDir(): Promise<void> {}
}

export interface Recorder {
  written: Array<[string, number, number, number]>;
  resends: Array<[string, number]>;
  rolled: ClosedWalFile[];
}

/** A WAL whose notices are recorded; the first file gets the full size (random 0.999). */
export async function openWal(dir: string, extra: Partial<WalOptions> = {}): Promise<{ wal: WalWriter; rec: Recorder }> {
  const rec: Recorder = { written: [], resends: [], rolled: [] };
  const wal = await WalWriter.open({
    dir,
    random: () => 0.999,
    events: {
      written: (w, t, f, to) => rec.written.push([w, t, f, to]),
      resend: (w, f) => rec.resends.push([w, f]),
      rolledOver: (file) => rec.rolled.push(file),
    },
    ...extra,
  });
  return { wal, rec };
}

/** Every entry in the directory's WAL files, oldest file first: [writer, index, term, payload]. */
export function readAll(dir: string): Array<[string, number, number, string]> {
  const out: Array<[string, number, number, string]> = [];
  const names = readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();
  names.forEach((n, i) => scanWal(readFileSync(join(dir, n)), n, i === names.length - 1, { entry: (w, idx, t, p) => out.push([w, idx, t, p.toString()]) }));
  return out;
}

/**
 * Runs a writer script (argv: dir, writers) that prints "<writer> <index>" per
 * acknowledged entry, kills it with SIGKILL after `acks` lines, and returns the highest
 * acknowledged index per writer.
 */
export function runAndKill(script: string, dir: string, writers: number, acks: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, String(writers)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<string, number>();
    let seen = 0;
    let buffer = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const [id, index] = line.split(' ');
        if (id === undefined || index === undefined) continue;
        acked.set(id, Math.max(acked.get(id) ?? 0, Number(index)));
        if (++seen >= acks && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`writer ${script} exited without being killed: ${stderr}`));
    });
  });
}
