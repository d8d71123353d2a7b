// Actors of the actors benchmark that run on worker schedulers.

import type { ActorContext, Behaviour, Pid } from '../../../packages/actors/src/index.js';

interface SinkState {
  count: number;
  target: number;
  reportTo: Pid | undefined;
}

/** Counts messages; once armed with a target, reports to `reportTo` on reaching it. */
export const sink: Behaviour<SinkState> = {
  init: () => ({ count: 0, target: Infinity, reportTo: undefined }),
  handle: (_msg, state, ctx) => {
    state.count++;
    if (state.count === state.target) ctx.send(state.reportTo!, { done: state.count });
    return state;
  },
  handleCall: (req: { target: number; reportTo: Pid }, _from, state) => {
    return { reply: 'armed', state: { count: 0, target: req.target, reportTo: req.reportTo } };
  },
};

/**
 * Sends `n` small messages to `sink` (numbers, or `{ seq }` objects with `objects`),
 * in slices so the batches flow while it sends.
 */
export const source: Behaviour<null> = {
  init: () => null,
  handleCall: async (req: { sink: Pid; n: number; objects?: boolean }, _from, state, ctx) => {
    const slice = 16_384;
    for (let sent = 0; sent < req.n; sent += slice) {
      const end = Math.min(req.n, sent + slice);
      if (req.objects === true) for (let i = sent; i < end; i++) ctx.send(req.sink, { seq: i });
      else for (let i = sent; i < end; i++) ctx.send(req.sink, i);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { reply: 'sent', state };
  },
};

/** Answers every ping with a pong. */
export const ponger: Behaviour<null> = {
  init: () => null,
  handle: (msg: { from: Pid }, state, ctx) => {
    ctx.send(msg.from, 'pong');
    return state;
  },
};

/** Times `n` round trips to `peer` and reports the latencies (µs) to `reportTo`. */
export async function pinger(ctx: ActorContext, args: { peer: Pid; n: number; reportTo: Pid }): Promise<void> {
  const samplesUs = new Float64Array(args.n);
  const ping = { from: ctx.self };
  for (let i = 0; i < args.n; i++) {
    const t0 = process.hrtime.bigint();
    ctx.send(args.peer, ping);
    await ctx.receive();
    samplesUs[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  ctx.send(args.reportTo, { samplesUs: Array.from(samplesUs) });
}
