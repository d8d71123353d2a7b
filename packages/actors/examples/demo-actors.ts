// Actors of the demo that run on worker threads, so they live in a module.

import type { Behaviour, Pid } from '../src/index.js';

/** Counts pings and answers each with a pong to the sender. */
export const ponger: Behaviour<number, void> = {
  init: () => 0,
  handle: (msg: { ping: number; from: Pid }, count, ctx) => {
    ctx.send(msg.from, { pong: msg.ping, thread: ctx.self.scheduler });
    return count + 1;
  },
  handleCall: (_req, _from, count) => ({ reply: count, state: count }),
};

/** A worker that keeps a tally and crashes when told to. */
export const fragile: Behaviour<number, void> = {
  init: (ctx) => {
    ctx.log.info({ pid: ctx.self }, 'fragile worker started');
    return 0;
  },
  handle: (msg, tally) => {
    if (msg === 'crash') throw new Error('fragile worker hit a bad message');
    return tally + 1;
  },
  handleCall: (_req, _from, tally) => ({ reply: tally, state: tally }),
};
