// Signals on the wire as short arrays, not maps: a call's frame is a fraction of the
// bytes and decodes without rebuilding node-name strings. A pid of either end of the
// connection is one number; node names come back as the connection's own strings.

import { encodeError } from '../../errors.js';
import { WIRE_NAME_LENGTH_MAX } from '../limits.js';
import { isPid, isRemoteName, type Pid } from '../../pid.js';
import type { Signal, SpawnWireOptions } from '../../internal/signals.js';
import type { CallMessage, ModuleRef } from '../../types.js';

const MSG = 0;
/** A call: monitor and request in one (the hot path of every remote call). */
const CALL = 1;
/** A `msg` whose payload is a call request (calls by name arrive this way after resolving). */
const CALL_MSG = 13;
const NAMED = 2;
const MONITOR_NAME = 3;
const LINK = 4;
const UNLINK = 5;
const EXIT = 6;
const MONITOR = 7;
const DEMONITOR = 8;
const DOWN = 9;
const REPLY = 10;
const SPAWN = 11;
const INFO = 12;

/** Pids packed as ((id * 256 + scheduler) * 2 + end) fit a double while id < 2^44. */
const SCHEDULERS_PACKED = 256;
const ID_PACKED_MAX = 2 ** 44;

/**
 * The two ends of a connection: their node names and creations. A pid of either end's
 * current incarnation is one number; any other pid is [node, scheduler, id, creation].
 */
interface Ends {
  readonly sender: string;
  readonly receiver: string;
  readonly senderCreation: number;
  readonly receiverCreation: number;
}

function pidOut(pid: Pid, e: Ends): number | [string, number, number, number] {
  const end = pid.node === e.sender && pid.creation === e.senderCreation ? 0 : pid.node === e.receiver && pid.creation === e.receiverCreation ? 1 : -1;
  if (end < 0 || pid.scheduler >= SCHEDULERS_PACKED || pid.id >= ID_PACKED_MAX) return [pid.node, pid.scheduler, pid.id, pid.creation];
  return (pid.id * SCHEDULERS_PACKED + pid.scheduler) * 2 + end;
}

function pidIn(value: unknown, e: Ends): Pid | undefined {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return undefined;
    const end = value % 2;
    const rest = (value - end) / 2;
    const scheduler = packedScheduler(rest);
    const id = packedId(rest);
    return end === 0 ? { node: e.sender, scheduler, id, creation: e.senderCreation } : { node: e.receiver, scheduler, id, creation: e.receiverCreation };
  }
  if (!Array.isArray(value) || value.length !== 4) return undefined;
  const [node, scheduler, id, creation] = value as unknown[];
  if (!isShortString(node) || !isIndex(scheduler) || !isIndex(id) || !isIndex(creation)) return undefined;
  return { node, scheduler, id, creation };
}

