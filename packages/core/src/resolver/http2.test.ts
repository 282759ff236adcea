// The HTTP/2 client's own rules, with a provider the test controls: argument checks, no request without
// a usable certificate, CLOSED after close(), an idle session of an old epoch retired at once, and one
// retired while still connecting closed only once connected.
// Rotation under load against a real server: tests/http2/node-http2.test.ts.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import util from 'node:util';
import { TestCA, until } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MtlsError } from '../errors.js';
import type { IdentityProvider, TlsIdentity } from '../tls/identity.js';
import { Http2Client } from './http2.js';

function fakeProvider(identity: TlsIdentity | undefined) {
  const listeners = new Set<() => void>();
  const state = { epoch: 0, identity };
  const provider: IdentityProvider = {
    get epoch() {
      return state.epoch;
    },
    touch: () => {},
    current: () => state.identity,
    acquire: () => Promise.reject(new Error('not used')),
    onEpoch: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    rejectUnauthorized: true,
    proxy: undefined,
  };
  return {
    provider,
    listeners,
    bump: () => {
      state.epoch++;
      for (const l of listeners) l();
    },
  };
}

let server: http2.Http2SecureServer;
let url: string;
let identity: TlsIdentity;
const sessionsClosed: boolean[] = [];

beforeAll(async () => {
  const ca = await TestCA.create();
  const [serverCert, clientCert] = [
    await ca.issueServer({ ipAddresses: ['127.0.0.1'] }),
    await ca.issueClient(),
  ];
  server = http2.createSecureServer({
    cert: serverCert.fullChainPem,
    key: serverCert.keyPem,
    ca: ca.rootPem,
    requestCert: true,
  });
  server.on('session', (s) => {
    const i = sessionsClosed.push(false) - 1;
    s.on('close', () => {
      sessionsClosed[i] = true;
    });
  });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end(String(sessionsClosed.length - 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  identity = {
    serial: 1,
    credentials: {} as TlsIdentity['credentials'],
    secureContext: createSecureContext({
      cert: clientCert.fullChainPem,
      key: clientCert.keyPem,
      ca: ca.rootPem,
    }),
    fingerprint256: clientCert.x509.fingerprint256,
    notAfterMs: Date.now() + 3_600_000,
  };
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const status = (stream: http2.ClientHttp2Stream) =>
  new Promise<number>((resolve, reject) => {
    stream.on('response', (h) => resolve(Number(h[':status'])));
    stream.on('error', reject);
    stream.resume();
  });

describe('Http2Client', () => {
  it('refuses an authority that is not an https URL', () => {
    const { provider } = fakeProvider(identity);
    for (const bad of ['not a url', 'http://localhost:80']) {
      expect(() => new Http2Client(provider, bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }),
      );
    }
  });

  it('throws EXPIRED without a usable certificate, CLOSED after close()', async () => {
    const none = new Http2Client(fakeProvider(undefined).provider, url);
    expect(() => none.request({ ':path': '/' })).toThrow(expect.objectContaining({ code: 'EXPIRED' }));
    const client = new Http2Client(fakeProvider(identity).provider, url);
    expect(await status(client.request({ ':path': '/' }))).toBe(200);
    await client.close();
    let thrown: unknown;
    try {
      client.request({ ':path': '/' });
    } catch (err) {
      thrown = err;
    }
    expect(MtlsError.is(thrown, 'CLOSED')).toBe(true);
  });

  it('stops listening for rotations once closed, so a closed client is not kept by its resolver', async () => {
    const { provider, listeners } = fakeProvider(identity);
    const clients = [new Http2Client(provider, url), new Http2Client(provider, url)];
    expect(listeners.size).toBe(2);
    await clients[0]!.close();
    expect(listeners.size).toBe(1);
    await clients[1]!.close();
    expect(listeners.size).toBe(0);
  });

  it('retires an idle session of an old epoch at once, and the next request opens a new one', async () => {
    const { provider, bump } = fakeProvider(identity);
    const client = new Http2Client(provider, url);
    expect(await status(client.request({ ':path': '/' }))).toBe(200);
    const first = sessionsClosed.length - 1;
    bump();
    // Closed with no further request (polled: a loaded machine stretches the GOAWAY's round trip).
    await until(
      () => sessionsClosed[first] === true && client.liveSessions() === 0,
      'the old session closed',
    );
    expect(await status(client.request({ ':path': '/' }))).toBe(200);
    expect(sessionsClosed.length - 1).toBe(first + 1);
    await client.close();
  });

  it('a session retired while it connects sends the streams requested on it first, then closes', async () => {
    const { provider, bump } = fakeProvider(identity);
    const client = new Http2Client(provider, url);
    // Requested while the session is still connecting (TLS handshake), then a rotation retires it.
    const stream = client.request({ ':path': '/' });
    bump();
    await new Promise((resolve) => setImmediate(resolve));
    const body = new Promise<string>((resolve, reject) => {
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        text += chunk;
      });
      stream.on('end', () => resolve(text));
      stream.on('error', reject);
    });
    expect(await status(stream)).toBe(200);
    // Answered on that first session (not refused and sent again on a second one), which then closed.
    const first = Number(await body);
    expect(sessionsClosed.length - 1).toBe(first);
    // Closed with no further request (polled: a loaded machine stretches the GOAWAY's round trip).
    await until(
      () => sessionsClosed[first] === true && client.liveSessions() === 0,
      'the old session closed',
    );
    await client.close();
  });

  it('a stream never sent (its session closed while connecting) goes on a new session, with its body and what the caller did meanwhile', async () => {
    const { provider } = fakeProvider(identity);
    // Ended before its session closes, and still open then (Node fails it after an 'aborted').
    for (const endedFirst of [true, false]) {
      const client = new Http2Client(provider, url);
      const stream = client.request({ ':method': 'POST', ':path': '/' });
      const refusedOn = stream.session as http2.ClientHttp2Session;
      const events: string[] = [];
      for (const name of ['aborted', 'error']) stream.on(name, () => events.push(name));
      const response = new Promise<unknown>((resolve) => stream.on('response', (h) => resolve(h[':status'])));
      // Waiting for an id: Node's own 'ready' listeners, which must stay on the refused stream.
      stream.setEncoding('utf8');
      let body = '';
      stream.on('data', (chunk: string) => {
        body += chunk;
      });
      const ended = new Promise((resolve) => stream.on('end', resolve));
      stream.write('a');
      if (endedFirst) stream.end('b');
      // Else the body ends just after the refusal (Node fails the stream when its session connects),
      // before the new stream is answered.
      else refusedOn.once('connect', () => setImmediate(() => stream.end('b')));
      refusedOn.close();
      expect(await response).toBe(200);
      await ended;
      expect(stream.session).not.toBe(refusedOn);
      expect(Number(body)).toBe(sessionsClosed.length - 1);
      expect(stream.writableFinished).toBe(true);
      expect(events).toEqual([]);
      await client.close();
    }
  });

  it('request() returns the ClientHttp2Stream itself, not a proxy, with or without retryRefusedStreams', async () => {
    const { provider } = fakeProvider(identity);
    const client = new Http2Client(provider, url, { retryRefusedStreams: false });
    const retrying = new Http2Client(provider, url);
    for (const c of [client, retrying]) {
      const stream = c.request({ ':path': '/' });
      expect(Object.getPrototypeOf(stream).constructor.name).toBe('ClientHttp2Stream');
      expect(util.types.isProxy(stream)).toBe(false);
      expect(await status(stream)).toBe(200);
      // Answered: Node's own methods again (the retry's watch is over).
      expect(stream.emit).toBe(Object.getPrototypeOf(stream).emit);
    }
    await Promise.all([client.close(), retrying.close()]);
  });
});
