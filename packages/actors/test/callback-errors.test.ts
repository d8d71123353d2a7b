// Goal: an error thrown from a callback an actor's code created (a timer, a promise it
// left rejected) crashes that actor alone, as a throw in its handler would: its monitors
// see the error, and its thread and the process go on.

import { afterEach, describe, expect, it } from 'vitest';
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
