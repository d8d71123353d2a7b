// Shared test helpers: temp directories and small waits on events (no sleeps).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntryPayload, LogEntry } from '../../src/internal/core/log.js';

export function tempDir(prefix = 'rafter-log-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function cmd(command: unknown): EntryPayload {
  return { type: 'command', command };
}

export function entries(from: number, to: number, term: number, tag = 'v'): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, payload: cmd(`${tag}${i}`) });
  return out;
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
