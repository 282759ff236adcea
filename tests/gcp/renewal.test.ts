// The whole staged renewal on Google Secret Manager through @mtlskit/cli/renewal (start → complete →
// check the pending version → promote → rollback), with the real client over gRPC and over the REST
// fallback against the loopback emulator, while a resolver reading `latest` serves requests one after
// another to the testkit mTLS server: none fails, the server sees the new certificate after promote
// and the old one again after rollback, and a running resolver costs one metadata read per refresh.
import {
  completeRenewal,
  loadPending,
  pendingSource,
  promoteRenewal,
  rollbackRenewal,
  startRenewal,
} from '@mtlskit/cli/renewal';
import { createTlsResolver, MtlsError } from '@mtlskit/core';
import { type GcpClientOptions, gcpSecretManagerSource } from '@mtlskit/gcp';
import {
  type ConnectionTracker,
  type GcpSecretManagerEmulator,
  httpsRequest,
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  startGcpSecretManagerEmulator,
  startMtlsServer,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const NAME = 'projects/mtlskit-test/secrets/payments-mtls';

let net: ConnectionTracker;
let ca: TestCA;
let server: MtlsTestServer;
let old: IssuedCert;
beforeAll(async () => {
  net = trackConnections();
  ca = await TestCA.create();
  server = await startMtlsServer({ clientCa: ca });
  old = await ca.issueClient({ commonName: 'client-42.sandbox.mangopay.com', validForSeconds: 30 * 86_400 });
});
afterAll(async () => {
  await server?.close();
  net?.stop();
  expect(net.offLoopback()).toEqual([]);
});

describe.each(['grpc', 'rest'] as const)('staged renewal on Google Secret Manager (%s)', (transport) => {
  let emulator: GcpSecretManagerEmulator;
  const closing: { close(): Promise<void> }[] = [];
  beforeEach(async () => {
    emulator = await startGcpSecretManagerEmulator();
  });
  afterEach(async () => {
    for (const c of closing.splice(0)) await c.close();
    await emulator.close();
  });

  const sourceOf = () => {
    const source = gcpSecretManagerSource({
      name: NAME,
      transport,
      clientOptions: emulator.clientOptions(transport) as GcpClientOptions,
      timeoutMs: 2_000,
    });
    closing.push(source);
    return source;
  };

  /** Requests to the server one after another through a resolver reading `latest`, until stopped. */
  function continuousClient() {
    const resolver = createTlsResolver({ source: sourceOf(), refreshIntervalMs: 40, jitter: 0 });
    closing.push(resolver);
    const seen: string[] = [];
    const failures: unknown[] = [];
    let running = true;
    let n = 0;
    const loop = (async () => {
      while (running) {
        try {
          const path = `/flow/${transport}/${++n}`;
          const r = await httpsRequest(`${server.url}${path}`, { agent: resolver.agent() });
          if (r.status !== 200) failures.push(r.status);
          else seen.push(server.requests.find((q) => q.path === path)?.peerFingerprint256 ?? '');
        } catch (err) {
          failures.push(err);
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    return {
      seen,
      failures,
      async until(fingerprint: string, timeoutMs = 10_000) {
        const from = seen.length;
        const deadline = Date.now() + timeoutMs;
        while (!seen.slice(from).includes(fingerprint)) {
          if (Date.now() > deadline) throw new Error(`the client never saw ${fingerprint}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      async stop() {
        running = false;
        await loop;
      },
    };
  }

  it('start → complete → check pending → promote → rollback while a client makes requests: none fails', async () => {
    emulator.putSecret(NAME, JSON.stringify({ cert: old.fullChainPem, key: old.keyPem, ca: server.caPem }));
    const client = continuousClient();
    const renewer = sourceOf();
    let newKey = '';
    try {
      await client.until(old.fingerprint256);

      // Start: the version in use gets the alias, the new key alone becomes the pending version.
      const started = await startRenewal(renewer);
      newKey = started.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      expect(emulator.metadataOf(NAME)).toMatchObject({
        versionAliases: { current: 1 },
        annotations: { 'mtlskit-pending': started.version },
      });
      const stored = emulator.secrets.get(emulator.keyOf(NAME), { versionId: started.version });
      expect(Object.keys(JSON.parse(String(Buffer.from(stored!.value as Uint8Array))))).toEqual(['key']);
      // latest is that key-only version now; the running client keeps the current one.
      await new Promise((r) => setTimeout(r, 200));
      expect(client.seen.at(-1)).toBe(old.fingerprint256);

      // Before the certificate is in, the pending version cannot be checked nor promoted.
      expect(MtlsError.is(await loadPending(renewer).catch((e: unknown) => e), 'MISSING_FIELD')).toBe(true);
      expect(MtlsError.is(await promoteRenewal(renewer).catch((e: unknown) => e), 'MISSING_FIELD')).toBe(
        true,
      );

      const signed = await ca.signCsr(started.csrPem, { validForSeconds: 365 * 86_400 });
      const completed = await completeRenewal(renewer, signed.fullChainPem);
      expect(completed.certificate.fingerprint256).toBe(signed.fingerprint256);
      expect(emulator.metadataOf(NAME).annotations['mtlskit-pending']).toBe(completed.version);

      // A real handshake with the pending credential; running clients still use the old one.
      const pending = await loadPending(renewer);
      expect(pending.version).toBe(completed.version);
      const trial = createTlsResolver({ source: pendingSource(renewer), mode: 'on-access' });
      try {
        const path = `/check/${transport}`;
        const r = await httpsRequest(`${server.url}${path}`, { agent: trial.agent() });
        expect(r.status).toBe(200);
        expect(server.requests.find((q) => q.path === path)?.peerFingerprint256).toBe(signed.fingerprint256);
      } finally {
        await trial.close();
      }
      expect(client.seen.at(-1)).toBe(old.fingerprint256);

      // A running resolver in steady state: one metadata read (the alias) per refresh, no payload.
      emulator.log.clear();
      await new Promise((r) => setTimeout(r, 400));
      const steady = emulator.log.calls();
      expect(steady.length).toBeGreaterThan(3);
      expect(new Set(steady.map((c) => c.operation))).toEqual(new Set(['GetSecretVersion']));

      const promoted = await promoteRenewal(renewer, { version: completed.version });
      expect(promoted).toMatchObject({ current: completed.version, previous: '1' });
      expect(emulator.metadataOf(NAME)).toMatchObject({
        versionAliases: { current: Number(completed.version) },
        annotations: { 'mtlskit-previous': '1' },
      });
      await client.until(signed.fingerprint256);

      expect(await rollbackRenewal(renewer)).toEqual({ current: '1', previous: completed.version });
      await client.until(old.fingerprint256);
    } finally {
      await client.stop();
    }
    expect(client.failures).toEqual([]);
    expect(client.seen.length).toBeGreaterThan(10);
    // The server saw exactly the old certificate, then the new one, then the old one again.
    const order = client.seen.filter((f, i) => i === 0 || client.seen[i - 1] !== f);
    expect(order).toEqual([old.fingerprint256, expect.any(String), old.fingerprint256]);
    expect(order[1]).not.toBe(old.fingerprint256);
    const leaks = leakCheck([old.keyPem, newKey]);
    for (const entry of emulator.log.calls({ operation: 'UpdateSecret' })) {
      leaks.checkText(JSON.stringify(entry.body), 'UpdateSecret request');
    }
  });

  it('refuses a second promote of the same version and a certificate of another key, keeping the pending version', async () => {
    emulator.putSecret(NAME, JSON.stringify({ cert: old.fullChainPem, key: old.keyPem, ca: server.caPem }));
    const renewer = sourceOf();
    const started = await startRenewal(renewer);
    const other = await ca.issueClient({ commonName: 'client-42.sandbox.mangopay.com' });
    const mismatch = await completeRenewal(renewer, other.certPem).catch((e: unknown) => e);
    expect(MtlsError.is(mismatch, 'KEY_MISMATCH')).toBe(true);
    expect(emulator.metadataOf(NAME).annotations['mtlskit-pending']).toBe(started.version);

    const signed = await ca.signCsr(started.csrPem);
    const { version } = await completeRenewal(renewer, signed.certPem);
    await promoteRenewal(renewer, { version });
    const again = await promoteRenewal(renewer, { version }).catch((e: unknown) => e);
    expect(MtlsError.is(again, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((again as MtlsError).message).toMatch(/no pending version .*renew start/);
  });
});
