// End to end: a staged renewal of a certificate kept in Vault KV v2, through @mtlskit/cli/renewal and
// through the built `mtlskit` binary, while a client makes continuous mTLS requests through a resolver
// reading the same secret (the real node-vault client against the loopback emulator): not one request
// fails, the server sees the new certificate after promote and the old one again after rollback, and
// no output carries a key or the Vault token.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  completeRenewal,
  loadPending,
  promoteRenewal,
  rollbackRenewal,
  startRenewal,
} from '@mtlskit/cli/renewal';
import { leakCheck, startVaultEmulator, type VaultEmulator } from '@mtlskit/testkit';
import { vaultSource } from '@mtlskit/vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mtlskitCli } from '../support/cli.js';
import {
  expectOldNewOld,
  expectPendingAccepted,
  pendingPresents,
  renewalClient,
  SUBJECT,
  useRenewalFixture,
} from '../support/renewal.js';

const ROOT_TOKEN = 'hvs.E2eRenewalROOTtoken0042xyz';

const e2e = useRenewalFixture();
let emulator: VaultEmulator;
let dir: string;

beforeAll(async () => {
  emulator = await startVaultEmulator({ rootToken: ROOT_TOKEN });
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-vault-renewal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await emulator?.close();
});

const seed = (path: string) => emulator.putSecret(path, e2e.fields(e2e.old));
const sourceOf = (path: string) =>
  vaultSource({
    path,
    endpoint: emulator.url,
    auth: { method: 'token', token: ROOT_TOKEN, renew: false },
    timeoutMs: 2_000,
  });

const pendingKeyOf = (path: string): string => {
  const pending = emulator.customMetadata(path)?.['mtlskit-pending'];
  const version = emulator.secrets.describe(path)?.versions.find((v) => String(v.number) === pending);
  return String(JSON.parse(String(version?.value)).key);
};

describe('staged renewal on Vault KV v2', () => {
  it('start → complete → check the pending version → promote → rollback with @mtlskit/cli/renewal, no request failing', async () => {
    seed('secret/lib/mtls');
    const client = renewalClient(e2e, sourceOf('secret/lib/mtls'));
    const source = sourceOf('secret/lib/mtls');
    const results: unknown[] = [];
    let newKey = '';
    try {
      await client.served(e2e.old.fingerprint256, 'a request with the current certificate');
      const started = await startRenewal(source);
      results.push(started);
      newKey = pendingKeyOf('secret/lib/mtls');
      expect(emulator.customMetadata('secret/lib/mtls')).toEqual({
        'mtlskit-current': '1',
        'mtlskit-pending': started.version,
      });
      const signed = await e2e.signCsr(started.csrPem);
      const completed = await completeRenewal(source, signed.fullChainPem);
      results.push(completed);
      expect(completed.version).toBe('3');

      // A real handshake with the pending credential; the running client keeps the current one.
      const pending = await loadPending(source);
      results.push(pending);
      expect(pending).toMatchObject({ version: '3', certificate: { fingerprint256: signed.fingerprint256 } });
      expect(await pendingPresents(e2e, source)).toBe(signed.fingerprint256);
      await new Promise((r) => setTimeout(r, 200)); // several refreshes while a pending version exists
      expect(client.seen.at(-1)).toBe(e2e.old.fingerprint256);

      const promoted = await promoteRenewal(source, { version: completed.version });
      results.push(promoted);
      expect(promoted).toMatchObject({ current: '3', previous: '1' });
      await client.served(signed.fingerprint256, 'the new certificate after the promotion');

      expect(await rollbackRenewal(source)).toEqual({ current: '1', previous: '3' });
      await client.served(e2e.old.fingerprint256, 'the old certificate after the rollback');
    } finally {
      await client.stop();
      await source.close();
    }
    expectOldNewOld(client, e2e.old.fingerprint256);
    const leaks = leakCheck([e2e.old.keyPem, newKey, ROOT_TOKEN]);
    for (const [i, r] of results.entries()) leaks.check(r, `result ${i}`);
  });

  it('the same steps with the built mtlskit binary (VAULT_ADDR, VAULT_TOKEN), and a pinned version refused', async () => {
    seed('secret/cli/mtls');
    const ref = 'vault://secret/cli/mtls';
    const client = renewalClient(e2e, sourceOf('secret/cli/mtls'));
    // The built binary, in a child process; it finds @mtlskit/vault from this folder, as in an
    // application that installed it.
    const mtlskit = mtlskitCli({
      binary: true,
      env: { VAULT_ADDR: emulator.url, VAULT_TOKEN: ROOT_TOKEN },
      cwd: dirname(fileURLToPath(import.meta.url)),
    });
    let newKey = '';
    try {
      await client.served(e2e.old.fingerprint256, 'a request with the current certificate');
      const csrFile = join(dir, 'renewal.csr');
      const started = await mtlskit.json('renew', 'start', '--source', ref, '--out', csrFile);
      expect(started).toMatchObject({ pendingVersion: '2', subject: SUBJECT });
      expect(await readdir(dir)).toEqual(['renewal.csr']);
      newKey = pendingKeyOf('secret/cli/mtls');

      const signed = await e2e.signCsr(await readFile(csrFile, 'utf8'));
      const certFile = join(dir, 'cert.pem');
      await writeFile(certFile, signed.fullChainPem);
      const completed = await mtlskit.json('renew', 'complete', '--source', ref, '--cert', certFile);
      expect(completed).toMatchObject({ pendingVersion: '3' });

      await expectPendingAccepted(mtlskit, e2e, ref, signed.fingerprint256);
      expect(client.seen.at(-1)).toBe(e2e.old.fingerprint256);

      const wrong = await mtlskit.run('renew', 'promote', '--source', ref, '--version', '2');
      expect(wrong.code).toBe(4);
      expect(wrong.stderr).toMatch(/SOURCE_NOT_FOUND.*version 3 pending, not 2/);
      const pinned = await mtlskit.run('renew', 'promote', '--source', `${ref}?version=1`);
      expect(pinned.code).toBe(2);
      expect(pinned.stderr).toMatch(/INVALID_OPTION.*not the fixed version 1/);

      const promoted = await mtlskit.json('renew', 'promote', '--source', ref, '--version', '3');
      expect(promoted).toMatchObject({ current: '3', previous: '1' });
      await client.served(signed.fingerprint256, 'the new certificate after the promotion');

      const rolledBack = await mtlskit.json('renew', 'rollback', '--source', ref);
      expect(rolledBack).toMatchObject({ current: '1', previous: '3' });
      await client.served(e2e.old.fingerprint256, 'the old certificate after the rollback');
    } finally {
      await client.stop();
    }
    expectOldNewOld(client, e2e.old.fingerprint256);
    mtlskit.expectNoLeak([e2e.old.keyPem, newKey, ROOT_TOKEN]);
    // Seven starts of the built binary, each loading Node and the CLI: about 25 s alone, more on a
    // loaded machine, against the 30 s default.
  }, 90_000);
});
