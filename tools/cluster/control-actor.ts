// The fault controls of a chaos run, inside a node process: an actor registered as
// `rafter_control` that a harness on another node calls to partition this node from
// others (the distribution's blockNode hook) or to slow its disk.

import type { Behaviour, Node } from '@rafter/actors';
import type { FaultyFs } from './faulty-fs.js';

export const CONTROL_ACTOR_NAME = 'rafter_control';

export type ControlRequest =
  | { readonly op: 'block'; readonly nodes: readonly string[] }
  | { readonly op: 'heal' }
  | { readonly op: 'slowDisk'; readonly ms: number };

export type ControlReply = { readonly ok: true; readonly blocked: readonly string[]; readonly slowDiskMs: number } | { readonly ok: false; readonly message: string };

interface ControlState {
  readonly node: Node;
  readonly fs: FaultyFs;
}

const controlBehaviour: Behaviour<ControlState, ControlState> = {
  init: (_ctx, state) => state,
  handleCall(request: ControlRequest, _from, state) {
    try {
      apply(state, request);
      return { reply: { ok: true, blocked: state.node.blockedNodes(), slowDiskMs: state.fs.slowDiskMs } satisfies ControlReply, state };
    } catch (err) {
      return { reply: { ok: false, message: err instanceof Error ? err.message : String(err) } satisfies ControlReply, state };
    }
  },
};

function apply(state: ControlState, request: ControlRequest): void {
  switch (request.op) {
    case 'block':
      for (const node of request.nodes) state.node.blockNode(node);
      return;
    case 'heal':
      for (const node of state.node.blockedNodes()) state.node.unblockNode(node);
      state.fs.slowDiskMs = 0;
      return;
    case 'slowDisk':
      if (!Number.isFinite(request.ms) || request.ms < 0) throw new RangeError(`slowDisk needs ms ≥ 0, got ${String(request.ms)}`);
      state.fs.slowDiskMs = request.ms;
      return;
    default:
      throw new TypeError(`unknown control op ${String((request as { op?: unknown }).op)}`);
  }
}

export async function startControlActor(node: Node, fs: FaultyFs): Promise<void> {
  await node.start(controlBehaviour, { node, fs }, { name: CONTROL_ACTOR_NAME });
}
