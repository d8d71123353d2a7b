// Everything that passes between actors, as plain data: the same shapes cross
// schedulers (structured clone) and nodes (msgpackr).

import type { Pid, Ref, RemoteName } from '../pid.js';
import type { ModuleRef, SpawnOptions } from '../types.js';

export type Signal =
  | { readonly k: 'msg'; readonly to: Pid; readonly msg: unknown }
  | { readonly k: 'named'; readonly name: string; readonly node: string; readonly msg: unknown }
  /** A monitor on whatever holds `name` on `node`, resolved there. */
  | { readonly k: 'monitorName'; readonly from: Pid; readonly name: string; readonly node: string; readonly ref: Ref }
  | { readonly k: 'link'; readonly from: Pid; readonly to: Pid }
  | { readonly k: 'unlink'; readonly from: Pid; readonly to: Pid }
  | { readonly k: 'exit'; readonly from: Pid; readonly to: Pid; readonly reason: unknown; readonly link: boolean }
  | { readonly k: 'monitor'; readonly from: Pid; readonly to: Pid; readonly ref: Ref }
  /** A call: a monitor of `to` under `ref` and the request, in one signal (one route, one frame entry). */
  | { readonly k: 'call'; readonly from: Pid; readonly to: Pid; readonly ref: Ref; readonly request: unknown }
  | { readonly k: 'demonitor'; readonly from: Pid; readonly to: Pid; readonly ref: Ref }
  | { readonly k: 'down'; readonly to: Pid; readonly ref: Ref; readonly pid: Pid | RemoteName; readonly reason: unknown }
  /** `demonitored`: the replying actor dropped the caller's monitor (same ref), so no demonitor is due. */
  | { readonly k: 'reply'; readonly to: Pid; readonly ref: Ref; readonly ok: boolean; readonly value: unknown; readonly demonitored?: true }
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

export type ByNameSignal = Extract<Signal, { k: 'named' | 'monitorName' }>;

/** Signals addressed by registered name (resolved on the target node), not by pid. */
export function isByName(signal: Signal): signal is ByNameSignal {
  return signal.k === 'named' || signal.k === 'monitorName';
}

/** Reason of an untrappable exit signal and of the exit it causes. */
export const KILL = 'kill';
export const KILLED = 'killed';
export const NORMAL = 'normal';
export const NOPROC = 'noproc';
export const NOCONNECTION = 'noconnection';
