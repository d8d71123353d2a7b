// The segment writer's flush as a dirty-pool job: loaded by module URL on a pool
// thread, so it takes and returns plain data. Structured clone turns Buffers into
// Uint8Arrays; both directions turn them back.
import type { ModuleRef } from '@rafter/actors';
import { type SegmentFlushResult, type SegmentFlushTask, type SegmentInfo, runSegmentFlush } from './segments.js';

export const SEGMENT_FLUSH_JOB: ModuleRef = { module: import.meta.url, export: 'flushSegments' };

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function reviveSegment(s: SegmentInfo): SegmentInfo {
  return { ...s, slots: asBuffer(s.slots) };
}

export async function flushSegments(task: SegmentFlushTask): Promise<SegmentFlushResult> {
  return runSegmentFlush(task.reopen === undefined ? task : { ...task, reopen: reviveSegment(task.reopen) });
}

/** A result as it comes back from the pool, with Buffers again. */
export function reviveFlushResult(result: SegmentFlushResult): SegmentFlushResult {
  return { segments: result.segments.map(reviveSegment) };
}
