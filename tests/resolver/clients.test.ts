// Every Node HTTP client users hand a resolver to, against a real mTLS server that records the client
// certificate it saw: node:https through agent(), the resolver's fetch(), Node's global fetch with
// dispatcher(), axios with httpsAgent, got with agent or tlsOptions().
import { createTlsResolver, type TlsResolver, type TlsResolverOptions } from '@mtlskit/core';
import { type IssuedCert, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import axios from 'axios';
import got from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getWithAgent, MemorySource } from './helpers.js';

let ca: TestCA;
let client: IssuedCert;
let server: MtlsTestServer;
const open: TlsResolver[] = [];

function resolver(options: Partial<TlsResolverOptions> = {}): TlsResolver {
  const r = createTlsResolver({ source: new MemorySource().serve(client, server.caPem), ...options });
  open.push(r);
  return r;
}

beforeAll(async () => {
  ca = await TestCA.create();
  client = await ca.issueClient({ keyType: 'rsa2048' });
  server = await startMtlsServer({ clientCa: ca });
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await server.close();
});

/** The server saw exactly our certificate on the request for `path`, verified against the client CA. */
function expectSeen(path: string): void {
  const seen = server.requests.filter((r) => r.path === path);
  expect(seen.length).toBeGreaterThan(0);
  for (const request of seen) {
    expect(request).toMatchObject({ peerFingerprint256: client.fingerprint256, authorized: true });
  }
}

describe('resolver outputs with real clients', () => {
  it('node:https: agent() works before the first load (requests wait for it) and keeps connections alive', async () => {
    const source = new MemorySource().serve(client, server.caPem);
    source.delayMs = 100;
    const r = createTlsResolver({ source, mode: 'on-access' });
    open.push(r);
    const agent = r.agent();
    const replies = await Promise.all([1, 2, 3].map(() => getWithAgent(`${server.url}/https-cold`, agent)));
    expect(source.loads).toBe(1);
    expect(replies.map((x) => x.status)).toEqual([200, 200, 200]);
    const again = await getWithAgent(`${server.url}/https-cold`, agent);
    expect(replies.map((x) => x.connectionId)).toContain(again.connectionId);
    expectSeen('/https-cold');
  });

  it("fetch(): undici's fetch through the resolver's dispatcher", async () => {
    const r = resolver();
    const res = await r.fetch(`${server.url}/resolver-fetch`, { method: 'POST', body: 'hello' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ fingerprint256: client.fingerprint256 });
    expectSeen('/resolver-fetch');
  });

  it(`Node's global fetch (Node ${process.versions.node}) with dispatcher()`, async () => {
    const r = resolver();
    const init = { dispatcher: r.dispatcher() } as unknown as RequestInit;
    const res = await fetch(`${server.url}/global-fetch`, init);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ fingerprint256: client.fingerprint256 });
    expectSeen('/global-fetch');
  });

  it('axios with httpsAgent: agent()', async () => {
    const r = resolver();
    const res = await axios.get(`${server.url}/axios`, { httpsAgent: r.agent(), proxy: false });
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({ fingerprint256: client.fingerprint256 });
    expectSeen('/axios');
  });

  it('got with agent: { https: agent() }', async () => {
    const r = resolver();
    const body = await got(`${server.url}/got-agent`, { agent: { https: r.agent() } }).json();
    expect(body).toMatchObject({ fingerprint256: client.fingerprint256 });
    expectSeen('/got-agent');
  });

  it('got with https options from tlsOptions()', async () => {
    const r = resolver();
    const { cert, key, ca: trusted } = await r.tlsOptions();
    const body = await got(`${server.url}/got-options`, {
      https: { certificate: cert, key, certificateAuthority: trusted },
    }).json();
    expect(body).toMatchObject({ fingerprint256: client.fingerprint256 });
    expectSeen('/got-options');
  });
});

