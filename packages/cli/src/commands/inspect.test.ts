import { join } from 'node:path';
import {
  type IssuedCert,
  leakCheck,
  startAwsSecretsManagerEmulator,
  TestCA,
  trackConnections,
} from '@mtlskit/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, withFiles } from '../__tests__/harness.js';

const DAY = 86_400_000;
const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');

let ca: TestCA;
let good: IssuedCert;
beforeAll(async () => {
  ca = await TestCA.create();
  good = await ca.issueClient({
    subject: 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU',
    dnsNames: ['client-42.sandbox.mangopay.com'],
    keyType: 'rsa2048',
    validForSeconds: 365 * 86_400,
  });
});

const envOf = (c: IssuedCert, extra: Record<string, string> = {}) => ({
  MTLS_CERT: b64(c.fullChainPem),
  MTLS_KEY: b64(c.keyPem),
  ...extra,
});

describe('mtlskit inspect', () => {
  it('reads env: by default and prints subject, issuer, SAN, serial, key, validity, clientAuth; exit 0', async () => {
    const r = await cli(['inspect'], { env: envOf(good) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Source\s+env:/m);
    expect(r.stdout).toMatch(/^Subject\s+CN=client-42\.sandbox\.mangopay\.com, O=Mangopay, C=LU$/m);
    expect(r.stdout).toMatch(/^Issuer\s+CN=mtlskit test root CA$/m);
    expect(r.stdout).toMatch(/^SAN\s+DNS:client-42\.sandbox\.mangopay\.com$/m);
    expect(r.stdout).toContain(good.x509.serialNumber);
    expect(r.stdout).toMatch(/^Key\s+RSA 2048$/m);
    expect(r.stdout).toMatch(/\((364|365) days left\)/);
    expect(r.stdout).toMatch(/^clientAuth\s+yes \(extended key usage: clientAuth\)$/m);
    expect(r.stdout).toMatch(/^Findings\s+none$/m);
    expect(r.stdout).toMatch(/^Status\s+healthy/m);
  });

  it('checks the Mangopay identity with --client-id (subject in order and SAN), sandbox or --production', async () => {
    expect((await cli(['inspect', '--client-id', 'client-42'], { env: envOf(good) })).code).toBe(0);
    const other = await cli(['inspect', '--client-id', 'client-43', '--json'], { env: envOf(good) });
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout).findings.map((f: { code: string }) => f.code)).toEqual([
      'IDENTITY_MISMATCH',
      'IDENTITY_MISMATCH',
    ]);
    const prod = await cli(['inspect', '--client-id', 'client-42', '--production'], { env: envOf(good) });
    expect(prod.code).toBe(1);
    expect(prod.stdout).toMatch(/expected "CN=client-42\.prod\.mangopay\.com, O=Mangopay, C=LU"/);
  });

  it('follows MTLS_SOURCE when no --source is given', async () => {
    const dir = await withFiles({ 'certificate.pem': good.fullChainPem, 'private.key': good.keyPem });
    const r = await cli(['inspect', '--json'], { env: { MTLS_SOURCE: `file:${dir}` } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'healthy', source: `file:${dir}` });
  });

  it('--json gives the same facts as one object', async () => {
    const r = await cli(['inspect', '--json'], { env: envOf(good) });
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      status: 'healthy',
      exitCode: 0,
      subject: 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU',
      subjectAltName: 'DNS:client-42.sandbox.mangopay.com',
      serialNumber: good.x509.serialNumber,
      fingerprint256: good.fingerprint256,
      key: { present: true, type: 'rsa', size: 2048 },
      clientAuth: true,
      extendedKeyUsage: ['clientAuth'],
      chain: [],
      findings: [],
    });
    expect(j.daysLeft).toBeGreaterThanOrEqual(364);
  });

  it('exits 3 when the certificate expires within --warn-days (default 30), 0 when it does not', async () => {
    const soon = await ca.issueClient({ validForSeconds: 10 * 86_400 });
    const r = await cli(['inspect'], { env: envOf(soon) });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/warning EXPIRING_SOON: .*in 9 days/);
    expect(r.stdout).toMatch(/fix: Renew it/);
    expect((await cli(['inspect', '--warn-days', '5'], { env: envOf(soon) })).code).toBe(0);
    expect((await cli(['inspect', '--warn-days', '11', '--json'], { env: envOf(soon) })).code).toBe(3);
  });

  it('exits 1 with the finding and its fix for an expired certificate', async () => {
    const old = await ca.issueClient({
      notBefore: new Date(Date.now() - 400 * DAY),
      notAfter: new Date(Date.now() - 2 * DAY),
    });
    const r = await cli(['inspect'], { env: envOf(old) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ERROR\s+EXPIRED: The certificate .* expired on/);
    expect(r.stdout).toMatch(/\(expired 2 days ago\)/);
    expect(r.stdout).toMatch(/^Status\s+INVALID/m);
  });

  it('exits 1 for a key that does not belong to the certificate, and for a certificate without clientAuth', async () => {
    const other = await ca.issueClient();
    const mismatch = await cli(['inspect', '--json'], {
      env: { MTLS_CERT: b64(good.certPem), MTLS_KEY: b64(other.keyPem) },
    });
    expect(mismatch.code).toBe(1);
    expect(JSON.parse(mismatch.stdout).findings.map((f: { code: string }) => f.code)).toContain(
      'KEY_MISMATCH',
    );

    const server = await ca.issueClient({ clientAuth: false });
    const r = await cli(['inspect'], { env: envOf(server) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^clientAuth\s+NO \(extended key usage: serverAuth\)$/m);
    expect(r.stdout).toMatch(/NO_CLIENT_AUTH/);
  });

  it('shows the chain sent with the leaf', async () => {
    const inter = await ca.intermediate();
    const leaf = await inter.issueClient({ validForSeconds: 200 * 86_400 });
    const dir = await withFiles({ 'tls.crt': leaf.fullChainPem, 'tls.key': leaf.keyPem });
    const r = await cli(['inspect', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Chain\s+1\. CN=mtlskit test intermediate CA \(until /m);
  });

  it('reads a PEM file, a PKCS#12 with --passphrase-env, and stdin', async () => {
    const p12 = await good.pkcs12('p12-passphrase-42');
    const dir = await withFiles({ 'both.pem': good.keyPem + good.certPem, 'client.p12': p12 });
    expect((await cli(['inspect', join(dir, 'both.pem')])).code).toBe(0);
    const fromP12 = await cli(['inspect', 'client.p12', '--passphrase-env', 'P12_PASS', '--json'], {
      cwd: dir,
      env: { P12_PASS: 'p12-passphrase-42' },
    });
    expect(fromP12.code).toBe(0);
    expect(JSON.parse(fromP12.stdout).fingerprint256).toBe(good.fingerprint256);
    const wrong = await cli(['inspect', 'client.p12', '--passphrase-env', 'P12_PASS'], {
      cwd: dir,
      env: { P12_PASS: 'not-the-passphrase' },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/error WRONG_PASSPHRASE/);
    const stdin = await cli(['inspect', '-'], { stdin: good.certPem + good.keyPem });
    expect(stdin.code).toBe(0);
    expect(stdin.stdout).toMatch(/^Source\s+stdin$/m);
  });

  it('inspects a certificate file without its key (DER or PEM): dates and usage, key pairing not checked', async () => {
    const soon = await ca.issueClient({ validForSeconds: 5 * 86_400 });
    const dir = await withFiles({ 'cert.der': soon.certDer, 'cert.pem': good.certPem });
    const der = await cli(['inspect', join(dir, 'cert.der')]);
    expect(der.code).toBe(3);
    expect(der.stdout).toMatch(
      /^Key\s+EC prime256v1 \(256 bits\) \(certificate only: no private key in the input/m,
    );
    const pem = await cli(['inspect', join(dir, 'cert.pem'), '--json']);
    expect(pem.code).toBe(0);
    expect(JSON.parse(pem.stdout).key).toEqual({ present: false, type: 'rsa', size: 2048 });
  });

  it('exits 4 when the source cannot be read: a missing file, a denied or unreachable vault', async () => {
    const missing = await cli(['inspect', '/nonexistent/mtlskit/cert.pem']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/error SOURCE_NOT_FOUND/);

    const net = trackConnections();
    const aws = await startAwsSecretsManagerEmulator({ region: 'eu-west-1' });
    try {
      aws.putSecret('prod/mtls', JSON.stringify({ cert: good.fullChainPem, key: good.keyPem }));
      const env = {
        AWS_ACCESS_KEY_ID: 'AKIDMTLSKITTEST',
        AWS_SECRET_ACCESS_KEY: 'mtlskit-test-secret',
        AWS_EC2_METADATA_DISABLED: 'true',
      };
      const saved = { ...process.env };
      Object.assign(process.env, env); // the AWS SDK reads its credentials from process.env
      try {
        const ref = `aws-sm://prod/mtls?region=eu-west-1&endpoint=${aws.url}&maxAttempts=1`;
        const ok = await cli(['inspect', '--source', ref], { env });
        expect(ok.stdout).toMatch(/^Subject\s+CN=client-42/m);
        expect(ok.code).toBe(0);
        aws.fail('denied');
        const denied = await cli(['inspect', '--source', ref, '--json'], { env });
        expect(denied.code).toBe(4);
        expect(JSON.parse(denied.stdout).error.code).toBe('ACCESS_DENIED');
        aws.fail('notFound');
        expect((await cli(['inspect', '--source', ref], { env })).code).toBe(4);
        const down = await cli(
          [
            'inspect',
            '--source',
            `aws-sm://prod/mtls?region=eu-west-1&endpoint=http://127.0.0.1:9&maxAttempts=1`,
          ],
          { env },
        );
        expect(down.code).toBe(4);
        expect(down.stderr).toMatch(/error SOURCE_UNAVAILABLE/);
      } finally {
        process.env = saved;
      }
    } finally {
      await aws.close();
      net.stop();
    }
    expect(net.offLoopback()).toEqual([]);
  });

  it('exits 2 for usage errors: bad reference, unknown option, bad --warn-days, both --source and FILE, unset passphrase variable, bad --client-id', async () => {
    const cases: [string[], RegExp][] = [
      [['inspect', '--source', 'nosuchscheme://x'], /INVALID_REFERENCE|ADAPTER_NOT_INSTALLED/],
      [['inspect', '--bogus'], /Unknown option '--bogus'/],
      [['inspect', '--warn-days', 'soon'], /--warn-days must be a whole number/],
      [['inspect', '--source', 'env:', 'file.pem'], /either --source REF or a FILE/],
      [
        ['inspect', 'aws-sm://prod/mtls'],
        /looks like a reference, not a file: write --source aws-sm:\/\/prod\/mtls/,
      ],
      [['inspect', 'x.p12', '--passphrase-env', 'NOT_SET_ANYWHERE'], /NOT_SET_ANYWHERE, which is not set/],
      [['inspect', '--client-id', 'a.b'], /--client-id "a\.b" is not a Mangopay ClientId/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect((await cli(['inspect', '--bogus'])).stderr).toMatch(/Run `mtlskit inspect --help`/);
  });

  it('never prints the key or the passphrase, whatever happens', async () => {
    const passphrase = 'leak-check-passphrase-7';
    const leak = leakCheck([good.keyPem, good.keyDer, passphrase, good.encryptedPkcs8Pem(passphrase)]);
    const other = await ca.issueClient();
    const runs = [
      await cli(['inspect'], { env: envOf(good) }),
      await cli(['inspect', '--json'], {
        env: {
          MTLS_CERT: b64(good.certPem),
          MTLS_KEY: b64(good.encryptedPkcs8Pem(passphrase)),
          MTLS_PASSPHRASE: passphrase,
        },
      }),
      await cli(['inspect'], {
        env: {
          MTLS_CERT: b64(good.certPem),
          MTLS_KEY: b64(good.encryptedPkcs8Pem(passphrase)),
          MTLS_PASSPHRASE: 'wrong-passphrase',
        },
      }),
      await cli(['inspect', '--json'], {
        env: { MTLS_CERT: b64(other.certPem), MTLS_KEY: b64(good.keyPem) },
      }),
      await cli(['inspect', '-'], { stdin: `garbage ${good.keyPem}` }),
      await cli(['inspect', '--source', `env:?cert=${b64(good.keyPem).slice(0, 40)}`]),
    ];
    expect(runs[1]!.code).toBe(0);
    for (const [i, r] of runs.entries()) {
      leak.checkText(r.stdout, `run ${i} stdout`);
      leak.checkText(r.stderr, `run ${i} stderr`);
    }
  });
});
