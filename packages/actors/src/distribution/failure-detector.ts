// One actor per node that sends heartbeats to every connected node (from a timer of
// its own, outside the actor's turns) and turns the silence of each, less this
// process's own pauses, into a phi level; past the threshold it tells subscribers
// 'node-maybe-down', and 'node-up' once heartbeats resume. It runs under its own
// supervisor; what must outlive a crash (subscribers, the nodes it watches) is kept
// outside the actor's state, so a restarted detector carries on for its subscribers.

import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../clock.js';
import type { ActorContext, Behaviour, DownMessage, SpawnOptions, ActorSpec } from '../types.js';
import { pidKey, type Dest, type Pid } from '../pid.js';
import { startSupervisor } from '../supervisor.js';
import { PhiAccrual } from './phi.js';
import { LocalPauses } from './local-pause.js';
import {
  ACCEPTABLE_PAUSE_MS_DEFAULT,
  FAILURE_DETECTOR_RESTART_PERIOD_MS,
  FAILURE_DETECTOR_RESTARTS_MAX,
  HEARTBEAT_INTERVAL_MS_DEFAULT,
  MIN_STD_DEVIATION_MS_DEFAULT,
  PHI_THRESHOLD_DEFAULT,
  POLL_INTERVAL_MS_DEFAULT,
  REDIAL_MS_MAX,
  WINDOW_SIZE_DEFAULT,
} from './limits.js';

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
export const FAILURE_DETECTOR_SUPERVISOR_NAME = 'rafter_failure_detector_sup';

/** What the detector needs from the distribution layer. */
export interface HeartbeatLink {
  nodes(): string[];
  sendHeartbeat(node: string): boolean;
  /** Dials `node` (a redial does not make it wanted); resolves true once connected. */
  redial(node: string): Promise<boolean>;
  /** Whether anything on this node still refers to `node` (see docs/distribution.md): only such a node is redialled. */
  isWanted(node: string): boolean;
  /** Called with the sending node for each heartbeat that arrives. */
  onHeartbeat: ((node: string) => void) | undefined;
}

/** What outlives one incarnation of the detector actor. */
class Memory {
  readonly subscribers = new Map<string, Pid>();
  /** Every node heard from, and which of them are suspected now. */
  readonly known = new Set<string>();
  readonly suspected = new Set<string>();
  /** The running incarnation and the token its own messages carry. */
  current: { pid: Pid; token: string; state?: State } | undefined;
  /** Sends the heartbeats (one per incarnation; a new one replaces a crashed one's). */
  sender: HeartbeatSender | undefined;
}

/**
 * Heartbeats every interval from the clock's own timer, not from the detector actor's
 * turn: on a node whose actors all have work, that turn comes late, and peers must not
 * hear silence then.
 */
class HeartbeatSender {
  private timer: TimerHandle | undefined;
  /**
   * This process's pauses, seen by how late this timer fires. Heartbeats are stamped as
   * they come off the socket, so only a held-up event loop (not a late actor turn) can
   * make a live peer look silent.
   */
  readonly pauses: LocalPauses;

  constructor(
    private readonly link: HeartbeatLink,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {
    // Lateness within a beat interval is scheduling jitter, not a pause.
    this.pauses = new LocalPauses(intervalMs, intervalMs);
    this.pauses.beat(clock.now());
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => {
      if (this.timer === undefined) return;
      this.pauses.beat(this.clock.now());
      for (const node of this.link.nodes()) this.link.sendHeartbeat(node);
      this.arm();
    }, this.intervalMs);
  }
}

interface Redial {
  atMs: number;
  waitMs: number;
  inFlight: boolean;
}

interface State {
  readonly settings: Required<FailureDetectorOptions>;
  readonly token: string;
  readonly detectors: Map<string, PhiAccrual>;
  /** Monitor ref -> subscriber key. */
  readonly monitors: Map<string, string>;
  readonly redials: Map<string, Redial>;
  /** This process's own pauses, seen by the heartbeat timer's lateness: left out of every peer's silence. */
  readonly pauses: LocalPauses;
}

/** Timer and heartbeat messages carry the incarnation's token: other actors cannot start timer chains or fake heartbeats. */
type Msg =
  | { type: '$heartbeat'; token: string; node: string; atMs: number }
  | { type: '$poll'; token: string }
  | DownMessage;

type Request = { op: 'subscribe' | 'unsubscribe' | 'phi'; pid?: Pid; node?: string };

