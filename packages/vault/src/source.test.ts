// vaultSource against the emulator with the real node-vault client: where the secret is (mount and
// KV version detection, nested mounts, namespaces), which fields it holds, versions, and store().
import { loadCredentials, MtlsError } from '@mtlskit/core';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import nodeVault from 'node-vault';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ROOT_TOKEN, startVaultHarness, type VaultHarness } from './__tests__/harness.js';
import { vaultReferenceOf, vaultSource } from './source.js';

let alice: IssuedCert;
let bob: IssuedCert;
let vault: VaultHarness;

beforeAll(async () => {
  const ca = await TestCA.create();
  alice = await ca.issueClient({ commonName: 'alice' });
  bob = await ca.issueClient({ commonName: 'bob' });
});
beforeEach(async () => {
  vault = await startVaultHarness({
    mounts: [{ path: 'secret' }, { path: 'kv1', version: 1 }, { path: 'team-a/kv' }],
    namespaces: ['payments'],
  });
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await vault.close();
});

const fields = (cert: IssuedCert) => ({ cert: cert.fullChainPem, key: cert.keyPem });
const fingerprint = async (material: Parameters<typeof loadCredentials>[0]) =>
  (await loadCredentials(material)).fingerprint256;

async function rejection(promise: Promise<unknown>): Promise<MtlsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!MtlsError.is(err)) throw new Error(`expected an MtlsError, got ${String(err)}`);
  leakCheck([alice.keyPem, bob.keyPem, ROOT_TOKEN]).check(err, 'the error');
  return err;
}

