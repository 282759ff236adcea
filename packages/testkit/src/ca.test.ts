import 'reflect-metadata'; // before @peculiar/x509, whose tsyringe needs it at load time
import { createPrivateKey, createPublicKey, type KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type IssuedCert, TestCA } from './ca.js';
import { TEST_KEY_TYPES, type TestKeyType } from './keys.js';
import { httpsRequest, type MtlsTestServer, startMtlsServer } from './server.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const DAY = 86_400_000;

function spki(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

function send(
  server: MtlsTestServer,
  client: { fullChainPem: string; keyPem: string },
  cert = client.fullChainPem,
) {
  return httpsRequest(server.url, { cert, key: client.keyPem, ca: server.caPem });
}

async function expectRejected(server: MtlsTestServer, client: IssuedCert, reason: string, cert?: string) {
  const before = server.tlsErrors.length;
  // Node's server checks the client certificate after the handshake and drops the connection
  // without an alert: the client sees a reset; the reason is on the server's side.
  await expect(send(server, client, cert)).rejects.toMatchObject({ code: 'ECONNRESET' });
  await vi.waitFor(() => expect(server.tlsErrors.length).toBeGreaterThan(before));
  expect(server.tlsErrors.at(-1)?.authorizationError).toBe(reason);
}

// RSA key generation and the real-clock expiry test take seconds, more on a loaded machine.
describe('TestCA', { timeout: 20_000 }, () => {
  let root: TestCA;
  let server: MtlsTestServer;

  beforeAll(async () => {
    root = await TestCA.create();
    server = await startMtlsServer({ clientCa: root.rootPem });
  });
  afterAll(() => server.close());

  it.each(TEST_KEY_TYPES)(
    'issues %s client certificates that a real mTLS server accepts',
    async (keyType) => {
      const client = await root.issueClient({ keyType });
      expect(client.keyType).toBe(keyType);

      const response = await send(server, client);

      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toMatchObject({
        fingerprint256: client.fingerprint256,
        cn: 'mtlskit test client',
      });
      expect(server.requests.at(-1)).toMatchObject({
        authorized: true,
        peerFingerprint256: client.fingerprint256,
      });
    },
  );

  it.each(['ed25519', 'rsa2048'] as const)(
    'builds %s CAs whose leaves the server verifies',
    async (keyType) => {
      const ca = await TestCA.create({ keyType, commonName: `${keyType} root` });
      const caServer = await startMtlsServer({ clientCa: ca.rootPem });
      try {
        const client = await ca.issueClient();
        expect((await send(caServer, client)).status).toBe(200);
        expect(new X509Certificate(ca.certPem).publicKey.asymmetricKeyType).toBe(
          keyType === 'rsa2048' ? 'rsa' : 'ed25519',
        );
      } finally {
        await caServer.close();
      }
    },
  );

  it('writes a full subject DN in the order given, with SANs, clientAuth and a matching key', async () => {
    const client = await root.issueClient({
      subject: 'CN=abc123.sandbox.mangopay.com, O=Mangopay, C=LU',
      dnsNames: ['abc123.sandbox.mangopay.com'],
    });
    const cert = new X509Certificate(client.certPem);

    expect(cert.subject).toBe('CN=abc123.sandbox.mangopay.com\nO=Mangopay\nC=LU');
    expect(cert.subjectAltName).toBe('DNS:abc123.sandbox.mangopay.com');
    expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(new X509Certificate(root.certPem))).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(client.keyPem))).toBe(true);
    expect(client.fingerprint256).toBe(cert.fingerprint256);
    expect(client.certDer.equals(cert.raw)).toBe(true);
    expect(client.caPem).toBe(root.rootPem);
    expect(client.chainPem).toBe('');
    expect(client.fullChainPem).toBe(client.certPem);
  });

  it('keeps a common name with commas, quotes and backslashes exactly as given', async () => {
    const client = await root.issueClient({ commonName: 'Acme, Inc. "test" \\ +1' });
    expect(new x509.X509Certificate(client.certPem).subjectName.getField('CN')).toEqual([
      'Acme, Inc. "test" \\ +1',
    ]);
  });

  it('issues serverAuth-only, EKU-less and server certificates on request', async () => {
    const serverOnly = new X509Certificate((await root.issueClient({ clientAuth: false })).certPem);
    const noEku = new X509Certificate((await root.issueClient({ eku: false })).certPem);
    const serverCert = new X509Certificate((await root.issueServer()).certPem);
    const dual = new X509Certificate(
      (await root.issueServer({ clientAuth: true, dnsNames: ['api.test'] })).certPem,
    );

    expect(serverOnly.keyUsage).toEqual([SERVER_AUTH]);
    expect(noEku.keyUsage).toBeUndefined();
    expect(serverCert.keyUsage).toEqual([SERVER_AUTH]);
    expect(serverCert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(serverCert.checkHost('localhost')).toBe('localhost');
    expect(serverCert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(dual.keyUsage).toEqual([SERVER_AUTH, CLIENT_AUTH]);
    expect(dual.subjectAltName).toBe('DNS:api.test');
  });

  it('accepts a client certificate without any EKU (no EKU means any usage)', async () => {
    expect((await send(server, await root.issueClient({ eku: false }))).status).toBe(200);
  });

  it('writes the validity window asked for, to the second', async () => {
    const notBefore = new Date('2030-01-02T03:04:05.678Z');
    const notAfter = new Date('2031-06-07T08:09:10.000Z');
    const future = await root.issueClient({ notBefore, notAfter });
    expect(future.notBefore.toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(future.notAfter.toISOString()).toBe('2031-06-07T08:09:10.000Z');

    const expired = await root.issueClient({ notAfter: new Date(Date.now() - DAY) });
    expect(expired.notBefore.getTime()).toBeLessThan(expired.notAfter.getTime());
    expect(expired.notAfter.getTime()).toBeLessThan(Date.now());

    const short = await root.issueClient({ validForSeconds: 60 });
    expect(short.notAfter.getTime() - Date.now()).toBeGreaterThan(55_000);
    expect(short.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
  });

  it('refuses contradictory or empty validity windows', async () => {
    await expect(root.issueClient({ notAfter: new Date(), validForSeconds: 5 })).rejects.toThrow(
      'give notAfter or validForSeconds, not both',
    );
    const at = new Date();
    await expect(root.issueClient({ notBefore: at, notAfter: at })).rejects.toThrow(
      /must be later than notBefore/,
    );
  });

  describe('certificates the server must refuse', () => {
    it('refuses an expired certificate', async () => {
      const expired = await root.issueClient({
        notBefore: new Date(Date.now() - 3 * DAY),
        notAfter: new Date(Date.now() - DAY),
      });
      await expectRejected(server, expired, 'CERT_HAS_EXPIRED');
    });

    it('refuses a certificate that is not yet valid', async () => {
      await expectRejected(
        server,
        await root.issueClient({ notBefore: new Date(Date.now() + DAY) }),
        'CERT_NOT_YET_VALID',
      );
    });

    it('refuses a certificate whose EKU lacks clientAuth', async () => {
      await expectRejected(server, await root.issueClient({ clientAuth: false }), 'INVALID_PURPOSE');
    });

    it('refuses a certificate from a CA it does not trust', async () => {
      const stranger = await TestCA.create({ commonName: 'some other CA' });
      await expectRejected(server, await stranger.issueClient(), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('refuses a client that sends no certificate, with a TLS alert', async () => {
      await expect(httpsRequest(server.url, { ca: server.caPem })).rejects.toMatchObject({
        code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      });
    });

    it('reports every refusal as a client error, over TLS 1.2 too', async () => {
      const tls12 = await startMtlsServer({ clientCa: root.rootPem, maxVersion: 'TLSv1.2' });
      try {
        await expectRejected(
          tls12,
          await root.issueClient({ notAfter: new Date(Date.now() - DAY) }),
          'CERT_HAS_EXPIRED',
        );
        await expect(httpsRequest(tls12.url, { ca: tls12.caPem })).rejects.toMatchObject({ code: 'EPROTO' });
        expect(tls12.requests).toHaveLength(0);
      } finally {
        await tls12.close();
      }
    });
  });

  describe('intermediates', () => {
    let intermediate: TestCA;
    let second: TestCA;

    beforeAll(async () => {
      intermediate = await root.intermediate({ commonName: 'issuing CA 1' });
      second = await intermediate.intermediate({ commonName: 'issuing CA 2' });
    });

    it('orders chainPem leaf-first and shares the root', () => {
      const chain = x509.PemConverter.decode(second.chainPem).map(
        (der) => new X509Certificate(Buffer.from(der)),
      );
      expect(chain.map((cert) => cert.subject)).toEqual(['CN=issuing CA 2', 'CN=issuing CA 1']);
      expect(chain[0]?.checkIssued(chain[1]!)).toBe(true);
      expect(chain[1]?.checkIssued(new X509Certificate(root.rootPem))).toBe(true);
      expect(chain.every((cert) => cert.ca)).toBe(true);
      expect(second.rootPem).toBe(root.rootPem);
      expect(root.chainPem).toBe('');
    });

    it('accepts a leaf of an intermediate when the client sends fullChainPem and the server trusts only the root', async () => {
      const client = await second.issueClient();
      expect(client.fullChainPem).toBe(client.certPem + second.chainPem);
      expect(client.chainPem).toBe(second.chainPem);
      expect(client.caPem).toBe(root.rootPem);

      const response = await send(server, client);

      expect(response.status).toBe(200);
      expect(server.requests.at(-1)?.peerFingerprint256).toBe(client.fingerprint256);
    });

    it('refuses the same leaf sent without its intermediates', async () => {
      const client = await intermediate.issueClient();
      await expectRejected(server, client, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', client.certPem);
    });
  });

  describe('key exports', () => {
    const issued = new Map<TestKeyType, IssuedCert>();
    beforeAll(async () => {
      for (const keyType of TEST_KEY_TYPES) issued.set(keyType, await root.issueClient({ keyType }));
    });

    it.each(TEST_KEY_TYPES)(
      're-imports every %s export form to the public key of the certificate',
      (keyType) => {
        const client = issued.get(keyType)!;
        const expected = new X509Certificate(client.certPem).publicKey.export({
          type: 'spki',
          format: 'der',
        });
        const forms: KeyObject[] = [
          createPrivateKey(client.keyPem),
          createPrivateKey({ key: client.keyDer, format: 'der', type: 'pkcs8' }),
          createPrivateKey(client.traditionalKeyPem()),
          createPrivateKey({
            key: client.encryptedPkcs8Pem('pkcs8 passphrase'),
            passphrase: 'pkcs8 passphrase',
          }),
          client.privateKey,
        ];
        if (keyType !== 'ed25519') {
          forms.push(
            createPrivateKey({
              key: client.encryptedTraditionalPem('trad passphrase'),
              passphrase: 'trad passphrase',
            }),
          );
        }
        for (const key of forms) expect(spki(key).equals(expected)).toBe(true);
      },
    );

    it('labels each PEM form as the tools that read them expect', () => {
      const rsa = issued.get('rsa2048')!;
      const ec = issued.get('ec-p256')!;
      const ed = issued.get('ed25519')!;

      expect(rsa.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(rsa.traditionalKeyPem()).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
      const rsa3072 = issued.get('rsa3072')!;
      expect(rsa3072.privateKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
      expect(rsa3072.traditionalKeyPem()).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
      expect(ec.traditionalKeyPem()).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
      expect(ed.traditionalKeyPem()).toBe(ed.keyPem);
      expect(ec.encryptedPkcs8Pem('pass phrase')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
      expect(rsa.encryptedTraditionalPem('pass phrase')).toMatch(
        /^-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,[0-9A-F]{32}\n/,
      );
      expect(ec.encryptedTraditionalPem('pass phrase')).toMatch(
        /^-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n/,
      );
      expect(() => ed.encryptedTraditionalPem('pass phrase')).toThrow(/ed25519 keys have no traditional/);
    });

    it('encrypts keys so that a wrong passphrase fails to decrypt them', () => {
      const ec = issued.get('ec-p256')!;
      // A wrong key decrypts the last CBC block to noise whose padding still looks valid about once in
      // 256 tries; OpenSSL then fails to decode the garbage instead of reporting "bad decrypt".
      const wrongPassphrase = /bad decrypt|DECODER routines::unsupported/;
      expect(() =>
        createPrivateKey({ key: ec.encryptedPkcs8Pem('right one'), passphrase: 'wrong one' }),
      ).toThrow(wrongPassphrase);
      expect(() =>
        createPrivateKey({ key: ec.encryptedTraditionalPem('right one'), passphrase: 'wrong one' }),
      ).toThrow(wrongPassphrase);
    });
  });

  it('signs a CSR, keeping its subject and SANs, for a key it never sees', async () => {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=csr-client.sandbox.mangopay.com, O=Mangopay, C=LU',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'csr-client.sandbox.mangopay.com' }]),
      ],
    });
    const keyPem = createPrivateKey({
      key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
      format: 'der',
      type: 'pkcs8',
    }).export({ type: 'pkcs8', format: 'pem' }) as string;

    const signed = await root.signCsr(csr.toString('pem'));
    const cert = new X509Certificate(signed.certPem);

    expect(cert.subject).toBe('CN=csr-client.sandbox.mangopay.com\nO=Mangopay\nC=LU');
    expect(cert.subjectAltName).toBe('DNS:csr-client.sandbox.mangopay.com');
    expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
    expect(Object.keys(signed)).not.toContain('chainDer');
    expect((await send(server, { fullChainPem: signed.fullChainPem, keyPem })).status).toBe(200);
  });

  it('issues a certificate valid for five seconds that works now and is refused once it expired', async () => {
    const client = await root.issueClient({ validForSeconds: 5 });
    // notAfter is truncated to whole seconds: the certificate has more than four seconds left, so a
    // loaded machine still gets its first request through in time.
    expect(client.notAfter.getTime() - Date.now()).toBeGreaterThan(3_000);

    expect((await send(server, client)).status).toBe(200);
    expect(server.requests.at(-1)?.peerFingerprint256).toBe(client.fingerprint256);

    // OpenSSL compares notAfter with the real clock in whole seconds: no event marks the moment, so
    // wait for it on a timer, until one full second past notAfter.
    await untilPast(new Date(client.notAfter.getTime() + 1_000));
    await expectRejected(server, client, 'CERT_HAS_EXPIRED');
  });
});

/** Resolves once the real clock is past `instant` (a timer may fire early by a millisecond). */
async function untilPast(instant: Date): Promise<void> {
  while (Date.now() <= instant.getTime()) await sleep(instant.getTime() - Date.now() + 1);
}
