// The aux handler example runs as a user would run it, in its own process, and exits 0
// (it checks its own results and throws on a wrong one).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const example = fileURLToPath(new URL('../../examples/aux-handler.ts', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe('examples/aux-handler.ts', () => {
  it('runs to the end and exits 0', () => {
    const run = spawnSync(process.execPath, ['--import', tsx, example], { encoding: 'utf8', timeout: 25_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('aux of c1: 2 pings');
    expect(run.stdout).toContain('last entries of c1\'s log: [2,3,4]');
  });
});
