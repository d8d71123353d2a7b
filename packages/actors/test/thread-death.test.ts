// Goal: a worker thread that ends is a crash of its actors, not a silent hole: each exits
// with a reason saying so, their monitors, links and pending calls fire on every
// scheduler and node, their names are freed, and supervisors restart children on the
// thread that takes its place (old pids never reach the new one).

import { afterAll, describe, expect, it } from 'vitest';
import { pidEquals, startSupervisor, whichChildren, type ActorContext, type ExitMessage, type Pid } from '../src/index.js';
import { peers } from './distribution/peers.js';
import { fixtures, inbox } from './helpers.js';

const cluster = peers();
afterAll(() => cluster.cleanup());

const relay = { module: fixtures, export: 'relay' };
const diedOn1 = { schedulerExited: 1, cause: expect.stringContaining('exit code 3') };

describe('a worker thread that ends', () => {
  it('crashes its actors everywhere, frees their names, and its supervised children restart on a new thread', async () => {
    const a = await cluster.node('a', { schedulers: 3, failureDetector: false });
    const b = await cluster.node('b', { failureDetector: false });
    const box = inbox(a);
    const sup = await startSupervisor(a, { intensity: 5, periodMs: 60_000, children: [{ id: 'w', start: { spec: relay, scheduler: 1 } }] });
    const child = (await whichChildren(a, sup))[0]!.pid!;
    const victim = await a.start(relay, undefined, { scheduler: 1, name: 'victim' });
    const watcher = await a.start(relay, undefined, { scheduler: 2 });
    await a.call(watcher, { op: 'monitor', target: victim, reportTo: box.pid });
    const mainDown = a.monitor(victim);
    const remoteDown = b.monitor(victim);
    // A call after the monitor, over the same connection: the monitor is in place once it returns.
    expect(await b.call(victim, { op: 'whereis', name: 'victim' })).toEqual(victim);
    a.spawn(async (ctx: ActorContext) => {
      ctx.trapExit(true);
      ctx.link(victim);
      ctx.send(box.pid, 'linked');
      ctx.send(box.pid, await ctx.receive((m) => m?.type === 'EXIT'));
    });
    await box.next((m) => m === 'linked');
    const hanging = a.call(victim, { op: 'hang' }, { timeoutMs: 60_000 });

    await expect(a.call(child, { op: 'exitThread' })).rejects.toMatchObject({ code: 'ACTORS_CALL_EXIT', reason: diedOn1 });
    await expect(hanging).rejects.toMatchObject({ code: 'ACTORS_CALL_EXIT', reason: diedOn1 });
    expect((await mainDown).reason).toEqual(diedOn1);
    expect((await remoteDown).reason).toEqual(diedOn1);
    expect(await box.next((m) => m.relayedDown !== undefined)).toEqual({ relayedDown: diedOn1, pid: victim });
    const exit = await box.next<ExitMessage>((m) => m.type === 'EXIT');
    expect(exit.reason).toEqual(diedOn1);
    expect(pidEquals(exit.from, victim)).toBe(true);
    expect(a.whereis('victim')).toBeUndefined();

    // The supervisor restarts its child on the new thread, under a new creation.
    let restarted: Pid | undefined;
    while (restarted === undefined) {
      const now = (await whichChildren(a, sup))[0]!.pid;
      if (now !== undefined && !pidEquals(now, child)) restarted = now;
    }
    expect(restarted.scheduler).toBe(1);
    expect(restarted.creation).not.toBe(child.creation);
    expect(await a.call(restarted, { op: 'whereis', name: 'victim' })).toBeNull();
    // Old pids of the dead thread name dead processes, even where the new thread reuses their numbers.
    expect((await a.monitor(victim)).reason).toBe('noproc');
    await expect(a.call(victim, { op: 'whereis', name: 'x' })).rejects.toMatchObject({ code: 'ACTORS_NOPROC' });
    const fresh = await a.start(relay, undefined, { scheduler: 1, name: 'victim' });
    expect(pidEquals(a.whereis('victim')!, fresh)).toBe(true);
    expect(await a.call(watcher, { op: 'call', dest: 'victim', request: { op: 'whereis', name: 'victim' } })).toEqual(fresh);

    // From another node too: a message to the dead victim is dropped, not given to the
    // new thread's actor with its number (messages to one actor keep their order, so that
    // actor would have relayed 'stale' before 'fresh').
    let namesake: Pid | undefined = fresh.id === victim.id ? fresh : undefined;
    for (let i = 0; i < 20 && namesake === undefined; i++) {
      const pid = await a.start(relay, undefined, { scheduler: 1 });
      if (pid.id === victim.id) namesake = pid;
    }
    expect(namesake).toBeDefined();
    b.send(victim, { op: 'sendTo', dest: box.pid, msg: 'stale' });
    b.send(namesake!, { op: 'sendTo', dest: box.pid, msg: 'fresh' });
    expect(await box.next((m) => m === 'stale' || m === 'fresh')).toBe('fresh');
  });
});
