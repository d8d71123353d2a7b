// The node (or context) that API calls go through when not given one.

import type { CallOptions, Dest } from '@rafter/actors';

/** What makes calls: a node, or an actor's context. */
export interface Caller {
  call<R = unknown>(dest: Dest, request: unknown, options?: CallOptions): Promise<R>;
  send(dest: Dest, msg: unknown): void;
}

let defaultCaller: Caller | undefined;

/** Sets the node (or context) that API calls go through when they are not given one; startSystem sets it if unset. */
export function useCaller(caller: Caller): void {
  defaultCaller = caller;
}

export function defaultCallerOf(): Caller | undefined {
  return defaultCaller;
}
