// vaultPkiSource against the emulator's PKI with the real node-vault client: sign mode sends only a
// CSR for a key made here, issue mode takes Vault's key, the chain and trust Vault returns, a TTL
// capped by the role, and errors.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { loadCredentials, MtlsError } from '@mtlskit/core';
import { hasOpenssl, leakCheck, runOpenssl, TestCA } from '@mtlskit/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT_TOKEN, startVaultHarness, type VaultHarness } from './__tests__/harness.js';
import { createKeyAndCsr } from './csr.js';
import { vaultPkiSource } from './pki.js';

let root: TestCA;
let issuing: TestCA;
let vault: VaultHarness;

beforeAll(async () => {
  root = await TestCA.create({ commonName: 'pki root' });
  issuing = await root.intermediate({ commonName: 'pki issuing' });
});
beforeEach(async () => {
  vault = await startVaultHarness();
  vault.emulator.enablePki('pki', issuing);
  vault.emulator.addPkiRole('pki', 'client', { maxTtl: 3600, notBeforeDuration: 0 });
});
afterEach(() => vault.close());

function source(extra: Partial<Parameters<typeof vaultPkiSource>[0]> = {}) {
  const s = vaultPkiSource({
    mount: 'pki',
    role: 'client',
    commonName: 'payments.svc.example.com',
    endpoint: vault.emulator.url,
    auth: { method: 'token', token: ROOT_TOKEN, renew: false },
    timeoutMs: 2_000,
    ...extra,
  });
  return s;
}

describe('vaultPkiSource', () => {
  it('a 404 (nothing mounted at the path) says to check the PKI mount, not a secret or its version', async () => {
    const s = source({ mount: 'pki-missing' });
    try {
      const err = await s.load().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MtlsError);
      expect((err as MtlsError).code).toBe('SOURCE_NOT_FOUND');
      expect((err as MtlsError).message).toMatch(
        /could not sign a certificate with role "client" \(pki-missing\/sign\/client\): Vault has nothing at pki-missing\/sign\/client — check that a PKI engine is mounted at "pki-missing"/,
      );
      expect((err as MtlsError).message).not.toMatch(/secret or version/);
    } finally {
      await s.close();
    }
  });

  it('signs a CSR for a key made in the process: the request holds no key, the certificate is the key’s', async () => {
    const s = source({ altNames: ['alt.example.com'], ipSans: ['10.0.0.7'], ttl: '10m' });
    try {
      expect(s.kind).toBe('issuing');
      expect(s.id).toBe(
        'vault-pki://pki/sign/client?common_name=payments.svc.example.com&alt_names=alt.example.com&ttl=10m',
      );
      const material = await s.load();
      const credentials = await loadCredentials(material);
      expect(credentials.subject).toBe('CN=payments.svc.example.com');
      expect(credentials.subjectAltName).toBe(
        'DNS:payments.svc.example.com, DNS:alt.example.com, IP Address:10.0.0.7',
      );
      expect(credentials.chain.map((c) => c.subject)).toEqual(['CN=pki issuing']);
      expect((credentials.notAfter.getTime() - Date.now()) / 1000).toBeGreaterThan(590);
      expect(material.version).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2})+$/);

      const request = vault.emulator.log.last({ operation: 'PkiSign' })!;
      expect(Object.keys(request.body as object).sort()).toEqual([
        'alt_names',
        'common_name',
        'csr',
        'format',
        'ip_sans',
        'ttl',
      ]);
      // The private scalar (a PKCS#8 EC key also holds the public point, which the CSR carries).
      const d = createPrivateKey(String(material.key)).export({ format: 'jwk' }).d!;
      leakCheck([Buffer.from(d, 'base64url')]).check(vault.emulator.log.calls(), 'what Vault received');
      const second = await s.load();
      expect(second.version).not.toBe(material.version);
      expect(second.key).not.toBe(material.key);
    } finally {
      await s.close();
    }
  });

  it('makes RSA 2048 keys when asked, and CSRs OpenSSL verifies', async () => {
    const s = source({ keyType: 'rsa2048' });
    try {
      const credentials = await loadCredentials(await s.load());
      expect(credentials.keyType).toBe('rsa');
      expect(credentials.keySize).toBe(2048);
    } finally {
      await s.close();
    }
    if (!hasOpenssl()) return;
    for (const type of ['ec-p256', 'rsa2048'] as const) {
      const { csrPem } = await createKeyAndCsr(type, {
        commonName: 'x',
        dnsNames: ['a.example'],
        ipAddresses: ['::1'],
      });
      const out = await runOpenssl(['req', '-verify', '-noout', '-text'], { input: csrPem });
      expect(out.stderr + out.stdout).toMatch(/verify OK|Certificate request self-signature verify OK/);
      expect(out.stdout).toContain('DNS:a.example, IP Address:0:0:0:0:0:0:0:1');
    }
  });

  it('takes Vault’s key in issue mode, and trusts the top of the chain when asked', async () => {
    const s = source({ mode: 'issue', trustIssuingCa: true });
    try {
      const material = await s.load();
      const credentials = await loadCredentials(material);
      expect(credentials.leaf.checkPrivateKey(createPrivateKey(String(material.key)))).toBe(true);
      expect(credentials.ca.map((c) => c.subject)).toEqual(['CN=pki root']);
      expect(vault.emulator.log.last()?.operation).toBe('PkiIssue');
    } finally {
      await s.close();
    }
  });

  it('returns the certificate Vault made when the role caps the TTL: shorter than asked', async () => {
    vault.emulator.addPkiRole('pki', 'short', { maxTtl: 5, notBeforeDuration: 0 });
    const s = source({ role: 'short', ttl: '72h' });
    try {
      const leaf = new X509Certificate(
        String((await s.load()).cert).match(/-----BEGIN[\s\S]*?END CERTIFICATE-----/)![0],
      );
      expect((Date.parse(leaf.validTo) - Date.now()) / 1000).toBeLessThanOrEqual(6);
    } finally {
      await s.close();
    }
  });

  it('maps refusals: an unknown role is a non-retryable refusal, a denied token ACCESS_DENIED', async () => {
    const unknown = source({ role: 'nobody' });
    const denied = source({
      auth: { method: 'token', token: vault.emulator.createToken({ policy: {} }), renew: false },
    });
    try {
      const e1 = await unknown.load().catch((e: unknown) => e);
      expect(MtlsError.is(e1, 'SOURCE_UNAVAILABLE') && !e1.retryable && /unknown role/.test(e1.message)).toBe(
        true,
      );
      const e2 = await denied.load().catch((e: unknown) => e);
      expect(MtlsError.is(e2, 'ACCESS_DENIED')).toBe(true);
    } finally {
      await unknown.close();
      await denied.close();
    }
    expect(() => source({ mode: 'issue', keyType: 'rsa2048' })).toThrow(/keyType applies to sign/);
    expect(() => source({ commonName: '' })).toThrow(/commonName is required/);
  });
});
