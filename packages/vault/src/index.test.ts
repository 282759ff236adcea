// The vault: and vault-pki: schemes end to end through core: importing @mtlskit/vault registers the
// factories, and each reference form builds a source that reads from the emulator with node-vault —
// an application's client, the VAULT_* variables, AppRole files, a passphrase from another reference.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listSchemes, loadCredentials, sourceFromReference } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import nodeVault from 'node-vault';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT_TOKEN, SECRET_ID, startVaultHarness, type VaultHarness } from './__tests__/harness.js';
import { vaultPkiScheme, vaultScheme } from './index.js';

let alice: IssuedCert;
let vault: VaultHarness;
const opened: Array<{ close?(): Promise<void> }> = [];

beforeAll(async () => {
  alice = await (await TestCA.create()).issueClient({ commonName: 'alice' });
});
beforeEach(async () => {
  vault = await startVaultHarness({ mounts: [{ path: 'secret' }, { path: 'team-a/kv' }] });
  vault.emulator.putSecret('secret/payments/mtls', { cert: alice.fullChainPem, key: alice.keyPem });
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close?.()));
  await vault.close();
});

async function fromReference(reference: string, options: Parameters<typeof sourceFromReference>[1] = {}) {
  const source = await sourceFromReference(reference, options);
  opened.push(source);
  return source;
}

describe('the vault: scheme', () => {
  it('is registered by importing @mtlskit/vault, with vault-pki:', () => {
    for (const scheme of [vaultScheme, vaultPkiScheme]) {
      expect(listSchemes().find((s) => s.scheme === scheme.scheme)).toMatchObject({
        packageName: '@mtlskit/vault',
        available: true,
      });
    }
  });

  it("sourceFromReference('vault://…', { client }) reads with the application's node-vault client", async () => {
    const client = nodeVault({ endpoint: vault.emulator.url, token: ROOT_TOKEN });
    const source = await fromReference('vault://secret/payments/mtls?kv=2', { client });
    expect(source.id).toBe('vault://secret/payments/mtls?kv=2');
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(vault.emulator.log.operations()).toEqual(['ReadSecret']);
    expect(vault.emulator.log.last()?.headers['x-vault-token']).toBe(ROOT_TOKEN);
    await expect(fromReference('vault://secret/x', { client: {} })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
  });

  it('reads VAULT_ADDR and VAULT_TOKEN from the environment given, and finds a nested mount', async () => {
    vault.emulator.putSecret('team-a/kv/mtls', { cert: alice.fullChainPem, key: alice.keyPem });
    const env = { VAULT_ADDR: vault.emulator.url, VAULT_TOKEN: ROOT_TOKEN };
    const source = await fromReference('vault://mtls?mount=team-a/kv&timeoutMs=1500', { env });
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(vault.emulator.log.operations().filter((o) => o !== 'LookupSelf')).toEqual([
      'DetectMount',
      'ReadSecret',
    ]);
  });

  it('logs in with AppRole from files named in the reference', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-vault-ref-'));
    const { roleId } = vault.emulator.addAppRole('payments', { secretIds: [SECRET_ID] });
    writeFileSync(join(dir, 'role-id'), roleId);
    writeFileSync(join(dir, 'secret-id'), SECRET_ID);
    const reference = `vault://secret/payments/mtls?endpoint=${vault.emulator.url}&auth=approle&roleIdFile=${join(dir, 'role-id')}&secretIdFile=${join(dir, 'secret-id')}`;
    const source = await fromReference(reference, { env: {} });
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
    expect(vault.emulator.log.operations()[0]).toBe('AppRoleLogin');
    leakCheck([SECRET_ID]).checkText(source.id, 'the source id');
  });

  it('takes the passphrase from another reference', async () => {
    vault.emulator.putSecret('secret/encrypted', {
      cert: alice.fullChainPem,
      key: alice.encryptedPkcs8Pem('pass-from-env'),
    });
    const source = await fromReference('vault://secret/encrypted?passphrase=env:MTLS_TEST_PASSPHRASE', {
      env: { VAULT_ADDR: vault.emulator.url, VAULT_TOKEN: ROOT_TOKEN, MTLS_TEST_PASSPHRASE: 'pass-from-env' },
    });
    expect((await loadCredentials(source)).fingerprint256).toBe(alice.fingerprint256);
  });

  it('builds a PKI source from vault-pki://MOUNT/sign/ROLE', async () => {
    const ca = await TestCA.create({ commonName: 'pki' });
    vault.emulator.enablePki('pki', ca);
    vault.emulator.addPkiRole('pki', 'client', { notBeforeDuration: 0 });
    const client = nodeVault({ endpoint: vault.emulator.url, token: ROOT_TOKEN });
    const source = await fromReference(
      'vault-pki://pki/sign/client?common_name=svc.example.com&ttl=1h&alt_names=alt.example.com',
      {
        client,
      },
    );
    expect(source.kind).toBe('issuing');
    const credentials = await loadCredentials(source);
    expect(credentials.subjectAltName).toBe('DNS:svc.example.com, DNS:alt.example.com');
    expect(vault.emulator.log.last()?.body).toMatchObject({
      common_name: 'svc.example.com',
      ttl: '1h',
      alt_names: 'alt.example.com',
    });
  });
});
