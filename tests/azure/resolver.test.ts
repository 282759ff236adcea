// End to end: a resolver reading Azure Key Vault (the real SecretClient against the loopback
// emulator) hands out an agent that makes real mTLS requests, and follows a certificate renewed in
// the vault (a new version of the certificate's secret) while requests flow — none fails, and every
// connection opened after the rotation presents the new certificate. A certificate's secret carries
// no trust for the server, so the CA comes from elsewhere: the reference's ca= (a file here).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@mtlskit/azure';
import {
  type CredentialSource,
  createTlsResolver,
  type RefreshFailedEvent,
  type RotatedEvent,
  sourceFromReference,
  type TlsResolver,
} from '@mtlskit/core';
import {
  type AzureKeyVaultEmulator,
  type ConnectionTracker,
  httpsRequest,
  type IssuedCert,
  type MtlsTestServer,
  startAzureKeyVaultEmulator,
  startMtlsServer,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const NINETY_DAYS = 90 * 24 * 3600;
const SECRET = 'payments-client-cert';
const TOKEN = 'e2e-kv-bearer-token';

let ca: TestCA;
let alice: IssuedCert;
let bob: IssuedCert;
let server: MtlsTestServer;
let net: ConnectionTracker;
let emulator: AzureKeyVaultEmulator;
let resolver: TlsResolver | undefined;
let dir: string;
let caFile: string;

/**
 * The Key Vault source of a reference, as an application writes it: the vault by host (the
 * emulator's), and the server's CA from a file (a certificate's secret carries none).
 */
function source(): Promise<CredentialSource> {
  const vault = new URL(emulator.url).host;
  return sourceFromReference(`azure-kv://${vault}/${SECRET}?ca=file:${caFile}&timeoutMs=2000`, {
    credential: { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3600_000 }) },
    clientOptions: {
      tlsOptions: { ca: emulator.caPem },
      disableChallengeResourceVerification: true,
      retryOptions: { maxRetries: 0 },
    },
  });
}

/** What the server saw: the fingerprint of the client certificate on this request. */
async function presented(r: TlsResolver): Promise<string | undefined> {
  const response = await httpsRequest(`${server.url}/whoami`, { agent: r.agent() });
  expect(response.status).toBe(200);
  return server.requests.at(-1)?.peerFingerprint256;
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  net = trackConnections();
  const root = await TestCA.create({ commonName: 'e2e client root' });
  ca = await root.intermediate({ commonName: 'e2e issuing CA' });
  alice = await ca.issueClient({ commonName: 'alice', validForSeconds: NINETY_DAYS, keyType: 'rsa2048' });
  bob = await ca.issueClient({ commonName: 'bob', validForSeconds: NINETY_DAYS, keyType: 'rsa2048' });
  server = await startMtlsServer({ clientCa: root });
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-e2e-azure-'));
  caFile = join(dir, 'api-ca.pem');
  await writeFile(caFile, server.caPem);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  net.stop();
  expect(net.offLoopback()).toEqual([]);
});
beforeEach(async () => {
  emulator = await startAzureKeyVaultEmulator();
});
afterEach(async () => {
  await resolver?.close();
  resolver = undefined;
  await emulator.close();
});