describe('server verification', () => {
  it('is on by default: a server whose CA the credential does not trust is refused', async () => {
    const stranger = await startMtlsServer({ clientCa: ca });
    try {
      const r = resolver();
      await expect(getWithAgent(stranger.url, r.agent())).rejects.toMatchObject({
        code: expect.stringMatching(
          /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
        ),
      });
      await expect(r.fetch(stranger.url)).rejects.toMatchObject({
        cause: {
          code: expect.stringMatching(
            /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF/,
          ),
        },
      });
      expect(stranger.requests).toHaveLength(0);
    } finally {
      await stranger.close();
    }
  });

  it('rejectUnauthorized: false is an explicit opt-out that reaches an untrusted server', async () => {
    const stranger = await startMtlsServer({ clientCa: ca });
    try {
      const r = resolver({ rejectUnauthorized: false });
      expect(await getWithAgent(`${stranger.url}/opt-out`, r.agent())).toMatchObject({ status: 200 });
      expect((await r.fetch(`${stranger.url}/opt-out`)).status).toBe(200);
    } finally {
      await stranger.close();
    }
  });

  it("caMode 'append' trusts the credential's CA on top of the system roots", async () => {
    const r = resolver({ caMode: 'append' });
    const reply = await getWithAgent(`${server.url}/append`, r.agent());
    expect(reply).toMatchObject({ status: 200, fingerprint256: client.fingerprint256 });
    expect((await r.fetch(`${server.url}/append`)).status).toBe(200);
  });

  it('negotiates TLS 1.2 with a server that offers no more, and TLS 1.3 otherwise', async () => {
    const legacy = await startMtlsServer({ clientCa: ca, serverCa: undefined, maxVersion: 'TLSv1.2' });
    try {
      const r = createTlsResolver({ source: new MemorySource().serve(client, legacy.caPem) });
      open.push(r);
      await getWithAgent(`${legacy.url}/v12`, r.agent());
      await (await r.fetch(`${legacy.url}/v12`)).text();
      expect(legacy.requests.map((x) => x.tlsVersion)).toEqual(['TLSv1.2', 'TLSv1.2']);
      await getWithAgent(`${server.url}/v13`, resolver().agent());
      expect(server.requests.find((x) => x.path === '/v13')?.tlsVersion).toBe('TLSv1.3');
    } finally {
      await legacy.close();
    }
  });
});

describe('a client closing the dispatcher it was handed', () => {
  it('close() and destroy() end its connections, and the next request opens a new one with the same certificate', async () => {
    const r = resolver();
    const dispatcher = r.dispatcher() as unknown as {
      close(): Promise<void>;
      destroy(callback: () => void): void;
      liveAgents(): number;
    };
    const get = async (path: string) =>
      (await (await r.fetch(`${server.url}${path}`)).json()) as {
        fingerprint256: string;
        connectionId: number;
      };
    const first = await get('/handed-close-1');
    await dispatcher.close();
    expect(dispatcher.liveAgents()).toBe(0);
    const second = await get('/handed-close-2');
    expect(second.connectionId).not.toBe(first.connectionId);
    await new Promise<void>((resolve) => dispatcher.destroy(resolve));
    expect(dispatcher.liveAgents()).toBe(0);
    const third = await get('/handed-close-3');
    expect(third.connectionId).not.toBe(second.connectionId);
    expect([first, second, third].map((x) => x.fingerprint256)).toEqual(Array(3).fill(client.fingerprint256));
  });
});

describe('after close()', () => {
  it('the agent and dispatcher handed out earlier fail new requests with CLOSED', async () => {
    const r = resolver();
    const agent = r.agent();
    const dispatcher = r.dispatcher();
    expect((await getWithAgent(`${server.url}/before-close`, agent)).status).toBe(200);
    await r.close();
    await expect(getWithAgent(`${server.url}/after-close`, agent)).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(
      fetch(`${server.url}/after-close`, { dispatcher } as unknown as RequestInit),
    ).rejects.toMatchObject({ cause: { code: 'CLOSED' } });
    expect(server.requests.some((q) => q.path === '/after-close')).toBe(false);
  });
});
