// The connections of one node to the others: connect on first use, carry signals,
// and when a connection drops, fire what Erlang fires: DOWN and EXIT 'noconnection',
// failed calls, and nodedown to node monitors.

import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TlsOptions } from 'node:tls';
import { decodeError, InvalidArgumentError, isWireError } from '../errors.js';
import type { Logger } from '../logger.js';
import { pidKey, type Pid, type RemoteName } from '../pid.js';
import { bounce } from '../internal/routing.js';
import { withoutOwner } from '../internal/callback-owners.js';
import { isByName, NOCONNECTION, SCHEDULER_PID_ID, type Signal } from '../internal/signals.js';
import type { Distribution } from '../node.js';
import { Connection, type ConnectionEvents, type ConnectionSettings } from './internal/connection.js';
import { RefusalLog } from './internal/refusal-log.js';
import { TlsAcceptor } from './internal/tls-acceptor.js';
import { messageToReceiver, packedId, packedScheduler, signalFromWire } from './internal/wire-signals.js';
import { HANDSHAKE_MS_MAX, UNAUTHENTICATED_CONNECTIONS_MAX } from './limits.js';

export interface DistributionOptions {
  readonly shortName: string;
  readonly host: string;
  readonly port: number;
  readonly cookie: string;
  /** The node incarnation's creation, sent in the handshake (see Pid). */
  readonly creation: number;
  readonly netTickMs: number;
  readonly maxFrameBytes: number;
  readonly maxQueuedBytes: number;
  readonly tls?: TlsOptions;
  readonly logger: Logger;
}

export interface ConnectionInfo {
  /** True when this node dialled the connection. */
  readonly outbound: boolean;
  /** Bytes encoded for the peer that it has not read yet (up to maxQueuedBytes, then the connection closes). */
  readonly queuedBytes: number;
  readonly signalsSent: number;
  readonly signalsReceived: number;
}

/** What the distribution needs from its node. */
export interface DistributionHost {
  deliverFromNetwork(signal: Signal): void;
  /** Delivers a message to actor `id` of `scheduler`, made by this node's incarnation `creation` (dropped if that is gone). */
  deliverMessage(scheduler: number, id: number, creation: number, msg: unknown): void;
  /** Routes a signal as if sent on this node (for DOWN/EXIT made up on a connection loss). */
  routeLocal(signal: Signal): void;
  whereis(name: string): Pid | undefined;
  /** Called after a batch from the network was delivered. */
  afterDelivery(): void;
}

interface PeerState {
  conn: Connection | undefined;
  /** Signals waiting for the connection to come up. */
  waiting: Signal[];
  /** Monitors held by local watchers on the peer's actors: ref -> watcher, target. */
  monitorsOut: Map<string, { watcher: Pid; target: Pid | RemoteName }>;
  /** Monitors held by the peer's watchers on local actors: ref -> the monitor or call signal (local `to`, remote `from`). */
  monitorsIn: Map<string, { readonly from: Pid; readonly to: Pid }>;
  /** Links between a local and a peer actor: key -> [local, remote]. */
  links: Map<string, [Pid, Pid]>;
}

export class NodeDistribution implements Distribution {
  private readonly peers = new Map<string, PeerState>();
  /** Watchers of each node; `toldDown` until the next nodeup, so a node that stays unreachable is reported once, not at every dial. */
  private readonly nodeMonitors = new Map<string, Map<string, { pid: Pid; toldDown: boolean }>>();
  private host: DistributionHost | undefined;
  private readonly settings: ConnectionSettings;
  /** Inbound connections whose peer has not proved the cookie yet (capped). */
  private readonly unauthenticated = new Set<Connection>();
  private stopped = false;
  private readonly tls: TlsAcceptor | undefined;
  /** Nodes cut off by a fault hook (`block`): never dialled, accepted or kept connected. */
  private readonly blocked = new Set<string>();

