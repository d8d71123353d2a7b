// The ports between the schedulers of one node. Items for another thread are
// batched per destination and posted once per turn (or when a batch fills up),
// because a postMessage costs far more than the structured clone of one item.

import type { MessagePort } from 'node:worker_threads';
import { CROSS_THREAD_BATCH_MAX } from '../limits.js';
import { nodeQueueMicrotask } from './callback-owners.js';

export class PortMesh {
  private readonly outboxes: unknown[][];
  private readonly ports: (MessagePort | undefined)[];
  private flushScheduled = false;

  /**
   * `onUncloneable` gets each item that structured clone refused (an `(id, msg)` pair
   * as a two-element array), after the rest of its batch went out in order.
   */
  constructor(
    ports: readonly (MessagePort | undefined)[],
    private readonly onBatch: (from: number, items: unknown[]) => void,
    private readonly onUncloneable: (target: number, item: unknown, err: Error) => void,
  ) {
    this.ports = [...ports];
    this.outboxes = ports.map(() => []);
    ports.forEach((port, index) => port?.on('message', (items: unknown[]) => onBatch(index, items)));
  }

  /** The thread at `target` was replaced: talk to the new one on `port`; what waited for the old one is dropped. */
  replace(target: number, port: MessagePort): void {
    this.ports[target]?.close();
    this.outboxes[target] = [];
    this.ports[target] = port;
    port.on('message', (items: unknown[]) => this.onBatch(target, items));
  }

  /** Posts `item` after everything queued for `target`, handing over `transfer` (ports, ArrayBuffers). */
  postWithTransfer(target: number, item: unknown, transfer: readonly (MessagePort | ArrayBuffer)[]): void {
    this.flushOne(target);
    this.ports[target]!.postMessage([item], [...transfer]);
  }

  post(target: number, item: unknown): void {
    const box = this.outboxes[target];
    if (box === undefined || this.ports[target] === undefined) throw new RangeError(`no port to scheduler ${target}`);
    box.push(item);
    if (box.length >= CROSS_THREAD_BATCH_MAX) this.flushOne(target);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      nodeQueueMicrotask(this.flush);
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
      nodeQueueMicrotask(this.flush);
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
    try {
      this.ports[target]!.postMessage(box);
    } catch (err) {
      this.postOneByOne(target, box, err as Error);
    }
  }

  /** A batch that did not clone: send its items one at a time, keeping their order, and hand back the ones that fail. */
  private postOneByOne(target: number, box: unknown[], batchError: Error): void {
    const port = this.ports[target]!;
    for (let i = 0; i < box.length; i++) {
      const unit = typeof box[i] === 'number' ? [box[i], box[++i]] : [box[i]];
      try {
        port.postMessage(unit);
      } catch (err) {
        this.onUncloneable(target, unit.length === 2 ? unit : unit[0], err instanceof Error ? err : batchError);
      }
    }
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
  /** A worker asks scheduler 0 to decide a registration; the answer comes on its decision port. */
  | { readonly c: 'register'; readonly name: string; readonly pid: import('../pid.js').Pid; readonly id: number }
  | { readonly c: 'unregister'; readonly name: string; readonly pid: import('../pid.js').Pid }
  | { readonly c: 'dirty'; readonly ref: string; readonly replyTo: import('../pid.js').Pid; readonly job: import('../types.js').ModuleRef; readonly input: unknown; readonly transfer: readonly ArrayBuffer[] }
  | { readonly c: 'monitorNode'; readonly pid: import('../pid.js').Pid; readonly node: string; readonly on: boolean }
  | { readonly c: 'log'; readonly level: 'error' | 'warn' | 'info' | 'debug'; readonly obj: object; readonly msg: string | undefined }
  /** Worker scheduler `index` died: fire what hung on its actors; a new thread runs under `creation`, reached on `port`. */
  | { readonly c: 'schedulerLost'; readonly index: number; readonly oldCreation: number; readonly creation: number; readonly reason: import('../types.js').SchedulerExitedReason; readonly port: MessagePort | undefined }
  | { readonly c: 'stop'; readonly reason: unknown; readonly timeoutMs: number }
  | { readonly c: 'stopped' };

export function isControl(item: unknown): item is Control {
  return typeof (item as Control).c === 'string';
}
