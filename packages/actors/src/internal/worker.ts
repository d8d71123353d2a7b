// Entry point of a worker scheduler thread.

import { workerData } from 'node:worker_threads';
import { WorkerHost, type WorkerData } from './worker-host.js';

new WorkerHost(workerData as WorkerData);
