// Helpers for the distribution tests: nodes in this process and in child processes.

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { connect, type Socket } from 'node:net';
import { Connection } from '../../src/distribution/internal/connection.js';
import { RefusalLog } from '../../src/distribution/internal/refusal-log.js';
import { parseNodeName, silentLogger, type Node, type NodeOptions } from '../../src/index.js';
import { startNode, type LogRecord } from '../helpers.js';

export interface Peers {
  /** A distributed node in this process, with its log records. */
  node(name: string, options?: NodeOptions): Promise<Node & { records: LogRecord[] }>;
  /** A node in a child process (fixtures/peer.ts); resolves with its name once it listens. */
  child(name: string, options?: ChildOptions): Promise<{ child: ChildProcess; name: string }>;
  /** Stops every node and kills every child started so far. */
  cleanup(): Promise<void>;
}

export interface ChildOptions {
  cookie?: string;
  netTickMs?: number;
  detector?: 'fast' | 'default';
  port?: number;
}

export function peers(): Peers {
  const nodes: Node[] = [];
  const children: ChildProcess[] = [];
  return {
    async node(name, options = {}) {
      const node = await startNode({ name, port: 0, cookie: 'secret', ...options });
      nodes.push(node);
      return node;
    },
    child(name, options = {}) {
      const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      const script = new URL('./fixtures/peer.ts', import.meta.url).pathname;
      const args = [name, options.cookie ?? 'secret', String(options.netTickMs ?? 15_000), options.detector ?? 'fast', String(options.port ?? 0)];
      const child = spawn(process.execPath, ['--import', loader, script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      return new Promise((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const line = out.split('\n')[0];
          if (out.includes('\n') && line !== undefined) resolve({ child, name: line.trim() });
        });
        child.once('exit', (code) => reject(new Error(`peer ${name} exited early with ${code}`)));
      });
    },
    async cleanup() {
      for (const child of children.splice(0)) {
        if (child.exitCode !== null || child.signalCode === 'SIGKILL') continue;
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await Promise.all(nodes.splice(0).map((n) => n.stop({ timeoutMs: 200 })));
    },
  };
}

/** The reasons a node logged for closed connections. */
export function closeReasons(node: { records: LogRecord[] }): string[] {
  return node.records.map((r) => String(r.obj.reason ?? ''));
}

export interface HandDriven {
  readonly conn: Connection;
  readonly socket: Socket;
  /** Resolves with the reason once the connection closes. */
  readonly closed: Promise<string>;
  /** Signals the node sent to this connection, as wire arrays. */
  readonly received: unknown[][];
}

/**
 * A connection to `node` that the test drives by hand, as node `myName` (with the
 * cookie 'secret' unless told): resolves once authenticated.
 */
export function handDriven(node: Node, myName: string, cookie = 'secret'): Promise<HandDriven> {
  const { host, port } = parseNodeName(node.name)!;
  return new Promise((resolve, reject) => {
    let closedResolve: (reason: string) => void = () => undefined;
    const closed = new Promise<string>((r) => (closedResolve = r));
    const received: unknown[][] = [];
    const socket = connect({ host, port });
    const settings = { myName, myCreation: 1, cookie, maxFrameBytes: 1 << 20, maxQueuedBytes: 1 << 20, netTickMs: 60_000, handshakeTimeoutMs: 5_000, logger: silentLogger, refusals: new RefusalLog(silentLogger) };
    const conn: Connection = new Connection(socket, true, node.name, settings, {
      decideInbound: () => 'accept',
      up: () => resolve({ conn, socket, closed, received }),
      signals: (_conn, signals) => void received.push(...(signals as unknown[][])),
      heartbeat: () => undefined,
      closed: (_conn, reason) => {
        closedResolve(reason);
        reject(new Error(`handshake failed: ${reason}`));
      },
    });
    socket.once('connect', () => conn.hello());
  });
}

/** A loopback port nothing listens on now, for a node that must come back on the same port. */
export { freePort } from '../../../../tools/cluster/free-port.js';
