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
import { type AzureKeyVaultEmulator, startAzureKeyVaultEmulator } from '@mtlskit/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { until, useMtlsFixture } from '../support/e2e.js';

const SECRET = 'payments-client-cert';
const TOKEN = 'e2e-kv-bearer-token';

// The certificates come from an issuing CA under the root the server trusts (the secret carries the
// intermediate), with RSA keys as Key Vault certificates have by default.
const mtls = useMtlsFixture({ intermediate: true, keyType: 'rsa2048' });
const { presented } = mtls;
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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-e2e-azure-'));
  caFile = join(dir, 'api-ca.pem');
  await writeFile(caFile, mtls.server.caPem);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
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
      await emulator.importCertificate(SECRET, mtls.alice, { format });
      resolver = createTlsResolver({ source: await source() });
      expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
      const seen = mtls.server.requests.at(-1);
      expect(seen?.authorized).toBe(true);
      // The intermediate came from the certificate's secret: the server linked the chain through it.
      expect(seen?.peerChainDer.length).toBe(2);
      expect(emulator.log.operations()).toEqual(['Challenge', 'GetSecret']);
      expect(emulator.log.calls().every((c) => c.remoteAddress === '127.0.0.1')).toBe(true);
    },
  );

  it('follows a renewed certificate while requests flow: none fails, new connections present it', async () => {
    await emulator.importCertificate(SECRET, mtls.alice);
    resolver = createTlsResolver({ source: await source(), refreshIntervalMs: 40, jitter: 0 });
    const r = resolver;
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);

    const refreshFailures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => refreshFailures.push(e));
    const requests = mtls.flow(r);

    await until(() => requests.sent >= 40, 'requests before the rotation');
    const rotated = new Promise<RotatedEvent>((resolve) => r.once('rotated', resolve));
    await emulator.importCertificate(SECRET, mtls.bob);
    const event = await rotated;
    const rotatedAt = Date.now();
    const sentAtRotation = requests.sent;
    await until(() => requests.sent >= sentAtRotation + 40, 'requests after the rotation');
    await requests.stop();

    expect(requests.failures).toEqual([]);
    expect(refreshFailures).toEqual([]);
    expect(event).toMatchObject({
      previousFingerprint256: mtls.alice.fingerprint256,
      fingerprint256: mtls.bob.fingerprint256,
    });
    const after = mtls.presentedOnNewConnections(rotatedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(new Set(after)).toEqual(new Set([mtls.bob.fingerprint256]));
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);
  });

  it('reads the value once per refresh (Key Vault has no cheaper probe), and once more on a change', async () => {
    await emulator.importCertificate(SECRET, mtls.alice, { format: 'pem' });
    resolver = createTlsResolver({ source: await source(), refreshIntervalMs: 40, jitter: 0 });
    expect(await presented(resolver)).toBe(mtls.alice.fingerprint256);
    const reads = () => emulator.log.count({ operation: 'GetSecret' });
    await until(() => reads() >= 5, 'four probes');
    const rotations: RotatedEvent[] = [];
    resolver.on('rotated', (e) => rotations.push(e));
    const before = reads();
    await emulator.importCertificate(SECRET, mtls.bob, { format: 'pem' });
    await until(() => rotations.length === 1, 'the rotation');
    // The probe that saw the new version, then the load of it.
    expect(reads() - before).toBeGreaterThanOrEqual(2);
    const settled = reads();
    await until(() => reads() >= settled + 3, 'three more probes');
    expect(rotations).toHaveLength(1);
  });

  it('a disabled newest version is passed over for the newest enabled one (no refresh fails); enabling it rotates, disabling it again rotates back', async () => {
    await emulator.importCertificate(SECRET, mtls.alice);
    resolver = createTlsResolver({ source: await source(), refreshIntervalMs: 40, jitter: 0 });
    const r = resolver;
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);
    const failures: RefreshFailedEvent[] = [];
    r.on('refreshFailed', (e) => failures.push(e));

    const staged = await emulator.importCertificate(SECRET, mtls.bob);
    emulator.setEnabled(SECRET, staged.id, false);
    const lists = () => emulator.log.count({ operation: 'ListSecretVersions' });
    await until(() => lists() >= 3, 'three refreshes past the disabled version');
    expect(failures).toEqual([]);
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);

    emulator.setEnabled(SECRET, staged.id, true);
    await until(() => r.health().fingerprint256 === mtls.bob.fingerprint256, 'the rotation once enabled');
    expect(await presented(r)).toBe(mtls.bob.fingerprint256);
    // Withdrawing the new version by hand (az keyvault secret set-attributes --enabled false) goes back.
    emulator.setEnabled(SECRET, staged.id, false);
    await until(() => r.health().fingerprint256 === mtls.alice.fingerprint256, 'the rotation back');
    expect(await presented(r)).toBe(mtls.alice.fingerprint256);
    expect(failures).toEqual([]);
  });
});
