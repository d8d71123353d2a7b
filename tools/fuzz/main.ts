// `pnpm fuzz [--cases N] [--seed S]`: long runs of the distribution fuzzer (the same
// cases as packages/actors/test/distribution/fuzz.test.ts) against a node in a child
// process. Prints progress and a summary; exits 1 with the seed and the case on failure.
// FUZZ_LOG=1 shows the node's log (why it closed each connection); FUZZ_WHERE=post,dial
// (a comma-separated subset of pre, after-hello, post, dial, dial-ready) narrows the cases.

import { runFuzz } from '../../packages/actors/test/distribution/fuzz/harness.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 0) {
    process.stderr.write(`--${name} takes a non-negative integer\n`);
    process.exit(2);
  }
  return value;
}

const cases = arg('cases', 10_000);
const seed = arg('seed', Date.now() % 2 ** 31);
const startMs = performance.now();
process.stderr.write(`fuzzing the distribution: ${cases} cases, seed ${seed} (replay with --seed ${seed})\n`);
try {
  const stats = await runFuzz({
    cases,
    seed,
    progressEvery: Math.max(1, Math.min(5_000, Math.floor(cases / 20))),
    onProgress: (done, s) => {
      const seconds = (performance.now() - startMs) / 1_000;
      process.stderr.write(`  ${done}/${cases} cases, ${s.closed} closed, ${s.handled} handled, ${Math.round(done / seconds)} cases/s\n`);
    },
  });
  const seconds = ((performance.now() - startMs) / 1_000).toFixed(1);
  process.stdout.write(
    `clean: ${stats.cases} cases in ${seconds} s (seed ${seed}): ${stats.closed} connections closed by the node, ` +
      `${stats.handled} authenticated inputs handled, ${stats.unencodable} values msgpackr could not encode; the node still serves\n`,
  );
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
