// How a scheduler handles the signals addressed to it or its actors, from its own
// thread, other schedulers and other nodes: Erlang's answers for dead targets included
// (noproc DOWN and EXIT), and names resolved where the name table is.

import type { CallMessage } from '../types.js';
import { describeActor } from './scheduler-helpers.js';
import type { Scheduler } from './scheduler.js';
import { NOPROC, SCHEDULER_PID_ID, type Signal } from './signals.js';

export function handleIncoming(s: Scheduler, signal: Signal): void {
  switch (signal.k) {
    case 'msg': {
      const actor = s.local(signal.to);
      if (actor !== undefined) s.deliver(actor, signal.msg);
      return;
    }
    case 'monitorName': {
      const pid = s.host.whereis(signal.name);
      if (pid === undefined && s.index !== 0) return s.host.forward(signal);
      if (pid === undefined) s.route({ k: 'down', to: signal.from, ref: signal.ref, pid: { name: signal.name, node: signal.node }, reason: NOPROC });
      else s.route({ k: 'monitor', from: signal.from, to: pid, ref: signal.ref });
      return;
    }
    case 'named': {
      const pid = s.host.whereis(signal.name);
      if (pid === undefined && s.index !== 0) return s.host.forward(signal);
      if (pid === undefined) s.logger.warn({ name: signal.name }, 'message to an unknown name dropped');
      else s.send(pid, signal.msg);
      return;
    }
    case 'link': {
      const actor = s.local(signal.to);
      if (actor === undefined) s.route({ k: 'exit', from: signal.to, to: signal.from, reason: NOPROC, link: true });
      else actor.addLink(signal.from);
      return;
    }
    case 'unlink':
      s.local(signal.to)?.removeLink(signal.from);
      return;
    case 'exit': {
      const actor = s.local(signal.to);
      if (actor !== undefined) s.receiveExit(actor, signal.from, signal.reason, signal.link);
      return;
    }
    case 'monitor': {
      const actor = s.local(signal.to);
      if (actor === undefined) s.route({ k: 'down', to: signal.from, ref: signal.ref, pid: signal.to, reason: NOPROC });
      else (actor.monitoredBy ??= new Map()).set(signal.ref, signal.from);
      return;
    }
    case 'demonitor': {
      const actor = s.local(signal.to);
      if (actor?.monitoredBy?.delete(signal.ref) === true && actor.monitoredBy.size === 0) actor.monitoredBy = null;
      return;
    }
    case 'call': {
      const actor = s.local(signal.to);
      if (actor === undefined) return s.route({ k: 'down', to: signal.from, ref: signal.ref, pid: signal.to, reason: NOPROC });
      (actor.monitoredBy ??= new Map()).set(signal.ref, signal.from);
      const msg: CallMessage = { type: '$call', from: { pid: signal.from, ref: signal.ref }, request: signal.request };
      s.deliver(actor, msg);
      return;
    }
    case 'down': {
      // A call's DOWN goes to its caller (an actor or the scheduler); its ref names the pending call.
      if (s.calls.down(signal.ref, signal.reason) || signal.to.id === SCHEDULER_PID_ID) return;
      const actor = s.local(signal.to);
      if (actor?.monitoring?.delete(signal.ref) === true) {
        if (actor.monitoring.size === 0) actor.monitoring = null;
        s.deliver(actor, { type: 'DOWN', ref: signal.ref, pid: signal.pid, reason: signal.reason });
      }
      return;
    }
    case 'reply':
      return s.calls.settle(signal.ref, signal.ok, signal.value, signal.demonitored === true);
    case 'spawn':
      return s.spawnFromSignal(signal);
    case 'info': {
      const actor = s.local(signal.to);
      s.route({ k: 'reply', to: signal.replyTo, ref: signal.ref, ok: true, value: actor === undefined ? undefined : describeActor(actor) });
      return;
    }
  }
}
