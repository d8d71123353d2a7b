// The effects and versions examples of docs/guide/state-machine.md run as a user would
// run them, each in its own process, and exit 0 (each checks its own results).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function run(name: string): { status: number | null; stdout: string; stderr: string } {
  const example = fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));
  return spawnSync(process.execPath, ['--import', tsx, example], { encoding: 'utf8', timeout: 25_000 });
}

describe('examples/machine-effects.ts', () => {
  it('closes sessions by lease timer and by down notice, and audits from the log', { timeout: 30_000 }, () => {
    const out = run('machine-effects.ts');
    expect(out.status, `${out.stdout}\n${out.stderr}`).toBe(0);
    expect(out.stdout).toContain("after alpha's owner exited: 0 sessions");
    expect(out.stdout).toMatch(/audit from the log: alpha at \d+, beta at \d+/);
  });
});

describe('examples/machine-versions.ts', () => {
  it('upgrades a cluster from version 0 to 1, one member at a time', { timeout: 30_000 }, () => {
    const out = run('machine-versions.ts');
    expect(out.status, `${out.stdout}\n${out.stderr}`).toBe(0);
    expect(out.stdout).toContain('after the upgrade: total 18, 1 command(s) under version 1');
  });
});