type Starter = { start<A>(spec: ActorSpec, args?: A, options?: SpawnOptions): Promise<Pid> };

/**
 * Starts the detector under its own supervisor and routes heartbeats from `link` to
 * whichever incarnation runs; `deliver` sends a message to a local pid.
 */
export function startFailureDetector(starter: Starter, link: HeartbeatLink, options: FailureDetectorOptions, deliver: (pid: Pid, msg: unknown) => void, clock: Clock): Promise<Pid> {
  const memory = new Memory();
  link.onHeartbeat = (node) => {
    const current = memory.current;
    if (current === undefined) return;
    const atMs = clock.now();
    // A heartbeat from a node already known and trusted only adds to its history: that
    // is done here, on the socket's turn, rather than as one actor message per heartbeat
    // (ten peers at 100 ms would make a hundred turns a second). The actor sees the rest.
    const detector = current.state?.detectors.get(node);
    if (detector !== undefined && memory.known.has(node) && !memory.suspected.has(node)) {
      detector.heartbeat(atMs, pausedSinceLast(current.state!, detector, atMs));
      return;
    }
    deliver(current.pid, { type: '$heartbeat', token: current.token, node, atMs });
  };
  const child = { id: 'failure_detector', start: { spec: failureDetector(link, memory, clock), args: options, name: FAILURE_DETECTOR_NAME } };
  const spec = { strategy: 'one_for_one' as const, intensity: FAILURE_DETECTOR_RESTARTS_MAX, periodMs: FAILURE_DETECTOR_RESTART_PERIOD_MS, children: [child] };
  return startSupervisor(starter, spec, { name: FAILURE_DETECTOR_SUPERVISOR_NAME });
}

function failureDetector(link: HeartbeatLink, memory: Memory, clock: Clock): Behaviour<State, FailureDetectorOptions> {
  return {
    init(ctx, options) {
      const settings = settingsOf(options);
      const token = randomBytes(16).toString('hex');
      memory.sender?.stop();
      memory.sender = new HeartbeatSender(link, clock, settings.heartbeatIntervalMs);
      const state: State = { settings, token, detectors: new Map(), monitors: new Map(), redials: new Map(), pauses: memory.sender.pauses };
      for (const [key, pid] of memory.subscribers) state.monitors.set(ctx.monitor(pid), key);
      // A restart forgets the histories, not the nodes: silence is measured from now.
      for (const node of memory.known) detectorFor(state, node).heartbeat(ctx.now());
      memory.current = { pid: ctx.self, token, state };
      ctx.sendAfter(settings.pollIntervalMs, { type: '$poll', token });
      return state;
    },
    handle(msg: Msg, state, ctx) {
      if (msg.type === 'DOWN') {
        const key = state.monitors.get(msg.ref);
        if (key !== undefined) memory.subscribers.delete(key);
        state.monitors.delete(msg.ref);
        return state;
      }
      if (msg.token !== state.token) return state;
      switch (msg.type) {
        case '$heartbeat':
          heartbeat(state, msg.node, msg.atMs, ctx);
          return state;
        case '$poll':
          poll(state, ctx);
          ctx.sendAfter(state.settings.pollIntervalMs, { type: '$poll', token: state.token });
          return state;
        default:
          return state;
      }
    },
    terminate() {
      memory.sender?.stop();
      memory.sender = undefined;
    },
    handleCall(req: Request, _from, state, ctx) {
      if (req.op === 'subscribe' && req.pid !== undefined) {
        const key = pidKey(req.pid);
        if (!memory.subscribers.has(key)) {
          memory.subscribers.set(key, req.pid);
          state.monitors.set(ctx.monitor(req.pid), key);
        }
        for (const node of memory.known) {
          ctx.send(req.pid, { type: memory.suspected.has(node) ? 'node-maybe-down' : 'node-up', node } satisfies FailureDetectorEvent);
        }
        return { reply: 'ok', state };
      }
      if (req.op === 'unsubscribe' && req.pid !== undefined) {
        const key = pidKey(req.pid);
        memory.subscribers.delete(key);
        for (const [ref, k] of state.monitors) {
          if (k !== key) continue;
          ctx.demonitor(ref);
          state.monitors.delete(ref);
        }
        return { reply: 'ok', state };
      }
      if (req.op === 'phi' && req.node !== undefined) {
        const detector = state.detectors.get(req.node);
        return { reply: detector === undefined ? null : phiNow(state, detector, ctx.now()), state };
      }
      return { reply: 'unknown request', state };
    },
  };

  function detectorFor(state: State, node: string): PhiAccrual {
    let detector = state.detectors.get(node);
    if (detector === undefined) {
      const s = state.settings;
      detector = new PhiAccrual({
        windowSize: s.windowSize,
        minStdDeviationMs: s.minStdDeviationMs,
        acceptablePauseMs: s.acceptablePauseMs,
        firstIntervalMs: s.heartbeatIntervalMs,
        phiThreshold: s.phiThreshold,
      });
      state.detectors.set(node, detector);
    }
    return detector;
  }

  function heartbeat(state: State, node: string, atMs: number, ctx: ActorContext): void {
    const isNew = !memory.known.has(node);
    memory.known.add(node);
    const detector = detectorFor(state, node);
    detector.heartbeat(atMs, pausedSinceLast(state, detector, atMs));
    state.redials.delete(node);
    if (isNew || memory.suspected.delete(node)) publish(ctx, { type: 'node-up', node });
  }

  function poll(state: State, ctx: ActorContext): void {
    const nowMs = ctx.now();
    for (const [node, detector] of state.detectors) {
      if (memory.suspected.has(node) || phiNow(state, detector, nowMs) <= state.settings.phiThreshold) continue;
      memory.suspected.add(node);
      publish(ctx, { type: 'node-maybe-down', node });
    }
    redialSuspected(state, nowMs);
  }

  /**
   * A suspected node that lost its connection is dialled again, so its return does not
   * wait for other traffic, while something here still refers to it; the wait doubles
   * from the poll interval up to REDIAL_MS_MAX and starts over once it is connected.
   */
  function redialSuspected(state: State, nowMs: number): void {
    if (memory.suspected.size === 0) return;
    const connected = new Set(link.nodes());
    for (const node of memory.suspected) {
      if (connected.has(node) || !link.isWanted(node)) {
        state.redials.delete(node);
        continue;
      }
      let redial = state.redials.get(node);
      if (redial === undefined) state.redials.set(node, (redial = { atMs: nowMs, waitMs: state.settings.pollIntervalMs, inFlight: false }));
      if (redial.inFlight || nowMs < redial.atMs) continue;
      redial.inFlight = true;
      redial.atMs = nowMs + redial.waitMs;
      redial.waitMs = Math.min(REDIAL_MS_MAX, redial.waitMs * 2);
      const current = redial;
      void link.redial(node).then(
        () => (current.inFlight = false),
        () => (current.inFlight = false),
      );
    }
  }

  function publish(ctx: ActorContext, event: FailureDetectorEvent): void {
    for (const pid of memory.subscribers.values()) ctx.send(pid, event);
  }
}

