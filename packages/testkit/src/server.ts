// A real node:https server demanding client certificates on 127.0.0.1, which records what it saw on
// every connection and request (peer certificate, session resumption, TLS version, handshake
// failures), so tests assert on what the server observed rather than on what the client believes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type RequestOptions, request, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { type IssuedCert, TestCA } from './ca.js';
import { listenOnLoopback } from './loopback.js';

export interface ObservedRequest {
  method: string;
  path: string;
  /** Stable per TLS connection: two requests on one keep-alive socket share it. */
  connectionId: number;
  /** The client certificate's SHA-256 fingerprint, as node:crypto formats it; undefined when none was sent. */
  peerFingerprint256: string | undefined;
  peerSubjectCN: string | undefined;
  /** The client certificate itself (DER), as the server received it; undefined when none was sent. */
  peerCertDer: Buffer | undefined;
  /**
   * The client certificate's issuers (DER), its issuer first, as Node links them on the server: the
   * intermediates the client sent, then the trusted CA that completes the chain when there is one.
   * Empty when no certificate was sent. A resumed TLS session carries the client certificate but not
   * its issuers, so for one the server repeats the chain it saw on the last full handshake with the
   * same client certificate (empty if it saw none).
   */
  peerChainDer: Buffer[];
  /** Whether the client certificate verified against the server's client CA. */
  authorized: boolean;
  authorizationError: string | undefined;
  /** True when the connection resumed an earlier TLS session instead of a full handshake. */
  sessionReused: boolean;
  tlsVersion: string | undefined;
  at: number;
}

export interface ObservedConnection {
  id: number;
  /** The client's port: matches the `localPort` of the client's socket, to pair both sides' records. */
  remotePort: number | undefined;
  peerFingerprint256?: string;
  sessionReused: boolean;
  openedAt: number;
  closedAt?: number;
}

/** A handshake the server refused or that failed, from the server's side. */
export interface ObservedTlsError {
  message: string;
  code: string | undefined;
  /** Why the client certificate was refused, as Node names it (`CERT_HAS_EXPIRED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`...). */
  authorizationError: string | undefined;
  at: number;
}

export interface MtlsTestServer {
  /** `https://127.0.0.1:PORT` (the default server certificate has SAN IP:127.0.0.1 and DNS:localhost). */
  url: string;
  port: number;
  /** The CA clients must trust to verify this server. */
  caPem: string;
  /** The CA(s) this server verifies client certificates against. */
  clientCaPem: string;
  /** The server's own certificate and key. */
  server: IssuedCert;
  requests: ObservedRequest[];
  connections: ObservedConnection[];
  tlsErrors: ObservedTlsError[];
  /** Number of TCP sockets open right now. */
  openSockets(): number;
  /** Stops listening and destroys open sockets; idempotent. */
  close(): Promise<void>;
}

export interface MtlsServerOptions {
  /** PEM(s) of the CA(s) client certificates must chain to, or a TestCA (its root is trusted). */
  clientCa: string | string[] | TestCA;
  /** The server's certificate; default: issued by `serverCa`. */
  server?: IssuedCert;
  /** CA to issue the server certificate from; default: a fresh one. */
  serverCa?: TestCA;
  /** Ask for a client certificate (default true). */
  requestCert?: boolean;
  /** Refuse unverified client certificates (default true). */
  rejectUnauthorized?: boolean;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Answers each request; default: 200 JSON `{ fingerprint256, cn, connectionId, sessionReused }`. */
  handler?: (req: IncomingMessage, res: ServerResponse, observed: ObservedRequest) => void;
  /** Idle keep-alive timeout of the server, in ms (Node's default: 5000). */
  keepAliveTimeout?: number;
}

function trustedClientCa(clientCa: MtlsServerOptions['clientCa']): string {
  if (clientCa instanceof TestCA) return clientCa.rootPem;
  const list = Array.isArray(clientCa) ? clientCa : [clientCa];
  return list.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
}

async function serverCertificate(opts: MtlsServerOptions): Promise<IssuedCert> {
  if (opts.server !== undefined) return opts.server;
  const ca = opts.serverCa ?? (await TestCA.create({ commonName: 'mtlskit test server CA' }));
  return ca.issueServer();
}

interface Peer {
  fingerprint256: string | undefined;
  cn: string | undefined;
  der: Buffer | undefined;
  chainDer: Buffer[];
}

/**
 * The client certificate a TLS socket saw (getPeerCertificate() gives `{}` when there is none). A
 * resumed session restores only the certificate, not its issuers: those come from `chains`, the chain
 * seen on the last full handshake with that certificate.
 */
/**
 * A copy that owns its memory. `Buffer.from(buffer)` of anything under 4 KiB is a slice of Node's
 * shared 8 KiB pool, and a kept slice keeps the whole pool alive: a server recording every request
 * would hold 8 KiB per certificate (the soak suite saw it).
 */
