// The state machine guide's example runs as a user would run it, in its own process,
// and exits 0 (it checks its own results and throws on a wrong one).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
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
