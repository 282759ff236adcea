import 'reflect-metadata';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasOpenssl, leakCheck, runOpenssl, TestCA } from '@mtlskit/testkit';
import {
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Pkcs10CertificateRequest,
  SubjectAlternativeNameExtension,
} from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { cli, tempDir } from '../__tests__/harness.js';

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');

/** The CertificationRequestInfo (everything the signature covers) of a DER CSR. */
function requestInfo(der: Buffer): Buffer {
  // SEQUENCE { info SEQUENCE, ... }: skip the outer header, then take the first element whole.
  const outerLen = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const inner = der.subarray(outerLen);
  const len =
    inner[1]! & 0x80 ? inner.subarray(2, 2 + (inner[1]! & 0x7f)).reduce((a, b) => a * 256 + b, 0) : inner[1]!;
  const head = inner[1]! & 0x80 ? 2 + (inner[1]! & 0x7f) : 2;
  return inner.subarray(0, head + len);
}

/**
 * The CSR Mangopay's guide has OpenSSL make with the key init wrote in `dir`, for `commonName`
 * (DER; OPENSSL_CONF empty so no local configuration adds to it).
 */
async function opensslCsr(dir: string, commonName: string): Promise<Buffer> {
  const ossl = await runOpenssl(
    [
      'req',
      '-new',
      '-key',
      'private.key',
      '-outform',
      'DER',
      '-out',
      'openssl.der',
      '-subj',
      `/CN=${commonName}/O=Mangopay/C=LU`,
      '-addext',
      `subjectAltName=DNS:${commonName}`,
      '-addext',
      'extendedKeyUsage=clientAuth',
    ],
    { cwd: dir, env: { OPENSSL_CONF: '/dev/null' } },
  );
  expect(ossl.code, ossl.stderr).toBe(0);
  return readFile(join(dir, 'openssl.der'));
}

