// Reading a lagging follower's entries from segments does not hold the thread that
// runs the WAL: ServerLog.readEntries reads in bounded slices with asynchronous I/O,
// the WAL writes between them, and prefetch lets the core's synchronous reads that
// follow be served from memory.
import { afterEach, describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/internal/core/log.js';
import type { LogFileHandle, OpenMode } from '../../src/internal/log/fs.js';
import { SEGMENT_READ_BYTES_MAX, SEGMENT_READ_ENTRIES_MAX } from '../../src/internal/log/limits.js';
import { LogSystem } from '../../src/internal/log/system.js';
import { NoSyncFs, cmd, tempDir } from './helpers.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

/**
 * Real files, no syncs. A segment read waits until the WAL has written a batch since
 * the previous one: only a read that leaves the thread free can ever get through.
 */
class InterleavingFs extends NoSyncFs {
  segmentReads: number[] = [];
  syncReads = 0;
  gateReads = false;
  /** Called while a segment read is in flight. */
  duringSegmentRead: (() => void) | undefined;
  private walWrites = 0;
  private walWritesSeen = 0;
  private walWrote: () => void = () => undefined;

  override async open(path: string, mode: OpenMode, options?: { oSync?: boolean }): Promise<LogFileHandle> {
    const handle = await super.open(path, mode, options);
    if (path.endsWith('.wal')) {
      const writeAt = handle.writeAt.bind(handle);
      handle.writeAt = async (bytes, position) => {
        await writeAt(bytes, position);
        this.walWrites++;
        this.walWrote();
      };
    } else if (path.endsWith('.seg') && mode === 'read') {
      const readAt = handle.readAt.bind(handle);
      handle.readAt = async (length, position) => {
        if (this.gateReads) await this.walWriteSinceLastRead();
        this.segmentReads.push(length);
        this.duringSegmentRead?.();
        return readAt(length, position);
      };
    }
    return handle;
  }

  override readSync(path: string, position: number, length: number): Buffer {
    this.syncReads++;
    return super.readSync(path, position, length);
  }

  private async walWriteSinceLastRead(): Promise<void> {
    if (this.walWrites === this.walWritesSeen) await new Promise<void>((resolve) => (this.walWrote = resolve));
    this.walWritesSeen = this.walWrites;
  }
}

const PAYLOAD = 'x'.repeat(3_000);

function bigEntries(from: number, to: number, term: number): LogEntry[] {
  return Array.from({ length: to - from + 1 }, (_, k) => ({ index: from + k, term, payload: cmd(`${from + k}:${PAYLOAD}`) }));
}

async function setup() {
  const t = tempDir('rafter-log-slices-');
  cleanup = t.cleanup;
  const fs = new InterleavingFs();
  let onBusyWritten: () => void = () => undefined;
  const sys = await LogSystem.open({
    dir: t.dir,
    fs,
    random: () => 0.5,
    onWritten: (uid) => {
      if (uid === 'busy') onBusyWritten();
    },
  });
  const lagging = await sys.openServer('lagging');
  lagging.append(bigEntries(1, 2_000, 1));
  await sys.walWriter().rollover();
  await sys.idle();
  expect(lagging.stats().memEntries).toBe(0); // all in segments
  return { sys, fs, lagging, setBusyWritten: (fn: () => void) => (onBusyWritten = fn) };
}

describe('reading segments for a lagging follower', () => {
  it('serves a large read in bounded slices while the WAL writes between them', async () => {
    const { sys, fs, lagging, setBusyWritten } = await setup();
    const busy = await sys.openServer('busy');
    const timeline: string[] = [];
    // A busy server appends again each time it is told written, as a leader under load does.
    let reading = true;
    setBusyWritten(() => {
      timeline.push('written');
      if (reading) busy.append([{ index: busy.last().index + 1, term: 1, payload: cmd('b') }]);
    });
    busy.append([{ index: 1, term: 1, payload: cmd('b') }]);
    fs.gateReads = true;

    const got: LogEntry[] = [];
    for await (const slice of lagging.readEntries(1, 2_000)) {
      timeline.push(`slice ${slice.length}`);
      got.push(...slice);
    }
    reading = false;
    await sys.idle();

    expect(got.map((e) => e.index)).toEqual(Array.from({ length: 2_000 }, (_, k) => k + 1));
    expect(got[1_234]?.payload).toEqual(cmd(`1235:${PAYLOAD}`));
    const slices = timeline.filter((x) => x.startsWith('slice'));
    expect(slices.length).toBeGreaterThanOrEqual(6); // 6 MB in slices of at most 1 MiB
    expect(fs.segmentReads.every((bytes) => bytes <= SEGMENT_READ_BYTES_MAX)).toBe(true);
    expect(slices.every((x) => Number(x.split(' ')[1]) <= SEGMENT_READ_ENTRIES_MAX)).toBe(true);
    // Between any two slices the WAL wrote and acknowledged a batch.
    const sliceAt = timeline.flatMap((x, i) => (x.startsWith('slice') ? [i] : []));
    for (let k = 1; k < sliceAt.length; k++) expect(timeline.slice(sliceAt[k - 1], sliceAt[k])).toContain('written');
    expect(fs.syncReads).toBe(0);
    await sys.close();
  });

  it('prefetches into memory, so that the synchronous reads that follow touch no file', async () => {
    const { sys, fs, lagging } = await setup();
    await lagging.prefetch(101, 1_100);
    const before = fs.segmentReads.length;
    expect(lagging.entries(101, 1_100).map((e) => e.index)).toEqual(Array.from({ length: 1_000 }, (_, k) => 101 + k));
    expect(fs.syncReads).toBe(0);
    // Beyond the prefetched range the synchronous read goes to the file.
    expect(lagging.entries(1_099, 1_102).map((e) => e.index)).toEqual([1_099, 1_100, 1_101, 1_102]);
    expect(fs.syncReads).toBe(1);
    expect(fs.segmentReads.length).toBe(before);

    // An overwrite cuts the prefetched entries it replaces.
    lagging.append(bigEntries(500, 510, 2));
    const after = lagging.entries(498, 510);
    expect(after.map((e) => `${e.index}/${e.term}`)).toEqual([498, 499].map((i) => `${i}/1`).concat(Array.from({ length: 11 }, (_, k) => `${500 + k}/2`)));
    await sys.close();
  });

  it('drops a slice whose entries were overwritten while it was read, and ends the read there', async () => {
    const { sys, fs, lagging } = await setup();
    let reads = 0;
    fs.duringSegmentRead = () => {
      if (++reads === 2) lagging.append(bigEntries(500, 500, 2));
    };
    const got: LogEntry[] = [];
    for await (const slice of lagging.readEntries(1, 2_000)) got.push(...slice);
    expect(reads).toBe(2);
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(500);
    expect(got.every((e, k) => e.index === k + 1 && e.term === 1)).toBe(true);
    // Read again, the log as it is now.
    fs.duringSegmentRead = undefined;
    const again: LogEntry[] = [];
    for await (const slice of lagging.readEntries(got.length + 1, 2_000)) again.push(...slice);
    expect(again.at(-1)).toMatchObject({ index: 500, term: 2 });
    await sys.close();
  });
});
