// Everything that passes between actors, as plain data: the same shapes cross
// schedulers (structured clone) and nodes (msgpackr).

import type { Pid, Ref } from '../pid.js';
import type { ModuleRef, SpawnOptions } from '../types.js';

export type Signal =
  | { readonly k: 'msg'; readonly to: Pid; readonly msg: unknown }
  | { readonly k: 'named'; readonly name: string; readonly node: string; readonly msg: unknown }
  | { readonly k: 'link'; readonly from: Pid; readonly to: Pid }
  | { readonly k: 'unlink'; readonly from: Pid; readonly to: Pid }
  | { readonly k: 'exit'; readonly from: Pid; readonly to: Pid; readonly reason: unknown; readonly link: boolean }
  | { readonly k: 'monitor'; readonly from: Pid; readonly to: Pid; readonly ref: Ref }
  | { readonly k: 'demonitor'; readonly from: Pid; readonly to: Pid; readonly ref: Ref }
  | { readonly k: 'down'; readonly to: Pid; readonly ref: Ref; readonly pid: Pid; readonly reason: unknown }
  | { readonly k: 'reply'; readonly to: Pid; readonly ref: Ref; readonly ok: boolean; readonly value: unknown }
  | {
      readonly k: 'spawn';
      readonly to: Pid;
      readonly ref: Ref;
      readonly replyTo: Pid;
      readonly spec: ModuleRef;
      readonly args: unknown;
      readonly options: SpawnWireOptions;
    }
  | { readonly k: 'info'; readonly to: Pid; readonly ref: Ref; readonly replyTo: Pid };

export type SpawnWireOptions = Omit<SpawnOptions, 'link' | 'scheduler'> & { readonly link?: Pid };

/** The pid a scheduler uses for itself: replies and DOWNs of pending calls go there. */
export const SCHEDULER_PID_ID = 0;

/** The scheduler that must handle a signal, or undefined for a named send. */
export function signalTarget(signal: Signal): Pid | undefined {
  return signal.k === 'named' ? undefined : signal.to;
}

/** Reason of an untrappable exit signal and of the exit it causes. */
export const KILL = 'kill';
export const KILLED = 'killed';
export const NORMAL = 'normal';
export const NOPROC = 'noproc';
export const NOCONNECTION = 'noconnection';