describe('mtlskit init', () => {
  it('writes private.key (mode 0600) and a CSR that is byte for byte what Mangopay’s OpenSSL commands produce', async () => {
    const dir = await tempDir();
    const r = await cli(['init', '--client-id', 'myplatform', '--out', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Subject\s+CN=myplatform\.sandbox\.mangopay\.com, O=Mangopay, C=LU$/m);
    expect(r.stdout).toContain(`--url https://api-mtls.sandbox.mangopay.com/v2.01/`);
    const keyPath = join(dir, 'private.key');
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    const csrPem = await readFile(join(dir, 'certificate.csr'), 'utf8');

    const csr = new Pkcs10CertificateRequest(csrPem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('CN=myplatform.sandbox.mangopay.com, O=Mangopay, C=LU');
    const san = new SubjectAlternativeNameExtension(csr.getExtension('2.5.29.17')!.rawData);
    expect(san.names.toJSON()).toEqual([{ type: 'dns', value: 'myplatform.sandbox.mangopay.com' }]);
    expect(san.critical).toBe(false);
    const eku = new ExtendedKeyUsageExtension(csr.getExtension('2.5.29.37')!.rawData);
    expect(eku.usages).toEqual([ExtendedKeyUsage.clientAuth]);
    expect(csr.extensions.map((e) => e.type)).toEqual(['2.5.29.17', '2.5.29.37']);
    const key = createPrivateKey(await readFile(keyPath));
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);

    if (!hasOpenssl()) return;
    const text = await runOpenssl(['req', '-in', 'certificate.csr', '-noout', '-text', '-verify'], {
      cwd: dir,
    });
    expect(text.stderr + text.stdout).toMatch(/verify OK/);
    expect(text.stdout).toMatch(/Subject: CN = myplatform\.sandbox\.mangopay\.com, O = Mangopay, C = LU/);
    expect(text.stdout).toMatch(
      /X509v3 Subject Alternative Name: \n\s+DNS:myplatform\.sandbox\.mangopay\.com/,
    );
    expect(text.stdout).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Client Authentication/);
    expect(text.stdout).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    const ossl = await opensslCsr(dir, 'myplatform.sandbox.mangopay.com');
    // RSA PKCS#1 v1.5 signatures are deterministic: the same key gives the very same CSR.
    expect(derOf(csrPem).equals(ossl)).toBe(true);
  });

  it('uses the production name with --production, and EC P-256 with the same encoding as openssl', async () => {
    const dir = await tempDir();
    const r = await cli([
      'init',
      '--client-id',
      'acme',
      '--production',
      '--key-type',
      'ec-p256',
      '--out',
      dir,
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      subject: 'CN=acme.prod.mangopay.com, O=Mangopay, C=LU',
      keyType: 'ec-p256',
      encrypted: false,
    });
    if (!hasOpenssl()) return;
    const ossl = await opensslCsr(dir, 'acme.prod.mangopay.com');
    // ECDSA signatures are randomised: compare what is signed.
    const ours = requestInfo(derOf(await readFile(join(dir, 'certificate.csr'), 'utf8')));
    expect(ours.equals(requestInfo(ossl))).toBe(true);
  });

  it('refuses to overwrite a key unless --force', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'private.key'), 'the only copy of a live key', { mode: 0o600 });
    const r = await cli(['init', '--client-id', 'acme', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/private\.key already exists.*--force/);
    expect(await readFile(join(dir, 'private.key'), 'utf8')).toBe('the only copy of a live key');
    const forced = await cli(['init', '--client-id', 'acme', '--out', dir, '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(join(dir, 'private.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect((await stat(join(dir, 'private.key'))).mode & 0o777).toBe(0o600);
    // Replaced through a temporary file and one rename: nothing else is left behind.
    expect((await readdir(dir)).sort()).toEqual(['certificate.csr', 'private.key']);
  });

  it('encrypts the key with --passphrase-env, and the whole flow works: CA signs the CSR, inspect and core load it', async () => {
    const dir = await tempDir();
    const passphrase = 'init-key-passphrase-9';
    const r = await cli(['init', '--client-id', 'flow', '--out', dir, '--passphrase-env', 'KEY_PASS'], {
      env: { KEY_PASS: passphrase },
    });
    expect(r.code).toBe(0);
    const keyPem = await readFile(join(dir, 'private.key'), 'utf8');
    expect(keyPem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(() => createPrivateKey(keyPem)).toThrow();
    const ca = await TestCA.create();
    const signed = await ca.signCsr(await readFile(join(dir, 'certificate.csr'), 'utf8'), {
      validForSeconds: 365 * 86_400,
    });
    await writeFile(join(dir, 'certificate.pem'), signed.certPem);
    const inspected = await cli(['inspect', dir, '--passphrase-env', 'KEY_PASS', '--json'], {
      env: { KEY_PASS: passphrase },
    });
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      subject: 'CN=flow.sandbox.mangopay.com, O=Mangopay, C=LU',
      subjectAltName: 'DNS:flow.sandbox.mangopay.com',
      clientAuth: true,
      key: { type: 'rsa', size: 2048 },
    });
    expect(
      new X509Certificate(signed.certPem).checkPrivateKey(createPrivateKey({ key: keyPem, passphrase })),
    ).toBe(true);
    const leak = leakCheck([passphrase]);
    leak.checkText(r.stdout + r.stderr + inspected.stdout + inspected.stderr, 'init and inspect output');
  });

  it('takes any subject and SANs for other CAs, in the order written', async () => {
    const dir = await tempDir();
    const r = await cli([
      'init',
      '--subject',
      '/C=FR/O=Example Corp/CN=client-7.example.com',
      '--san',
      'client-7.example.com',
      '--san',
      'IP:10.0.0.7',
      '--key-type',
      'ec-p256',
      '--out',
      dir,
    ]);
    expect(r.code).toBe(0);
    const csr = new Pkcs10CertificateRequest(await readFile(join(dir, 'certificate.csr'), 'utf8'));
    expect(csr.subject).toBe('C=FR, O=Example Corp, CN=client-7.example.com');
    expect(await csr.verify()).toBe(true);
    const san = csr.getExtension('2.5.29.17');
    expect(san?.toString('text')).toMatch(/client-7\.example\.com/);
    expect(san?.toString('text')).toMatch(/10\.0\.0\.7/);
  });

  it('exits 2 with a clear message on usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['init'], /Give --client-id ID \(Mangopay\) or --subject DN/],
      [['init', '--client-id', 'a', '--subject', 'CN=x'], /not both/],
      [['init', '--client-id', 'bad name!'], /not a Mangopay ClientId/],
      [['init', '--client-id', 'a', '--key-type', 'rsa1024'], /--key-type must be rsa2048 or ec-p256/],
      [['init', '--subject', 'CN=x, C=France'], /C must be a two-letter country code/],
      [['init', '--subject', 'CN=x', '--san', 'not a name'], /is not a DNS name/],
      [['init', '--client-id', 'a', '--passphrase-env', 'UNSET_VAR_X'], /UNSET_VAR_X, which is not set/],
    ];
    for (const [args, message] of cases) {
      const dir = await tempDir();
      const r = await cli([...args, '--out', dir]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
