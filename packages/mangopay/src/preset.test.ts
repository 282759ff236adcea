// The key and CSR of the guide's steps 1 and 2, checked by OpenSSL (what Mangopay's CA reads) and
// signed by the test CA into a certificate that checkMangopayIdentity accepts.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCredentials, MtlsError } from '@mtlskit/core';
import { hasOpenssl, runOpenssl, TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr } from './csr.js';
import { checkMangopayIdentity } from './identity.js';
import { createMangopayCsr, mangopayCsrPreset } from './preset.js';

let dir: string;
let ca: TestCA;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-mangopay-csr-'));
  ca = await TestCA.create();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function opensslReads(csrPem: string) {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.csr`);
  writeFileSync(file, csrPem);
  const verify = await runOpenssl(['req', '-in', file, '-noout', '-verify']);
  const subject = await runOpenssl(['req', '-in', file, '-noout', '-subject', '-nameopt', 'RFC2253']);
  const oneline = await runOpenssl(['req', '-in', file, '-noout', '-subject']);
  const text = await runOpenssl(['req', '-in', file, '-noout', '-text']);
  return { verify, subject, oneline, text };
}

describe('mangopayCsrPreset', () => {
  it('gives the sandbox subject CN, O, C in that order, the SAN, clientAuth, RSA 2048 and the mTLS base URL', () => {
    const preset = mangopayCsrPreset({ clientId: 'acme123', environment: 'sandbox' });
    expect(preset.commonName).toBe('acme123.sandbox.mangopay.com');
    expect(preset.subject).toEqual([
      ['CN', 'acme123.sandbox.mangopay.com'],
      ['O', 'Mangopay'],
      ['C', 'LU'],
    ]);
    expect(preset.subjectText).toBe('CN=acme123.sandbox.mangopay.com, O=Mangopay, C=LU');
    expect(preset.opensslSubject).toBe('/CN=acme123.sandbox.mangopay.com/O=Mangopay/C=LU');
    expect(preset.dnsNames).toEqual(['acme123.sandbox.mangopay.com']);
    expect(preset.extendedKeyUsage).toEqual(['clientAuth']);
    expect(preset.key).toEqual({ type: 'rsa', modulusLength: 2048 });
    expect(preset.baseUrl).toBe('https://api-mtls.sandbox.mangopay.com');
    expect(preset.opensslCommands[1]).toContain('MSYS_NO_PATHCONV=1');
  });

  it('names production certificates <ClientId>.prod.mangopay.com and points at api-mtls.mangopay.com', () => {
    const preset = mangopayCsrPreset({ clientId: 'acme123', environment: 'production' });
    expect(preset.subjectText).toBe('CN=acme123.prod.mangopay.com, O=Mangopay, C=LU');
    expect(preset.baseUrl).toBe('https://api-mtls.mangopay.com');
  });

  it.each([
    [{ clientId: '', environment: 'sandbox' }],
    [{ clientId: 'acme 123', environment: 'sandbox' }],
    [{ clientId: 'acme.evil', environment: 'sandbox' }],
    [{ clientId: 'acme', environment: 'prod' }],
    [{ clientId: 42, environment: 'sandbox' }],
  ])('refuses %j with INVALID_OPTION', (identity) => {
    expect(() => mangopayCsrPreset(identity as never)).toThrow(MtlsError);
    try {
      mangopayCsrPreset(identity as never);
    } catch (err) {
      expect((err as MtlsError).code).toBe('INVALID_OPTION');
    }
  });
});

describe.skipIf(!hasOpenssl())('createMangopayCsr', () => {
  it.each(['sandbox', 'production'] as const)(
    'writes a %s CSR that OpenSSL verifies, with the subject in the guide’s order, the SAN and clientAuth',
    async (environment) => {
      const { csrPem, privateKey, preset } = await createMangopayCsr({ clientId: 'acme123', environment });
      expect(privateKey.asymmetricKeyType).toBe('rsa');
      expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      const read = await opensslReads(csrPem);
      expect(read.verify.code).toBe(0);
      expect(`${read.verify.stdout}${read.verify.stderr}`).toMatch(/verify OK/i);
      // OpenSSL's default print is certificate order; RFC 2253 prints it reversed.
      expect(read.oneline.stdout.trim()).toBe(`subject=CN = ${preset.commonName}, O = Mangopay, C = LU`);
      expect(read.subject.stdout.trim()).toBe(`subject=C=LU,O=Mangopay,CN=${preset.commonName}`);
      expect(read.text.stdout).toContain(`DNS:${preset.commonName}`);
      expect(read.text.stdout).toMatch(/Extended Key Usage:\s*\n\s*TLS Web Client Authentication/);
      expect(read.text.stdout).toContain('Public-Key: (2048 bit)');
      expect(read.text.stdout).toContain('sha256WithRSAEncryption');
    },
  );

  it('gives a new key each time: a renewal starts from a new private key', async () => {
    const a = await createMangopayCsr({ clientId: 'acme123', environment: 'sandbox' });
    const b = await createMangopayCsr({ clientId: 'acme123', environment: 'sandbox' });
    expect(a.privateKey.equals(b.privateKey)).toBe(false);
  });

  it('turns into a certificate checkMangopayIdentity accepts once the CA signs it', async () => {
    const { csrPem, privateKey } = await createMangopayCsr({ clientId: 'acme123', environment: 'sandbox' });
    const signed = await ca.signCsr(csrPem, { validForSeconds: 365 * 86_400 });
    const credentials = await loadCredentials({
      cert: signed.certPem,
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    });
    expect(checkMangopayIdentity(credentials, { clientId: 'acme123', environment: 'sandbox' })).toEqual([]);
    expect(
      checkMangopayIdentity(credentials, { clientId: 'acme123', environment: 'production' }).map(
        (f) => f.code,
      ),
    ).toContain('IDENTITY_MISMATCH');
  });

  it('refuses a key that is not RSA 2048', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expect(
      createMangopayCsr({ clientId: 'acme123', environment: 'sandbox', privateKey }),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('RSA 2048'),
    });
  });

  it('createCsr also signs with an EC key and with a PEM key, for other APIs', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const csrPem = createCsr(
      {
        subject: [
          ['CN', 'client.example.com'],
          ['OU', 'Payments'],
          ['O', 'Example Ltd'],
        ],
        dnsNames: ['client.example.com', 'alt.example.com'],
      },
      pem,
    );
    const read = await opensslReads(csrPem);
    expect(read.verify.code).toBe(0);
    expect(read.oneline.stdout.trim()).toBe(
      'subject=CN = client.example.com, OU = Payments, O = Example Ltd',
    );
    expect(read.text.stdout).toContain('DNS:client.example.com, DNS:alt.example.com');
    expect(read.text.stdout).toContain('ecdsa-with-SHA256');
    expect(read.text.stdout).not.toContain('Extended Key Usage');
  });

  it('refuses a public key, an Ed25519 key, a bad country code, an unknown or empty attribute and a bad DNS name', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ed = generateKeyPairSync('ed25519').privateKey;
    expect(() => createCsr({ subject: [['CN', 'x']] }, publicKey)).toThrow(/private key/);
    expect(() => createCsr({ subject: [['CN', 'x']] }, ed)).toThrow(/RSA or EC/);
    expect(() => createCsr({ subject: [['C', 'Luxembourg']] }, privateKey)).toThrow(/two-letter/);
    for (const subject of [[['SN', 'x']], [['CN', '']]]) {
      expect(() => createCsr({ subject: subject as never }, privateKey)).toThrow(
        expect.objectContaining({
          code: 'INVALID_OPTION',
          message: expect.stringMatching(/must be one of CN, O, OU, C, L, ST with a non-empty value/),
        }),
      );
    }
    for (const dns of ['two words.example.com', 'é.example.com']) {
      expect(() => createCsr({ subject: [['CN', 'x']], dnsNames: [dns] }, privateKey)).toThrow(
        `"${dns}" is not a DNS name`,
      );
    }
  });
});
