// The core's imports run one way: member state and shared transitions at the bottom,
// role files above them, the dispatcher (core.ts) on top. No cycle, type imports included.

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../src/internal/core/', import.meta.url);

function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
    const source = readFileSync(new URL(file, dir), 'utf8');
    const deps = [...source.matchAll(/^import\s[^;]*?from\s+'\.\/([\w-]+)\.js';/gms)].map((m) => `${m[1]}.ts`);
    edges.set(file, deps);
  }
  return edges;
}

function findCycle(edges: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const walk = (file: string, path: string[]): string[] | undefined => {
    if (state.get(file) === 'done') return undefined;
    if (state.get(file) === 'open') return [...path.slice(path.indexOf(file)), file];
    state.set(file, 'open');
    for (const dep of edges.get(file) ?? []) {
      const cycle = walk(dep, [...path, file]);
      if (cycle !== undefined) return cycle;
    }
    state.set(file, 'done');
    return undefined;
  };
  for (const file of edges.keys()) {
    const cycle = walk(file, []);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

describe('core imports', () => {
  it('have no cycle', () => {
    expect(findCycle(graph())).toBeUndefined();
  });

  it('errors.ts, which the core imports (AssertionError is a RafterError), takes only types from the core', () => {
    const source = readFileSync(new URL('../../errors.ts', dir), 'utf8');
    const fromCore = [...source.matchAll(/^import\s([^;]*?)from\s+'\.\/internal\/core\/[\w-]+\.js';/gms)].map((m) => m[1]!);
    expect(fromCore.length).toBeGreaterThan(0);
    for (const clause of fromCore) expect(clause.startsWith('type ')).toBe(true);
  });

  it('role files build on member.ts, never on the dispatcher', () => {
    const edges = graph();
    for (const role of ['election.ts', 'follower.ts', 'leader.ts', 'snapshot.ts', 'query.ts', 'apply.ts']) {
      expect(edges.get(role), role).toContain('member.ts');
      expect(edges.get(role), role).not.toContain('core.ts');
    }
  });
});
