// Expiry with real certificates valid for a few seconds (OpenSSL checks validity against the real
// clock, so no injected clock here): a replacement is picked up before notAfter without a failed
// request; with none, requests fail fast with EXPIRED and no expired certificate is ever presented.
import { createTlsResolver, MtlsError, type TlsResolver } from '@mtlskit/core';
import { type IssuedCert, type MtlsTestServer, startMtlsServer, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getWithAgent, MemorySource, sleep } from './helpers.js';

let ca: TestCA;
let server: MtlsTestServer;
const open: TlsResolver[] = [];

beforeAll(async () => {
  ca = await TestCA.create();
  server = await startMtlsServer({ clientCa: ca });
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await server.close();
});

describe.concurrent('expiry with real short-lived certificates', () => {
  it('a static source renewed shortly before notAfter is picked up in time: every request succeeds, before and after', async () => {
    const short = await ca.issueClient({ validForSeconds: 4 });
    const source = new MemorySource().serve(short, server.caPem);
    // A 15-minute interval: only the near-expiry schedule can find the renewal in time.
    const r = createTlsResolver({ source });
    open.push(r);
    const expiring: Array<{ fingerprint256: string }> = [];
    r.on('expiring', (e) => expiring.push(e));
    const seen = { agent: [] as string[], fetch: [] as string[] };
    const deadline = short.notAfter.getTime() + 1_500;
    let renewed: IssuedCert | undefined;
    while (Date.now() < deadline) {
      const [viaAgent, viaFetch] = await Promise.all([
        getWithAgent(`${server.url}/renew`, r.agent()),
        r.fetch(`${server.url}/renew`).then((res) => res.json() as Promise<{ fingerprint256: string }>),
      ]);
      seen.agent.push(viaAgent.fingerprint256 as string);
      seen.fetch.push(viaFetch.fingerprint256);
      if (!renewed && Date.now() > short.notAfter.getTime() - 3_000) {
        renewed = await ca.issueClient({ validForSeconds: 60 });
        source.serve(renewed, server.caPem);
      }
      await sleep(50);
    }
    // Each client went from the short-lived certificate to its renewal once, and never back.
    for (const list of Object.values(seen)) {
      expect(list[0]).toBe(short.fingerprint256);
      expect(list.at(-1)).toBe(renewed?.fingerprint256);
      expect(list.filter((fp, i) => i > 0 && fp !== list[i - 1])).toHaveLength(1);
    }
    // Both certificates are inside the 30-day warning window: each is reported once.
    expect(expiring.map((e) => e.fingerprint256)).toEqual([short.fingerprint256, renewed?.fingerprint256]);
    expect(r.health()).toMatchObject({ ready: true, stale: false });
  });

  it('with no valid replacement, requests fail fast with EXPIRED after notAfter, no expired certificate reaches the server, and a renewal recovers', async () => {
    const short = await ca.issueClient({ validForSeconds: 2 });
    const source = new MemorySource().serve(short, server.caPem);
    const r = createTlsResolver({ source, backoff: { initialMs: 200, maxMs: 400 } });
    open.push(r);
    const path = `/expire-${Date.now()}`;
    expect((await getWithAgent(`${server.url}${path}`, r.agent())).status).toBe(200);
    await sleep(short.notAfter.getTime() - Date.now() + 50);

    const started = performance.now();
    const viaAgent = await getWithAgent(`${server.url}${path}`, r.agent()).catch((err: unknown) => err);
    const viaFetch = await r.fetch(`${server.url}${path}`).catch((err: unknown) => err);
    const viaCredentials = await r.credentials().catch((err: unknown) => err);
    expect(performance.now() - started).toBeLessThan(500);
    expect(viaAgent).toBeInstanceOf(MtlsError);
    expect(viaAgent).toMatchObject({ code: 'EXPIRED', field: 'cert' });
    expect(viaFetch).toMatchObject({ cause: { code: 'EXPIRED' } });
    expect(viaCredentials).toMatchObject({ code: 'EXPIRED' });
    expect(String((viaAgent as Error).message)).toContain(short.fingerprint256);
    expect(r.health()).toMatchObject({ ready: false });
    // The server only ever saw the certificate while it was valid: no handshake failed on an expired one.
    expect(server.requests.filter((q) => q.path === path)).toHaveLength(1);
    expect(server.tlsErrors.filter((e) => e.authorizationError === 'CERT_HAS_EXPIRED')).toEqual([]);

    const renewed = await ca.issueClient({ validForSeconds: 60 });
    source.serve(renewed, server.caPem);
    await r.refresh();
    expect(await getWithAgent(`${server.url}${path}`, r.agent())).toMatchObject({
      status: 200,
      fingerprint256: renewed.fingerprint256,
    });
    expect((await r.fetch(`${server.url}${path}`)).status).toBe(200);
  });
});
