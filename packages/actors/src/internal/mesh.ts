// The ports between the schedulers of one node. Items for another thread are
// batched per destination and posted once per turn (or when a batch fills up),
// because a postMessage costs far more than the structured clone of one item.

import type { MessagePort } from 'node:worker_threads';
import { CROSS_THREAD_BATCH_MAX } from '../limits.js';

export class PortMesh {
  private readonly outboxes: unknown[][];
  private flushScheduled = false;

  constructor(
    private readonly ports: readonly (MessagePort | undefined)[],
    onBatch: (from: number, items: unknown[]) => void,
  ) {
    this.outboxes = ports.map(() => []);
    ports.forEach((port, index) => port?.on('message', (items: unknown[]) => onBatch(index, items)));
  }

  post(target: number, item: unknown): void {
    const box = this.outboxes[target];
    if (box === undefined || this.ports[target] === undefined) throw new RangeError(`no port to scheduler ${target}`);
    box.push(item);
    if (box.length >= CROSS_THREAD_BATCH_MAX) this.flushOne(target);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /**
   * Queues a plain message for actor `id` of scheduler `target` as two flat entries
   * (the id, then the message): far cheaper to clone than a signal object with a pid.
   */
  postMessage(target: number, id: number, msg: unknown): void {
    const box = this.outboxes[target];
    if (box === undefined || this.ports[target] === undefined) throw new RangeError(`no port to scheduler ${target}`);
    box.push(id, msg);
    if (box.length >= CROSS_THREAD_BATCH_MAX) this.flushOne(target);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  readonly flush = (): void => {
    this.flushScheduled = false;
    for (let target = 0; target < this.outboxes.length; target++) this.flushOne(target);
  };

  private flushOne(target: number): void {
    const box = this.outboxes[target]!;
    if (box.length === 0) return;
    this.outboxes[target] = [];
    this.ports[target]!.postMessage(box);
  }

  close(): void {
    this.flush();
    for (const port of this.ports) port?.close();
  }
}

/** Messages between the threads of one node that are not actor signals. */
export type Control =
  | { readonly c: 'ready' }
  | { readonly c: 'name'; readonly name: string; readonly pid: import('../pid.js').Pid | null }
  | { readonly c: 'register'; readonly name: string; readonly pid: import('../pid.js').Pid }
  | { readonly c: 'unregister'; readonly name: string; readonly pid: import('../pid.js').Pid }
  | { readonly c: 'dirty'; readonly ref: string; readonly replyTo: import('../pid.js').Pid; readonly job: import('../types.js').ModuleRef; readonly input: unknown }
  | { readonly c: 'monitorNode'; readonly pid: import('../pid.js').Pid; readonly node: string; readonly on: boolean }
  | { readonly c: 'log'; readonly level: 'error' | 'warn' | 'info' | 'debug'; readonly obj: object; readonly msg: string | undefined }
  | { readonly c: 'stop'; readonly reason: unknown; readonly timeoutMs: number }
  | { readonly c: 'stopped' };

export function isControl(item: unknown): item is Control {
  return typeof (item as Control).c === 'string';
}