function own(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

/** Chains remembered for resumed sessions: the most recent certificates' only. */
const MAX_CHAINS = 1_000;

function peerOf(socket: TLSSocket, chains: Map<string, Buffer[]>): Peer {
  const peer = socket.getPeerCertificate(true) as Partial<DetailedPeerCertificate> | undefined;
  if (!peer?.fingerprint256)
    return { fingerprint256: undefined, cn: undefined, der: undefined, chainDer: [] };
  // A subject with several CNs comes back as an array.
  const cn = (peer.subject as Record<string, string | string[]> | undefined)?.CN;
  // Each certificate links to its issuer; a self-signed root links to itself.
  const chainDer: Buffer[] = [];
  const seen = new Set([peer.fingerprint256]);
  for (let issuer = peer.issuerCertificate; issuer?.fingerprint256 && !seen.has(issuer.fingerprint256); ) {
    seen.add(issuer.fingerprint256);
    chainDer.push(own(issuer.raw));
    issuer = issuer.issuerCertificate;
  }
  if (!socket.isSessionReused()) {
    chains.delete(peer.fingerprint256);
    chains.set(peer.fingerprint256, chainDer);
    if (chains.size > MAX_CHAINS) chains.delete(chains.keys().next().value!);
  }
  const chain = socket.isSessionReused() ? (chains.get(peer.fingerprint256) ?? chainDer) : chainDer;
  return {
    fingerprint256: peer.fingerprint256,
    cn: Array.isArray(cn) ? cn[0] : cn,
    der: peer.raw === undefined ? undefined : own(peer.raw),
    chainDer: chain.map(own),
  };
}

function authorizationErrorOf(socket: TLSSocket): string | undefined {
  const reason = socket.authorizationError as unknown;
  return reason === undefined || reason === null ? undefined : String(reason);
}

function defaultHandler(req: IncomingMessage, res: ServerResponse, observed: ObservedRequest): void {
  req.resume();
  const body = JSON.stringify({
    fingerprint256: observed.peerFingerprint256 ?? null,
    cn: observed.peerSubjectCN ?? null,
    connectionId: observed.connectionId,
    sessionReused: observed.sessionReused,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Starts a node:https server on 127.0.0.1 (an ephemeral port) that requires and verifies client
 * certificates by default, with TLS session resumption enabled so tests can prove whether a session
 * was resumed. Every request and connection is recorded in the returned object.
 */
export async function startMtlsServer(opts: MtlsServerOptions): Promise<MtlsTestServer> {
  const server = await serverCertificate(opts);
  const clientCaPem = trustedClientCa(opts.clientCa);
  const requests: ObservedRequest[] = [];
  const connections: ObservedConnection[] = [];
  const tlsErrors: ObservedTlsError[] = [];
  const connectionOf = new WeakMap<TLSSocket, ObservedConnection>();
  // The issuers seen on full handshakes, by client certificate fingerprint, for resumed sessions.
  const chains = new Map<string, Buffer[]>();
  const sockets = new Set<Socket>();
  const handler = opts.handler ?? defaultHandler;

  const https: Server = createServer(
    {
      cert: server.fullChainPem,
      key: server.keyPem,
      ca: clientCaPem,
      requestCert: opts.requestCert ?? true,
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      minVersion: 'TLSv1.2',
      maxVersion: opts.maxVersion ?? 'TLSv1.3',
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = peerOf(socket, chains);
      const observed: ObservedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        connectionId: connectionOf.get(socket)?.id ?? -1,
        peerFingerprint256: peer.fingerprint256,
        peerSubjectCN: peer.cn,
        peerCertDer: peer.der,
        peerChainDer: peer.chainDer,
        authorized: socket.authorized,
        authorizationError: authorizationErrorOf(socket),
        sessionReused: socket.isSessionReused(),
        tlsVersion: socket.getProtocol() ?? undefined,
        at: Date.now(),
      };
      requests.push(observed);
      handler(req, res, observed);
    },
  );
  if (opts.keepAliveTimeout !== undefined) https.keepAliveTimeout = opts.keepAliveTimeout;

  https.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  https.on('secureConnection', (socket: TLSSocket) => {
    const { fingerprint256 } = peerOf(socket, chains);
    const connection: ObservedConnection = {
      id: connections.length + 1,
      remotePort: socket.remotePort,
      sessionReused: socket.isSessionReused(),
      openedAt: Date.now(),
      ...(fingerprint256 === undefined ? {} : { peerFingerprint256: fingerprint256 }),
    };
    connections.push(connection);
    connectionOf.set(socket, connection);
    socket.once('close', () => {
      connection.closedAt = Date.now();
    });
  });
  https.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    // Node verifies client certificates after the handshake and just destroys the socket (the
    // client sees ECONNRESET, no alert): the reason is only on the server's socket.
    tlsErrors.push({
      message: err.message,
      code: err.code,
      authorizationError: authorizationErrorOf(socket),
      at: Date.now(),
    });
  });

  const port = await listenOnLoopback(https);

  let closing: Promise<void> | undefined;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: server.caPem,
    clientCaPem,
    server,
    requests,
    connections,
    tlsErrors,
    openSockets: () => sockets.size,
    close() {
      closing ??= (async () => {
        const open = [...sockets];
        const socketsClosed = open.map(
          (socket) =>
            new Promise<void>((resolve) =>
              socket.closed ? resolve() : socket.once('close', () => resolve()),
            ),
        );
        const serverClosed = new Promise<void>((resolve) => https.close(() => resolve()));
        for (const socket of open) socket.destroy();
        await Promise.all([serverClosed, ...socketsClosed]);
      })();
      return closing;
    },
  };
}

export interface HttpsResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  /** Whether the client side resumed a TLS session for this request. */
  sessionReused: boolean;
}

/**
 * One HTTPS request with the given TLS options (`cert`, `key`, `pfx`, `passphrase`, `ca`, `agent`...),
 * resolving with the status and body, or rejecting with the client-side error (e.g. the TLS alert
 * the server sent). Without an `agent`, a fresh connection is used (`agent: false`).
 */
export function httpsRequest(
  url: string,
  options: RequestOptions & { body?: string } = {},
): Promise<HttpsResponse> {
  const { body, ...rest } = options;
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, ...rest }, (res) => {
      // Read now: once the response ends, the socket may be gone.
      const sessionReused = (res.socket as TLSSocket).isSessionReused();
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          sessionReused,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}
