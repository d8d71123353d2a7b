// What a registry install gets: every published package built and packed with `pnpm
// pack`, the tarballs installed with npm into an empty project, and an application
// compiled against the installed declarations and run with plain node (no TypeScript
// loader): Ra's quick start across three node processes, and the code the runtime loads
// by module URL (worker schedulers, dirty pool, machines, segment flush).
// npm takes the third-party dependencies from its cache when it has them, else from the
// registry (see README, "Installing the packages in an application").

import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISHED_PACKAGES, build } from '../../../../tools/build/build.js';
import type { EchoReply } from './fixture/thread-work.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const APP_SOURCES = [fileURLToPath(new URL('../../examples/installed/', import.meta.url)), fileURLToPath(new URL('./fixture/', import.meta.url))];
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
// Generous for a loaded machine: a cold build, npm and tsc need about 25 s of CPU in all.
const PREPARE_TIMEOUT_MS = 240_000;
const RUN_TIMEOUT_MS = 90_000;

interface Ran {
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? RUN_TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err === null) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} in ${options.cwd} failed: ${err.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    });
  });
}

/** The environment of plain node: no loader options inherited from the test runner. */
function plainNodeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** npm's environment: without the settings pnpm exports for its own scripts, which npm does not know. */
function npmEnv(): NodeJS.ProcessEnv {
  const env = plainNodeEnv();
  delete env.npm_config_verify_deps_before_run;
  delete env.npm_config_user_agent;
  return env;
}

interface PackedManifest {
  readonly name: string;
  readonly exports: Record<string, unknown>;
  readonly types?: string;
  readonly dependencies?: Record<string, string>;
}

let work: string | undefined;
let app = '';
const durations: Record<string, number> = {};

async function timed<T>(step: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    durations[step] = Math.round(performance.now() - started);
  }
}

describe('installing the packed packages with npm and running them on plain node', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rafter-pack-'));
    const tarballs = join(work, 'tarballs');
    app = join(work, 'app');
    mkdirSync(tarballs);
    mkdirSync(join(app, 'src'), { recursive: true });
    // What each package's prepack runs, once for all; the packs then skip it.
    await timed('build', () => build());
    await timed('pack', () => Promise.all(PUBLISHED_PACKAGES.map((dir) => run('pnpm', ['pack', '--config.ignore-scripts=true', '--pack-destination', tarballs], { cwd: dir, timeoutMs: PREPARE_TIMEOUT_MS }))));
    const packed = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'));
    expect(packed).toHaveLength(PUBLISHED_PACKAGES.length);

    writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'rafter-installed-app', private: true, type: 'module' }, null, 2)}\n`);
    // Install scripts are not needed: the native add-ons come prebuilt as optional packages.
    await timed('npm install', () =>
      run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', ...packed.map((f) => join(tarballs, f))], { cwd: app, env: npmEnv(), timeoutMs: PREPARE_TIMEOUT_MS }),
    );

    // The application is compiled against the installed declarations, checked in full
    // (no skipLibCheck), as a strict consumer's build would.
    for (const dir of APP_SOURCES) for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) cpSync(join(dir, f), join(app, 'src', f));
    const tsconfig = {
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        rootDir: 'src',
        outDir: 'build',
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      include: ['src'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    await timed('tsc', () => run(process.execPath, [TSC, '-p', app], { cwd: app, timeoutMs: PREPARE_TIMEOUT_MS }));
  }, PREPARE_TIMEOUT_MS * 3);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
    console.log(`pack test steps (ms): ${JSON.stringify(durations)}`);
  });

  it('installs packages whose exports name compiled JavaScript and declarations, with no TypeScript sources', () => {
    for (const dir of PUBLISHED_PACKAGES) {
      const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackedManifest;
      const installed = join(app, 'node_modules', ...name.split('/'));
      const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as PackedManifest;
      for (const [subpath, target] of Object.entries(manifest.exports)) {
        expect(target, `${name} exports ${subpath}`).toEqual({ types: expect.stringMatching(/^\.\/dist\/.*\.d\.ts$/), import: expect.stringMatching(/^\.\/dist\/.*\.js$/) });
      }
      expect(manifest.types).toBe('./dist/index.d.ts');
      expect(Object.values(manifest.dependencies ?? {}).filter((v) => v.startsWith('workspace:'))).toEqual([]);
      const files = readdirSync(installed, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(installed, f)).isFile());
      // Compiled code, declarations and the manifest only: no sources, no build state.
      expect(files.filter((f) => f !== 'package.json' && !/^dist\/.*\.(js|mjs|d\.ts)$/.test(f))).toEqual([]);
      expect(files).toContain('dist/index.js');
      // A module loaded by URL at run time must be named so that the built file is found
      // (the worker entries, .mjs, keep a .ts fallback for the workspace).
      const tsUrls = files.filter((f) => f.endsWith('.js')).filter((f) => /new URL\(\s*['"`][^'"`]*\.ts['"`]/.test(readFileSync(join(installed, f), 'utf8')));
      expect(tsUrls, `${name}: files that load a .ts module by URL`).toEqual([]);
    }
  });

  it('imports every export of every package with plain node', async () => {
    const specifiers = PUBLISHED_PACKAGES.flatMap((dir) => {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackedManifest;
      return Object.keys(manifest.exports).map((subpath) => `${manifest.name}${subpath.slice(1)}`);
    });
    expect(specifiers).toEqual(expect.arrayContaining(['@rafter/actors', '@rafter/raft', '@rafter/raft/core', '@rafter/raft/storage']));
    const script = `for (const s of ${JSON.stringify(specifiers)}) { const m = await import(s); console.log(s, Object.keys(m).length); }`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env: plainNodeEnv() });
    for (const s of specifiers) expect(stdout).toMatch(new RegExp(`^${s} [1-9]\\d*$`, 'm'));
  });

  it("runs Ra's quick start, a 3-member cluster across three node processes, with plain node", { timeout: RUN_TIMEOUT_MS + 5_000 }, async () => {
    const { stdout } = await timed('quick start', () => run(process.execPath, [join(app, 'build', 'quick-start.js')], { cwd: app, env: plainNodeEnv() }));
    expect(stdout).toContain('started 3 servers, 0 not started');
    expect(stdout).toMatch(/^process_command 7 -> 12$/m);
    expect(stdout).toMatch(/^leader_query -> 12 /m);
    expect(stdout).toMatch(/^local_query on .* -> 12$/m);
    expect(stdout).toMatch(/^quick start: ok$/m);
  });

  it('loads worker schedulers, dirty jobs, machines and the segment flush from the built JavaScript', { timeout: RUN_TIMEOUT_MS + 5_000 }, async () => {
    const { stdout } = await timed('runtime check', () => run(process.execPath, [join(app, 'build', 'runtime-check.js')], { cwd: app, env: plainNodeEnv() }));
    const seen = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { worker: EchoReply; dirty: { doubled: number; mainThread: boolean }; total: number; segments: number };
    expect(seen.worker).toEqual({ request: 'ping', scheduler: 1, mainThread: false });
    expect(seen.dirty).toEqual({ doubled: 42, mainThread: false });
    expect(seen.total).toBe(400);
    expect(seen.segments).toBeGreaterThan(0);
  });
});
