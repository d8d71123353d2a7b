// The key/register machine the simulated clients drive: plain data, apply(meta, cmd, state).

import type { ApplyResult, CoreMachine, MachineMeta } from '@rafter/raft/core';

export type KvCommand = { readonly type: 'put'; readonly key: string; readonly value: number };
export type KvState = { readonly values: Readonly<Record<string, number>>; readonly applied: number };

export interface KvMachineOptions {
  /** Emit a release cursor every this many commands (snapshots in the simulator). */
  readonly releaseEvery: number;
  readonly version: number;
  /** Emit a recovery checkpoint every this many commands (between release cursors). */
  readonly checkpointEvery?: number;
}

export function kvMachine(options: KvMachineOptions): CoreMachine {
  return {
    version: options.version,
    init: (): KvState => ({ values: {}, applied: 0 }),
    apply(meta: MachineMeta, command: unknown, state: unknown): ApplyResult {
      const kv = state as KvState;
      const cmd = command as KvCommand;
      const next: KvState = { values: { ...kv.values, [cmd.key]: cmd.value }, applied: kv.applied + 1 };
      const every = options.checkpointEvery ?? 0;
      const effects =
        next.applied % options.releaseEvery === 0
          ? [{ type: 'release_cursor' as const, index: meta.index, state: next }]
          : every > 0 && next.applied % every === 0
            ? [{ type: 'checkpoint' as const, index: meta.index, state: next }]
            : [];
      return { state: next, reply: 'ok', effects };
    },
  };
}

export function readKey(key: string): (state: unknown) => unknown {
  return (state) => (state as KvState).values[key];
}
