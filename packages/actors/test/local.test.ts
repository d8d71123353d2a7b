// Goal: messaging, calls and names on one scheduler behave as in Erlang, and bad
// arguments get typed errors.

import { afterEach, describe, expect, it } from 'vitest';
import { ActorError, pidEquals, type Behaviour, type Node, type Pid } from '../src/index.js';
import { inbox, startNode } from './helpers.js';

let node: Node;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

const counter: Behaviour<number, number> = {
  init: (_ctx, start) => start,
  handle: (msg, state) => (msg === 'inc' ? state + 1 : state),
  handleCall: (req, _from, state) => (req === 'get' ? { reply: state, state } : { reply: 'unknown', state }),
};

describe('behaviours', () => {
  it('handles messages in order and answers calls', async () => {
    node = await startNode();
    const pid = node.spawn(counter, 10);
    for (let i = 0; i < 1000; i++) node.send(pid, 'inc');
    expect(await node.call(pid, 'get')).toBe(1010);
  });

  it('takes the next message only after an async handler settles', async () => {
    node = await startNode();
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let startedA!: () => void;
    const aStarted = new Promise<void>((resolve) => (startedA = resolve));
    const pid = node.spawn({
      init: () => null,
      async handle(msg: string, state) {
        seen.push(`start ${msg}`);
        if (msg === 'a') {
          startedA();
          await gate;
        }
        seen.push(`end ${msg}`);
        return state;
      },
      handleCall: (_req, _from, state) => ({ reply: seen.slice(), state }),
    });
    node.send(pid, 'a');
    node.send(pid, 'b');
    await aStarted;
    const info = await node.info(pid);
    expect(info?.status).toBe('running');
    expect(info?.queueLength).toBe(1);
    release();
    expect(await node.call(pid, 'log')).toEqual(['start a', 'end a', 'start b', 'end b']);
  });

  it('lets handleCall reply later with ctx.reply', async () => {
    node = await startNode();
    const pid = node.spawn({
      init: () => [] as import('../src/index.js').From[],
      handle: (msg: string, waiting, ctx) => {
        for (const from of waiting) ctx.reply(from, msg);
        return [];
      },
      handleCall: (_req, from, waiting) => ({ noreply: true, state: [...waiting, from] }),
    });
    const a = node.call(pid, 'wait');
    const b = node.call(pid, 'wait');
    await node.info(pid); // both calls are queued before the release below
    node.send(pid, 'released');
    expect(await Promise.all([a, b])).toEqual(['released', 'released']);
  });

  it('stop() runs terminate and ends the actor with the reason', async () => {
    node = await startNode();
    let terminated: unknown;
    const pid = node.spawn({
      init: () => 0,
      handle: (_msg, state, ctx) => {
        ctx.stop('done');
        return state;
      },
      terminate: (reason) => {
        terminated = reason;
      },
    });
    const down = node.monitor(pid);
    node.send(pid, 'go');
    expect((await down).reason).toBe('done');
    expect(terminated).toBe('done');
  });

  it('takes no further messages while an async terminate runs', async () => {
    node = await startNode();
    const handled: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let terminating!: () => void;
    const inTerminate = new Promise<void>((resolve) => (terminating = resolve));
    const pid = node.spawn({
      init: () => null,
      handle: (msg: string, state, ctx) => {
        handled.push(msg);
        if (msg === 'stop') ctx.stop('done');
        return state;
      },
      async terminate() {
        terminating();
        await gate;
      },
    });
    const down = node.monitor(pid);
    node.send(pid, 'stop');
    await inTerminate;
    node.send(pid, 'late');
    // A turn of the scheduler after 'late' was queued: the terminating actor had its chance to run.
    const probe = node.spawn(counter, 0);
    expect(await node.call(probe, 'get')).toBe(0);
    release();
    expect((await down).reason).toBe('done');
    expect(handled).toEqual(['stop']);
  });

  it('a crash during an async handler: terminate runs, the handler\'s late result is dropped, and no message is taken meanwhile', async () => {
    node = await startNode();
    const handled: string[] = [];
    let finishHandler!: () => void;
    const handlerGate = new Promise<void>((resolve) => (finishHandler = resolve));
    let release!: () => void;
    const terminateGate = new Promise<void>((resolve) => (release = resolve));
    let terminating!: () => void;
    const inTerminate = new Promise<void>((resolve) => (terminating = resolve));
    const pid = node.spawn({
      init: () => null,
      async handleCall(request: string, _from, state) {
        handled.push(request);
        if (request === 'slow') {
          // Owned by the actor: its throw crashes the actor while this handler still waits.
          setTimeout(() => {
            throw new Error('thrown from a timer');
          }, 0);
          await handlerGate;
        }
        return { reply: request, state };
      },
      async terminate() {
        terminating();
        await terminateGate;
      },
    });
    const down = node.monitor(pid);
    const outcome = (p: Promise<unknown>) => p.then((value) => ({ value }), (err: { code?: string }) => ({ code: err.code }));
    const slow = outcome(node.call(pid, 'slow'));
    await inTerminate;
    const late = outcome(node.call(pid, 'late'));
    finishHandler();
    // A turn of the scheduler after the handler's end: the terminating actor had its chance to run.
    const probe = node.spawn(counter, 0);
    expect(await node.call(probe, 'get')).toBe(0);
    release();
    expect(((await down).reason as Error).message).toBe('thrown from a timer');
    expect(await slow).toEqual({ code: 'ACTORS_CALL_EXIT' });
    expect(await late).toEqual({ code: 'ACTORS_CALL_EXIT' });
    expect(handled).toEqual(['slow']);
  });
});

