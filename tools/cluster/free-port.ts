// Ports for node processes that must come back on the same port after a restart. A port
// that the kernel handed out for `listen(0)` lies in the ephemeral range, from which it
// also picks the local ports of outgoing connections: between our probe and the child's
// listen, or between a kill and a restart, a connection of any test can take it
// (EADDRINUSE). So ports come from below that range, where the kernel never hands one out.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 20_000;
const ATTEMPTS = 200;

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const start = Number(low);
    return Number.isInteger(start) && start > LOWEST + 1_000 ? start : 32_768;
  } catch {
    return 32_768; // Linux's default; elsewhere the range may differ, and a clash is retried
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A loopback port nothing listens on now, outside the range the kernel picks from. */
export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (top - LOWEST));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port between ${LOWEST} and ${top} after ${ATTEMPTS} tries`);
}
