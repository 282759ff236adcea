// End to end: a resolver over Vault PKI (the real node-vault client against the emulator's PKI) runs
// for several certificate lifetimes with continuous mTLS requests against a real server. Each
// certificate lives a few seconds (the role's max TTL caps the 72 h asked for); the resolver mints the
// next one at two thirds of the current one's life: no request fails, and the server sees a new serial
// after each renewal. The sign endpoint only ever receives a CSR.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createTlsResolver, MtlsError, type RefreshFailedEvent, type TlsResolver } from '@mtlskit/core';
import {
  type ConnectionTracker,
  httpsRequest,
  leakCheck,
  type MtlsTestServer,
  startMtlsServer,
  startVaultEmulator,
  TestCA,
  trackConnections,
  type VaultEmulator,
} from '@mtlskit/testkit';
import { vaultPkiSource } from '@mtlskit/vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const LIFETIME_S = 3;

let ca: TestCA;
let server: MtlsTestServer;
let net: ConnectionTracker;
let emulator: VaultEmulator;
let resolver: TlsResolver | undefined;

beforeAll(async () => {
  net = trackConnections();
  ca = await TestCA.create({ commonName: 'vault pki e2e' });
  // One internal PKI for both ends: the server's certificate too chains to the CA Vault signs with.
  server = await startMtlsServer({ clientCa: ca, serverCa: ca });
  emulator = await startVaultEmulator();
  emulator.enablePki('pki', ca);
  // Vault backdates notBefore by 30 s unless told otherwise; with certificates living seconds, the
  // resolver (which counts the lifetime from notBefore) would renew at once.
  emulator.addPkiRole('pki', 'payments', { maxTtl: LIFETIME_S, notBeforeDuration: 0 });
});
afterAll(async () => {
  await resolver?.close();
  await emulator.close();
  await server.close();
  net.stop();
  expect(net.offLoopback()).toEqual([]);
});

describe('a resolver over Vault PKI', () => {
  it('renews short-lived certificates ahead of expiry under continuous mTLS traffic, with no failed request', async () => {
    const source = vaultPkiSource({
      mount: 'pki',
      role: 'payments',
      commonName: 'payments.svc.example.com',
      ttl: '72h',
      endpoint: emulator.url,
      auth: { method: 'token', token: emulator.rootToken, renew: false },
      trustIssuingCa: true,
      timeoutMs: 2_000,
    });
    resolver = createTlsResolver({ source, jitter: 0 });
    const failures: RefreshFailedEvent[] = [];
    resolver.on('refreshFailed', (e) => failures.push(e));

    const started = Date.now();
    let requests = 0;
    let failed = 0;
    const serials: string[] = [];
    const keys = new Set<string>();
    while (Date.now() - started < 4 * LIFETIME_S * 1000) {
      const response = await httpsRequest(`${server.url}/pay`, { agent: resolver.agent() }).catch(
        () => undefined,
      );
      requests += 1;
      if (response?.status !== 200) failed += 1;
      const seen = server.requests.at(-1);
      const serial = seen?.peerCertDer && new X509Certificate(seen.peerCertDer).serialNumber;
      if (serial !== undefined && serials.at(-1) !== serial) serials.push(serial);
      const credentials = await resolver.credentials();
      keys.add(credentials.key.export({ type: 'pkcs8', format: 'pem' }) as string);
      await new Promise((r) => setTimeout(r, 25));
    }

    expect(failed).toBe(0);
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(100);
    // 12 s of certificates living 3 s, renewed at 2 s: about six of them, each seen by the server.
    const minted = emulator.log.count({ operation: 'PkiSign' });
    expect(minted).toBeGreaterThanOrEqual(5);
    expect(serials.length).toBeGreaterThanOrEqual(minted - 1);
    expect(new Set(serials).size).toBe(serials.length);

    // Only CSRs reached Vault: no private key of any certificate used, and every certificate Vault
    // signed carries the public key of a key made in the process.
    const signs = emulator.log.calls({ operation: 'PkiSign' });
    for (const call of signs) {
      expect(Object.keys(call.body as object).sort()).toEqual(['common_name', 'csr', 'format', 'ttl']);
    }
    const scalars = [...keys].map((pem) =>
      Buffer.from(createPrivateKey(pem).export({ format: 'jwk' }).d!, 'base64url'),
    );
    leakCheck(scalars).check(emulator.log.calls(), 'what Vault received');
    const current = await resolver.credentials();
    expect(current.leaf.checkPrivateKey(current.key)).toBe(true);
  }, 30_000);

  it('while Vault is down keeps the current certificate until notAfter, then fails fast with EXPIRED, and recovers', async () => {
    await resolver?.close();
    const source = vaultPkiSource({
      mount: 'pki',
      role: 'payments',
      commonName: 'payments.svc.example.com',
      endpoint: emulator.url,
      auth: { method: 'token', token: emulator.rootToken, renew: false },
      trustIssuingCa: true,
      timeoutMs: 1_000,
    });
    resolver = createTlsResolver({ source, jitter: 0, backoff: { initialMs: 200, maxMs: 400 } });
    const r = resolver;
    const failures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));
    const request = () =>
      httpsRequest(`${server.url}/pay`, { agent: r.agent() }).then(
        (res) => res.status,
        (err: unknown) => err,
      );
    expect(await request()).toBe(200);
    const notAfter = (await r.credentials()).notAfter.getTime();
    emulator.seal();

    let outcome: unknown = 200;
    while (outcome === 200 && Date.now() < notAfter + 2_000) {
      outcome = await request();
      if (outcome === 200) expect(Date.now()).toBeLessThanOrEqual(notAfter + 100);
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(Date.now()).toBeGreaterThanOrEqual(notAfter - 100);
    expect(MtlsError.is(outcome, 'EXPIRED')).toBe(true);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((f) => MtlsError.is(f.error, 'SOURCE_UNAVAILABLE'))).toBe(true);

    emulator.unseal();
    const deadline = Date.now() + 3_000;
    while ((await request()) !== 200) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((res) => setTimeout(res, 50));
    }
  }, 20_000);
});