/** A creation as a handshake carries it: a positive integer. */
export function isCreation(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Node names and registered names: strings of a sane length. */
function isShortString(value: unknown): value is string {
  return typeof value === 'string' && value.length <= WIRE_NAME_LENGTH_MAX;
}

function asWireValue(value: unknown): unknown {
  return value instanceof Error ? encodeError(value) : value;
}

function isCallRequest(msg: unknown): msg is CallMessage {
  if (typeof msg !== 'object' || msg === null) return false;
  const call = msg as Partial<CallMessage>;
  return call.type === '$call' && typeof call.from === 'object' && call.from !== null && isPid(call.from.pid) && typeof call.from.ref === 'string';
}

/** Encodes a signal sent from node `sender` to node `receiver` (each with its incarnation's creation). */
export function signalToWire(s: Signal, sender: string, receiver: string, senderCreation: number, receiverCreation: number): unknown[] {
  const e: Ends = { sender, receiver, senderCreation, receiverCreation };
  switch (s.k) {
    case 'msg':
      if (isCallRequest(s.msg)) return [CALL_MSG, pidOut(s.to, e), pidOut(s.msg.from.pid, e), s.msg.from.ref, s.msg.request];
      return [MSG, pidOut(s.to, e), s.msg];
    case 'named':
      return [NAMED, s.name, s.node, s.msg];
    case 'monitorName':
      return [MONITOR_NAME, pidOut(s.from, e), s.name, s.node, s.ref];
    case 'link':
      return [LINK, pidOut(s.from, e), pidOut(s.to, e)];
    case 'unlink':
      return [UNLINK, pidOut(s.from, e), pidOut(s.to, e)];
    case 'exit':
      return [EXIT, pidOut(s.from, e), pidOut(s.to, e), asWireValue(s.reason), s.link];
    case 'call':
      return [CALL, pidOut(s.to, e), pidOut(s.from, e), s.ref, s.request];
    case 'monitor':
      return [MONITOR, pidOut(s.from, e), pidOut(s.to, e), s.ref];
    case 'demonitor':
      return [DEMONITOR, pidOut(s.from, e), pidOut(s.to, e), s.ref];
    case 'down':
      return [DOWN, pidOut(s.to, e), s.ref, isPid(s.pid) ? pidOut(s.pid, e) : s.pid, asWireValue(s.reason)];
    case 'reply':
      if (s.demonitored === true) return [REPLY, pidOut(s.to, e), s.ref, s.ok, asWireValue(s.value), 1];
      return [REPLY, pidOut(s.to, e), s.ref, s.ok, asWireValue(s.value)];
    case 'spawn':
      return [SPAWN, pidOut(s.to, e), s.ref, pidOut(s.replyTo, e), s.spec, s.args, s.options];
    case 'info':
      return [INFO, pidOut(s.to, e), s.ref, pidOut(s.replyTo, e)];
  }
}

/**
 * The commonest signal, a message to an actor of the receiving node's current
 * incarnation, is delivered without building a pid and a signal: for such a signal, its
 * target's scheduler * SCHEDULERS_PACKED + id (see pidOut); -1 for any other.
 */
export function messageToReceiver(raw: unknown): number {
  if (!Array.isArray(raw) || raw.length !== 3 || raw[0] !== MSG) return -1;
  const to: unknown = raw[1];
  return typeof to === 'number' && Number.isSafeInteger(to) && to >= 0 && to % 2 === 1 ? (to - 1) / 2 : -1;
}

/** The scheduler and id of a packed pid without its end bit (as messageToReceiver gives it). */
export function packedScheduler(packed: number): number {
  return packed % SCHEDULERS_PACKED;
}

export function packedId(packed: number): number {
  return (packed - (packed % SCHEDULERS_PACKED)) / SCHEDULERS_PACKED;
}

/** The ends of the signal being decoded, one object for every signal received (decode only reads it, and returns before the next). */
const receiving: { -readonly [K in keyof Ends]: Ends[K] } = { sender: '', receiver: '', senderCreation: 0, receiverCreation: 0 };

/**
 * Decodes a signal that node `sender` sent to node `receiver`: the signal, or why it is
 * not a well-formed one (every field of the envelope has its type checked here).
 */
export function signalFromWire(raw: unknown, sender: string, receiver: string, senderCreation: number, receiverCreation: number): Signal | string {
  if (!Array.isArray(raw) || raw.length < 2 || typeof raw[0] !== 'number') return 'not a [code, ...] array';
  const a = raw as unknown[];
  const code = a[0] as number;
  const e = receiving;
  e.sender = sender;
  e.receiver = receiver;
  e.senderCreation = senderCreation;
  e.receiverCreation = receiverCreation;
  const signal = decode(a, code, e);
  return signal ?? `malformed signal of code ${code} (${a.length} fields)`;
}

/** a[i] as a string, or undefined. */
function ref(a: unknown[], i: number): string | undefined {
  const value = a[i];
  return typeof value === 'string' ? value : undefined;
}

function decode(a: unknown[], code: number, e: Ends): Signal | undefined {
  switch (code) {
    case MSG: {
      const to = pidIn(a[1], e);
      return to && a.length === 3 ? { k: 'msg', to, msg: a[2] } : undefined;
    }
    case CALL:
    case CALL_MSG: {
      const to = pidIn(a[1], e);
      const from = pidIn(a[2], e);
      const r = ref(a, 3);
      if (!to || !from || r === undefined || a.length !== 5) return undefined;
      if (code === CALL) return { k: 'call', from, to, ref: r, request: a[4] };
      const msg: CallMessage = { type: '$call', from: { pid: from, ref: r }, request: a[4] };
      return { k: 'msg', to, msg };
    }
    case NAMED:
      return a.length === 4 && isShortString(a[1]) && isShortString(a[2]) ? { k: 'named', name: a[1], node: a[2], msg: a[3] } : undefined;
    case MONITOR_NAME: {
      const from = pidIn(a[1], e);
      const r = ref(a, 4);
      return from && a.length === 5 && isShortString(a[2]) && isShortString(a[3]) && r !== undefined ? { k: 'monitorName', from, name: a[2], node: a[3], ref: r } : undefined;
    }
    case LINK:
    case UNLINK:
    case EXIT:
    case MONITOR:
    case DEMONITOR:
      return pairSignal(a, pidIn(a[1], e), pidIn(a[2], e));
    case DOWN: {
      const to = pidIn(a[1], e);
      const r = ref(a, 2);
      if (!to || r === undefined || a.length !== 5) return undefined;
      const down = isRemoteName(a[3]) && isShortString(a[3].name) && isShortString(a[3].node) ? { name: a[3].name, node: a[3].node } : pidIn(a[3], e);
      return down ? { k: 'down', to, ref: r, pid: down, reason: a[4] } : undefined;
    }
    case REPLY: {
      const to = pidIn(a[1], e);
      const r = ref(a, 2);
      if (!to || r === undefined || typeof a[3] !== 'boolean') return undefined;
      if (a.length === 6 && a[5] === 1) return { k: 'reply', to, ref: r, ok: a[3], value: a[4], demonitored: true };
      return a.length === 5 ? { k: 'reply', to, ref: r, ok: a[3], value: a[4] } : undefined;
    }
    case SPAWN: {
      const to = pidIn(a[1], e);
      const replyTo = pidIn(a[3], e);
      const r = ref(a, 2);
      if (!to || !replyTo || r === undefined || a.length !== 7) return undefined;
      return { k: 'spawn', to, ref: r, replyTo, spec: a[4] as ModuleRef, args: a[5], options: a[6] as SpawnWireOptions };
    }
    case INFO: {
      const to = pidIn(a[1], e);
      const replyTo = pidIn(a[3], e);
      const r = ref(a, 2);
      return to && replyTo && r !== undefined && a.length === 4 ? { k: 'info', to, ref: r, replyTo } : undefined;
    }
    default:
      return undefined;
  }
}

/** Signals between two pids: a[1] is `from`, a[2] is `to`. */
function pairSignal(a: unknown[], from: Pid | undefined, to: Pid | undefined): Signal | undefined {
  if (!from || !to) return undefined;
  switch (a[0]) {
    case LINK:
      return a.length === 3 ? { k: 'link', from, to } : undefined;
    case UNLINK:
      return a.length === 3 ? { k: 'unlink', from, to } : undefined;
    case EXIT:
      return a.length === 5 && typeof a[4] === 'boolean' ? { k: 'exit', from, to, reason: a[3], link: a[4] } : undefined;
    case MONITOR:
      return a.length === 4 && typeof a[3] === 'string' ? { k: 'monitor', from, to, ref: a[3] } : undefined;
    case DEMONITOR:
      return a.length === 4 && typeof a[3] === 'string' ? { k: 'demonitor', from, to, ref: a[3] } : undefined;
    default:
      return undefined;
  }
}