/** Phi of a peer's silence, less the time this process was paused in it. */
function phiNow(state: State, detector: PhiAccrual, nowMs: number): number {
  return detector.phi(nowMs, pausedSinceLast(state, detector, nowMs));
}

function pausedSinceLast(state: State, detector: PhiAccrual, nowMs: number): number {
  const lastMs = detector.lastHeartbeatMs;
  return lastMs === undefined ? 0 : state.pauses.pausedMs(lastMs, nowMs);
}

function settingsOf(options: FailureDetectorOptions): Required<FailureDetectorOptions> {
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT;
  return {
    heartbeatIntervalMs,
    windowSize: options.windowSize ?? WINDOW_SIZE_DEFAULT,
    pollIntervalMs: Math.max(heartbeatIntervalMs, options.pollIntervalMs ?? POLL_INTERVAL_MS_DEFAULT),
    phiThreshold: options.phiThreshold ?? PHI_THRESHOLD_DEFAULT,
    minStdDeviationMs: options.minStdDeviationMs ?? MIN_STD_DEVIATION_MS_DEFAULT,
    acceptablePauseMs: options.acceptablePauseMs ?? ACCEPTABLE_PAUSE_MS_DEFAULT,
  };
}

type Caller = { call<R = unknown>(dest: Dest, request: unknown): Promise<R> };

/** Subscribes `pid` to the node's failure detector; it gets the current status of every node at once. */
export async function subscribeFailureDetector(caller: Caller, pid: Pid): Promise<void> {
  await caller.call(FAILURE_DETECTOR_NAME, { op: 'subscribe', pid });
}

export async function unsubscribeFailureDetector(caller: Caller, pid: Pid): Promise<void> {
  await caller.call(FAILURE_DETECTOR_NAME, { op: 'unsubscribe', pid });
}
