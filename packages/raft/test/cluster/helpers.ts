// Shared pieces of the process-cluster tests: machine modules, hook and test timeouts,
// bounded polling of an observable, and finding a cluster's leader.

import { type Caller, type ServerId, RafterError, members, serverStatus } from '../../src/index.js';

const machinesDir = new URL('../../../../tools/cluster/machines/', import.meta.url);
export const RECORDER_MODULE = new URL('recorder.ts', machinesDir).href;
export const KV_MODULE = new URL('kv.ts', machinesDir).href;
/** Starting or stopping node processes on a loaded 2-core machine can take well over vitest's default. */
export const CLUSTER_HOOK_TIMEOUT_MS = 90_000;
/** For tests that restart node processes or run thousands of commands. */
export const CLUSTER_TEST_TIMEOUT_MS = 90_000;

/**
 * Polls `probe` until `done` holds for its value, at most `timeoutMs`; a probe that
 * throws counts as not yet. Fails with the last value or error seen, never hangs.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let pauseMs = 10;
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (done(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pauseMs, Math.max(1, deadline - Date.now()))));
    pauseMs = Math.min(pauseMs * 2, 100);
  }
  const seen = last === undefined ? 'nothing' : 'error' in last ? `error ${String(last.error)}` : `value ${JSON.stringify(last.value)}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last saw ${seen}`);
}

/** The leader as the given members report it, once one is known and is itself a leader. */
export async function leaderOf(servers: readonly ServerId[], via: Caller, timeoutMs = 10_000): Promise<ServerId> {
  const found = await waitFor(
    'a leader',
    async () => {
      const { leader } = await members(servers, { via, timeoutMs: 1_000 });
      if (leader === undefined) return undefined;
      const status = await serverStatus(leader, { via, timeoutMs: 1_000 });
      return status.role === 'leader' ? leader : undefined;
    },
    (leader) => leader !== undefined,
    timeoutMs,
  );
  return found as ServerId;
}

export function sameId(a: ServerId | undefined, b: ServerId | undefined): boolean {
  return a !== undefined && b !== undefined && a.name === b.name && a.node === b.node;
}

export function codeOf(err: unknown): string | undefined {
  return err instanceof RafterError ? err.code : undefined;
}