  private constructor(
    readonly name: string,
    private readonly server: Server,
    private readonly options: DistributionOptions,
  ) {
    this.settings = {
      myName: name,
      myCreation: options.creation,
      cookie: options.cookie,
      maxFrameBytes: options.maxFrameBytes,
      maxQueuedBytes: options.maxQueuedBytes,
      netTickMs: options.netTickMs,
      handshakeTimeoutMs: Math.min(HANDSHAKE_MS_MAX, options.netTickMs),
      logger: options.logger,
      refusals: new RefusalLog(options.logger),
    };
    if (options.tls !== undefined) {
      const tls = new TlsAcceptor(options.tls, this.settings.handshakeTimeoutMs, this.settings.refusals, (socket) => this.accept(socket, true));
      server.on('connection', (socket: Socket) => this.acceptTls(tls, socket));
      this.tls = tls;
    } else {
      server.on('connection', (socket: Socket) => void this.accept(socket));
    }
  }

  /** Listens on host:port (port 0 picks a free one); the node's full name follows. */
  static async listen(options: DistributionOptions): Promise<NodeDistribution> {
    if (options.cookie.length === 0) throw new InvalidArgumentError('a distributed node needs a non-empty cookie');
    // With TLS too the node listens on plain TCP: see TlsAcceptor.
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new InvalidArgumentError('could not read the listening port');
    const name = `${options.shortName}@${options.host}:${address.port}`;
    return new NodeDistribution(name, server, options);
  }

  attach(host: DistributionHost): void {
    this.host = host;
  }

  /** Names of the nodes with a live connection. */
  nodes(): string[] {
    return [...this.peers].filter(([, p]) => p.conn?.isUp === true).map(([name]) => name);
  }

  /** The live connection to `node`: direction, bytes waiting for it to read, signals each way. */
  connectionInfo(node: string): ConnectionInfo | undefined {
    const conn = this.peers.get(node)?.conn;
    if (conn?.isUp !== true) return undefined;
    return { outbound: conn.outbound, queuedBytes: conn.queuedByteCount + conn.socket.writableLength, signalsSent: conn.signalsSent, signalsReceived: conn.signalsReceived };
  }

  /**
   * Connects to `node` now, on request (`Node.connect`): the node stays wanted, so the
   * failure detector dials it again when it is lost, until `disconnect(node)`. Resolves
   * true once connected, false if it cannot be reached.
   */
  connect(node: string): Promise<boolean> {
    if (node !== this.name) this.requested.add(node);
    return this.dial(node);
  }

  /** The failure detector's dial of a suspected node: it does not make the node wanted. */
  redial(node: string): Promise<boolean> {
    return this.dial(node);
  }

  /**
   * Closes the connection to `node` (its monitors and links fire 'noconnection', as
   * Erlang's disconnect_node) and forgets the request to connect to it; false when it
   * was not connected.
   */
  disconnect(node: string): boolean {
    this.requested.delete(node);
    const conn = this.peers.get(node)?.conn;
    if (conn === undefined) return false;
    conn.close('disconnected on request', 'info');
    return true;
  }

  /**
   * True while something on this node refers to `node`: a request to connect, a node
   * monitor, a monitor or link on one of its actors, or signals waiting for it.
   */
  isWanted(node: string): boolean {
    if (this.requested.has(node) || (this.nodeMonitors.get(node)?.size ?? 0) > 0) return true;
    const peer = this.peers.get(node);
    return peer !== undefined && (peer.monitorsOut.size > 0 || peer.monitorsIn.size > 0 || peer.links.size > 0 || peer.waiting.length > 0);
  }

  private dial(node: string): Promise<boolean> {
    if (node === this.name) return Promise.resolve(true);
    const peer = this.peer(node);
    if (peer.conn?.isUp === true) return Promise.resolve(true);
    return new Promise((resolve) => {
      const watcher = { up: () => resolve(true), down: () => resolve(false) };
      this.connectWaiters.push({ node, ...watcher });
      this.ensureConnection(node, peer);
    });
  }

  private connectWaiters: { node: string; up: () => void; down: () => void }[] = [];
  /** Nodes `connect` was asked for and not `disconnect`ed since. */
  private readonly requested = new Set<string>();

