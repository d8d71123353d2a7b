// Goal: names follow Erlang's rules on every scheduler: one name per actor, a
// registration decided by scheduler 0 before `register` returns (so the loser of a race
// knows), a send to the name from any thread reaches the actor once `register` has
// returned, and the name is freed when its actor exits, wherever it was registered.

import { afterEach, describe, expect, it } from 'vitest';
import { pidEquals, type Behaviour, type Pid } from '../src/index.js';
import { fixtures, inbox, startNode } from './helpers.js';

type TestNode = Awaited<ReturnType<typeof startNode>>;
let node: TestNode;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

const relay = { module: fixtures, export: 'relay' };
const idle: Behaviour<null> = { init: () => null, handle: (_m, s) => s };

describe('names', () => {
  it('an actor has one name: a second register fails with a typed error', async () => {
    node = await startNode();
    const pid = node.spawn(idle);
    node.register('first', pid);
    expect(() => node.register('second', pid)).toThrow(expect.objectContaining({ code: 'ACTORS_ALREADY_REGISTERED' }));
    expect(() => node.register('first', pid)).toThrow(expect.objectContaining({ code: 'ACTORS_NAME_TAKEN' }));
    expect(() => node.spawn(idle, null, { name: 'first' })).toThrow(expect.objectContaining({ code: 'ACTORS_NAME_TAKEN' }));
    expect(node.whereis('second')).toBeUndefined();
  });

  it('two threads registering one name at once: exactly one wins, and the loser is told', async () => {
    node = await startNode({ schedulers: 3 });
    const one = await node.start(relay, undefined, { scheduler: 1 });
    const two = await node.start(relay, undefined, { scheduler: 2 });
    const answers = await Promise.all([node.call(one, { op: 'register', name: 'contested' }), node.call(two, { op: 'register', name: 'contested' })]);
    expect([...answers].sort()).toEqual(['ACTORS_NAME_TAKEN', 'ok']);
    const winner = answers[0] === 'ok' ? one : two;
    expect(pidEquals(node.whereis('contested')!, winner)).toBe(true);
    // The loser can still take another name: it holds none.
    expect(await node.call(answers[0] === 'ok' ? two : one, { op: 'register', name: 'consolation' })).toBe('ok');
  });

  it('a start with a name taken on another thread fails, and leaves no actor behind', async () => {
    node = await startNode({ schedulers: 2 });
    node.spawn(idle, null, { name: 'held' });
    await expect(node.start(relay, undefined, { scheduler: 1, name: 'held' })).rejects.toMatchObject({ code: 'ACTORS_NAME_TAKEN' });
  });

  it('once register returns on one thread, a send to the name from another thread reaches the actor', async () => {
    node = await startNode({ schedulers: 3 });
    const box = inbox(node);
    const one = await node.start(relay, undefined, { scheduler: 1 });
    const two = await node.start(relay, undefined, { scheduler: 2 });
    for (let i = 0; i < 20; i++) {
      await node.call(one, { op: 'registerThen', name: `fresh-${i}`, pid: box.pid, peer: two, msg: { arrived: i } });
      expect(await box.next()).toEqual({ arrived: i });
      node.unregister(`fresh-${i}`);
    }
  });

  it('a name registered from a worker for an actor of the main thread is freed when that actor exits', async () => {
    node = await startNode({ schedulers: 2 });
    const one = await node.start(relay, undefined, { scheduler: 1 });
    const local = node.spawn(idle);
    expect(await node.call(one, { op: 'register', name: 'main-actor', pid: local })).toBe('ok');
    expect(pidEquals(node.whereis('main-actor') as Pid, local)).toBe(true);
    const down = node.monitor(local);
    node.exit(local, 'kill');
    await down;
    expect(node.whereis('main-actor')).toBeUndefined();
    const again = node.spawn(idle, null, { name: 'main-actor' });
    expect(pidEquals(node.whereis('main-actor')!, again)).toBe(true);
  });
});
