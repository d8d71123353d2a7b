// Runs inside the dirty pool's threads: loads the job's module and calls its export.

import { importExport } from './routing.js';
import type { ModuleRef } from '../types.js';

export default async function runDirtyJob({ job, input }: { job: ModuleRef; input: unknown }): Promise<unknown> {
  const fn = await importExport(job);
  if (typeof fn !== 'function') throw new TypeError(`export '${job.export}' of ${job.module} is not a function`);
  return await (fn as (input: unknown) => unknown)(input);
}