  /**
   * A fault hook for test harnesses: cuts `node` off as a network partition would. The
   * connection closes (DOWN and EXIT 'noconnection', nodedown), signals for it fail as
   * 'noconnection', and it is neither dialled nor accepted until `unblock(node)`.
   */
  block(node: string): void {
    if (node === this.name) throw new InvalidArgumentError('a node cannot block itself');
    this.blocked.add(node);
    this.peers.get(node)?.conn?.close('blocked by a fault hook (simulated partition)', 'info');
  }

  /** Lifts `block(node)`: the next signal for it dials again. */
  unblock(node: string): void {
    this.blocked.delete(node);
  }

  /** The nodes cut off by `block`. */
  blockedNodes(): string[] {
    return [...this.blocked];
  }

  forward(signal: Signal): void {
    const node = isByName(signal) ? signal.node : signal.to.node;
    if (this.stopped || (this.blocked.size > 0 && this.blocked.has(node))) return this.bounceLocal(signal);
    const peer = this.peer(node);
    this.trackOutgoing(peer, signal);
    if (peer.conn?.isUp === true) return peer.conn.send(signal);
    peer.waiting.push(signal);
    this.ensureConnection(node, peer);
  }

  monitorNode(pid: Pid, node: string): void {
    let watchers = this.nodeMonitors.get(node);
    if (watchers === undefined) this.nodeMonitors.set(node, (watchers = new Map()));
    watchers.set(pidKey(pid), { pid, toldDown: false });
    if (this.peers.get(node)?.conn?.isUp === true) return;
    void this.dial(node);
  }

  demonitorNode(pid: Pid, node: string): void {
    this.nodeMonitors.get(node)?.delete(pidKey(pid));
  }

