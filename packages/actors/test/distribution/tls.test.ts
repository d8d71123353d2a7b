// Goal: distribution runs over TLS with the same cookie handshake inside, and a node
// without the certificate authority's trust cannot connect.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Node } from '../../src/index.js';
import { startNode } from '../helpers.js';

let dir: string;
let tls: { key: Buffer; cert: Buffer; ca: Buffer; requestCert: boolean; rejectUnauthorized: boolean };
let otherTls: typeof tls;
const nodes: Node[] = [];

function selfSigned(name: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`], { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rafter-tls-'));
  const cluster = selfSigned('cluster');
  tls = { ...cluster, ca: cluster.cert, requestCert: true, rejectUnauthorized: true };
  const stranger = selfSigned('stranger');
  otherTls = { ...stranger, ca: stranger.cert, requestCert: true, rejectUnauthorized: true };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop({ timeoutMs: 200 })));
});

async function tlsNode(name: string, options: typeof tls) {
  const node = await startNode({ name, port: 0, cookie: 'secret', tls: options, failureDetector: false });
  nodes.push(node);
  return node;
}

describe('TLS distribution', () => {
  it('carries calls between nodes that trust the same certificate', async () => {
    const a = await tlsNode('a', tls);
    const b = await tlsNode('b', tls);
    const server = b.spawn({ init: () => 'over tls', handleCall: (_r, _f, s: string) => ({ reply: s, state: s }) });
    expect(await a.call(server, 'hi')).toBe('over tls');
    expect(a.nodes()).toEqual([b.name]);
  });

  it('refuses a node whose certificate is not trusted', async () => {
    const a = await tlsNode('a', tls);
    const stranger = await tlsNode('s', otherTls);
    expect(await stranger.connect(a.name)).toBe(false);
    expect(a.nodes()).toEqual([]);
  });
});
