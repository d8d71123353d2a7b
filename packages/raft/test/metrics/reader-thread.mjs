// A plain worker thread that reads a server's counters from shared memory when asked,
// answering through Atomics so that the asking thread can stay blocked meanwhile.
import { parentPort, workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
const { keyMetrics, lookupLeader } = await import(new URL('../../src/index.ts', import.meta.url).href);

const flag = new Int32Array(workerData.flag);
const result = new Float64Array(workerData.result);

/** Until the owning thread's answer to this thread's hello has arrived (bounded). */
async function whenKnown(id) {
  for (let turn = 0; turn < 10_000; turn++) {
    try {
      keyMetrics(id);
      return true;
    } catch {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return false;
}

parentPort.on('message', async (request) => {
  if (request.op === 'ready') {
    parentPort.postMessage({ known: await whenKnown(request.id), leader: lookupLeader(request.cluster) ?? null });
    return;
  }
  // The asking thread is blocked in Atomics.wait: no message can reach or leave it.
  const metrics = keyMetrics(request.id);
  result[0] = metrics.commands;
  result[1] = metrics.commitIndex;
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
