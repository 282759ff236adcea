// Proof that a test stayed on loopback: records every outgoing TCP connection the process starts
// (node:http, node:https, tls, undici, http2 all end in `net.Socket#connect`), so a test can assert
// that a vendor SDK reached only its emulator and never probed a cloud metadata endpoint.
import { isIP, Socket } from 'node:net';

/** One outgoing connection attempt. */
export interface OutboundConnection {
  /** The host as asked for (a name or an address), or undefined for a local socket path. */
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** Set for Unix socket / named pipe connections. */
  readonly path: string | undefined;
  /** Addresses actually tried after DNS (filled in as attempts happen). */
  readonly addresses: string[];
}

export interface ConnectionTracker {
  /** Connections started since the tracker was created, in order. */
  readonly connections: readonly OutboundConnection[];
  /** Those that were not to loopback (127.0.0.0/8, ::1, `localhost`, or a local socket path). */
  offLoopback(): OutboundConnection[];
  /** Stops recording. Idempotent. */
  stop(): void;
}

const trackers = new Set<OutboundConnection[]>();
let originalConnect: Socket['connect'] | undefined;

function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (bare.startsWith('::ffff:')) return bare.slice(7).startsWith('127.');
  return bare === '::1';
}

function isLoopback(connection: OutboundConnection): boolean {
  if (connection.path !== undefined) return true;
  const host = connection.host ?? 'localhost';
  return isLoopbackHost(host) && connection.addresses.every(isLoopbackHost);
}

function describeTarget(args: unknown[]): Omit<OutboundConnection, 'addresses'> {
  // net.connect() passes its normalized arguments as one array; direct callers pass (options) or (port, host).
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const o = first as { host?: unknown; port?: unknown; path?: unknown };
    if (typeof o.path === 'string') return { host: undefined, port: undefined, path: o.path };
    return {
      host: typeof o.host === 'string' ? o.host : 'localhost',
      port: o.port === undefined ? undefined : Number(o.port),
      path: undefined,
    };
  }
  if (typeof first === 'string' && !/^\d+$/.test(first))
    return { host: undefined, port: undefined, path: first };
  const host = Array.isArray(args[0]) ? undefined : args[1];
  return { host: typeof host === 'string' ? host : 'localhost', port: Number(first), path: undefined };
}

function install(): void {
  if (originalConnect) return;
  const original = Socket.prototype.connect;
  originalConnect = original;
  Socket.prototype.connect = function connect(this: Socket, ...args: unknown[]) {
    const connection: OutboundConnection = { ...describeTarget(args), addresses: [] };
    for (const list of trackers) list.push(connection);
    this.on('connectionAttempt', (address: string) => connection.addresses.push(address));
    return (original as (...a: unknown[]) => Socket).apply(this, args);
  } as Socket['connect'];
}

function uninstall(): void {
  if (!originalConnect || trackers.size > 0) return;
  Socket.prototype.connect = originalConnect;
  originalConnect = undefined;
}

/**
 * Starts recording outgoing connections. Use around a test that must stay on loopback:
 * `const net = trackConnections(); ...; expect(net.offLoopback()).toEqual([]); net.stop();`
 */
export function trackConnections(): ConnectionTracker {
  const connections: OutboundConnection[] = [];
  trackers.add(connections);
  install();
  return {
    connections,
    offLoopback: () => connections.filter((c) => !isLoopback(c)),
    stop() {
      trackers.delete(connections);
      uninstall();
    },
  };
}
