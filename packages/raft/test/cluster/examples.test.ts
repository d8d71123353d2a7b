// The README examples run as written: each script starts its node processes, does what
// Ra's README quick start and dynamic membership sections do, exits 0 and leaves no
// node process behind.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const EXAMPLE_TIMEOUT_MS = 45_000;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runExample(file: string): Promise<Run> {
  const script = new URL(`../../examples/${file}`, import.meta.url).pathname;
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', loader, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), EXAMPLE_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Node processes still running of those the example named in its `nodes:` line (by their ports). */
function leftoverNodeProcesses(stdout: string): Promise<string[]> {
  const ports = [...(stdout.split('\n').find((l) => l.startsWith('nodes: ')) ?? '').matchAll(/:(\d+)/g)].map((m) => m[1]);
  expect(ports.length).toBeGreaterThanOrEqual(3);
  return new Promise((resolve) => {
    const ps = spawn('ps', ['-eo', 'args'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    ps.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    ps.once('exit', () => resolve(out.split('\n').filter((line) => line.includes('node-main.ts') && ports.some((p) => line.includes(`"port":${p},`)))));
  });
}

describe('examples', () => {
  it('quick-start.ts: a 3-member cluster across three node processes, commands and queries', { timeout: EXAMPLE_TIMEOUT_MS + 5_000 }, async () => {
    const run = await runExample('quick-start.ts');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toContain('started 3 servers, 0 not started');
    expect(lines.some((l) => l.startsWith('process_command 5 -> 5 '))).toBe(true);
    expect(lines).toContain('process_command 7 -> 12');
    expect(lines.some((l) => l.startsWith('leader_query -> 12 '))).toBe(true);
    expect(lines.some((l) => /^local_query on n3@\S+ -> 12$/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('quick start: ok');
    expect(await leftoverNodeProcesses(run.stdout)).toEqual([]);
  });

  it('dynamic-membership.ts: members added with startServer and addMember, one leaves', { timeout: EXAMPLE_TIMEOUT_MS + 5_000 }, async () => {
    const run = await runExample('dynamic-membership.ts');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^nodes: n1@\S+, n2@\S+, n3@\S+, n4@\S+$/),
      expect.stringMatching(/^started dyn_members on n2@/),
      'members: n1, n2, n3; leader n2',
      'members: n1, n2, n3, n4',
      'ra4 applied the history: value 3',
      'members: n1, n2, n3',
      'process_command 3 -> 6',
      'dynamic membership: ok',
    ]);
    expect(await leftoverNodeProcesses(run.stdout)).toEqual([]);
  });
});
