// Entry of the dirty pool's threads (see worker-entry.mjs for why it is JavaScript).
import { existsSync } from 'node:fs';

const compiled = new URL('./dirty-task.js', import.meta.url);
let task;
if (existsSync(compiled)) {
  task = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  task = await import(new URL('./dirty-task.ts', import.meta.url).href);
}
export default task.default;
