// Egress through an HTTPS proxy: agent() and dispatcher() open a CONNECT tunnel through a real local
// proxy and run their own TLS handshake inside it, so the server sees the client certificate end to
// end; NO_PROXY hosts go direct; a rotation while a tunnel opens is honoured; an https:// (TLS) proxy
// is verified with options.proxy.ca; a refusing or absent proxy fails the request with the MtlsError
// PROXY_FAILED, never showing the proxy's credentials.
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import {
  createTlsResolver,
  MtlsError,
  ProxyTunnelError,
  type TlsResolver,
  type TlsResolverOptions,
} from '@mtlskit/core';
import { type IssuedCert, leakCheck, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { getWithAgent, MemorySource } from './helpers.js';

interface ConnectProxy {
  url: string;
  /** `host:port` of every CONNECT received. */
  connects: string[];
  /** Bytes relayed from client to server, to show the proxy only ever saw ciphertext. */
  relayed: Buffer[];
  /** Holds the answer to every CONNECT received from now on until the returned function is called. */
  hold(): () => void;
  close(): Promise<void>;
}

/**
 * A minimal CONNECT proxy; with `password`, it demands Basic auth and answers 407 otherwise; with
 * `tls`, clients reach it over TLS (an https:// proxy URL) with that certificate.
 */
async function startConnectProxy(
  password?: string,
  tls?: { cert: string; key: string },
): Promise<ConnectProxy> {
  const connects: string[] = [];
  const relayed: Buffer[] = [];
  const sockets = new Set<Socket>();
  let held: Promise<void> | undefined;
  const refuse = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(405).end();
  };
  const server: http.Server =
    tls === undefined
      ? http.createServer(refuse)
      : https.createServer({ ...tls, minVersion: 'TLSv1.2' }, refuse);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('connect', async (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    const expected =
      password === undefined ? undefined : `Basic ${Buffer.from(`user:${password}`).toString('base64')}`;
    if (expected !== undefined && req.headers['proxy-authorization'] !== expected) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
      return;
    }
    connects.push(req.url ?? '');
    await held;
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/);
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      client.on('data', (chunk: Buffer) => relayed.push(chunk));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    connects,
    relayed,
    hold() {
      let release = () => {};
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        held = undefined;
        release();
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

let ca: TestCA;
let client: IssuedCert;
let server: MtlsTestServer;
let proxy: ConnectProxy;
const open: TlsResolver[] = [];

function resolver(options: Partial<TlsResolverOptions>): TlsResolver {
  const r = createTlsResolver({ source: new MemorySource().serve(client, server.caPem), ...options });
  open.push(r);
  return r;
}

beforeAll(async () => {
  ca = await TestCA.create();
  client = await ca.issueClient();
  server = await startMtlsServer({ clientCa: ca });
  proxy = await startConnectProxy();
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await proxy.close();
  await server.close();
});

describe('egress proxy (CONNECT)', () => {
  it('agent() and fetch() tunnel through the proxy and present the client certificate end to end', async () => {
    const r = resolver({ proxy: { url: proxy.url, noProxy: '' } });
    const before = proxy.connects.length;
    const viaAgent = await getWithAgent(`${server.url}/proxied-agent`, r.agent());
    const viaFetch = await r.fetch(`${server.url}/proxied-fetch`);
    expect(viaAgent).toMatchObject({ status: 200, fingerprint256: client.fingerprint256 });
    expect(await viaFetch.json()).toMatchObject({ fingerprint256: client.fingerprint256 });
    expect(proxy.connects.slice(before)).toEqual([`127.0.0.1:${server.port}`, `127.0.0.1:${server.port}`]);
    const seen = server.requests.filter((q) => q.path.startsWith('/proxied'));
    expect(seen.map((q) => [q.path, q.peerFingerprint256, q.authorized])).toEqual([
      ['/proxied-agent', client.fingerprint256, true],
      ['/proxied-fetch', client.fingerprint256, true],
    ]);
    // Inside the tunnel the proxy relayed only TLS records: no request line in clear text.
    expect(Buffer.concat(proxy.relayed).includes('GET /proxied')).toBe(false);
    // Keep-alive connections through the tunnel are reused.
    await getWithAgent(`${server.url}/proxied-agent`, r.agent());
    expect(proxy.connects.length - before).toBe(2);
  });

  it('a rotation while a tunnel is opening: the handshake inside it presents the new certificate', async () => {
    const renewed = await ca.issueClient();
    const source = new MemorySource().serve(client, server.caPem);
    const r = createTlsResolver({ source, mode: 'on-access', proxy: { url: proxy.url, noProxy: '' } });
    open.push(r);
    await r.credentials();
    const before = proxy.connects.length;
    const release = proxy.hold();
    const viaAgent = getWithAgent(`${server.url}/tunnel-race`, r.agent());
    const viaFetch = r.fetch(`${server.url}/tunnel-race`).then((res) => res.json());
    await vi.waitFor(() => expect(proxy.connects.length - before).toBe(2));
    source.serve(renewed, server.caPem);
    await r.refresh();
    release();
    expect(await viaAgent).toMatchObject({ status: 200, fingerprint256: renewed.fingerprint256 });
    expect(await viaFetch).toMatchObject({ fingerprint256: renewed.fingerprint256 });
    const seen = server.requests.filter((q) => q.path === '/tunnel-race');
    expect(seen.map((q) => q.peerFingerprint256)).toEqual([renewed.fingerprint256, renewed.fingerprint256]);
  });

  it('proxy: true reads HTTPS_PROXY, and hosts in NO_PROXY go direct', async () => {
    vi.stubEnv('HTTPS_PROXY', proxy.url);
    vi.stubEnv('NO_PROXY', 'localhost');
    vi.stubEnv('no_proxy', 'localhost');
    const r = resolver({ proxy: true });
    const before = proxy.connects.length;
    await getWithAgent(`https://localhost:${server.port}/direct`, r.agent());
    await (await r.fetch(`https://localhost:${server.port}/direct`)).text();
    expect(proxy.connects.length).toBe(before);
    await getWithAgent(`${server.url}/via-env-proxy`, r.agent());
    await (await r.fetch(`${server.url}/via-env-proxy`)).text();
    expect(proxy.connects.slice(before)).toEqual([`127.0.0.1:${server.port}`, `127.0.0.1:${server.port}`]);
  });

  it("an https:// (TLS) proxy whose CA is given in proxy.ca: agent(), fetch() and Node's fetch with dispatcher() tunnel through it end to end; without proxy.ca its certificate is refused", async () => {
    const proxyCa = await TestCA.create({ commonName: 'mtlskit test proxy CA' });
    const proxyCert = await proxyCa.issueServer();
    const tlsProxy = await startConnectProxy(undefined, {
      cert: proxyCert.fullChainPem,
      key: proxyCert.keyPem,
    });
    try {
      expect(tlsProxy.url).toMatch(/^https:\/\//);
      const r = resolver({ proxy: { url: tlsProxy.url, noProxy: '', ca: proxyCa.rootPem } });
      const viaAgent = await getWithAgent(`${server.url}/tls-proxy-agent`, r.agent());
      const viaFetch = await (await r.fetch(`${server.url}/tls-proxy-fetch`)).json();
      const viaGlobalFetch = await (
        await fetch(`${server.url}/tls-proxy-dispatcher`, {
          dispatcher: r.dispatcher(),
        } as unknown as RequestInit)
      ).json();
      for (const reply of [viaAgent, viaFetch, viaGlobalFetch])
        expect(reply).toMatchObject({ fingerprint256: client.fingerprint256 });
      expect(tlsProxy.connects).toEqual([
        `127.0.0.1:${server.port}`,
        `127.0.0.1:${server.port}`,
        `127.0.0.1:${server.port}`,
      ]);
      const seen = server.requests.filter((q) => q.path.startsWith('/tls-proxy'));
      expect(seen.map((q) => [q.path, q.peerFingerprint256, q.authorized])).toEqual([
        ['/tls-proxy-agent', client.fingerprint256, true],
        ['/tls-proxy-fetch', client.fingerprint256, true],
        ['/tls-proxy-dispatcher', client.fingerprint256, true],
      ]);
      // What the proxy decrypted from its own TLS layer is the inner TLS stream, not HTTP.
      expect(Buffer.concat(tlsProxy.relayed).includes('GET /tls-proxy')).toBe(false);

      // The proxy's certificate is verified: without its CA, no tunnel and no request.
      const untrusted = resolver({ proxy: { url: tlsProxy.url, noProxy: '' } });
      const agentError = await getWithAgent(`${server.url}/tls-proxy-untrusted`, untrusted.agent()).catch(
        (err: unknown) => err,
      );
      expect(agentError).toBeInstanceOf(MtlsError);
      expect(agentError).toMatchObject({
        code: 'PROXY_FAILED',
        retryable: true,
        message: expect.stringContaining('options.proxy.ca'),
      });
      expect((agentError as Error).message).toMatch(
        /cannot reach the proxy.*(self[- ]signed|unable to verify|certificate)/i,
      );
      const fetchError = await untrusted
        .fetch(`${server.url}/tls-proxy-untrusted`)
        .catch((err: unknown) => err);
      expect(fetchError).toMatchObject({ cause: { code: 'PROXY_FAILED' } });
      expect(tlsProxy.connects).toHaveLength(3);
      expect(server.requests.some((q) => q.path === '/tls-proxy-untrusted')).toBe(false);
    } finally {
      await tlsProxy.close();
    }
  });

  it('proxy.ca that is not PEM certificates is refused up front with INVALID_OPTION', () => {
    for (const ca of [
      'not a certificate',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    ]) {
      expect(() => resolver({ proxy: { url: proxy.url, ca } })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', field: 'proxy.ca' }),
      );
    }
  });

  it('a proxy that refuses CONNECT, or cannot be reached, fails the request with the MtlsError PROXY_FAILED; its credentials appear in no error, inspect or JSON output', async () => {
    const guarded = await startConnectProxy('right-password-5521');
    const nothing = net.createServer();
    await new Promise<void>((resolve) => nothing.listen(0, '127.0.0.1', resolve));
    const closedPort = (nothing.address() as AddressInfo).port;
    await new Promise((resolve) => nothing.close(resolve));
    try {
      const credentials = 'user:wrong-password-8832';
      vi.stubEnv('HTTPS_PROXY', guarded.url.replace('http://', `http://${credentials}@`));
      vi.stubEnv('NO_PROXY', '');
      vi.stubEnv('no_proxy', '');
      const r = resolver({ proxy: true });
      const agentError = await getWithAgent(`${server.url}/refused`, r.agent()).catch((err: unknown) => err);
      expect(agentError).toBeInstanceOf(MtlsError);
      expect(agentError).toBeInstanceOf(ProxyTunnelError);
      expect(agentError).toMatchObject({
        code: 'PROXY_FAILED',
        field: 'proxy',
        statusCode: 407,
        // A retry cannot fix credentials.
        retryable: false,
        message: expect.stringMatching(
          new RegExp(
            `proxy ${guarded.url}: CONNECT 127\\.0\\.0\\.1:${server.port} was refused with HTTP 407 .*put valid user:password@ in the proxy URL`,
          ),
        ),
      });
      expect(JSON.parse(JSON.stringify(agentError))).toMatchObject({ code: 'PROXY_FAILED', statusCode: 407 });
      const fetchError = await r.fetch(`${server.url}/refused`).catch((err: unknown) => err);
      expect(fetchError).toMatchObject({ cause: { code: 'PROXY_FAILED', statusCode: 407 } });

      const down = resolver({ proxy: { url: `http://${credentials}@127.0.0.1:${closedPort}`, noProxy: '' } });
      const downError = await getWithAgent(`${server.url}/refused`, down.agent()).catch(
        (err: unknown) => err,
      );
      expect(downError).toBeInstanceOf(MtlsError);
      expect(downError).toMatchObject({
        code: 'PROXY_FAILED',
        retryable: true,
        statusCode: undefined,
        message: expect.stringMatching(
          /proxy http:\/\/127\.0\.0\.1:\d+: cannot reach the proxy.*ECONNREFUSED/,
        ),
        cause: { code: 'ECONNREFUSED' },
      });
      const downFetch = await down.fetch(`${server.url}/refused`).catch((err: unknown) => err);
      expect(downFetch).toMatchObject({ cause: { code: 'PROXY_FAILED' } });

      // Searched raw, Base64 (the Proxy-Authorization header), hex and JSON-escaped, in what each
      // value reaches, its util.inspect (hidden fields included) and its JSON.
      const leaks = leakCheck([credentials, 'wrong-password-8832']);
      const outputs: Array<[string, unknown]> = [
        ['the agent error', agentError],
        ['the fetch error', fetchError],
        ['the unreachable-proxy errors', [downError, downFetch]],
        ['the resolvers', [r, down]],
        ['agent()', r.agent()],
        ['dispatcher()', r.dispatcher()],
        ['health()', r.health()],
      ];
      for (const [where, value] of outputs) leaks.check(value, where);
      expect(server.requests.some((q) => q.path === '/refused')).toBe(false);

      const right = resolver({
        proxy: { url: guarded.url.replace('http://', 'http://user:right-password-5521@'), noProxy: '' },
      });
      expect(await getWithAgent(`${server.url}/authorised`, right.agent())).toMatchObject({ status: 200 });
    } finally {
      await guarded.close();
    }
  });
});