describe('where the secret is', () => {
  it('asks Vault for the mount and KV version once, then reads KV v2 data', async () => {
    vault.emulator.putSecret('secret/app/mtls', fields(alice));
    const source = vault.source({ path: 'secret/app/mtls' });
    expect(source.id).toBe('vault://secret/app/mtls');
    const material = await source.load();
    expect(await fingerprint(material)).toBe(alice.fingerprint256);
    expect(material.version).toBe('1');
    await source.load();
    expect(vault.emulator.log.operations()).toEqual(['DetectMount', 'ReadSecret', 'ReadSecret']);
    expect(vault.emulator.log.last()?.path).toBe('/v1/secret/data/app/mtls');
  });

  it('reads KV v1 and reports a digest of the content as its version', async () => {
    vault.emulator.putSecret('kv1/app', fields(alice));
    const source = vault.source({ path: 'kv1/app' });
    const first = await source.load();
    expect(await fingerprint(first)).toBe(alice.fingerprint256);
    expect(first.version).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(await source.version()).toBe(first.version);
    vault.emulator.putSecret('kv1/app', fields(bob));
    expect(await source.version()).not.toBe(first.version);
  });

  it('finds a nested mount from the whole path, and takes mount and kv as given without asking', async () => {
    vault.emulator.putSecret('team-a/kv/app/mtls', fields(alice));
    const detected = vault.source({ path: 'team-a/kv/app/mtls' });
    expect(await fingerprint(await detected.load())).toBe(alice.fingerprint256);
    expect(vault.emulator.log.last()?.path).toBe('/v1/team-a/kv/data/app/mtls');

    vault.emulator.log.clear();
    const explicit = vault.source({ path: 'app/mtls', mount: 'team-a/kv', kv: 2 });
    expect(explicit.id).toBe('vault://app/mtls?mount=team-a/kv&kv=2');
    expect(await fingerprint(await explicit.load())).toBe(alice.fingerprint256);
    expect(vault.emulator.log.operations()).toEqual(['ReadSecret']);
  });

  it('says which mount holds the path when the mount given is not one', async () => {
    vault.emulator.putSecret('team-a/kv/app', fields(alice));
    const err = await rejection(vault.source({ path: 'kv/app', mount: 'team-a' }).load());
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.message).toContain('under the mount "team-a/kv"');
  });

  it('with kv given and no mount, takes the first segment as the mount', async () => {
    vault.emulator.putSecret('kv1/app', fields(alice));
    const source = vault.source({ path: 'kv1/app', kv: 1 });
    expect(await fingerprint(await source.load())).toBe(alice.fingerprint256);
    expect(vault.emulator.log.operations()).toEqual(['ReadSecret']);
  });

  it('works with a token that may not describe the mount when kv is given, and says what to do when not', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    const token = vault.emulator.createToken({
      policy: { 'secret/data/app': ['read'], 'sys/internal/ui/mounts/*': ['deny'] },
    });
    const auth = { method: 'token' as const, token };
    expect(await fingerprint(await vault.source({ path: 'secret/app', kv: 2, auth }).load())).toBe(
      alice.fingerprint256,
    );
    const err = await rejection(vault.source({ path: 'secret/app', auth }).load());
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(/give kv/);
    leakCheck([token]).check(err, 'the detection error');
  });

  it('reads inside a namespace, from the option or VAULT_NAMESPACE', async () => {
    vault.emulator.mount('secret', { namespace: 'payments' });
    vault.emulator.putSecret('secret/app', fields(alice), { namespace: 'payments' });
    vault.emulator.putSecret('secret/app', fields(bob));
    const source = vault.source({ path: 'secret/app', namespace: 'payments' });
    expect(source.id).toBe('vault://secret/app?namespace=payments');
    expect(await fingerprint(await source.load())).toBe(alice.fingerprint256);
    expect(vault.emulator.log.last()?.headers['x-vault-namespace']).toBe('payments');
    vi.stubEnv('VAULT_NAMESPACE', 'payments');
    expect(await fingerprint(await vault.source({ path: 'secret/app' }).load())).toBe(alice.fingerprint256);
  });

  it('builds its client from VAULT_ADDR and VAULT_TOKEN', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    vi.stubEnv('VAULT_ADDR', vault.emulator.url);
    vi.stubEnv('VAULT_TOKEN', ROOT_TOKEN);
    const source = vaultSource({ path: 'secret/app', timeoutMs: 2_000 });
    try {
      expect(await fingerprint(await source.load())).toBe(alice.fingerprint256);
      expect(vault.emulator.log.last()?.headers['x-vault-token']).toBe(ROOT_TOKEN);
    } finally {
      await source.close();
    }
    vi.stubEnv('VAULT_TOKEN', '');
    expect(() => vaultSource({ path: 'secret/app' })).toThrow(/no Vault token/);
  });

  it('uses an application’s node-vault client with its own token', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    const client = nodeVault({ endpoint: vault.emulator.url, token: ROOT_TOKEN });
    const source = vault.source({ path: 'secret/app', client, auth: undefined });
    expect(await fingerprint(await source.load())).toBe(alice.fingerprint256);
    expect(() => vault.source({ path: 'x/y', client: {} as never })).toThrow(/not a node-vault client/);
  });

  it('refuses malformed options before any call', () => {
    expect(() => vault.source({ path: '' })).toThrow(/path is empty/);
    expect(() => vault.source({ path: 'secret/../x' })).toThrow(/segment/);
    expect(() => vault.source({ path: 'secret', kv: 2 })).toThrow(/no secret inside/);
    expect(() => vault.source({ path: 'secret/x', kv: 1, version: 2 })).toThrow(/KV v1 keeps no versions/);
    expect(() => vault.source({ path: 'secret/x', version: 0 })).toThrow(/version must be/);
    expect(() => vault.source({ path: 'secret/x', endpoint: 'ftp://vault' })).toThrow(/not an http/);
    expect(() => vault.source({ path: 'secret/x', auth: { method: 'approle' } })).toThrow(/roleId/);
    expect(() => vault.source({ path: 'secret/x', fields: {}, bundleField: 'b' })).toThrow(/not both/);
  });

  it('writes references for its options', () => {
    expect(vaultReferenceOf({ path: 'app/mtls', mount: 'secret', kv: 2, version: 3 })).toBe(
      'vault://secret/app/mtls?kv=2&version=3',
    );
  });
});