  /** A thread of this node died with its actors: peers' monitors and links on them fire with `reason`. */
  schedulerLost(index: number, creation: number, reason: unknown): void {
    const gone = (pid: Pid) => pid.node === this.name && pid.scheduler === index && pid.creation === creation;
    for (const peer of this.peers.values()) {
      for (const [ref, { from, to }] of [...peer.monitorsIn]) if (gone(to)) this.forward({ k: 'down', to: from, ref, pid: to, reason });
      for (const [local, remote] of [...peer.links.values()]) if (gone(local)) this.forward({ k: 'exit', from: local, to: remote, reason, link: true });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const peer of this.peers.values()) peer.conn?.close('node stopping');
    for (const conn of this.unauthenticated) conn.close('node stopping', 'debug');
    this.tls?.close();
    this.settings.refusals.flush();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- connections ----

  private peer(node: string): PeerState {
    // Node names in pids decoded from messages are slices (see own-string.ts), slow to
    // look up: a run of signals to one node skips the lookup. Peers are never removed.
    if (node === this.lastPeerNode) return this.lastPeer!;
    let peer = this.peers.get(node);
    if (peer === undefined) {
      peer = { conn: undefined, waiting: [], monitorsOut: new Map(), monitorsIn: new Map(), links: new Map() };
      this.peers.set(node, peer);
    }
    this.lastPeerNode = node;
    this.lastPeer = peer;
    return peer;
  }

  private lastPeerNode: string | undefined;
  private lastPeer: PeerState | undefined;

  private ensureConnection(node: string, peer: PeerState): void {
    if (peer.conn !== undefined) return;
    // Often reached from an actor's send: the connection's listeners and timers are no actor's.
    withoutOwner(() => this.openConnection(node, peer));
  }

  private openConnection(node: string, peer: PeerState): void {
    if (this.blocked.has(node)) return this.lost(node, peer, 'blocked by a fault hook (simulated partition)');
    const address = parseNodeName(node);
    if (address === undefined) {
      this.options.logger.warn({ node }, 'cannot connect: a node name must be name@host:port');
      return this.lost(node, peer, 'bad node name');
    }
    const socket =
      this.options.tls !== undefined
        ? tlsConnect({ ...(this.options.tls as object), host: address.host, port: address.port })
        : tcpConnect({ host: address.host, port: address.port });
    const conn = new Connection(socket, true, node, this.settings, this.events);
    peer.conn = conn;
    socket.once(this.options.tls !== undefined ? 'secureConnect' : 'connect', () => conn.hello());
  }

  /** A TLS socket was counted against the cap while in its TLS handshake (see `acceptTls`). */
  private accept(socket: Socket, counted = false): Connection | undefined {
    if (this.stopped) return void socket.destroy();
    if (!counted && this.handshakesAtCap(socket)) return void socket.destroy();
    const conn = new Connection(socket, false, undefined, this.settings, this.events);
    this.unauthenticated.add(conn);
    return conn;
  }

  /** Inbound TLS: the TLS handshake counts against the same cap and runs under the same deadline. */
  private acceptTls(tls: TlsAcceptor, socket: Socket): void {
    if (this.stopped || this.handshakesAtCap(socket)) return void socket.destroy();
    tls.accept(socket);
  }

  private handshakesAtCap(socket: Socket): boolean {
    if (this.unauthenticated.size + (this.tls?.tlsHandshakes ?? 0) < UNAUTHENTICATED_CONNECTIONS_MAX) return false;
    this.settings.refusals.warn(
      { address: socket.remoteAddress, reason: `${UNAUTHENTICATED_CONNECTIONS_MAX} connections are already in their handshake` },
      'distribution connection refused',
    );
    return true;
  }

  private readonly events: ConnectionEvents = {
    // A pure decision: the hello proves nothing, so the slot is taken in `up`, once it has.
    decideInbound: (node) => {
      const existing = this.peers.get(node)?.conn;
      return existing !== undefined && !existing.isUp && existing.outbound && this.name < node ? 'simultaneous' : 'accept';
    },
    up: (conn) => {
      this.unauthenticated.delete(conn);
      const node = conn.peer!;
      // Refused only once authenticated: a hello proves nothing, so it must not decide this.
      if (this.blocked.has(node)) return conn.close('blocked by a fault hook (simulated partition)', 'debug');
      const peer = this.peer(node);
      if (peer.conn !== conn) this.replace(node, peer, conn);
      const waiting = peer.waiting;
      peer.waiting = [];
      for (const signal of waiting) conn.send(signal);
      for (const watcher of this.nodeMonitors.get(node)?.values() ?? []) {
        watcher.toldDown = false;
        this.host!.routeLocal({ k: 'msg', to: watcher.pid, msg: { type: 'nodeup', node } });
      }
      this.settle(node, true);
    },
    signals: (conn, signals) => {
      const peer = this.peer(conn.peer!);
      try {
        for (const raw of signals) {
          const packed = messageToReceiver(raw);
          if (packed >= 0) {
            this.host!.deliverMessage(packedScheduler(packed), packedId(packed), this.options.creation, (raw as unknown[])[2]);
            continue;
          }
          const checked = checkSignal(signalFromWire(raw, conn.peer!, this.name, conn.peerCreation, this.options.creation), conn.peer!, this.name);
          if (typeof checked === 'string') return conn.close(`malformed signal from peer: ${checked}`);
          const signal = this.resolveIncoming(peer, conn, checked);
          if (signal === undefined) continue;
          this.trackIncoming(peer, signal);
          this.host!.deliverFromNetwork(signal);
        }
      } finally {
        this.host!.afterDelivery();
      }
    },
    heartbeat: (conn) => this.onHeartbeat?.(conn.peer!),
    unsendable: (conn, signal, answer) => {
      // The call's monitor never reached the peer: nothing will end it there.
      if (signal.k === 'call' || signal.k === 'monitor') this.peers.get(conn.peer!)?.monitorsOut.delete(signal.ref);
      this.host!.routeLocal(answer);
    },
    closed: (conn, reason) => {
      this.unauthenticated.delete(conn);
      const node = conn.peer;
      if (node === undefined) return;
      const peer = this.peers.get(node);
      if (peer === undefined || peer.conn !== conn) return;
      peer.conn = undefined;
      if (conn.refusedAsSimultaneous) return this.awaitPeerDial(node, peer);
      this.lost(node, peer, reason);
    },
  };

  /**
   * An authenticated connection arrived while another one was registered. The peer
   * only dials when it holds no connection to this node, so a live one here is stale
   * (the peer restarted, or dropped it and the close is still on its way): close it,
   * with everything that hung on it, and keep the new one.
   */
  private replace(node: string, peer: PeerState, conn: Connection): void {
    const old = peer.conn;
    if (old?.isUp === true) old.close('replaced by a newer connection from the same node (it restarted or dropped the old one)', 'info');
    peer.conn = conn;
    old?.close('superseded by a newer connection', 'debug');
  }

  /** The peer refused our dial because its own dial to us wins: wait for it, then dial again if it never came. */
  private awaitPeerDial(node: string, peer: PeerState): void {
    setTimeout(() => {
      if (this.stopped || peer.conn !== undefined) return;
      if (peer.waiting.length > 0 || this.connectWaiters.some((w) => w.node === node)) this.ensureConnection(node, peer);
    }, this.settings.handshakeTimeoutMs).unref();
  }

  /** Set by the failure detector to receive heartbeats. */
  onHeartbeat: ((node: string) => void) | undefined;

  /** Sends a heartbeat ahead of queued traffic; false when not connected. */
  sendHeartbeat(node: string): boolean {
    const conn = this.peers.get(node)?.conn;
    if (conn?.isUp !== true) return false;
    conn.sendHeartbeat();
    return true;
  }

  private settle(node: string, up: boolean): void {
    const waiters = this.connectWaiters.filter((w) => w.node === node);
    this.connectWaiters = this.connectWaiters.filter((w) => w.node !== node);
    for (const w of waiters) (up ? w.up : w.down)();
  }

  /** The connection to `node` is gone (or never came up): fire everything that depended on it. */
  private lost(node: string, peer: PeerState, reason: string): void {
    const waiting = peer.waiting;
    peer.waiting = [];
    for (const signal of waiting) this.bounceLocal(signal);
    for (const [ref, { watcher, target }] of peer.monitorsOut) this.host!.routeLocal({ k: 'down', to: watcher, ref, pid: target, reason: NOCONNECTION });
    for (const [ref, { to }] of peer.monitorsIn) this.host!.routeLocal({ k: 'demonitor', from: to, to, ref });
    for (const [local, remote] of peer.links.values()) this.host!.routeLocal({ k: 'exit', from: remote, to: local, reason: NOCONNECTION, link: true });
    peer.monitorsOut.clear();
    peer.monitorsIn.clear();
    peer.links.clear();
    for (const watcher of this.nodeMonitors.get(node)?.values() ?? []) {
      if (watcher.toldDown) continue;
      watcher.toldDown = true;
      this.host!.routeLocal({ k: 'msg', to: watcher.pid, msg: { type: 'nodedown', node, reason } });
    }
    this.settle(node, false);
  }

  private bounceLocal(signal: Signal): void {
    const answer = bounce(signal, NOCONNECTION);
    if (answer !== undefined) this.host!.routeLocal(answer);
  }

  // ---- what depends on a connection ----

  private trackOutgoing(peer: PeerState, signal: Signal): void {
    switch (signal.k) {
      case 'monitor':
      case 'call':
        peer.monitorsOut.set(signal.ref, { watcher: signal.from, target: signal.to });
        return;
      case 'monitorName':
        peer.monitorsOut.set(signal.ref, { watcher: signal.from, target: { name: signal.name, node: signal.node } });
        return;
      case 'demonitor':
        peer.monitorsOut.delete(signal.ref);
        return;
      case 'down':
        peer.monitorsIn.delete(signal.ref);
        return;
      case 'reply':
        if (signal.demonitored === true) peer.monitorsIn.delete(signal.ref);
        return;
      case 'link':
        peer.links.set(linkKey(signal.from, signal.to), [signal.from, signal.to]);
        return;
      case 'unlink':
      case 'exit':
        if (signal.k === 'unlink' || signal.link) peer.links.delete(linkKey(signal.from, signal.to));
        return;
      default:
        return;
    }
  }

  /**
   * Monitors by name are resolved here, so the monitor is tracked against the actual
   * actor; a demonitor for one names only the node and is matched by its ref.
   */
  private resolveIncoming(peer: PeerState, conn: Connection, signal: Signal): Signal | undefined {
    if (signal.k === 'monitorName') {
      const pid = this.host!.whereis(signal.name);
      if (pid !== undefined) return { k: 'monitor', from: signal.from, to: pid, ref: signal.ref };
      conn.send({ k: 'down', to: signal.from, ref: signal.ref, pid: { name: signal.name, node: signal.node }, reason: 'noproc' });
      return undefined;
    }
    if (signal.k === 'demonitor' && signal.to.id === SCHEDULER_PID_ID) {
      const target = peer.monitorsIn.get(signal.ref)?.to;
      return target === undefined ? undefined : { ...signal, to: target };
    }
    return signal;
  }

  private trackIncoming(peer: PeerState, signal: Signal): void {
    switch (signal.k) {
      case 'monitor':
      case 'call':
        peer.monitorsIn.set(signal.ref, signal);
        return;
      case 'demonitor':
        peer.monitorsIn.delete(signal.ref);
        return;
      case 'down':
      case 'reply':
        if (signal.k === 'down' || signal.demonitored === true) peer.monitorsOut.delete(signal.ref);
        return;
      case 'link':
        peer.links.set(linkKey(signal.to, signal.from), [signal.to, signal.from]);
        return;
      case 'unlink':
      case 'exit':
        if (signal.k === 'unlink' || signal.link) peer.links.delete(linkKey(signal.to, signal.from));
        return;
      default:
        return;
    }
  }
}

function linkKey(local: Pid, remote: Pid): string {
  return `${pidKey(local)}|${pidKey(remote)}`;
}

export function parseNodeName(node: string): { host: string; port: number } | undefined {
  const at = node.lastIndexOf('@');
  const colon = node.lastIndexOf(':');
  if (at <= 0 || colon <= at + 1) return undefined;
  const port = Number(node.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) return undefined;
  return { host: node.slice(at + 1, colon), port };
}

/** Signal kinds a peer may send (no spawning over the wire). */
const SIGNAL_KINDS = new Set(['msg', 'call', 'named', 'monitorName', 'link', 'unlink', 'exit', 'monitor', 'demonitor', 'down', 'reply', 'info']);
/** Kinds whose `from` is an actor of the sending node: the peer may not speak for others. */
const FROM_SENDER = new Set(['call', 'monitorName', 'link', 'unlink', 'exit', 'monitor', 'demonitor']);

/**
 * Checks a signal from the network (pids were already given their shape by
 * signalFromWire): the signal, or why it is refused.
 */
function checkSignal(signal: Signal | string, sender: string, myName: string): Signal | string {
  if (typeof signal === 'string') return signal;
  if (!SIGNAL_KINDS.has(signal.k)) return `signals of kind ${signal.k} are not accepted from peers`;
  if (signal.k === 'named' || signal.k === 'monitorName') {
    if (signal.node !== myName) return `${signal.k} for a name on another node`;
  } else if (signal.to.node !== myName) return `${signal.k} for an actor of another node`;
  if (FROM_SENDER.has(signal.k) && (signal as { from: Pid }).from.node !== sender) return `${signal.k} from an actor of another node than the sender`;
  if (signal.k === 'exit' || signal.k === 'down') {
    if (isWireError(signal.reason)) return { ...signal, reason: decodeError(signal.reason) };
    if (typeof signal.reason === 'object' && signal.reason !== null && '$error' in signal.reason) return `${signal.k} with a malformed error as its reason`;
  }
  return signal;
}
