// The state machine guide's example runs as a user would run it, in its own process,
// and exits 0 (it checks its own results and throws on a wrong one); the guide's code
// blocks are the example's code.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const example = fileURLToPath(new URL('../../examples/state-machine.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe('examples/state-machine.ts', () => {
  it('runs to the end and exits 0', () => {
    const run = spawnSync(process.execPath, ['--import', tsx, example], { encoding: 'utf8', timeout: 25_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('simple adder, 5 + 7 = 12');
  });
});

describe('docs/guide/state-machine.md', () => {
  it('quotes the example files as they are', () => {
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const guide = readFileSync(join(root, 'docs/guide/state-machine.md'), 'utf8');
    const quotes = [...guide.matchAll(/<!-- quote: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
    expect(quotes.length).toBeGreaterThan(5);
    for (const [, file, code] of quotes) {
      expect(readFileSync(join(root, file as string), 'utf8'), `a block quoted from ${file}`).toContain(code);
    }
  });
});
