// Goal: supervisors restart by strategy and policy, stop at their restart intensity
// (seen by their own supervisor), and shut children down in reverse order with a
// timeout, then kill.

import { afterEach, describe, expect, it } from 'vitest';
import {
  MAX_RESTART_INTENSITY,
  type Behaviour,
  pidEquals,
  startChild,
  startSupervisor,
  supervisorChild,
  terminateChild,
  whichChildren,
  type ChildSpec,
  type Node,
  type Pid,
  type Strategy,
} from '../src/index.js';
import { announcer } from './fixtures/actors.js';
import { inbox, startNode, type Inbox } from './helpers.js';

let node: Node;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

function child(id: string, box: Inbox, extra: Partial<ChildSpec> = {}, args: object = {}): ChildSpec {
  return { id, start: { spec: announcer, args: { id, box: box.pid, ...args } }, ...extra };
}

async function started(box: Inbox, id: string): Promise<Pid> {
  const msg = await box.next((m) => m.started === id);
  return msg.pid;
}

async function threeChildren(strategy: Strategy) {
  node = await startNode();
  const box = inbox(node);
  const sup = await startSupervisor(node, { strategy, intensity: 5, periodMs: 60_000, children: ['a', 'b', 'c'].map((id) => child(id, box)) });
  const pids = { a: await started(box, 'a'), b: await started(box, 'b'), c: await started(box, 'c') };
  return { box, sup, pids };
}

async function pidsOf(sup: Pid): Promise<Record<string, Pid | undefined>> {
  return Object.fromEntries((await whichChildren(node, sup)).map((c) => [c.id, c.pid]));
}

describe('restart strategies', () => {
  it('one_for_one restarts only the failed child', async () => {
    const { box, sup, pids } = await threeChildren('one_for_one');
    node.send(pids.b, 'crash');
    const b2 = await started(box, 'b');
    expect(pidEquals(b2, pids.b)).toBe(false);
    const now = await pidsOf(sup);
    expect(pidEquals(now.a!, pids.a)).toBe(true);
    expect(pidEquals(now.b!, b2)).toBe(true);
    expect(pidEquals(now.c!, pids.c)).toBe(true);
  });

  it('one_for_all restarts every child, in start order', async () => {
    const { box, sup, pids } = await threeChildren('one_for_all');
    node.send(pids.b, 'crash');
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push((await box.next((m) => m.started !== undefined)).started);
    expect(order).toEqual(['a', 'b', 'c']);
    const now = await pidsOf(sup);
    for (const id of ['a', 'b', 'c'] as const) expect(pidEquals(now[id]!, pids[id])).toBe(false);
  });

  it('rest_for_one restarts the failed child and those started after it', async () => {
    const { box, sup, pids } = await threeChildren('rest_for_one');
    node.send(pids.b, 'crash');
    await started(box, 'b');
    await started(box, 'c');
    const now = await pidsOf(sup);
    expect(pidEquals(now.a!, pids.a)).toBe(true);
    expect(pidEquals(now.b!, pids.b)).toBe(false);
    expect(pidEquals(now.c!, pids.c)).toBe(false);
  });
});

describe('restart policies', () => {
  it('transient restarts after a crash only; temporary never and is forgotten', async () => {
    node = await startNode();
    const box = inbox(node);
    const sup = await startSupervisor(node, {
      intensity: 5,
      children: [child('t', box, { restart: 'transient' }), child('tmp', box, { restart: 'temporary' }), child('p', box)],
    });
    const t = await started(box, 't');
    const tmp = await started(box, 'tmp');
    const p = await started(box, 'p');
    node.send(t, 'crash');
    const t2 = await started(box, 't');
    const normalExit = node.monitor(t2);
    node.send(t2, 'finish');
    await normalExit;
    const tmpDown = node.monitor(tmp);
    node.send(tmp, 'crash');
    await tmpDown;
    const pDown = node.monitor(p);
    node.send(p, 'finish');
    await pDown;
    await started(box, 'p'); // permanent: restarted even after a normal exit
    const children = await whichChildren(node, sup);
    expect(children.map((c) => c.id)).toEqual(['t', 'p']);
    expect(children.find((c) => c.id === 't')?.pid).toBeUndefined();
  });
});

describe('restart intensity', () => {
  it('stops the supervisor past its intensity, and its own supervisor sees the reason', async () => {
    node = await startNode();
    const box = inbox(node);
    const top = await startSupervisor(node, {
      intensity: 1,
      periodMs: 60_000,
      children: [supervisorChild('inner', { intensity: 2, periodMs: 60_000, children: [child('w', box)] })],
    });
    const inner = (await pidsOf(top)).inner!;
    const innerDown = node.monitor(inner);
    let w = await started(box, 'w');
    for (let i = 0; i < 2; i++) {
      node.send(w, 'crash');
      w = await started(box, 'w');
    }
    node.send(w, 'crash'); // third restart within the period: one too many
    expect((await innerDown).reason).toBe(MAX_RESTART_INTENSITY);
    // The top supervisor restarts the inner one, which starts its worker again.
    await started(box, 'w');
    const inner2 = (await pidsOf(top)).inner!;
    expect(pidEquals(inner2, inner)).toBe(false);
  });
});