describe('a resolver over Azure Key Vault', () => {
  it.each(['pkcs12', 'pem'] as const)(
    'loads a certificate-backed secret (%s) and makes a real mTLS request with it, chain included',
    async (format) => {
      await emulator.importCertificate(SECRET, alice, { format });
      resolver = createTlsResolver({ source: await source() });
      expect(await presented(resolver)).toBe(alice.fingerprint256);
      const seen = server.requests.at(-1);
      expect(seen?.authorized).toBe(true);
      // The intermediate came from the certificate's secret: the server linked the chain through it.
      expect(seen?.peerChainDer.length).toBe(2);
      expect(emulator.log.operations()).toEqual(['Challenge', 'GetSecret']);
      expect(emulator.log.calls().every((c) => c.remoteAddress === '127.0.0.1')).toBe(true);
    },
  );

  it('follows a renewed certificate while requests flow: none fails, new connections present it', async () => {
    await emulator.importCertificate(SECRET, alice);
    resolver = createTlsResolver({ source: await source(), refreshIntervalMs: 40, jitter: 0 });
    const r = resolver;
    expect(await presented(r)).toBe(alice.fingerprint256);

    const failures: unknown[] = [];
    const refreshFailures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => refreshFailures.push(e));
    let running = true;
    let sent = 0;
    const workers = Array.from({ length: 4 }, async () => {
      while (running) {
        try {
          const response = await httpsRequest(`${server.url}/flow`, { agent: r.agent() });
          if (response.status !== 200) failures.push(new Error(`status ${response.status}`));
        } catch (err) {
          failures.push(err);
        }
        sent++;
      }
    });

    await until(() => sent >= 40, 'requests before the rotation');
    const rotated = new Promise<RotatedEvent>((resolve) => r.once('rotated', resolve));
    await emulator.importCertificate(SECRET, bob);
    const event = await rotated;
    const rotatedAt = Date.now();
    const connectionsBefore = new Set(
      server.requests.filter((q) => q.at < rotatedAt).map((q) => q.connectionId),
    );
    const sentAtRotation = sent;
    await until(() => sent >= sentAtRotation + 40, 'requests after the rotation');
    running = false;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(refreshFailures).toEqual([]);
    expect(event).toMatchObject({
      previousFingerprint256: alice.fingerprint256,
      fingerprint256: bob.fingerprint256,
    });
    const after = server.requests.filter((q) => q.path === '/flow' && !connectionsBefore.has(q.connectionId));
    expect(after.length).toBeGreaterThan(0);
    expect(new Set(after.map((q) => q.peerFingerprint256))).toEqual(new Set([bob.fingerprint256]));
    expect(await presented(r)).toBe(bob.fingerprint256);
  });

  it('reads the value once per refresh (Key Vault has no cheaper probe), and once more on a change', async () => {
    await emulator.importCertificate(SECRET, alice, { format: 'pem' });
    resolver = createTlsResolver({ source: await source(), refreshIntervalMs: 40, jitter: 0 });
    expect(await presented(resolver)).toBe(alice.fingerprint256);
    const reads = () => emulator.log.count({ operation: 'GetSecret' });
    await until(() => reads() >= 5, 'four probes');
    const rotations: RotatedEvent[] = [];
    resolver.on('rotated', (e) => rotations.push(e));
    const before = reads();
    await emulator.importCertificate(SECRET, bob, { format: 'pem' });
    await until(() => rotations.length === 1, 'the rotation');
    // The probe that saw the new version, then the load of it.
    expect(reads() - before).toBeGreaterThanOrEqual(2);
    const settled = reads();
    await until(() => reads() >= settled + 3, 'three more probes');
    expect(rotations).toHaveLength(1);
  });

  it('a staged (disabled) newest version fails refreshes with ACCESS_DENIED while the last good certificate is served; enabling it rotates', async () => {
    await emulator.importCertificate(SECRET, alice);
    resolver = createTlsResolver({
      source: await source(),
      refreshIntervalMs: 40,
      jitter: 0,
      backoff: { initialMs: 20, maxMs: 50 },
    });
    const r = resolver;
    expect(await presented(r)).toBe(alice.fingerprint256);
    const failures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));

    const staged = await emulator.importCertificate(SECRET, bob);
    emulator.setEnabled(SECRET, staged.id, false);
    await until(() => failures.length > 0, 'a refreshFailed event');
    expect(failures[0]?.error.code).toBe('ACCESS_DENIED');
    expect(failures[0]?.error.message).toContain('is disabled');
    expect(failures[0]?.stale).toBe(true);
    expect(await presented(r)).toBe(alice.fingerprint256);

    emulator.setEnabled(SECRET, staged.id, true);
    await until(() => r.health().fingerprint256 === bob.fingerprint256, 'the rotation once enabled');
    expect(await presented(r)).toBe(bob.fingerprint256);
  });
});
