// Validation as a user meets it: which findings a real certificate produces, with which severity,
// against an injectable clock and the policy's expectations.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasOpenssl, type IssuedCert, runOpenssl, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, test } from 'vitest';
import { decodeMaterial } from './decode.js';
import { MtlsError } from './errors.js';
import { loadCredentials } from './load.js';
import type { ValidationPolicy } from './policy.js';
import { validateCredentials } from './validate.js';

const DAY = 86_400_000;
let root: TestCA;
let intermediate: TestCA;
let mangopay: IssuedCert;

beforeAll(async () => {
  root = await TestCA.create();
  intermediate = await root.intermediate();
  mangopay = await intermediate.issueClient({
    keyType: 'rsa2048',
    subject: 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU',
    dnsNames: ['client-42.sandbox.mangopay.com'],
    validForSeconds: 365 * 86_400,
  });
}, 60_000);

function findings(cert: IssuedCert, policy?: ValidationPolicy, certPem = cert.fullChainPem) {
  return validateCredentials(decodeMaterial({ cert: certPem, key: cert.keyPem }, policy), policy);
}

const codes = (list: { code: string; severity: string }[]) => list.map((f) => `${f.severity}:${f.code}`);

/** Runs openssl commands in a fresh directory and returns the named files' contents. */
async function withOpenssl(commands: string[][], files: string[]): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'mtlskit-validate-'));
  try {
    for (const args of commands) {
      const r = await runOpenssl(args, { cwd: dir });
      if (r.code !== 0) throw new Error(r.stderr);
    }
    const out: Record<string, string> = {};
    for (const f of files) out[f] = await readFile(join(dir, f), 'utf8');
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

describe('validity window', () => {
  test('a certificate well inside its window has no findings', () => {
    expect(findings(mangopay)).toEqual([]);
  });

  test('uses the injected clock: the same certificate is expiring, expired or not yet valid', () => {
    const notAfter = Date.parse(mangopay.x509.validTo);
    const notBefore = Date.parse(mangopay.x509.validFrom);
    expect(codes(findings(mangopay, { now: () => notAfter - 10 * DAY }))).toEqual(['warning:EXPIRING_SOON']);
    expect(codes(findings(mangopay, { now: () => notAfter + 1000 }))).toEqual(['error:EXPIRED']);
    expect(codes(findings(mangopay, { now: () => notBefore - 1000 }))).toEqual(['error:NOT_YET_VALID']);
  });

  test('the warning window follows warnDays and says how many days are left', () => {
    const notAfter = Date.parse(mangopay.x509.validTo);
    const now = () => notAfter - 10 * DAY - 1000;
    expect(findings(mangopay, { now, warnDays: 7 })).toEqual([]);
    const [warning] = findings(mangopay, { now, warnDays: 14 });
    expect(warning?.message).toMatch(/in 10 days/);
    expect(warning?.fix).toMatch(/Renew/);
  });

  test('an expired intermediate is reported besides the leaf', () => {
    const interNotAfter = Date.parse(new X509Certificate(mangopay.chainPem).validTo);
    const list = findings(mangopay, { now: () => interNotAfter + 1000 });
    expect(codes(list)).toEqual(['error:EXPIRED', 'error:EXPIRED']);
    expect(list[1]?.message).toContain('intermediate certificate "mtlskit test intermediate CA"');
  });

  test('credentials report notBefore/notAfter as written in the certificate', async () => {
    const creds = await loadCredentials({ cert: mangopay.certPem, key: mangopay.keyPem });
    expect(creds.notAfter.getTime()).toBe(mangopay.notAfter.getTime());
    expect(creds.notBefore.getTime()).toBe(mangopay.notBefore.getTime());
  });
});

describe('extended key usage', () => {
  test('a certificate with EKU serverAuth only is refused for client authentication', async () => {
    const server = await intermediate.issueClient({ clientAuth: false });
    const [f] = findings(server);
    expect(f).toMatchObject({ code: 'NO_CLIENT_AUTH', severity: 'error', field: 'cert' });
  });

  test('a certificate without any EKU extension is allowed for every usage', async () => {
    const noEku = await intermediate.issueClient({ eku: false, validForSeconds: 90 * 86_400 });
    expect(findings(noEku)).toEqual([]);
  });

  test('requireClientAuth: false accepts a serverAuth-only certificate', async () => {
    const server = await intermediate.issueClient({ clientAuth: false, validForSeconds: 90 * 86_400 });
    expect(findings(server, { requireClientAuth: false })).toEqual([]);
  });
});

describe('expected identity', () => {
  test('matches the Mangopay identity by CN, CN pattern, DNS SAN and full subject', () => {
    expect(
      findings(mangopay, {
        expectedIdentity: {
          commonName: 'client-42.sandbox.mangopay.com',
          dnsName: 'CLIENT-42.sandbox.mangopay.com',
          subject: 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU',
        },
      }),
    ).toEqual([]);
    expect(
      findings(mangopay, { expectedIdentity: { commonName: /^client-\d+\.sandbox\.mangopay\.com$/g } }),
    ).toEqual([]);
  });

  test('accepts the subject in OpenSSL slash form and in RFC 4514 (reversed) order', () => {
    expect(
      findings(mangopay, {
        expectedIdentity: { subject: '/CN=client-42.sandbox.mangopay.com/O=Mangopay/C=LU' },
      }),
    ).toEqual([]);
    expect(
      findings(mangopay, {
        expectedIdentity: { subject: 'C=LU,O=Mangopay,CN=client-42.sandbox.mangopay.com' },
      }),
    ).toEqual([]);
  });

  test('reports a subject with the same attributes in another order', () => {
    const [f] = findings(mangopay, {
      expectedIdentity: { subject: 'O=Mangopay, CN=client-42.sandbox.mangopay.com, C=LU' },
    });
    expect(f).toMatchObject({ code: 'IDENTITY_MISMATCH', severity: 'error' });
    expect(f?.message).toContain('same attributes, in another order');
  });

  test('reports a production certificate where sandbox is expected, per check', () => {
    const list = findings(mangopay, {
      expectedIdentity: { commonName: 'client-42.mangopay.com', dnsName: 'client-42.mangopay.com' },
    });
    expect(codes(list)).toEqual(['error:IDENTITY_MISMATCH', 'error:IDENTITY_MISMATCH']);
    expect(list[1]?.message).toContain('(client-42.sandbox.mangopay.com)');
  });
});

describe('chain', () => {
  test('intermediates given in any order are put leaf-first', async () => {
    const deep = await intermediate.intermediate({ commonName: 'mtlskit issuing CA' });
    const leaf = await deep.issueClient({ validForSeconds: 90 * 86_400 });
    const [issuing, middle] = leaf.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
    const decoded = decodeMaterial({ cert: middle! + leaf.certPem + issuing!, key: leaf.keyPem });
    expect(decoded.chain.map((c) => c.subject)).toEqual([
      'CN=mtlskit issuing CA',
      'CN=mtlskit test intermediate CA',
    ]);
    expect(validateCredentials(decoded)).toEqual([]);
  });

  test('a certificate of another chain among the intermediates is CHAIN_INVALID naming it', async () => {
    const otherRoot = await TestCA.create({ commonName: 'some other CA' });
    const [f] = findings(mangopay, undefined, mangopay.fullChainPem + otherRoot.certPem);
    expect(f).toMatchObject({ code: 'CHAIN_INVALID', severity: 'error', field: 'cert' });
    expect(f?.message).toContain('"some other CA" did not issue');
  });

  test('validating parts put together by hand checks that each link really signed the one below', async () => {
    const a = await intermediate.issueClient({ validForSeconds: 90 * 86_400 });
    const decoded = decodeMaterial({ cert: a.certPem, key: a.keyPem });
    const fake = validateCredentials({ ...decoded, chain: [mangopay.x509] });
    expect(codes(fake)).toEqual(['error:CHAIN_INVALID']);
  });

  // The test CA cannot sign with a non-CA certificate; openssl signs with any key it is given.
  test.skipIf(!hasOpenssl())('an issuer that is not a CA certificate is CHAIN_INVALID', async () => {
    const notCa = ['-subj', '/CN=not a CA', '-addext', 'basicConstraints=critical,CA:FALSE'];
    const f = await withOpenssl(
      [
        ['req', '-x509', ...P256, ...notCa, '-keyout', 'a.key', '-out', 'a.pem', '-days', '365'],
        ['req', '-new', ...P256, '-keyout', 'b.key', '-out', 'b.csr', '-subj', '/CN=signed by a leaf'],
        ['x509', '-req', '-in', 'b.csr', '-CA', 'a.pem', '-CAkey', 'a.key', '-days', '365', '-out', 'b.pem'],
      ],
      ['a.pem', 'b.pem', 'b.key'],
    );
    const decoded = decodeMaterial({ cert: f['b.pem']! + f['a.pem']!, key: f['b.key']! });
    expect(decoded.chain.map((c) => c.subject)).toEqual(['CN=not a CA']);
    const [finding] = validateCredentials(decoded);
    expect(finding).toMatchObject({ code: 'CHAIN_INVALID', severity: 'error', field: 'cert' });
    expect(finding?.message).toContain(
      '"not a CA" in `cert` signed "signed by a leaf" but is not a CA certificate',
    );
  });

  test('CA certificates that expired are a warning on the trust list', async () => {
    const decoded = decodeMaterial({ cert: mangopay.certPem, key: mangopay.keyPem, ca: mangopay.caPem });
    const rootNotAfter = Date.parse(new X509Certificate(mangopay.caPem).validTo);
    const leafNotAfter = Date.parse(mangopay.x509.validTo);
    const list = validateCredentials(decoded, { now: () => Math.max(rootNotAfter, leafNotAfter) + 1 });
    expect(codes(list)).toContain('warning:CA_EXPIRED');
  });
});

describe('key', () => {
  test.skipIf(!hasOpenssl())('an RSA key below 2048 bits is a WEAK_KEY warning', async () => {
    const weak = ['-subj', '/CN=weak', '-days', '365', '-addext', 'extendedKeyUsage=clientAuth'];
    const f = await withOpenssl(
      [['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', ...weak]],
      ['c.pem', 'k.pem'],
    );
    const list = validateCredentials(decodeMaterial({ cert: f['c.pem']!, key: f['k.pem']! }));
    expect(codes(list)).toEqual(['warning:WEAK_KEY']);
    expect(list[0]?.message).toContain('RSA 1024');
  });

  test('findings list errors before warnings and carry a fix', async () => {
    const other = await intermediate.issueClient({ validForSeconds: 3 * 86_400 });
    const list = validateCredentials(decodeMaterial({ cert: other.certPem, key: mangopay.keyPem }));
    expect(codes(list)).toEqual(['error:KEY_MISMATCH', 'warning:EXPIRING_SOON']);
    for (const f of list) expect(f.fix.length).toBeGreaterThan(10);
  });
});

describe('messages name the field a value came from', () => {
  test('a JSON bundle: "the bundle\'s `tls.crt`", as decode errors do', async () => {
    const other = await intermediate.issueClient({ validForSeconds: 90 * 86_400 });
    const bundle = JSON.stringify({ 'tls.crt': mangopay.fullChainPem, 'tls.key': other.keyPem });
    const err = await loadCredentials({ bundle }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KEY_MISMATCH', field: 'key' });
    expect((err as Error).message).toContain(
      'The private key in the bundle\'s `tls.key` does not belong to the certificate "client-42.sandbox.mangopay.com" in the bundle\'s `tls.crt`',
    );
    const notAfter = Date.parse(mangopay.x509.validTo);
    const expired = await loadCredentials(
      { bundle: JSON.stringify({ certificate: mangopay.fullChainPem, private_key: mangopay.keyPem }) },
      { now: () => notAfter + 1000 },
    ).catch((e: unknown) => e);
    expect(expired).toMatchObject({ code: 'EXPIRED', field: 'cert' });
    expect((expired as Error).message).toMatch(
      /in the bundle's `certificate` expired on .*Renew it with your provider/s,
    );
  });

  test('a PKCS#12 leaf is named by its field, a plain value by its field in backticks', async () => {
    const server = await intermediate.issueClient({ clientAuth: false, validForSeconds: 90 * 86_400 });
    const fromPfx = await loadCredentials({ pfx: await server.pkcs12('pw'), passphrase: 'pw' }).catch(
      (e: unknown) => e,
    );
    expect(fromPfx).toMatchObject({ code: 'NO_CLIENT_AUTH', field: 'pfx' });
    expect((fromPfx as Error).message).toContain('in `pfx` is not allowed for client authentication');
    const [f] = findings(server);
    expect(f?.message).toContain('in `cert` is not allowed for client authentication');
  });

  test('fixes give commands that work today, not only the CLI', async () => {
    const notAfter = Date.parse(mangopay.x509.validTo);
    const [soon] = findings(mangopay, { now: () => notAfter - 5 * DAY });
    expect(soon?.fix).toBe(
      'Renew it with your provider (a new key and CSR, then the issued certificate) and store the new certificate and key before then.',
    );
    const err = (await loadCredentials({ cert: 'not a certificate!', key: mangopay.keyPem }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toContain('`base64 -w0 FILE` on Linux, `base64 -i FILE` on macOS');
  });
});

describe('a policy of the wrong shape is INVALID_REFERENCE, never a TypeError or a skipped check', () => {
  const expiredNow = () => Date.parse(mangopay.x509.validTo) + DAY;

  test.each([
    ['NaN', () => Number.NaN, /now\(\) returned NaN, not a time; the validity dates cannot be checked/],
    ['undefined', () => undefined, /now\(\) returned undefined/],
    ['a string', () => '2030-01-01', /now\(\) returned a string/],
    ['Infinity', () => Number.POSITIVE_INFINITY, /now\(\) returned Infinity/],
  ])('now() returning %s', async (_name, now, says) => {
    const policy = { now } as unknown as ValidationPolicy;
    // Before, the comparisons with NaN were all false: an expired certificate was accepted.
    const err = await loadCredentials({ cert: mangopay.certPem, key: mangopay.keyPem }, policy).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MtlsError);
    expect(err).toMatchObject({ code: 'INVALID_REFERENCE' });
    expect((err as Error).message).toMatch(says);
    expect((err as Error).message).toContain('Give a function returning milliseconds since the epoch');
  });

  test('now() that throws', async () => {
    const boom = new Error('clock unavailable');
    const err = await loadCredentials(
      { cert: mangopay.certPem, key: mangopay.keyPem },
      {
        now: () => {
          throw boom;
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_REFERENCE' });
    expect((err as Error).message).toContain("policy's now() threw");
  });

  test('now() returning a Date is read as that time', async () => {
    const policy = { now: () => new Date(expiredNow()) } as unknown as ValidationPolicy;
    expect(codes(findings(mangopay, policy))).toEqual(['error:EXPIRED']);
  });

  test.each([
    ['a string as the whole policy', 'strict', /policy's value is a string, not an object/],
    ['fields.cert as a number', { fields: { cert: 42 } }, /policy's fields\.cert is a number, not a string/],
    ['fields.key empty', { fields: { key: '' } }, /policy's fields\.key is empty/],
    ['fields as a string', { fields: 'tls.crt' }, /policy's fields is a string, not an object/],
    ['now as a number', { now: 1_700_000_000_000 }, /policy's now is a number, not a function/],
    ['warnDays as NaN', { warnDays: Number.NaN }, /policy's warnDays is NaN/],
    ['warnDays negative', { warnDays: -1 }, /policy's warnDays is -1/],
    ['warnDays as a string', { warnDays: '30' }, /policy's warnDays is a string/],
    [
      'requireClientAuth as a string',
      { requireClientAuth: 'no' },
      /requireClientAuth is a string, not a boolean/,
    ],
    [
      'expectedIdentity.commonName as a number',
      { expectedIdentity: { commonName: 7 } },
      /commonName is a number/,
    ],
    ['expectedIdentity.dnsName as an array', { expectedIdentity: { dnsName: ['a'] } }, /dnsName is an array/],
    ['passphrase as bytes', { passphrase: Buffer.from('pw') }, /passphrase is an object, not a string/],
  ])('%s', async (_name, policy, says) => {
    const material = { cert: mangopay.certPem, key: mangopay.keyPem };
    for (const run of [
      () => loadCredentials(material, policy as ValidationPolicy),
      async () => decodeMaterial(material, policy as ValidationPolicy),
    ]) {
      const err = await run().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MtlsError);
      expect(err).toMatchObject({ code: 'INVALID_REFERENCE' });
      expect((err as Error).message).toMatch(says);
    }
  });

  test('members left undefined take their defaults', () => {
    expect(findings(mangopay, { fields: { cert: undefined }, warnDays: undefined })).toEqual([]);
  });
});
