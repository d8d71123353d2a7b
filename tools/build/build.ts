// Builds the published packages for a registry install: each package's src compiled to
// dist (JavaScript and declarations, by its tsconfig.build.json; `tsc -b` follows the
// project references, so @rafter/raft compiles against @rafter/actors' declarations as an
// application does, and skips what is up to date), plus the plain JavaScript files under
// src (the worker-thread entries), which tsc does not copy. The workspace itself runs
// from the .ts sources and never needs this; `pnpm pack` runs it (prepack).
// Usage: tsx tools/build/build.ts [--clean] [packageDir ...]; no directory builds every
// published package; --clean removes their dist first.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, rmdirSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The packages a registry install gets, in dependency order. */
export const PUBLISHED_PACKAGES: readonly string[] = ['packages/actors', 'packages/raft'].map((dir) => join(ROOT, dir));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
/** Files under src that tsc does not compile and dist needs as they are. */
const COPIED_EXTENSIONS = new Set(['.mjs', '.cjs', '.js']);
const BUILD_INFO = 'tsconfig.build.tsbuildinfo';

function tscBuild(packageDirs: readonly string[]): Promise<void> {
  const projects = packageDirs.map((dir) => join(dir, 'tsconfig.build.json'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [TSC, '-b', ...projects], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`tsc -b ${projects.map((p) => relative(ROOT, p)).join(' ')} failed (${code ?? signal})`));
    });
  });
}

function sameContent(a: string, b: string): boolean {
  return existsSync(b) && readFileSync(a).equals(readFileSync(b));
}

/** Copies the plain JavaScript files; one already in place is left alone, so concurrent packs read a stable dist. */
function copyPlainJavaScript(srcDir: string, outDir: string): void {
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const from = join(srcDir, entry.name);
    const to = join(outDir, entry.name);
    if (entry.isDirectory()) copyPlainJavaScript(from, to);
    else if (COPIED_EXTENSIONS.has(extname(entry.name)) && !sameContent(from, to)) copyFileSync(from, to);
  }
}

/** The source a dist file came from: `x.js` and `x.d.ts` from `x.ts`, a copied file from itself. */
function sourceOf(distFile: string, srcDir: string, distDir: string): string {
  const rel = relative(distDir, distFile);
  if (rel.endsWith('.d.ts')) return join(srcDir, `${rel.slice(0, -'.d.ts'.length)}.ts`);
  if (rel.endsWith('.js') && !existsSync(join(srcDir, rel))) return join(srcDir, `${rel.slice(0, -'.js'.length)}.ts`);
  return join(srcDir, rel);
}

/** Removes what incremental builds leave behind of deleted or renamed sources. */
function pruneOrphans(distDir: string, srcDir: string, dir = distDir): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      pruneOrphans(distDir, srcDir, path);
      if (readdirSync(path).length === 0) rmdirSync(path);
    } else if (entry.name !== BUILD_INFO && !existsSync(sourceOf(path, srcDir, distDir))) unlinkSync(path);
  }
}

export async function build(packageDirs: readonly string[] = PUBLISHED_PACKAGES, options: { clean?: boolean } = {}): Promise<void> {
  if (options.clean === true) for (const dir of packageDirs) rmSync(join(dir, 'dist'), { recursive: true, force: true });
  await tscBuild(packageDirs);
  // Referenced packages were built too; finish every dist there is.
  for (const dir of PUBLISHED_PACKAGES) {
    const dist = join(dir, 'dist');
    if (!existsSync(dist)) continue;
    copyPlainJavaScript(join(dir, 'src'), dist);
    pruneOrphans(dist, join(dir, 'src'));
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dirs = args.filter((a) => a !== '--clean').map((d) => resolve(d));
  const started = performance.now();
  await build(dirs.length > 0 ? dirs : PUBLISHED_PACKAGES, { clean: args.includes('--clean') });
  console.log(`built ${(dirs.length > 0 ? dirs : PUBLISHED_PACKAGES).map((d) => relative(ROOT, d)).join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