describe('shutdown', () => {
  it('stops children in reverse start order, killing one that ignores shutdown after its timeout', async () => {
    node = await startNode();
    const box = inbox(node);
    const sup = await startSupervisor(node, {
      children: [
        child('first', box, {}, { trap: true }),
        child('stubborn', box, { shutdown: 50 }, { ignoreShutdown: true }),
        child('last', box, {}, { trap: true }),
      ],
    });
    const stubborn = (await pidsOf(sup)).stubborn!;
    const stubbornDown = node.monitor(stubborn);
    const supDown = node.monitor(sup);
    node.exit(sup, 'shutdown');
    expect(await box.next((m) => m.terminated !== undefined)).toEqual({ terminated: 'last', reason: 'shutdown' });
    expect((await stubbornDown).reason).toBe('killed');
    expect(await box.next((m) => m.terminated !== undefined)).toEqual({ terminated: 'first', reason: 'shutdown' });
    expect((await supDown).reason).toBe('shutdown');
  });

  it('a failing child start fails the supervisor start and stops the children already started', async () => {
    node = await startNode();
    const box = inbox(node);
    const attempt = startSupervisor(node, {
      children: [child('ok', box, {}, { trap: true }), child('bad', box, {}, { failInit: true })],
    });
    await expect(attempt).rejects.toMatchObject({ code: 'ACTORS_SPAWN_FAILED' });
    expect(await box.next((m) => m.terminated !== undefined)).toEqual({ terminated: 'ok', reason: 'shutdown' });
  });
});

describe('dynamic children and bad specs', () => {
  it('starts and terminates children on request', async () => {
    node = await startNode();
    const box = inbox(node);
    const sup = await startSupervisor(node, { children: [] });
    const pid = await startChild(node, sup, child('dyn', box, {}, { trap: true }));
    expect(pidEquals(await started(box, 'dyn'), pid)).toBe(true);
    await terminateChild(node, sup, 'dyn');
    expect(await box.next((m) => m.terminated !== undefined)).toEqual({ terminated: 'dyn', reason: 'shutdown' });
    await expect(startChild(node, sup, child('dyn', box))).rejects.toMatchObject({ code: 'ACTORS_INVALID_ARGUMENT' });
  });

  it('refuses invalid specs with typed errors', async () => {
    node = await startNode();
    const box = inbox(node);
    const invalid = expect.objectContaining({ code: 'ACTORS_INVALID_ARGUMENT' });
    expect(() => startSupervisor(node, { strategy: 'one_for_some' as Strategy, children: [] })).toThrow(invalid);
    expect(() => startSupervisor(node, { children: [child('x', box), child('x', box)] })).toThrow(invalid);
    expect(() => startSupervisor(node, { intensity: -1, children: [] })).toThrow(invalid);
    expect(() => startSupervisor(node, { children: [child('x', box, { shutdown: 'later' as never })] })).toThrow(invalid);
  });
});

describe('OTP rules', () => {
  it('ignores EXITs from processes that are not its children: one_for_all after several crashes at once goes on', async () => {
    const { box, sup, pids } = await threeChildren('one_for_all');
    const supDown = node.monitor(sup);
    // Three EXITs queue up; the first restarts all three, the other two name replaced children.
    node.send(pids.a, 'crash');
    node.send(pids.b, 'crash');
    node.send(pids.c, 'crash');
    const restarted = { a: await started(box, 'a'), b: await started(box, 'b'), c: await started(box, 'c') };
    const now = await pidsOf(sup); // a call queued after the stale EXITs: they have been handled
    for (const id of ['a', 'b', 'c'] as const) {
      expect(pidEquals(now[id]!, pids[id])).toBe(false);
      expect(pidEquals(now[id]!, restarted[id])).toBe(true);
    }
    const stranger = node.spawn(async () => undefined);
    node.exit(sup, 'normal'); // from the node: a trapped EXIT 'normal' stops it, as from a parent
    expect((await supDown).reason).toBe('normal');
    expect(stranger).toBeDefined();
  });

  it('retries a restart that failed, within its intensity', async () => {
    node = await startNode();
    const box = inbox(node);
    let starts = 0;
    const flaky: Behaviour<number> = {
      init: (ctx) => {
        starts++;
        if (starts === 2) throw new Error('second start fails');
        ctx.send(box.pid, { started: 'flaky', n: starts });
        return starts;
      },
      handle: (msg, n) => {
        if (msg === 'crash') throw new Error('flaky crashed');
        return n;
      },
    };
    const sup = await startSupervisor(node, { intensity: 3, periodMs: 60_000, children: [{ id: 'flaky', start: { spec: flaky } }] });
    const first = await box.next((m) => m.started === 'flaky');
    node.send((await pidsOf(sup)).flaky!, 'crash');
    expect(await box.next((m) => m.started === 'flaky')).toMatchObject({ n: 3 });
    expect(first.n).toBe(1);
    expect((await pidsOf(sup)).flaky).toBeDefined();
  });

  it('node.stop() shuts a tree down in its own order, children before parents, also after restarts', async () => {
    node = await startNode();
    const order: string[] = [];
    const recorder: Behaviour<string, string> = {
      init: (ctx, id) => {
        ctx.trapExit(true);
        return id;
      },
      handle: (msg, id, ctx) => {
        if (msg === 'crash') throw new Error(`${id} crashed`);
        if (msg?.type === 'EXIT') ctx.stop(msg.reason);
        return id;
      },
      terminate: (_reason, id) => {
        order.push(id);
      },
    };
    const worker = (id: string): ChildSpec => ({ id, start: { spec: recorder, args: id } });
    const top = await startSupervisor(node, {
      intensity: 5,
      children: [worker('a'), supervisorChild('inner', { children: [worker('b')] }), worker('c')],
    });
    const a = (await pidsOf(top)).a!;
    const down = node.monitor(a);
    node.send(a, 'crash');
    await down;
    order.length = 0;
    // 'a' restarted is now the newest actor, yet its supervisor stops it last.
    while ((await pidsOf(top)).a === undefined);
    await node.stop({ timeoutMs: 1_000 });
    expect(order).toEqual(['c', 'b', 'a']);
  });
});
