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

  it('with no valid replacement, requests fail fast with EXPIRED after notAfter even while a slow refresh runs, no expired certificate reaches the server, and a renewal recovers', async () => {
    const short = await ca.issueClient({ validForSeconds: 2 });
    const source = new MemorySource().serve(short, server.caPem);
    const r = createTlsResolver({ source, backoff: { initialMs: 200, maxMs: 400 } });
    open.push(r);
    const path = `/expire-${Date.now()}`;
    // Before notAfter both clients hold a pooled keep-alive connection of the soon-expired identity.
    expect(await getWithAgent(`${server.url}${path}`, r.agent())).toMatchObject({
      status: 200,
      fingerprint256: short.fingerprint256,
    });
    expect(await (await r.fetch(`${server.url}${path}`)).json()).toMatchObject({
      fingerprint256: short.fingerprint256,
    });
    // From now on the source takes 3 s to fail, like a vault behind a black-holed route.
    source.failure = new Error('connect ETIMEDOUT 10.0.0.1:443');
    source.delayMs = 3_000;
    await sleep(short.notAfter.getTime() - Date.now() + 50);
    // A refresh is running past notAfter (the one due at expiry, and this one chained after it).
    const refreshing = r.refresh().catch((err: unknown) => err);

    const timed = async (request: () => Promise<unknown>) => {
      const started = performance.now();
      const error = await request().then(
        () => undefined,
        (err: unknown) => err,
      );
      return { error, ms: performance.now() - started };
    };
    const viaAgent = await timed(() => getWithAgent(`${server.url}${path}`, r.agent()));
    const viaFetch = await timed(() => r.fetch(`${server.url}${path}`));
    const viaCredentials = await timed(() => r.credentials());
    for (const { ms } of [viaAgent, viaFetch, viaCredentials]) expect(ms).toBeLessThan(1_000);
    expect(viaAgent.error).toBeInstanceOf(MtlsError);
    expect(viaAgent.error).toMatchObject({ code: 'EXPIRED', field: 'cert' });
    expect(viaFetch.error).toMatchObject({ cause: { code: 'EXPIRED' } });
    expect(viaCredentials.error).toMatchObject({ code: 'EXPIRED' });
    expect(String((viaAgent.error as Error).message)).toContain(short.fingerprint256);
    expect(r.health()).toMatchObject({ ready: false });
    // The server only ever saw the certificate while it was valid: neither pooled connection was
    // reused after notAfter, and no handshake failed on an expired certificate.
    expect(server.requests.filter((q) => q.path === path)).toHaveLength(2);
    expect(server.tlsErrors.filter((e) => e.authorizationError === 'CERT_HAS_EXPIRED')).toEqual([]);

    const renewed = await ca.issueClient({ validForSeconds: 60 });
    source.failure = undefined;
    source.delayMs = 0;
    source.serve(renewed, server.caPem);
    // The refresh started above settles either way (its read may begin before or after the fix).
    await refreshing;
    expect((await r.refresh()).fingerprint256).toBe(renewed.fingerprint256);
    expect(await getWithAgent(`${server.url}${path}`, r.agent())).toMatchObject({
      status: 200,
      fingerprint256: renewed.fingerprint256,
    });
    expect(await (await r.fetch(`${server.url}${path}`)).json()).toMatchObject({
      fingerprint256: renewed.fingerprint256,
    });
  });
});
