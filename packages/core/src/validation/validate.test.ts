// Validation as a user meets it: which findings a real certificate produces, with which severity,
// against an injectable clock and the policy's expectations.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  hasOpenssl,
  type IssuedCert,
  leakCheck,
  type MtlsTestServer,
  runOpenssl,
  startMtlsServer,
  TestCA,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { decodeMaterial } from '../decoding/decode-material.js';
import { MtlsError } from '../errors.js';
import { loadCredentials } from './load.js';
import type { ValidationPolicy } from './policy.js';
import { tlsRefusal, validateCredentials } from './validate.js';

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
async function withOpenssl(
  commands: string[][],
  files: string[],
  inputs: Record<string, string> = {},
): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'mtlskit-validate-'));
  try {
    for (const [name, text] of Object.entries(inputs)) await writeFile(join(dir, name), text);
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

  test("by default the window is 30 days, or a third of a shorter-lived certificate's lifetime", async () => {
    // A 30-day certificate (cert-manager renews at two thirds): quiet until 10 days are left.
    const month = await intermediate.issueClient({ validForSeconds: 30 * 86_400 });
    const notBefore = Date.parse(month.x509.validFrom);
    const notAfter = Date.parse(month.x509.validTo);
    const third = (notAfter - notBefore) / 3;
    expect(findings(month, { now: () => notBefore + 60_000 })).toEqual([]);
    expect(findings(month, { now: () => notAfter - third - 1000 })).toEqual([]);
    expect(codes(findings(month, { now: () => notAfter - third + 1000 }))).toEqual(['warning:EXPIRING_SOON']);
    // An explicit warnDays wins, also above a third of the lifetime.
    expect(codes(findings(month, { now: () => notAfter - 29 * DAY, warnDays: 30 }))).toEqual([
      'warning:EXPIRING_SOON',
    ]);
    // A year-long certificate: 30 days.
    const year = Date.parse(mangopay.x509.validTo);
    expect(findings(mangopay, { now: () => year - 30 * DAY - 1000 })).toEqual([]);
    expect(codes(findings(mangopay, { now: () => year - 30 * DAY + 1000 }))).toEqual([
      'warning:EXPIRING_SOON',
    ]);
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

  test('certificates unrelated to the leaf are dropped, named (by subject) in a warning', async () => {
    const otherRoot = await TestCA.create({ commonName: 'some other CA' });
    const stranger = await otherRoot.issueClient({ commonName: 'someone else' });
    const decoded = decodeMaterial({
      cert: mangopay.fullChainPem + otherRoot.certPem + stranger.certPem,
      key: mangopay.keyPem,
    });
    expect(decoded.leaf.fingerprint256).toBe(mangopay.fingerprint256);
    expect(decoded.chain.map((c) => c.subject)).toEqual(['CN=mtlskit test intermediate CA']);
    const list = validateCredentials(decoded);
    expect(codes(list)).toEqual(['warning:UNRELATED_CERTIFICATES']);
    expect(list[0]).toMatchObject({ field: 'cert' });
    expect(list[0]?.message).toContain('2 certificates outside the chain');
    expect(list[0]?.message).toContain('"CN=some other CA", "CN=someone else"');
    expect(list[0]?.message).not.toContain('BEGIN');
  });

  test('an intermediate missing between the leaf and the certificates given is CHAIN_INVALID', async () => {
    // The root given, the intermediate that signed the leaf not.
    const [missing] = findings(mangopay, undefined, mangopay.certPem + root.certPem);
    expect(missing).toMatchObject({ code: 'CHAIN_INVALID', severity: 'error', field: 'cert' });
    expect(missing?.message).toContain('"mtlskit test root CA" did not issue');
    // Another intermediate of the same name: given as the issuer, but it did not sign.
    const impostor = await (await TestCA.create()).intermediate();
    const [wrong] = findings(mangopay, undefined, mangopay.certPem + impostor.certPem);
    expect(wrong).toMatchObject({ code: 'CHAIN_INVALID', severity: 'error', field: 'cert' });
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
  test('findings list errors before warnings and carry a fix', async () => {
    // Issued a year ago: the 30-day window applies (a short-lived certificate's is a third of its life).
    const notBefore = new Date(Date.now() - 365 * 86_400_000);
    const other = await intermediate.issueClient({ notBefore, validForSeconds: 3 * 86_400 });
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

describe("a policy's own check runs after core's", () => {
  const warning = {
    code: 'SUBJECT_ORDER',
    severity: 'warning' as const,
    message: 'The subject is in an unusual order.',
    fix: 'Reissue it.',
  };
  const wrongHost = {
    code: 'IDENTITY_MISMATCH',
    severity: 'error' as const,
    field: 'cert',
    message: 'The certificate is not for this API.',
    fix: 'Use the one issued for it.',
  };
  const material = () => ({ cert: mangopay.fullChainPem, key: mangopay.keyPem });

  test('is given the decoded parts and the time the dates were judged at; its warnings ride along', async () => {
    const seen: unknown[] = [];
    const at = Date.parse(mangopay.x509.validFrom) + DAY;
    const policy: ValidationPolicy = {
      now: () => at,
      check: (credentials, context) => {
        seen.push({ subject: credentials.leaf.subject, chain: credentials.chain.length, context });
        expect(credentials.key.asymmetricKeyType).toBe('rsa');
        return [warning];
      },
    };
    const creds = await loadCredentials(material(), policy);
    expect(creds.findings).toContainEqual(warning);
    expect(seen).toEqual([{ subject: mangopay.x509.subject, chain: 1, context: { now: at } }]);
    expect(codes(findings(mangopay, policy))).toEqual(['warning:SUBJECT_ORDER']);
  });

  test("its errors refuse the credential as core's do, and come after core's in the list", async () => {
    const policy: ValidationPolicy = { check: () => [warning, wrongHost] };
    await expect(loadCredentials(material(), policy)).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
      field: 'cert',
      message: 'The certificate is not for this API. Use the one issued for it.',
    });
    const expired = { ...policy, now: () => Date.parse(mangopay.x509.validTo) + DAY };
    expect(codes(findings(mangopay, expired))).toEqual([
      'error:EXPIRED',
      'error:IDENTITY_MISMATCH',
      'warning:SUBJECT_ORDER',
    ]);
    await expect(loadCredentials(material(), expired)).rejects.toMatchObject({ code: 'EXPIRED' });
  });

  test('is refused when it is no function, returns no array, or an error of no MtlsError code', async () => {
    for (const [check, says] of [
      ['strict', /policy's check is a string, not a function/],
      [() => undefined, /check\(\) returned undefined, not an array of findings/],
      [
        () => [{ ...wrongHost, code: 'MY_RULE' }],
        /error finding of code "MY_RULE", which is no MtlsError code/,
      ],
    ] as const) {
      const err = await loadCredentials(material(), { check } as unknown as ValidationPolicy).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MtlsError);
      expect(err).toMatchObject({ code: 'INVALID_OPTION' });
      expect((err as Error).message).toMatch(says);
    }
    // A warning may carry a code of its own.
    const creds = await loadCredentials(material(), { check: () => [{ ...warning, code: 'MY_RULE' }] });
    expect(creds.findings.map((f) => f.code)).toEqual(['MY_RULE']);
  });
});

describe('a policy of the wrong shape is INVALID_OPTION, never a TypeError or a skipped check', () => {
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
    expect(err).toMatchObject({ code: 'INVALID_OPTION' });
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
    expect(err).toMatchObject({ code: 'INVALID_OPTION' });
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
      expect(err).toMatchObject({ code: 'INVALID_OPTION' });
      expect((err as Error).message).toMatch(says);
    }
  });

  test('members left undefined take their defaults', () => {
    expect(findings(mangopay, { fields: { cert: undefined }, warnDays: undefined })).toEqual([]);
  });
});

// OpenSSL builds differ: Node 24's refuses RSA 1024 (security level 2), Node 20's a SHA-1 signature.
// The oracle is this process's own OpenSSL: each case expects what a connection here would meet.
describe.skipIf(!hasOpenssl())('weak keys and signatures, judged by the OpenSSL that will use them', () => {
  let weak: Record<string, string>;
  beforeAll(async () => {
    // Subjects without spaces: each command is one line split on spaces.
    const commands = [
      'req -x509 -newkey rsa:1024 -nodes -keyout k1024.pem -out c1024.pem -subj /CN=weak-1024 -days 365',
      'req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -subj /CN=weak-root -days 365 -extensions v3_ca',
      'req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=sha1-leaf',
      'x509 -req -in leaf.csr -CA root.pem -CAkey root.key -sha1 -days 365 -out sha1.pem',
      'req -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr -subj /CN=sha1-intermediate',
      'x509 -req -in inter.csr -CA root.pem -CAkey root.key -sha1 -days 365 -extfile ca.ext -out inter.pem',
      'req -newkey rsa:2048 -nodes -keyout leaf2.key -out leaf2.csr -subj /CN=leaf-under-sha1',
      'x509 -req -in leaf2.csr -CA inter.pem -CAkey inter.key -sha256 -days 365 -out leaf2.pem',
      'req -x509 -newkey rsa:2048 -nodes -keyout ss1.key -out ss1.pem -subj /CN=self-signed-sha1 -days 365 -sha1',
      'req -x509 -newkey rsa:2048 -nodes -keyout sroot.key -out sroot.pem -subj /CN=sha1-root -days 365 -sha1 -extensions v3_ca',
      'x509 -req -in leaf.csr -CA sroot.pem -CAkey sroot.key -sha256 -days 365 -out under-sha1-root.pem',
    ];
    weak = await withOpenssl(
      commands.map((c) => c.split(' ')),
      [
        'k1024.pem',
        'c1024.pem',
        'root.pem',
        'leaf.key',
        'sha1.pem',
        'leaf2.key',
        'leaf2.pem',
        'inter.pem',
        'ss1.pem',
        'ss1.key',
        'sroot.pem',
        'under-sha1-root.pem',
      ],
      { 'ca.ext': 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' },
    );
  }, 60_000);

  /** What this Node's OpenSSL says of a chain: undefined when it builds a context from it. */
  function refusal(options: tls.SecureContextOptions): (Error & { code?: string }) | undefined {
    try {
      tls.createSecureContext(options);
      return undefined;
    } catch (err) {
      return err as Error & { code?: string };
    }
  }
  const openssl = (chainPem: string) => refusal({ cert: chainPem })?.code;

  const cases = () => [
    {
      name: 'an RSA 1024 certificate',
      cert: weak['c1024.pem']!,
      key: weak['k1024.pem']!,
      warning: 'WEAK_KEY',
      says: /RSA 1024/,
      refusal: 'ERR_SSL_EE_KEY_TOO_SMALL',
    },
    {
      name: 'a certificate signed with SHA-1',
      cert: weak['sha1.pem']!,
      key: weak['leaf.key']!,
      warning: 'WEAK_SIGNATURE',
      says: /"sha1-leaf".*signed with SHA-1/,
      refusal: 'ERR_SSL_CA_MD_TOO_WEAK',
    },
    {
      name: 'a chain whose intermediate is signed with SHA-1',
      cert: weak['leaf2.pem']! + weak['inter.pem']!,
      key: weak['leaf2.key']!,
      warning: 'WEAK_SIGNATURE',
      says: /intermediate "sha1-intermediate".*signed with SHA-1/,
      refusal: 'ERR_SSL_CA_MD_TOO_WEAK',
    },
  ];

  test.each([0, 1, 2])(
    'case %i: refused by this OpenSSL, WEAK_CREDENTIAL naming the certificate and the reason; accepted, a warning',
    async (i) => {
      const c = cases()[i]!;
      const verdict = openssl(c.cert);
      const list = validateCredentials(decodeMaterial({ cert: c.cert, key: c.key }));
      if (verdict === undefined) {
        expect(codes(list), c.name).toEqual([`warning:${c.warning}`]);
        expect(list[0]!.message).toMatch(c.says);
        await expect(loadCredentials({ cert: c.cert, key: c.key })).resolves.toMatchObject({
          findings: [expect.objectContaining({ code: c.warning })],
        });
      } else {
        expect(verdict, c.name).toBe(c.refusal);
        expect(codes(list), c.name).toEqual(['error:WEAK_CREDENTIAL']);
        const err = await loadCredentials({ cert: c.cert, key: c.key }).catch((e: unknown) => e);
        expect(MtlsError.is(err, 'WEAK_CREDENTIAL')).toBe(true);
        const message = (err as MtlsError).message;
        expect(message).toMatch(c.says);
        expect(message).toMatch(
          new RegExp(
            `In \`cert\`, .*this Node's OpenSSL ${process.versions.openssl.replace(/\./g, '\\.')} refuses it at its security level \\((ee key too small|ca md too weak)\\)`,
          ),
        );
        expect(message).toMatch(
          /Have the certificate reissued for a new RSA 2048 \(or EC P-256\) key, signed with SHA-256/,
        );
        expect((err as MtlsError).field).toBe('cert');
        expect((err as MtlsError).retryable).toBe(false);
      }
    },
  );

  test('a self-signed certificate signed with SHA-1 is not judged on its signature, as OpenSSL does not', () => {
    // A self-signed SHA-1 leaf, and a chain that carries its SHA-1 root: OpenSSL accepts both everywhere.
    for (const cert of [weak['ss1.pem']!, weak['under-sha1-root.pem']! + weak['sroot.pem']!]) {
      expect(openssl(cert)).toBeUndefined();
    }
    expect(validateCredentials(decodeMaterial({ cert: weak['ss1.pem']!, key: weak['ss1.key']! }))).toEqual(
      [],
    );
    const chain = weak['under-sha1-root.pem']! + weak['sroot.pem']!;
    expect(validateCredentials(decodeMaterial({ cert: chain, key: weak['leaf.key']! }))).toEqual([]);
  });

  test('an OpenSSL security-level refusal maps to WEAK_CREDENTIAL; any other refusal to DECODE_FAILED', () => {
    // A real refusal on every Node version: the security level raised to 2 for this one context.
    const refused = refusal({ cert: weak['c1024.pem']!, ciphers: 'DEFAULT@SECLEVEL=2' });
    expect(refused).toBeDefined();
    expect(tlsRefusal(refused, 'The certificate X', 'cert')).toMatchObject({
      code: 'WEAK_CREDENTIAL',
      severity: 'error',
      field: 'cert',
      message: expect.stringMatching(
        /^The certificate X: this Node's OpenSSL .* refuses it at its security level \(ee key too small\)/,
      ),
    });
    const other = refusal({ cert: weak['root.pem']!, key: weak['leaf.key']! });
    expect(other).toBeDefined();
    expect(tlsRefusal(other, 'The certificate X', 'cert')).toMatchObject({
      code: 'DECODE_FAILED',
      message: expect.stringMatching(/refuses to build a TLS context from it \(key values mismatch\)/),
    });
  });

  test('the resolver meets the verdict of the OpenSSL configuration it runs under', async () => {
    // The same RSA 1024 credential in two child processes: security level 2 refuses it on every Node
    // version (WEAK_CREDENTIAL before any connection), level 0 accepts it (a WEAK_KEY warning). At level
    // 3, an RSA 2048 certificate validation does not take for weak is refused where the resolver builds
    // its TLS context, and that refusal is mapped the same way.
    const core = new URL('../../dist/index.js', import.meta.url).href;
    const script = `
      const { createTlsResolver, inlineSource } = await import(process.env.CORE_URL);
      const resolver = createTlsResolver({ source: inlineSource({ cert: process.env.CERT, key: process.env.KEY }) });
      const outcome = await resolver.credentials().then(
        (c) => ({ findings: c.findings.map((f) => f.code) }),
        (e) => ({ code: e.code, message: e.message }),
      );
      await resolver.close();
      process.stdout.write(JSON.stringify(outcome));`;
    const dir = await mkdtemp(join(tmpdir(), 'mtlskit-seclevel-'));
    try {
      const outcomes: Record<string, unknown>[] = [];
      const weakPair = { cert: weak['c1024.pem']!, key: weak['k1024.pem']! };
      const strongPair = { cert: mangopay.fullChainPem, key: mangopay.keyPem };
      for (const [level, pair] of [
        [2, weakPair],
        [0, weakPair],
        [3, strongPair],
      ] as const) {
        const config = join(dir, `level${level}.cnf`);
        await writeFile(
          config,
          'nodejs_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n' +
            `[tls]\nCipherString = DEFAULT@SECLEVEL=${level}\n`,
        );
        const run = await leakCheck([pair.key]).runNode(
          [`--openssl-config=${config}`, '--input-type=module', '-e', script],
          { env: { CORE_URL: core, CERT: pair.cert, KEY: pair.key } },
        );
        expect(run.code, run.stderr).toBe(0);
        outcomes.push(JSON.parse(run.stdout));
      }
      expect(outcomes[0]).toEqual({
        code: 'WEAK_CREDENTIAL',
        message: expect.stringMatching(
          /"weak-1024" \(its key is RSA 1024\).*refuses it at its security level \(ee key too small\)/,
        ),
      });
      expect(outcomes[1]).toEqual({ findings: ['WEAK_KEY'] });
      expect(outcomes[2]).toEqual({
        code: 'WEAK_CREDENTIAL',
        message: expect.stringMatching(
          new RegExp(
            `^The certificate ${mangopay.fingerprint256}: this Node's OpenSSL .* refuses it at its security level \\(ee key too small\\)`,
          ),
        ),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('only a certificate that looks weak is tried on OpenSSL (a strong one costs nothing more)', () => {
    const trials = vi.spyOn(tls, 'createSecureContext');
    try {
      expect(findings(mangopay)).toEqual([]);
      expect(trials).not.toHaveBeenCalled();
      validateCredentials(decodeMaterial({ cert: weak['c1024.pem']!, key: weak['k1024.pem']! }));
      expect(trials).toHaveBeenCalledTimes(1);
    } finally {
      trials.mockRestore();
    }
  });
});

// OpenSSL's rule for a TLS client certificate, checked against a real handshake with a real server:
// every certificate validation refuses is one the handshake fails with, and the reverse.
describe.skipIf(!hasOpenssl())('key usage and chain purpose, against a real handshake', () => {
  const CA = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign';
  const USAGES: [
    name: string,
    key: 'rsa' | 'ec',
    extensions: string,
    accepted: boolean,
    intermediate?: string,
  ][] = [
    ['keyEncipherment only', 'rsa', 'keyUsage=critical,keyEncipherment', false],
    ['nonRepudiation only', 'rsa', 'keyUsage=nonRepudiation', false],
    ['keyAgreement only (EC)', 'ec', 'keyUsage=critical,keyAgreement', true],
    [
      'digitalSignature and keyEncipherment',
      'rsa',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      true,
    ],
    ['a Netscape type of server only', 'rsa', 'nsCertType=server', false],
    ['a Netscape type of client and email', 'rsa', 'nsCertType=client,email', true],
    ['no key usage at all', 'ec', 'subjectKeyIdentifier=hash', true],
    [
      'under an intermediate for server certificates only',
      'ec',
      'keyUsage=critical,digitalSignature',
      false,
      `${CA}\nextendedKeyUsage=serverAuth`,
    ],
    [
      'under an intermediate for servers and clients',
      'ec',
      'keyUsage=critical,digitalSignature',
      true,
      `${CA}\nextendedKeyUsage=serverAuth,clientAuth`,
    ],
    [
      'under an intermediate without extended key usage',
      'ec',
      'keyUsage=critical,digitalSignature',
      true,
      CA,
    ],
  ];
  let made: Record<string, string>;
  let server: MtlsTestServer;
  beforeAll(async () => {
    const inputs: Record<string, string> = {};
    const commands = [
      'req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -subj /CN=usage-root -days 365 -extensions v3_ca',
      'req -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.csr -subj /CN=usage-rsa',
      'req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.csr -subj /CN=usage-ec',
      'req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key -out inter.csr -subj /CN=usage-intermediate',
    ];
    USAGES.forEach(([, key, extensions, , intermediate], i) => {
      inputs[`u${i}.ext`] = `${extensions}\nextendedKeyUsage=clientAuth\n`;
      let issuer = 'root';
      if (intermediate !== undefined) {
        inputs[`i${i}.ext`] = `${intermediate}\n`;
        commands.push(
          `x509 -req -in inter.csr -CA root.pem -CAkey root.key -days 365 -extfile i${i}.ext -out i${i}.pem`,
        );
        issuer = `i${i}`;
      }
      const signer = issuer === 'root' ? 'root.key' : 'inter.key';
      commands.push(
        `x509 -req -in ${key}.csr -CA ${issuer}.pem -CAkey ${signer} -days 365 -extfile u${i}.ext -out u${i}.pem`,
      );
    });
    made = await withOpenssl(
      commands.map((c) => c.split(' ')),
      [
        'root.pem',
        'rsa.key',
        'ec.key',
        ...USAGES.map((_, i) => `u${i}.pem`),
        ...USAGES.flatMap((u, i) => (u[4] === undefined ? [] : [`i${i}.pem`])),
      ],
      inputs,
    );
    server = await startMtlsServer({ clientCa: made['root.pem']! });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  function handshake(cert: string, key: string): Promise<boolean> {
    return new Promise((resolve) => {
      const req = https.request(server.url, { cert, key, ca: server.caPem, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  test.each(USAGES.map((u, i) => [u[0], i] as const))('%s', async (_name, i) => {
    const [, key, , accepted, intermediate] = USAGES[i]!;
    const cert = made[`u${i}.pem`]! + (intermediate === undefined ? '' : made[`i${i}.pem`]!);
    const material = { cert, key: made[`${key}.key`]! };
    const list = validateCredentials(decodeMaterial(material));
    expect(await handshake(material.cert, material.key), 'the real handshake').toBe(accepted);
    if (accepted) {
      expect(list).toEqual([]);
      return;
    }
    expect(codes(list)).toEqual(['error:NO_CLIENT_AUTH']);
    expect(list[0]!.message).toMatch(
      /is not allowed for client authentication: (its key usage is (keyEncipherment|nonRepudiation), without digitalSignature|its Netscape certificate type excludes SSL client); TLS servers built on OpenSSL end the handshake\.$|^The intermediate "usage-intermediate" in `cert` limits every certificate under it to serverAuth: servers built on OpenSSL refuse a client certificate issued below it/,
    );
    expect(list[0]!.fix).toMatch(
      /keyUsage=critical,digitalSignature|a CA hierarchy meant for client authentication/,
    );
    // requireClientAuth: false, for a server known to accept it anyway, lets it through.
    expect(validateCredentials(decodeMaterial(material), { requireClientAuth: false })).toEqual([]);
  });
});

// Node trusts a server only up to a root in `ca`: an intermediate alone there fails every request.
describe('trust anchors in ca, against a real request', () => {
  let serverRoot: TestCA;
  let serverIntermediate: TestCA;
  let client: IssuedCert;
  let server: MtlsTestServer;
  beforeAll(async () => {
    serverRoot = await TestCA.create({ commonName: 'anchor test root' });
    serverIntermediate = await serverRoot.intermediate({ commonName: 'anchor test intermediate' });
    client = await root.issueClient({ validForSeconds: 365 * 86_400 });
    server = await startMtlsServer({ clientCa: root, serverCa: serverIntermediate });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  function request(ca: string): Promise<string> {
    return new Promise((resolve) => {
      const req = https.request(
        server.url,
        { cert: client.certPem, key: client.keyPem, ca, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end();
    });
  }

  test.each([
    ['the intermediate alone', () => serverIntermediate.certPem, 'UNABLE_TO_GET_ISSUER_CERT'],
    ['the root', () => serverRoot.rootPem, '200'],
    ['the intermediate and the root', () => serverIntermediate.certPem + serverRoot.rootPem, '200'],
  ])('ca holding %s', async (_name, ca, outcome) => {
    expect(await request(ca()), 'the real request').toBe(outcome);
    const list = validateCredentials(decodeMaterial({ cert: client.certPem, key: client.keyPem, ca: ca() }));
    if (outcome === '200') {
      expect(list).toEqual([]);
      return;
    }
    expect(codes(list)).toEqual(['warning:CA_NOT_ROOT']);
    expect(list[0]).toMatchObject({
      field: 'ca',
      message: expect.stringMatching(
        /^`ca` holds no root \(self-signed\) certificate, only "anchor test intermediate": .*UNABLE_TO_GET_ISSUER_CERT/,
      ),
      fix: expect.stringContaining('Add the root CA certificate'),
    });
  });

  test.skipIf(!hasOpenssl())(
    'ca holding a pinned self-signed server certificate without keyCertSign',
    async () => {
      // cert-manager's selfSigned issuer writes such certificates: a trust anchor all the same.
      const pinned = await withOpenssl(
        [
          [
            'req',
            '-x509',
            ...P256,
            '-keyout',
            'pinned.key',
            '-out',
            'pinned.pem',
            '-subj',
            '/CN=pinned server',
            '-days',
            '365',
            '-addext',
            'subjectAltName=IP:127.0.0.1',
            '-addext',
            'keyUsage=critical,digitalSignature,keyEncipherment',
            '-addext',
            'basicConstraints=critical,CA:FALSE',
          ],
        ],
        ['pinned.pem', 'pinned.key'],
      );
      const pinnedServer = https.createServer(
        { cert: pinned['pinned.pem'], key: pinned['pinned.key'] },
        (_req, res) => res.end('ok'),
      );
      await new Promise<void>((resolve) => pinnedServer.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = pinnedServer.address() as AddressInfo;
        const status = await new Promise<string>((resolve) => {
          const req = https.request(
            `https://127.0.0.1:${port}/`,
            { ca: pinned['pinned.pem'], agent: false },
            (res) => {
              res.resume();
              res.on('end', () => resolve(String(res.statusCode)));
            },
          );
          req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
          req.end();
        });
        expect(status, 'the real request').toBe('200');
        const material = { cert: client.certPem, key: client.keyPem, ca: pinned['pinned.pem']! };
        expect(validateCredentials(decodeMaterial(material))).toEqual([]);
      } finally {
        pinnedServer.close();
      }
    },
  );
});
