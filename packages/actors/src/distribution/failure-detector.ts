// One actor per node that sends heartbeats to every connected node and turns the
// silence of each into a phi level; past the threshold it tells subscribers
// 'node-maybe-down', and 'node-up' once heartbeats resume.

import type { ActorContext, Behaviour, DownMessage } from '../types.js';
import { pidKey, type Dest, type Pid } from '../pid.js';
import { PhiAccrual } from './phi.js';

export interface FailureDetectorOptions {
  /** How often each node sends a heartbeat to every connected node; default 100 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Inter-arrival samples kept per node; default 1,000. */
  readonly windowSize?: number;
  /** How often phi is checked; default 1,000 ms, at least the heartbeat interval. */
  readonly pollIntervalMs?: number;
  /** Phi above which a node is suspected; default 8 (see docs/distribution.md). */
  readonly phiThreshold?: number;
  readonly minStdDeviationMs?: number;
  readonly acceptablePauseMs?: number;
}

export type FailureDetectorEvent = { readonly type: 'node-maybe-down'; readonly node: string } | { readonly type: 'node-up'; readonly node: string };

export const FAILURE_DETECTOR_NAME = 'rafter_failure_detector';

/** What the detector needs from the distribution layer. */
export interface HeartbeatLink {
  nodes(): string[];
  sendHeartbeat(node: string): boolean;
}

interface State {
  readonly settings: Required<FailureDetectorOptions>;
  readonly link: HeartbeatLink;
  readonly detectors: Map<string, PhiAccrual>;
  readonly suspected: Set<string>;
  readonly subscribers: Map<string, { pid: Pid; ref: string }>;
}

type Msg =
  | { type: '$heartbeat'; node: string; atMs: number }
  | { type: '$beat' }
  | { type: '$poll' }
  | DownMessage;

export function failureDetector(link: HeartbeatLink): Behaviour<State, FailureDetectorOptions> {
  return {
    init(ctx, options) {
      const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 100;
      const settings: Required<FailureDetectorOptions> = {
        heartbeatIntervalMs,
        windowSize: options.windowSize ?? 1_000,
        pollIntervalMs: Math.max(heartbeatIntervalMs, options.pollIntervalMs ?? 1_000),
        phiThreshold: options.phiThreshold ?? 8,
        minStdDeviationMs: options.minStdDeviationMs ?? 100,
        acceptablePauseMs: options.acceptablePauseMs ?? 500,
      };
      ctx.sendAfter(settings.heartbeatIntervalMs, { type: '$beat' });
      ctx.sendAfter(settings.pollIntervalMs, { type: '$poll' });
      return { settings, link, detectors: new Map(), suspected: new Set(), subscribers: new Map() };
    },
    handle(msg: Msg, state, ctx) {
      switch (msg.type) {
        case '$beat':
          for (const node of state.link.nodes()) state.link.sendHeartbeat(node);
          ctx.sendAfter(state.settings.heartbeatIntervalMs, { type: '$beat' });
          return state;
        case '$heartbeat':
          return heartbeat(state, msg.node, msg.atMs, ctx);
        case '$poll':
          poll(state, ctx);
          ctx.sendAfter(state.settings.pollIntervalMs, { type: '$poll' });
          return state;
        case 'DOWN':
          for (const [key, sub] of state.subscribers) if (sub.ref === msg.ref) state.subscribers.delete(key);
          return state;
        default:
          return state;
      }
    },
    handleCall(req: { op: 'subscribe' | 'unsubscribe' | 'phi'; pid?: Pid; node?: string }, _from, state, ctx) {
      if (req.op === 'subscribe' && req.pid !== undefined) {
        const key = pidKey(req.pid);
        if (!state.subscribers.has(key)) state.subscribers.set(key, { pid: req.pid, ref: ctx.monitor(req.pid) });
        for (const node of state.detectors.keys()) {
          ctx.send(req.pid, { type: state.suspected.has(node) ? 'node-maybe-down' : 'node-up', node } satisfies FailureDetectorEvent);
        }
        return { reply: 'ok', state };
      }
      if (req.op === 'unsubscribe' && req.pid !== undefined) {
        const sub = state.subscribers.get(pidKey(req.pid));
        if (sub !== undefined) {
          ctx.demonitor(sub.ref);
          state.subscribers.delete(pidKey(req.pid));
        }
        return { reply: 'ok', state };
      }
      if (req.op === 'phi' && req.node !== undefined) {
        return { reply: state.detectors.get(req.node)?.phi(ctx.now()) ?? null, state };
      }
      return { reply: 'unknown request', state };
    },
  };
}

function heartbeat(state: State, node: string, atMs: number, ctx: ActorContext): State {
  let detector = state.detectors.get(node);
  if (detector === undefined) {
    const s = state.settings;
    detector = new PhiAccrual({ windowSize: s.windowSize, minStdDeviationMs: s.minStdDeviationMs, acceptablePauseMs: s.acceptablePauseMs, firstIntervalMs: s.heartbeatIntervalMs });
    state.detectors.set(node, detector);
    publish(state, ctx, { type: 'node-up', node });
  }
  detector.heartbeat(atMs);
  if (state.suspected.delete(node)) publish(state, ctx, { type: 'node-up', node });
  return state;
}

function poll(state: State, ctx: ActorContext): void {
  const nowMs = ctx.now();
  for (const [node, detector] of state.detectors) {
    if (state.suspected.has(node)) continue;
    if (detector.phi(nowMs) > state.settings.phiThreshold) {
      state.suspected.add(node);
      publish(state, ctx, { type: 'node-maybe-down', node });
    }
  }
}

function publish(state: State, ctx: ActorContext, event: FailureDetectorEvent): void {
  for (const sub of state.subscribers.values()) ctx.send(sub.pid, event);
}

type Caller = { call<R = unknown>(dest: Dest, request: unknown): Promise<R> };

/** Subscribes `pid` to the node's failure detector; it gets the current status of every node at once. */
export async function subscribeFailureDetector(caller: Caller, pid: Pid): Promise<void> {
  await caller.call(FAILURE_DETECTOR_NAME, { op: 'subscribe', pid });
}

export async function unsubscribeFailureDetector(caller: Caller, pid: Pid): Promise<void> {
  await caller.call(FAILURE_DETECTOR_NAME, { op: 'unsubscribe', pid });
}
