// A signal that cannot go to its node (too large for a frame, or not encodable) fails
// alone, never the connection that every other actor of the two nodes shares: the
// caller of a call gets a typed error, a reply or an exit reason is replaced by that
// error so the other side still settles, and a plain message is dropped with a logged
// reason. Every monitor and link on the connection stays.

import { encodeError, type ActorError } from '../../errors.js';
import { formatPid, isPid } from '../../pid.js';
import type { Signal } from '../../internal/signals.js';
import type { CallMessage } from '../../types.js';

export interface Refusal {
  /** The signal that stands in for the one not sent (to a local or a remote pid), if any. */
  readonly answer?: Signal;
  readonly log: string;
}

export function refuseUnsendable(signal: Signal, error: ActorError): Refusal {
  const value = encodeError(error);
  const why = error.message;
  switch (signal.k) {
    case 'call':
      return { answer: { k: 'reply', to: signal.from, ref: signal.ref, ok: false, value, demonitored: true }, log: `a call request to ${formatPid(signal.to)} was not sent: ${why}` };
    case 'msg':
    case 'named': {
      const dest = signal.k === 'msg' ? formatPid(signal.to) : `${signal.name} on ${signal.node}`;
      if (isCallRequest(signal.msg)) {
        const from = signal.msg.from;
        return { answer: { k: 'reply', to: from.pid, ref: from.ref, ok: false, value }, log: `a call request to ${dest} was not sent: ${why}` };
      }
      return { log: `a message to ${dest} was dropped: ${why}` };
    }
    case 'reply':
      return { answer: { ...signal, ok: false, value }, log: `a reply to ${formatPid(signal.to)} was replaced by an error: ${why}` };
    case 'exit':
    case 'down':
      // The link or monitor must still fire: with the reason replaced.
      return { answer: { ...signal, reason: value }, log: `an exit reason for ${formatPid(signal.to)} was replaced by an error: ${why}` };
    case 'spawn':
      return { answer: { k: 'reply', to: signal.replyTo, ref: signal.ref, ok: false, value }, log: `a start request was not sent: ${why}` };
    default:
      return { log: `a ${signal.k} signal was dropped: ${why}` };
  }
}

function isCallRequest(msg: unknown): msg is CallMessage {
  if (typeof msg !== 'object' || msg === null) return false;
  const call = msg as Partial<CallMessage>;
  return call.type === '$call' && typeof call.from === 'object' && call.from !== null && isPid(call.from.pid) && typeof call.from.ref === 'string';
}
