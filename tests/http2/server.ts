// A real HTTP/2 server requiring client certificates (http/1.1 too, by ALPN), for the HTTP/2 tests:
// each reply says which certificate the server saw, on which session, over which protocol.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TestCA } from '@mtlskit/testkit';

export interface H2Reply {
  fingerprint256: string | null;
  session: number;
  httpVersion: string;
  /** The request body the server read. */
  body: string;
}

export interface H2TestServer {
  url: string;
  /** Requests the server processed (answered or reset after reading), by path. */
  processed: Map<string, number>;
  /** Streams the server refused without processing them (RST_STREAM REFUSED_STREAM or GOAWAY). */
  refused: { count: number };
  /** Sessions (connections) opened, by id: whether each has closed yet. */
  sessions: Map<number, { closed: boolean; fingerprint256: string | null }>;
  /** Ends every session with GOAWAY (as a server restart or a load balancer would). */
  goawayAll(): void;
  /** Destroys every connection (a network error, as the client sees it). */
  destroyAll(): void;
  close(): Promise<void>;
}

/**
 * `/slow` (and a path ending in `/slow`) answers after 800 ms, to hold a stream in flight across a rotation. Refusals, the first time
 * a path is seen (then it is answered): `/refuse/…` resets the stream with REFUSED_STREAM unprocessed;
 * `/goaway/…` sends GOAWAY with the previous stream as the last one processed, which refuses it and
 * every later stream of its session (a session's first stream is refused with RST_STREAM instead); `/refuse-always/…` is refused every time. Processed, then reset (never retried): `/reset/…` resets with
 * INTERNAL_ERROR after reading the request, `/reset-answered/…` sends the response headers, then resets
 * with REFUSED_STREAM.
 */
export async function startH2Server(ca: TestCA): Promise<H2TestServer> {
  const serverCert = await ca.issueServer({
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  const server = http2.createSecureServer({
    cert: serverCert.fullChainPem,
    key: serverCert.keyPem,
    ca: ca.rootPem,
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: true,
  });
  const sessions: H2TestServer['sessions'] = new Map();
  const processed = new Map<string, number>();
  const refused = { count: 0 };
  const seen = new Set<string>();
  const countProcessed = (path: string) => processed.set(path, (processed.get(path) ?? 0) + 1);
  const live = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<TLSSocket>();
  const ids = new WeakMap<object, number>();
  let next = 0;
  const fingerprintOf = (socket: TLSSocket) => socket.getPeerCertificate()?.fingerprint256 ?? null;
  const track = (key: object, socket: TLSSocket, onClose: (f: () => void) => void) => {
    ids.set(key, ++next);
    const entry = { closed: false, fingerprint256: fingerprintOf(socket) };
    sessions.set(next, entry);
    onClose(() => {
      entry.closed = true;
    });
  };
  // An h2 connection is one session (its socket, seen through the session, is a proxy object);
  // an http/1.1 connection is its socket.
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (socket.alpnProtocol !== 'h2') track(socket, socket, (f) => socket.on('close', f));
  });
  server.on('session', (session) => {
    live.add(session);
    session.on('close', () => live.delete(session));
    track(session, session.socket as TLSSocket, (f) => session.on('close', f));
  });
  server.on('stream', (stream) => stream.on('error', () => {}));
  server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const session = req.stream?.session;
    const socket = (session?.socket ?? req.socket) as TLSSocket;
    const path = req.url;
    const first = !seen.has(path);
    seen.add(path);
    if (req.stream !== undefined) {
      if ((first && path.startsWith('/refuse/')) || path.startsWith('/refuse-always/')) {
        refused.count++;
        req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      if (first && path.startsWith('/goaway/') && session !== undefined) {
        refused.count++;
        const id = req.stream.id ?? 1;
        // A GOAWAY cannot refuse a session's first stream: nghttp2 raises the last-stream-id to the
        // last stream received (a 0 or -1 given arrives as 1), so that stream would count as processed
        // and wait for ever. The first stream is refused with RST_STREAM instead.
        if (id < 3) req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        else session.goaway(http2.constants.NGHTTP2_NO_ERROR, id - 2);
        return;
      }
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const stream = req.stream;
      if (stream !== undefined && path.startsWith('/reset/')) {
        countProcessed(path);
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      if (stream !== undefined && path.startsWith('/reset-answered/')) {
        countProcessed(path);
        stream.respond({ ':status': 200 });
        setTimeout(() => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM), 20);
        return;
      }
      const reply = JSON.stringify({
        fingerprint256: fingerprintOf(socket),
        session: ids.get(session ?? socket) ?? -1,
        httpVersion: req.httpVersion,
        body,
      } satisfies H2Reply);
      const send = () => {
        // A stream refused by a GOAWAY sent meanwhile is closed: it was not processed.
        if (stream?.closed) return;
        countProcessed(path);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(reply);
      };
      if (path.startsWith('/slow') || path.endsWith('/slow')) setTimeout(send, 800);
      else setImmediate(send);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://localhost:${port}`,
    processed,
    refused,
    sessions,
    goawayAll: () => {
      for (const s of live) s.close();
    },
    destroyAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