describe('calls', () => {
  it('fails with a typed timeout when no reply comes', async () => {
    node = await startNode();
    const pid = node.spawn({ init: () => null, handleCall: (_r, _f, state) => ({ noreply: true, state }) });
    await expect(node.call(pid, 'x', { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ACTORS_CALL_TIMEOUT' });
  });

  it('fails with noproc for a dead pid', async () => {
    node = await startNode();
    const pid = node.spawn(counter, 0);
    const down = node.monitor(pid);
    node.exit(pid, 'kill');
    await down;
    await expect(node.call(pid, 'get')).rejects.toMatchObject({ code: 'ACTORS_NOPROC' });
  });

  it('fails with the exit reason when the callee exits while the caller waits', async () => {
    node = await startNode();
    const pid = node.spawn({
      init: () => null,
      handleCall: () => {
        throw new Error('boom');
      },
    });
    const err = await node.call(pid, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ActorError);
    expect(err).toMatchObject({ code: 'ACTORS_CALL_EXIT' });
    expect((err as { reason: Error }).reason.message).toBe('boom');
  });

  it('rejects a call to an actor without handleCall but keeps it alive', async () => {
    node = await startNode();
    const pid = node.spawn({ init: () => null, handle: (_m, s) => s });
    await expect(node.call(pid, 'x')).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    expect(await node.info(pid)).toBeDefined();
  });

  it('works between actors, and crashes the caller that does not catch', async () => {
    node = await startNode();
    const server = node.spawn(counter, 7);
    const box = inbox(node);
    node.spawn(async (ctx) => {
      const value = await ctx.call<number>(server, 'get');
      ctx.send(box.pid, { value });
    });
    expect(await box.next()).toEqual({ value: 7 });
  });
});

describe('names', () => {
  it('registers, resolves, and unregisters; an exit frees the name', async () => {
    node = await startNode();
    const pid = node.spawn(counter, 1);
    node.register('counter', pid);
    expect(pidEquals(node.whereis('counter')!, pid)).toBe(true);
    node.send('counter', 'inc');
    expect(await node.call('counter', 'get')).toBe(2);
    expect(await node.call({ name: 'counter', node: node.name }, 'get')).toBe(2);
    node.unregister('counter');
    expect(node.whereis('counter')).toBeUndefined();
    node.register('counter', pid);
    const down = node.monitor(pid);
    node.exit(pid, 'kill');
    await down;
    expect(node.whereis('counter')).toBeUndefined();
  });

  it('sending or calling an unknown name is a typed error', async () => {
    node = await startNode();
    expect(() => node.send('nobody', 'hi')).toThrow(expect.objectContaining({ code: 'ACTORS_UNKNOWN_NAME' }));
    await expect(node.call('nobody', 'hi')).rejects.toMatchObject({ code: 'ACTORS_UNKNOWN_NAME' });
  });

  it('refuses a taken name', async () => {
    node = await startNode();
    const a = node.spawn(counter, 0, { name: 'taken' });
    const b = node.spawn(counter, 0);
    expect(() => node.register('taken', b)).toThrow(expect.objectContaining({ code: 'ACTORS_NAME_TAKEN' }));
    expect(pidEquals(node.whereis('taken')!, a)).toBe(true);
  });
});

describe('bad arguments', () => {
  it('rejects invalid specs, destinations, messages and timeouts with typed errors', async () => {
    node = await startNode();
    const pid = node.spawn(counter, 0);
    const invalid = expect.objectContaining({ code: 'ACTORS_INVALID_ARGUMENT' });
    expect(() => node.spawn({} as Behaviour)).toThrow(invalid);
    expect(() => node.send(42 as unknown as Pid, 'x')).toThrow(invalid);
    expect(() => node.send(pid, undefined)).toThrow(invalid);
    await expect(node.call(pid, 'get', { timeoutMs: -1 })).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    await expect(node.start(counter, 0, { scheduler: 3 })).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
    expect(() => node.register('', pid)).toThrow(invalid);
  });

  it('a stopped node refuses work', async () => {
    node = await startNode();
    await node.stop();
    expect(() => node.spawn(counter, 0)).toThrow(expect.objectContaining({ code: 'ACTORS_NOT_RUNNING' }));
  });
});

describe('info', () => {
  it('shows mailbox growth and links, and undefined once the actor is gone', async () => {
    node = await startNode();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pid = node.spawn({ init: () => gate, handle: (_m, s) => s, handleCall: (_r, _f, s) => ({ reply: 'ok', state: s }) });
    for (let i = 0; i < 50; i++) node.send(pid, i);
    expect((await node.info(pid))?.queueLength).toBe(50);
    release();
    await node.call(pid, 'sync'); // queued behind the 50
    const box = inbox(node);
    node.spawn(async (ctx) => {
      ctx.link(pid);
      ctx.send(box.pid, 'linked');
      await ctx.receive();
    });
    await box.next();
    const info = await node.info(pid);
    expect(info?.links).toHaveLength(1);
    expect(info?.queueLength).toBe(0);
    node.exit(pid, 'kill');
    await node.monitor(pid);
    expect(await node.info(pid)).toBeUndefined();
  });
});
