// Goal: an error thrown from a callback an actor's code created (a timer, a promise it
// left rejected, an event listener it added) crashes that actor alone, as a throw in its
// handler would: its monitors see the error, and its thread and the process go on.

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Behaviour } from '../src/index.js';
import { fixtures, startNode } from './helpers.js';

type TestNode = Awaited<ReturnType<typeof startNode>>;
let node: TestNode;
afterEach(async () => {
  await node?.stop({ timeoutMs: 200 });
});

const relay = { module: fixtures, export: 'relay' };

describe('errors from callbacks of actor code on a worker scheduler', () => {
  it.each([
    ['a throw in a timer callback', 'throwLater', 'thrown from a timer'],
    ['an unhandled rejection', 'rejectLater', 'rejected and forgotten'],
  ])('%s crashes the actor that created it, and only it', async (_what, op, message) => {
    node = await startNode({ schedulers: 2 });
    const culprit = await node.start(relay, undefined, { scheduler: 1 });
    const neighbour = await node.start(relay, undefined, { scheduler: 1 });
    const down = node.monitor(culprit);
    expect(await node.call(culprit, { op })).toBe('ok');
    const reason = (await down).reason as Error;
    expect(reason.message).toBe(message);
    // The thread lives on: its other actor answers, and a new one starts there.
    expect(await node.call(neighbour, { op: 'whereis', name: 'nobody' })).toBeNull();
    const fresh = await node.start(relay, undefined, { scheduler: 1 });
    expect(fresh.creation).toBe(culprit.creation);
    expect(node.records.some((r) => r.msg === 'actor crashed')).toBe(true);
  });
});

describe('callbacks created during a run of turns', () => {
  it('belong to the actor whose turn created them, wherever it is in the run', async () => {
    node = await startNode();
    // Each actor, on its turn, sets a timer and leaves a promise rejected: both name it.
    const careless: Behaviour<string> = {
      init: (_ctx, name: string) => name,
      handle: (msg: string, name) => {
        if (msg === 'timer') {
          setTimeout(() => {
            throw new Error(`timer of ${name}`);
          }, 1);
        } else {
          void Promise.reject(new Error(`rejection of ${name}`));
        }
        return name;
      },
    };
    const names = ['a', 'b', 'c', 'd'];
    const pids = names.map((name) => node.spawn(careless, name));
    const downs = pids.map((pid) => node.monitor(pid));
    // All four are queued before the scheduler runs, so their turns come in one run.
    pids.forEach((pid, i) => node.send(pid, i % 2 === 0 ? 'timer' : 'reject'));
    const reasons = (await Promise.all(downs)).map((down) => (down.reason as Error).message);
    expect(reasons).toEqual(['timer of a', 'rejection of b', 'timer of c', 'rejection of d']);
  });
});

describe('errors from event listeners that actor code added', () => {
  it('crash the actor that added the listener, not the actor that emitted, on a worker scheduler', async () => {
    node = await startNode({ schedulers: 2 });
    const culprit = await node.start(relay, undefined, { scheduler: 1 });
    const emitter = await node.start(relay, undefined, { scheduler: 1 });
    const down = node.monitor(culprit);
    expect(await node.call(culprit, { op: 'listen' })).toBe('ok');
    expect(await node.call(emitter, { op: 'emit' })).toBe('emitted');
    expect(((await down).reason as Error).message).toBe('thrown from a listener');
    expect(await node.call(emitter, { op: 'emit' })).toBe('emitted');
  });

  it('on the main thread too, with once, off and listeners working as without the runtime', async () => {
    node = await startNode();
    const emitter = new EventEmitter();
    let onceCalls = 0;
    const onceListener = () => void onceCalls++;
    const removed = () => {
      throw new Error('a removed listener ran');
    };
    const thrower = () => {
      throw new Error('thrown from a listener');
    };
    const culprit = node.spawn({
      init: () => {
        emitter.once('one', onceListener);
        emitter.on('gone', removed);
        emitter.off('gone', removed);
        emitter.prependListener('boom', thrower);
        return null;
      },
    }, null);
    const down = node.monitor(culprit);
    expect(emitter.listeners('one')).toEqual([onceListener]);
    expect(emitter.listeners('boom')).toEqual([thrower]);
    emitter.emit('one');
    emitter.emit('one');
    expect(onceCalls).toBe(1);
    expect(emitter.listenerCount('one')).toBe(0);
    expect(emitter.emit('gone')).toBe(false);
    // The throw stays with the actor: emit returns to its caller.
    expect(emitter.emit('boom')).toBe(true);
    expect(((await down).reason as Error).message).toBe('thrown from a listener');
    emitter.removeListener('boom', thrower);
    expect(emitter.listenerCount('boom')).toBe(0);
  });
});

/** Runs fixtures/callback-errors-main.ts in a child process (its main thread has no test runner's handlers). */
function runMain(mode: 'owned' | 'unowned') {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const script = new URL('./fixtures/callback-errors-main.ts', import.meta.url).pathname;
  const run = spawnSync(process.execPath, ['--import', loader, script, mode], { encoding: 'utf8', timeout: 30_000 });
  const lines = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: run.status, lines, stderr: run.stderr };
}

describe('errors from callbacks of actor code on the main thread', () => {
  it('crash the actor that created them and leave the process running; after the node stops, they are logged', () => {
    const { status, lines } = runMain('owned');
    expect(lines).toEqual([
      { what: 'timer', reason: 'thrown from a timer' },
      { what: 'reject', reason: 'rejected and forgotten' },
      { survivor: 'alive' },
      { late: 'thrown after the node stopped' },
    ]);
    expect(status).toBe(0);
  });

  it('an error no actor owns still ends a program without handlers of its own, as without the runtime', () => {
    const { status, lines, stderr } = runMain('unowned');
    expect(lines).toHaveLength(3);
    expect(status).not.toBe(0);
    expect(stderr).toContain('no actor owns this');
  });
});
