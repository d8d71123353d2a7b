// Builds packages for a registry install: each package's src compiled to dist (JavaScript
// and declarations, by its tsconfig.build.json) plus the plain JavaScript files under src
// (the worker-thread entries), which tsc does not copy. The workspace itself runs from
// the .ts sources and never needs this; `pnpm pack` runs it (prepack).
// Usage: tsx tools/build/build.ts [packageDir ...]; no argument builds every published package.

import { spawn } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The packages a registry install gets, in dependency order. */
export const PUBLISHED_PACKAGES = ['packages/actors', 'packages/raft'].map((dir) => join(ROOT, dir));
const COPIED_EXTENSIONS = new Set(['.mjs', '.cjs', '.js']);
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function tsc(packageDir: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [TSC, '-p', join(packageDir, 'tsconfig.build.json')], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`tsc for ${relative(ROOT, packageDir)} failed (${code ?? signal})`));
    });
  });
}

function copyPlainJavaScript(srcDir: string, outDir: string): number {
  let copied = 0;
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const from = join(srcDir, entry.name);
    if (entry.isDirectory()) copied += copyPlainJavaScript(from, join(outDir, entry.name));
    else if (COPIED_EXTENSIONS.has(extname(entry.name))) {
      cpSync(from, join(outDir, entry.name));
      copied++;
    }
  }
  return copied;
}

export async function buildPackage(packageDir: string): Promise<void> {
  const dist = join(packageDir, 'dist');
  rmSync(dist, { recursive: true, force: true }); // no stale files from renamed sources
  await tsc(packageDir);
  copyPlainJavaScript(join(packageDir, 'src'), dist);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.length > 2 ? process.argv.slice(2).map((d) => resolve(d)) : PUBLISHED_PACKAGES;
  const started = performance.now();
  // Each package compiles against the others' sources, so they build in parallel.
  await Promise.all(dirs.map(buildPackage));
  console.log(`built ${dirs.map((d) => relative(ROOT, d)).join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
