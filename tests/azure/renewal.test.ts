// End to end: a staged renewal in Azure Key Vault through @mtlskit/cli/renewal (start → complete →
// check the pending version → promote → rollback), the real SecretClient against the loopback
// emulator, while an application's resolver makes continuous requests to a real mTLS server. None
// fails; the server sees the old certificate until the promotion, the new one after it, and the old
// one again after the rollback; the application's source never reads more than one getSecret per
// refresh (no list of versions: renewal never disables the newest version).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { azureKeyVaultSource, azureKvScheme } from '@mtlskit/azure';
import {
  completeRenewal,
  loadPending,
  promoteRenewal,
  rollbackRenewal,
  startRenewal,
} from '@mtlskit/cli/renewal';
import { registerSourceFactory } from '@mtlskit/core/adapter';
import { type AzureKeyVaultEmulator, leakCheck, startAzureKeyVaultEmulator } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mtlskitCli } from '../support/cli.js';
import {
  DNS,
  expectOldNewOld,
  expectPendingAccepted,
  pendingPresents,
  renewalClient,
  SUBJECT,
  useRenewalFixture,
} from '../support/renewal.js';

const SECRET = 'mangopay-mtls';
const TOKEN = 'e2e-kv-renewal-bearer-token';

const e2e = useRenewalFixture();
let emulator: AzureKeyVaultEmulator;
let dir: string;
let unregister: (() => void) | undefined;
beforeAll(async () => {
  emulator = await startAzureKeyVaultEmulator();
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-e2e-azure-renew-'));
  // The CLI builds its source from the reference alone (DefaultAzureCredential, Key Vault's TLS and
  // challenge checks): for the emulator, azure-kv: references in this process get the test client.
  unregister = registerSourceFactory(azureKvScheme, (ref) =>
    azureKeyVaultSource({
      id: ref.id,
      name: ref.target.secret,
      vaultUrl: ref.target.vaultUrl,
      ...(ref.target.version !== undefined && { version: ref.target.version }),
      ...testClient(),
    }),
  );
});
afterAll(async () => {
  unregister?.();
  await rm(dir, { recursive: true, force: true });
  await emulator?.close();
});

/** How sources reach the emulator: a static token, its CA, no challenge-resource check, no retries. */
const testClient = () => ({
  credential: { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3600_000 }) },
  clientOptions: { tlsOptions: { ca: emulator.caPem }, disableChallengeResourceVerification: true },
  maxRetries: 0,
  timeoutMs: 2_000,
});

/** A Key Vault source on the emulator, as an application or the renewing job configures one. */
const sourceOf = (name: string) => azureKeyVaultSource({ name, vaultUrl: emulator.url, ...testClient() });

describe('staged renewal over Azure Key Vault', () => {
  it('start → complete → check pending → promote → rollback while a client makes requests: none fails', async () => {
    emulator.putSecret(SECRET, e2e.bundle(e2e.old));
    const client = renewalClient(e2e, sourceOf(SECRET));
    const renewer = sourceOf(SECRET);
    const results: unknown[] = [];
    let newKey = '';
    try {
      await client.served(e2e.old.fingerprint256, 'a request with the current certificate');
      const started = await startRenewal(renewer);
      results.push(started);
      newKey = JSON.parse(String(emulator.secrets.latest(`${SECRET}-mtlskit-pending`)!.value)).key as string;
      expect(started.identity.subject).toEqual([
        ['CN', DNS],
        ['O', 'Mangopay'],
        ['C', 'LU'],
      ]);
      // Before the certificate is in, the pending version cannot be checked.
      const incomplete = await loadPending(renewer).catch((e: unknown) => e);
      expect((incomplete as { code?: string }).code).toBe('MISSING_FIELD');

      const signed = await e2e.signCsr(started.csrPem);
      const completed = await completeRenewal(renewer, signed.fullChainPem);
      results.push(completed);
      expect(await loadPending(renewer)).toEqual({
        version: completed.version,
        certificate: completed.certificate,
      });

      // A real handshake with the pending credential; running clients still use the old one.
      expect(await pendingPresents(e2e, renewer)).toBe(signed.fingerprint256);
      await client.served(e2e.old.fingerprint256, 'the old certificate while a renewal is pending');

      const promoted = await promoteRenewal(renewer, { version: completed.version });
      results.push(promoted);
      expect(promoted.current).toBe(emulator.secrets.latest(SECRET)!.id);
      await client.served(signed.fingerprint256, 'the new certificate after the promotion');

      const back = await rollbackRenewal(renewer);
      results.push(back);
      expect(back).toEqual({ current: emulator.secrets.latest(SECRET)!.id, previous: promoted.current });
      await client.served(e2e.old.fingerprint256, 'the old certificate after the rollback');
    } finally {
      await client.stop();
      await renewer.close();
    }
    expectOldNewOld(client, e2e.old.fingerprint256);
    // Nobody listed versions or read a disabled one: every refresh was one getSecret.
    expect(emulator.log.count({ operation: 'ListSecretVersions' })).toBe(0);
    expect(emulator.log.calls().filter((c) => c.status === 403)).toEqual([]);
    const leaks = leakCheck([e2e.old.keyPem, newKey, TOKEN]);
    for (const [i, r] of results.entries()) leaks.check(r, `result ${i}`);
  });

  it('mtlskit renew start|complete|promote|rollback and check --pending with an azure-kv: reference', async () => {
    const name = 'cli-mtls';
    const first = emulator.putSecret(name, e2e.bundle(e2e.old));
    const ref = `azure-kv://${new URL(emulator.url).host}/${name}`;
    const mtlskit = mtlskitCli({ cwd: dir });

    const started = await mtlskit.json('renew', 'start', '--source', ref);
    expect(started).toMatchObject({
      subject: SUBJECT,
      pendingVersion: emulator.secrets.latest(`${name}-mtlskit-pending`)!.id,
    });
    const newKey = JSON.parse(String(emulator.secrets.latest(`${name}-mtlskit-pending`)!.value))
      .key as string;
    const signed = await e2e.signCsr(started.csr);
    const certFile = join(dir, 'certificate.pem');
    await writeFile(certFile, signed.fullChainPem);

    const completed = await mtlskit.json('renew', 'complete', '--source', ref, '--cert', certFile);
    await expectPendingAccepted(mtlskit, e2e, ref, signed.fingerprint256);
    expect(emulator.secrets.latest(name)!.id).toBe(first.id);

    const wrong = await mtlskit.run('renew', 'promote', '--source', ref, '--version', 'c'.repeat(32));
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/SOURCE_NOT_FOUND.*not c+/);
    const promoted = await mtlskit.json(
      'renew',
      'promote',
      '--source',
      ref,
      '--version',
      completed.pendingVersion,
    );
    expect(promoted).toMatchObject({
      current: emulator.secrets.latest(name)!.id,
      previous: first.id,
    });
    await mtlskit.json('renew', 'rollback', '--source', ref);
    expect(emulator.secrets.latest(name)!.value).toBe(first.value);

    const pinned = await mtlskit.run('renew', 'start', '--source', `${ref}/${first.id}`);
    expect(pinned.code).toBe(2);
    expect(pinned.stderr).toMatch(/INVALID_OPTION.*not the fixed version/);
    mtlskit.expectNoLeak([e2e.old.keyPem, newKey, TOKEN]);
  });
});