describe('the fields of the secret', () => {
  it('finds fields under their own names or common aliases, and a bundle in a field', async () => {
    vault.emulator.putSecret('secret/aliases', {
      certificate: alice.fullChainPem,
      private_key: alice.keyPem,
      owner: 'team-a',
    });
    expect(await fingerprint(await vault.source({ path: 'secret/aliases' }).load())).toBe(
      alice.fingerprint256,
    );

    const bundle = JSON.stringify({ cert: bob.fullChainPem, key: bob.keyPem });
    vault.emulator.putSecret('secret/bundled', { bundle });
    expect(await fingerprint(await vault.source({ path: 'secret/bundled' }).load())).toBe(bob.fingerprint256);
    vault.emulator.putSecret('secret/named', { mtls: { cert: bob.fullChainPem, key: bob.keyPem } });
    const named = await vault.source({ path: 'secret/named', bundleField: 'mtls' }).load();
    expect(await fingerprint(named)).toBe(bob.fingerprint256);
  });

  it('takes field names given, e.g. for a secret holding two credentials', async () => {
    vault.emulator.putSecret('secret/two', {
      cert: alice.fullChainPem,
      key: alice.keyPem,
      next_cert: bob.fullChainPem,
      next_key: bob.keyPem,
    });
    const next = vault.source({ path: 'secret/two', fields: { cert: 'next_cert', key: 'next_key' } });
    expect(await fingerprint(await next.load())).toBe(bob.fingerprint256);
  });

  it('names the fields that are there, never their values, when one is missing', async () => {
    vault.emulator.putSecret('secret/half', {
      cert: alice.fullChainPem,
      password: 'hunter2-LEAK',
      note: 'x',
    });
    const err = await rejection(vault.source({ path: 'secret/half' }).load());
    expect(err.code).toBe('MISSING_FIELD');
    expect(err.field).toBe('key');
    expect(err.message).toContain('"cert", "password", "note"');
    leakCheck(['hunter2-LEAK', alice.fullChainPem]).check(err, 'the error');

    const named = await rejection(vault.source({ path: 'secret/half', bundleField: 'bundle' }).load());
    expect(named.message).toMatch(/no field "bundle"/);
    vault.emulator.putSecret('secret/number', { cert: 42, key: alice.keyPem });
    expect((await rejection(vault.source({ path: 'secret/number' }).load())).code).toBe('DECODE_FAILED');
  });
});

describe('versions', () => {
  it('probes the current version from metadata without reading the secret', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    const source = vault.source({ path: 'secret/app', kv: 2 });
    expect(await source.version()).toBe('1');
    vault.emulator.putSecret('secret/app', fields(bob));
    expect(await source.version()).toBe('2');
    expect(vault.emulator.log.operations()).toEqual(['ReadMetadata', 'ReadMetadata']);
  });

  it('pins a version: reads it, and reports it without asking', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    vault.emulator.putSecret('secret/app', fields(bob));
    const pinned = vault.source({ path: 'secret/app', version: 1 });
    expect(pinned.id).toBe('vault://secret/app?version=1');
    const material = await pinned.load();
    expect(material.version).toBe('1');
    expect(await fingerprint(material)).toBe(alice.fingerprint256);
    expect(await pinned.version()).toBe('1');
    expect(vault.emulator.log.last()?.path).toBe('/v1/secret/data/app?version=1');
    await expect(pinned.store(fields(bob))).rejects.toThrow(/fixed version/);
  });

  it('reports a deleted current version as absent, from the probe and the read', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    vault.emulator.deleteSecret('secret/app');
    const source = vault.source({ path: 'secret/app' });
    expect((await rejection(source.version())).code).toBe('SOURCE_NOT_FOUND');
    expect((await rejection(source.load())).code).toBe('SOURCE_NOT_FOUND');
  });

  it('falls back to reading the secret when metadata is denied, and warns once', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    const token = vault.emulator.createToken({ policy: { 'secret/data/app': ['read'] } });
    const warnings: string[] = [];
    const source = vault.source({
      path: 'secret/app',
      kv: 2,
      auth: { method: 'token', token, renew: false },
      onWarning: (f) => warnings.push(f.code),
    });
    expect(await source.version()).toBe('1');
    expect(await source.version()).toBe('1');
    expect(warnings).toEqual(['VAULT_METADATA_DENIED']);
    expect(vault.emulator.log.operations()).toEqual(['ReadMetadata', 'ReadSecret', 'ReadSecret']);
  });

  it('hints at a KV v2 path written with data/', async () => {
    const err = await rejection(vault.source({ path: 'secret/data/app' }).load());
    expect(err.code).toBe('SOURCE_NOT_FOUND');
    expect(err.message).toMatch(/should not contain "data\/"/);
  });
});

