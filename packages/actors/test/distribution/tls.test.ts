// Goal: distribution runs over mutual TLS with the same cookie handshake inside; the
// dialler checks the peer's certificate and host name; a node without the certificate
// authority's trust cannot connect; and a TLS handshake has the plain handshake's deadline.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Node } from '../../src/index.js';
import { parseNodeName } from '../../src/distribution/distribution.js';
import { UNAUTHENTICATED_CONNECTIONS_MAX } from '../../src/distribution/limits.js';
import { startNode, type LogRecord } from '../helpers.js';

interface Tls {
  key: Buffer;
  cert: Buffer;
  ca: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

let dir: string;
/** Mutual TLS as in production: a cluster CA, a certificate per node for its address, client certificates required. */
let cluster: Tls;
/** Signed by the cluster CA, but for another host name. */
let wrongHost: Tls;
/** A self-signed certificate the cluster does not trust. */
let stranger: Tls;
const nodes: (Node & { records: LogRecord[] })[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

function certificateAuthority(name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`);
  return { key, cert };
}

function signed(name: string, ca: { key: string; cert: string }, altNames: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${altNames}\n`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext);
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rafter-tls-'));
  const ca = certificateAuthority('cluster-ca');
  const caCert = readFileSync(ca.cert);
  const mutual = { ca: caCert, requestCert: true, rejectUnauthorized: true };
  cluster = { ...signed('node', ca, 'IP:127.0.0.1,DNS:localhost'), ...mutual };
  wrongHost = { ...signed('elsewhere', ca, 'DNS:elsewhere.example'), ...mutual };
  const own = certificateAuthority('stranger');
  stranger = { key: readFileSync(own.key), cert: readFileSync(own.cert), ca: readFileSync(own.cert), requestCert: true, rejectUnauthorized: true };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop({ timeoutMs: 200 })));
});

async function tlsNode(name: string, tls: Tls, netTickMs?: number) {
  const node = await startNode({ name, port: 0, cookie: 'secret', tls, failureDetector: false, ...(netTickMs !== undefined ? { netTickMs } : {}) });
  nodes.push(node);
  return node;
}

function reasons(node: { records: LogRecord[] }): string[] {
  return node.records.map((r) => String(r.obj.reason ?? ''));
}

/** Resolves with the milliseconds until the node closed the socket, or undefined if it was still open after `boundMs`. */
function closedWithin(socket: { once(event: 'close', f: () => void): unknown; on(event: 'error', f: () => void): unknown; destroy(): void }, boundMs: number): Promise<number | undefined> {
  const started = performance.now();
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    const bound = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, boundMs);
    socket.once('close', () => {
      clearTimeout(bound);
      resolve(performance.now() - started);
    });
  });
}

describe('TLS distribution', () => {
  it('carries calls between nodes with certificates from the cluster CA', async () => {
    const a = await tlsNode('a', cluster);
    const b = await tlsNode('b', cluster);
    const server = b.spawn({ init: () => 'over tls', handleCall: (_r, _f, s: string) => ({ reply: s, state: s }) });
    expect(await a.call(server, 'hi')).toBe('over tls');
    expect(a.nodes()).toEqual([b.name]);
  });

  it('refuses a node whose certificate is not trusted, both ways', async () => {
    const a = await tlsNode('a', cluster);
    const outsider = await tlsNode('s', stranger);
    expect(await outsider.connect(a.name)).toBe(false);
    expect(await a.connect(outsider.name)).toBe(false);
    expect(a.nodes()).toEqual([]);
  });

  it('the dialler checks the host name: a trusted certificate for another host is refused', async () => {
    const a = await tlsNode('a', cluster);
    const impostor = await tlsNode('i', wrongHost);
    expect(await a.connect(impostor.name)).toBe(false);
    expect(reasons(a).some((r) => r.includes("does not match certificate's altnames"))).toBe(true);
  });

  it('mutual TLS: a client without a certificate is refused', async () => {
    const a = await tlsNode('a', cluster);
    const { host, port } = parseNodeName(a.name)!;
    const socket = tlsConnect({ host, port, ca: cluster.ca });
    expect(await closedWithin(socket, 5_000)).toBeDefined();
    expect(a.nodes()).toEqual([]);
  });

  it('drops a client that connects and never starts TLS, at the handshake deadline', async () => {
    const handshakeMs = 400;
    const a = await tlsNode('a', cluster, handshakeMs);
    const { host, port } = parseNodeName(a.name)!;
    const elapsedMs = await closedWithin(tcpConnect({ host, port }), 20 * handshakeMs);
    expect(elapsedMs).toBeDefined();
    expect(elapsedMs!).toBeGreaterThanOrEqual(handshakeMs - 50);
    expect(reasons(a)).toContain(`TLS handshake did not complete within ${handshakeMs} ms`);
  });

  it('drops a client that finishes TLS and never proves the cookie, at the same deadline', async () => {
    const handshakeMs = 400;
    const a = await tlsNode('a', cluster, handshakeMs);
    const { host, port } = parseNodeName(a.name)!;
    const socket = tlsConnect({ host, port, ...cluster });
    const elapsedMs = await closedWithin(socket, 20 * handshakeMs);
    expect(elapsedMs).toBeDefined();
    expect(elapsedMs!).toBeLessThan(20 * handshakeMs);
  });

  it('counts connections in their TLS handshake against the cap of handshakes', async () => {
    const a = await tlsNode('a', cluster);
    const { host, port } = parseNodeName(a.name)!;
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = tcpConnect({ host, port }, () => resolve(socket));
        socket.once('error', reject);
      });
    const silent = await Promise.all(Array.from({ length: UNAUTHENTICATED_CONNECTIONS_MAX }, open));
    // Still within the deadline of the silent ones: refused on arrival.
    expect(await closedWithin(await open(), 5_000)).toBeDefined();
    expect(reasons(a)).toContain(`${UNAUTHENTICATED_CONNECTIONS_MAX} connections are already in their handshake`);
    for (const socket of silent) socket.destroy();
  });
});
