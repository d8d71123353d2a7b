// What a (re)starting WAL needs from the files already on disk: the sequence to go on
// from, each writer's last index (for gap detection) and the files to hand to the
// segment writer. The torn tail of the last file is truncated here as in recovery.
import { LogCorruptionError } from './errors.js';
import { joinPath, type LogFs } from './fs.js';
import { type WalScanResult, scanWal } from './wal-format.js';
import type { ClosedWalFile, IndexRange } from './wal.js';

export interface WalDirState {
  readonly lastSeq: number;
  readonly closed: ClosedWalFile[];
  readonly lastIndexes: Map<string, number>;
  readonly warnings: string[];
}

function isMissing(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === 'ENOENT' || e?.cause?.code === 'ENOENT' || /ENOENT/.test(String((err as Error)?.message));
}

/** Throws LogCorruptionError for damage other than a torn tail of the last file. */
export async function scanWalDir(fs: LogFs, dir: string): Promise<WalDirState> {
  await fs.mkdirp(dir);
  const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
  const closed: ClosedWalFile[] = [];
  const lastIndexes = new Map<string, number>();
  const warnings: string[] = [];
  let lastSeq = 0;
  for (const [i, name] of names.entries()) {
    const path = joinPath(dir, name);
    lastSeq = Math.max(lastSeq, Number.parseInt(name, 10));
    let buf: Buffer;
    try {
      buf = await fs.readFile(path);
    } catch (err) {
      // The segment writer finished it and deleted it after we listed the directory.
      if (isMissing(err)) continue;
      throw err;
    }
    const ranges = new Map<string, IndexRange>();
    const seq = Number.parseInt(name, 10);
    const result = scanWal(
      buf,
      path,
      i === names.length - 1,
      {
        entry: (uid, index) => {
          lastIndexes.set(uid, index);
          addToRange(ranges, uid, index);
        },
      },
      seq,
    );
    const cut = await cutTail(fs, path, buf, result);
    if (cut !== undefined) warnings.push(cut.warning);
    if (cut?.removed) continue;
    closed.push({ seq, path, ranges });
  }
  return { lastSeq, closed, lastIndexes, warnings };
}

/** Entry `index` of `uid` widens that writer's range in a WAL file. */
export function addToRange(ranges: Map<string, IndexRange>, uid: string, index: number): void {
  const r = ranges.get(uid);
  if (r === undefined) ranges.set(uid, { from: index, to: index });
  else {
    r.from = Math.min(r.from, index);
    r.to = index;
  }
}

/**
 * After a scan: cuts off what the last file holds past its valid frames (deleting a
 * file without even a header), durably. Undefined when there was nothing to cut;
 * otherwise the warning for the log and whether the file is gone.
 */
export async function cutTail(fs: LogFs, path: string, scanned: Buffer, result: WalScanResult): Promise<{ warning: string; removed: boolean } | undefined> {
  if (!result.torn && result.header !== undefined) return undefined;
  // A bad read looks like a torn tail, and cutting there would lose synced frames for
  // good: cut only what a second read shows the same.
  const again = await fs.readFile(path);
  if (!again.equals(scanned)) {
    throw new LogCorruptionError(path, firstDifference(scanned, again), 'two reads of the file returned different bytes, so its tail is not cut as torn; check the disk');
  }
  const fileBytes = scanned.length;
  const cut = `${fileBytes - result.validBytes} bytes at offset ${result.validBytes}`;
  const warning = result.stale ? `${path}: the old contents of a reused file (${cut}) truncated` : `${path}: torn tail of ${cut} truncated`;
  if (result.header === undefined) {
    await fs.unlink(path);
    return { warning, removed: true };
  }
  const h = await fs.open(path, 'write');
  await h.truncate(result.validBytes);
  await h.datasync();
  await h.close();
  return { warning, removed: false };
}

/** The first offset at which two reads of a file differ (or the shorter length). */
function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
