// `pnpm bench <name> [--json] [...]`: runs tools/bench/<name>.ts's main(argv).

import { readdirSync } from 'node:fs';

const here = new URL('.', import.meta.url);
const available = readdirSync(here)
  .filter((file) => file.endsWith('.ts') && file !== 'index.ts')
  .map((file) => file.slice(0, -'.ts'.length))
  .sort();

const [name, ...argv] = process.argv.slice(2);
if (name === undefined || !available.includes(name)) {
  if (name !== undefined) console.error(`unknown benchmark '${name}'`);
  console.error(`usage: pnpm bench <name> [--json] [options]\navailable: ${available.join(', ')}`);
  process.exit(name === undefined ? 0 : 2);
}
const bench = (await import(new URL(`./${name}.ts`, here).href)) as { main(argv: string[]): Promise<void> };
await bench.main(argv);
