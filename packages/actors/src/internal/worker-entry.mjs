// Entry of worker scheduler threads. Plain JavaScript so that it loads without a
// TypeScript loader; it registers one when the runtime runs from its .ts sources.
import { existsSync } from 'node:fs';

const compiled = new URL('./worker.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('./worker.ts', import.meta.url).href);
}
