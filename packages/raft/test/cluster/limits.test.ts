// A command larger than the log's entry limit (ENTRY_PAYLOAD_BYTES_MAX) is refused with
// a typed error before it reaches a server, and the system's clusters keep working. In
// one process, so that 64 MiB need not cross TCP (remote refusals: api.test.ts).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ActorContext, Node, silentLogger } from '@rafter/actors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY_PAYLOAD_BYTES_MAX } from '../../src/internal/log/limits.js';
import { type RaftSystem, type ServerId, RafterError, consistentQuery, localQuery, pipelineCommand, processCommand, startCluster, startSystem } from '../../src/index.js';
import '../../../../tools/cluster/machines/kv.js';
import { CLUSTER_HOOK_TIMEOUT_MS, codeOf } from './helpers.js';

let node: Node;
let system: RaftSystem;
let dir: string;
const clusters: Record<'big' | 'other', ServerId[]> = { big: [], other: [] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rafter-limits-'));
  node = await Node.start({ name: 'limits', dirtyThreads: 1, logger: silentLogger });
  system = await startSystem(node, { name: 'limits', dataDir: dir });
  for (const name of ['big', 'other'] as const) {
    clusters[name] = ['a', 'b', 'c'].map((m) => ({ name: `${name}_${m}`, node: node.name }));
    await startCluster(system, name, 'kv', clusters[name], { via: node });
  }
}, CLUSTER_HOOK_TIMEOUT_MS);
afterAll(async () => {
  await system?.stop();
  await node?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, CLUSTER_HOOK_TIMEOUT_MS);

describe('a command above the log entry limit', () => {
  it('is refused by processCommand with RAFTER_LOG_LIMIT, and every cluster keeps committing', async () => {
    // Bytes encode by copying, so the check costs little next to a string's encoding.
    const huge = Buffer.alloc(ENTRY_PAYLOAD_BYTES_MAX);
    const err = await processCommand(clusters.big, { put: 'k', value: huge }, { via: node, timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RafterError);
    expect(codeOf(err)).toBe('RAFTER_LOG_LIMIT');
    expect((await processCommand(clusters.big, { put: 'k', value: 1 }, { via: node })).reply).toBeUndefined();
    expect((await processCommand(clusters.other, { put: 'k', value: 2 }, { via: node })).reply).toBeUndefined();
    expect((await consistentQuery(clusters.big, { get: 'k' }, { via: node })).result).toBe(1);
    // On the servers' own node a query may be a function.
    expect((await consistentQuery(clusters.big, (state: Record<string, unknown>) => state['k'], { via: node })).result).toBe(1);
  });

  it('is refused by pipelineCommand at the caller, which goes on pipelining', async () => {
    const huge = Buffer.alloc(ENTRY_PAYLOAD_BYTES_MAX);
    const outcome = await new Promise<{ thrown: unknown; applied: unknown }>((resolve) => {
      node.spawn(async (ctx: ActorContext) => {
        let thrown: unknown;
        try {
          pipelineCommand(ctx, clusters.big[0] as ServerId, { put: 'p', value: huge }, 'huge');
        } catch (err) {
          thrown = err;
        }
        // Through whichever member leads: follow a rejection's leader hint.
        let target = clusters.big[0] as ServerId;
        for (let attempt = 0; attempt < 3; attempt++) {
          pipelineCommand(ctx, target, { put: 'p', value: 'small' }, `small${attempt}`);
          const event = await ctx.receive<{ event: { type: string; leader?: ServerId; replies?: unknown } }>(undefined, 5_000);
          if (event?.event.type === 'applied') return resolve({ thrown, applied: event.event.replies });
          if (event?.event.leader === undefined) break;
          target = event.event.leader;
        }
        resolve({ thrown, applied: undefined });
      });
    });
    expect(codeOf(outcome.thrown)).toBe('RAFTER_LOG_LIMIT');
    expect(outcome.applied).toEqual([[expect.stringMatching(/^small/), undefined]]);
  });

  it('a large command under the limit commits on every member', async () => {
    const large = 'z'.repeat(8 << 20);
    const { index } = await processCommand(clusters.other, { put: 'large', value: large }, { via: node, timeoutMs: 10_000 });
    for (const member of clusters.other) {
      const { result } = await localQuery<string>(member, { get: 'large' }, { via: node, minIndex: index });
      expect(result).toHaveLength(large.length);
    }
  });
});