describe('store()', () => {
  it('writes a new version with check-and-set on the version it read, keeping the secret’s other fields', async () => {
    vault.emulator.putSecret('secret/app', {
      certificate: alice.fullChainPem,
      private_key: alice.keyPem,
      owner: 'a',
    });
    const source = vault.source({ path: 'secret/app' });
    const result = await source.store({ cert: bob.fullChainPem, key: bob.keyPem });
    expect(result.version).toBe('2');
    const write = vault.emulator.log.last({ operation: 'WriteSecret' });
    expect(write?.body).toMatchObject({ options: { cas: 1 } });
    expect(Object.keys((write!.body as { data: object }).data).sort()).toEqual([
      'certificate',
      'owner',
      'private_key',
    ]);
    expect(await fingerprint(await source.load())).toBe(bob.fingerprint256);
  });

  it('refuses a write when the secret moved past the version the caller read', async () => {
    vault.emulator.putSecret('secret/app', fields(alice));
    const source = vault.source({ path: 'secret/app' });
    const read = await source.load();
    vault.emulator.putSecret('secret/app', fields(bob)); // someone else rotated meanwhile
    const err = await rejection(source.store(fields(alice), { cas: read.version }));
    expect(err.code).toBe('SOURCE_UNAVAILABLE');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/check-and-set/);
    expect(vault.emulator.secrets.latest('secret/app')?.number).toBe(2);
  });

  it('creates an absent secret, and writes KV v1 in place', async () => {
    const fresh = vault.source({ path: 'secret/new' });
    expect((await fresh.store(fields(alice))).version).toBe('1');
    expect(vault.emulator.log.last({ operation: 'WriteSecret' })?.body).toMatchObject({
      options: { cas: 0 },
    });
    const v1 = vault.source({ path: 'kv1/app' });
    const stored = await v1.store({ bundle: JSON.stringify(fields(bob)) });
    expect((await v1.load()).version).toBe(stored.version);
    await expect(v1.store(fields(bob), { cas: 1 })).rejects.toThrow(/no check-and-set/);
  });
});

describe('TLS to Vault', () => {
  it('trusts the CA in VAULT_CACERT, refuses an unknown certificate, and skips verification only when told, with a warning', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const ca = await TestCA.create();
    const server = await ca.issueServer();
    const tls = await startVaultHarness({ tls: { cert: server.fullChainPem, key: server.keyPem } });
    try {
      tls.emulator.putSecret('secret/app', fields(alice));
      const caFile = join(mkdtempSync(join(tmpdir(), 'mtlskit-vault-')), 'ca.pem');
      writeFileSync(caFile, ca.rootPem);
      vi.stubEnv('VAULT_CACERT', caFile);
      expect(await fingerprint(await tls.source({ path: 'secret/app' }).load())).toBe(alice.fingerprint256);

      vi.stubEnv('VAULT_CACERT', '');
      const untrusted = await rejection(tls.source({ path: 'secret/app' }).load());
      expect(untrusted.code).toBe('SOURCE_UNAVAILABLE');
      expect(untrusted.retryable).toBe(false);
      expect(untrusted.message).toMatch(/VAULT_CACERT/);

      // node-vault would take VAULT_SKIP_VERIFY=false as "skip": here it means what Vault means.
      vi.stubEnv('VAULT_SKIP_VERIFY', 'false');
      expect((await rejection(tls.source({ path: 'secret/app' }).load())).retryable).toBe(false);
      vi.stubEnv('VAULT_SKIP_VERIFY', 'true');
      const warnings: string[] = [];
      const skipping = tls.source({ path: 'secret/app', onWarning: (f) => warnings.push(f.code) });
      expect(await fingerprint(await skipping.load())).toBe(alice.fingerprint256);
      expect(warnings).toEqual(['VAULT_TLS_VERIFY_SKIPPED']);
    } finally {
      await tls.close();
    }
  });
});
