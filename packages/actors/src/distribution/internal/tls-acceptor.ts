// Inbound TLS under the handshake's own deadline: the node listens on plain TCP and
// hands each socket to a Node TLS server that never listens itself (so Node checks
// the certificates), while the deadline runs from the TCP accept. A client that
// connects and never finishes TLS, or finishes TLS and never proves the cookie, is
// dropped when the deadline passes, as a plain client that never says hello is.

import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Logger } from '../../logger.js';

/** What the node made of a TLS socket: a connection that may come up in time. */
export interface Handshaking {
  readonly isUp: boolean;
  close(reason: string): void;
}

interface Pending {
  readonly raw: Socket;
  conn: Handshaking | undefined;
}

export class TlsAcceptor {
  private readonly server: Server;
  private readonly pending = new Map<string, Pending>();

  constructor(
    options: TlsOptions,
    private readonly deadlineMs: number,
    private readonly logger: Pick<Logger, 'warn'>,
    secured: (socket: TLSSocket) => Handshaking | undefined,
  ) {
    this.server = createServer(options);
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const entry = this.pending.get(keyOf(socket));
      if (entry === undefined) return void socket.destroy();
      entry.conn = secured(socket);
    });
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      this.logger.warn({ address: socket.remoteAddress, reason: err.message }, 'distribution TLS handshake failed');
    });
  }

  /** Sockets still in their TLS handshake (they count against the handshake caps). */
  get tlsHandshakes(): number {
    let count = 0;
    for (const entry of this.pending.values()) if (entry.conn === undefined) count++;
    return count;
  }

  accept(raw: Socket): void {
    if (raw.remoteAddress === undefined) return void raw.destroy();
    const key = keyOf(raw);
    const entry: Pending = { raw, conn: undefined };
    this.pending.set(key, entry);
    const timer = setTimeout(() => this.expire(key, entry), this.deadlineMs);
    timer.unref();
    raw.once('close', () => {
      clearTimeout(timer);
      if (this.pending.get(key) === entry) this.pending.delete(key);
    });
    this.server.emit('connection', raw);
  }

  private expire(key: string, entry: Pending): void {
    if (this.pending.get(key) === entry) this.pending.delete(key);
    if (entry.conn === undefined) {
      this.logger.warn({ address: entry.raw.remoteAddress, reason: `TLS handshake did not complete within ${this.deadlineMs} ms` }, 'distribution connection refused');
      return void entry.raw.destroy();
    }
    if (!entry.conn.isUp) entry.conn.close(`handshake did not complete within ${this.deadlineMs} ms`);
  }

  close(): void {
    for (const entry of this.pending.values()) entry.raw.destroy();
    this.pending.clear();
  }
}

/** A TCP connection's remote end, the same for the raw socket and the TLS socket over it. */
function keyOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
