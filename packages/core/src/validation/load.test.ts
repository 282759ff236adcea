// The bad-input matrix: each way a stored credential goes wrong ends in its own MtlsError code, with
// a message that names the field and says what to do, and with none of the secret bytes anywhere in
// the error (message, cause, inspect, JSON). Plus how loadCredentials treats sources.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { inspect } from 'node:util';
import { hasOpenssl, type IssuedCert, leakCheck, runOpenssl, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, test } from 'vitest';
import { INT, OCTETS, OID, SEQ } from '../__tests__/der.js';
import { loadMaterial } from '../decode.js';
import { parseOne } from '../decoding/asn1.js';
import { decodeMaterial } from '../decoding/decode-material.js';
import { LIMITS } from '../decoding/limits.js';
import { MtlsError, type MtlsErrorCode } from '../errors.js';
import type { ContextPem } from '../tls/context.js';
import type { CredentialMaterial, CredentialSource } from '../types.js';
import { loadCredentials, loadForContext } from './load.js';
import { resolvePolicy, type ValidationPolicy } from './policy.js';

const PASSPHRASE = 'the right passphrase 42';
const WRONG = 'a wrong passphrase 17';
const b64 = (data: string | Uint8Array) => Buffer.from(data).toString('base64');

/** A real OpenSSH private key from ssh-keygen, or a faithful stand-in (same armour and magic) without it. */
function opensshKey(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtlskit-ssh-'));
  try {
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')], {
      stdio: 'ignore',
    });
    if (r.status === 0) return readFileSync(join(dir, 'id'), 'utf8');
  } catch {
    // Fall through to the stand-in.
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const body = b64(Buffer.concat([Buffer.from('openssh-key-v1\0'), randomBytes(200)])).replace(
    /.{70}/g,
    '$&\n',
  );
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

let ca: TestCA;
let leaf: IssuedCert;
let other: IssuedCert;
let rsa: IssuedCert;
let expired: IssuedCert;
let notYet: IssuedCert;
let serverOnly: IssuedCert;
let pfx: Buffer;
let ssh: string;
let csrPem: string | undefined;

beforeAll(async () => {
  ca = await TestCA.create();
  const intermediate = await ca.intermediate();
  [leaf, other, rsa, expired, notYet, serverOnly] = await Promise.all([
    intermediate.issueClient({ validForSeconds: 365 * 86_400 }),
    intermediate.issueClient({ validForSeconds: 365 * 86_400 }),
    intermediate.issueClient({ keyType: 'rsa2048', validForSeconds: 365 * 86_400 }),
    intermediate.issueClient({ notAfter: new Date(Date.now() - 3_600_000) }),
    intermediate.issueClient({ notBefore: new Date(Date.now() + 86_400_000), validForSeconds: 10 * 86_400 }),
    intermediate.issueClient({ clientAuth: false, validForSeconds: 365 * 86_400 }),
  ]);
  pfx = await leaf.pkcs12(PASSPHRASE);
  ssh = opensshKey();
  if (hasOpenssl()) {
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-csr-'));
    try {
      writeFileSync(join(dir, 'key.pem'), leaf.keyPem, { mode: 0o600 });
      const r = await runOpenssl(['req', '-new', '-key', 'key.pem', '-subj', '/CN=mtlskit csr'], {
        cwd: dir,
      });
      if (r.code !== 0) throw new Error(r.stderr);
      csrPem = r.stdout;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}, 60_000);

interface BadCase {
  name: string;
  material: () => CredentialMaterial;
  policy?: ValidationPolicy;
  code: MtlsErrorCode;
  field: string;
  /** What the message must say (besides naming the field). */
  says: RegExp;
}

/** A PKCS#12 whose MAC asks for 2^31 - 1 iterations: the rest of the file is genuine. */
function hostilePfx(): Buffer {
  const [version, authSafe, macData] = parseOne(pfx).children;
  const [digestInfo, salt] = macData!.children;
  return SEQ(version!.encoded, authSafe!.encoded, SEQ(digestInfo!.encoded, salt!.encoded, INT(0x7fffffff)));
}

/** An encrypted PKCS#8 key (PBES2, AES-256-CBC, random ciphertext) with the given key derivation. */
function encryptedKeyWith(kdf: Buffer): string {
  const params = SEQ(kdf, SEQ(OID('2.16.840.1.101.3.4.1.42'), OCTETS(randomBytes(16))));
  const body = SEQ(SEQ(OID('1.2.840.113549.1.5.13'), params), OCTETS(randomBytes(160)));
  return `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${b64(body).replace(/.{64}/g, '$&\n')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
}
const pbkdf2Kdf = (iterations: number) =>
  SEQ(OID('1.2.840.113549.1.5.12'), SEQ(OCTETS(randomBytes(16)), INT(iterations)));
const scryptKdf = (N: number, r: number, p: number) =>
  SEQ(OID('1.3.6.1.4.1.11591.4.11'), SEQ(OCTETS(randomBytes(16)), INT(N), INT(r), INT(p)));

const CASES: BadCase[] = [
  {
    name: 'garbage text as the certificate',
    material: () => ({ cert: 'this is not a certificate at all!', key: leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /no format mtlskit reads.*Base64 alphabet.*BEGIN CERTIFICATE/s,
  },
  {
    name: 'random bytes as the key',
    material: () => ({ cert: leaf.certPem, key: Buffer.concat([Buffer.from([0x9f]), randomBytes(300)]) }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /not DER.*private key as PEM/s,
  },
  {
    name: 'valid Base64 of random-looking bytes as the certificate',
    // Fixed bytes: random ones now and then open like a DER SEQUENCE and get DER's message instead.
    material: () => ({
      cert: b64(Buffer.from(Array.from({ length: 120 }, (_, i) => (i * 151 + 7) & 255))),
      key: leaf.keyPem,
    }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /Base64 decodes to 120 bytes/,
  },
  {
    name: 'a truncated PEM certificate',
    material: () => ({ cert: leaf.certPem.slice(0, 300), key: leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /no END line.*cut off/s,
  },
  {
    name: 'a truncated PEM key',
    material: () => ({ cert: leaf.certPem, key: leaf.keyPem.slice(0, 120) }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /cut off/,
  },
  {
    name: 'a PEM key with its middle cut out',
    material: () => ({
      cert: leaf.certPem,
      key: leaf.keyPem.replace(/\n[A-Za-z0-9+/]{64}\n/, '\n'),
    }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /is damaged \(OpenSSL cannot read it as a private key\).*exactly as generated/s,
  },
  {
    name: 'truncated Base64 of a DER certificate',
    material: () => ({ cert: b64(leaf.certDer).slice(0, 200), key: leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /truncated/,
  },
  {
    name: 'an encrypted key with the wrong passphrase',
    material: () => ({ cert: leaf.certPem, key: leaf.encryptedPkcs8Pem(PASSPHRASE), passphrase: WRONG }),
    code: 'WRONG_PASSPHRASE',
    field: 'key',
    says: /does not decrypt.*a wrong passphrase, or a damaged key.*Give the passphrase/s,
  },
  {
    name: 'an encrypted key without a passphrase',
    material: () => ({ cert: leaf.certPem, key: leaf.encryptedPkcs8Pem(PASSPHRASE) }),
    code: 'WRONG_PASSPHRASE',
    field: 'key',
    says: /needs a passphrase.*Set passphrase/s,
  },
  {
    name: 'an encrypted key with an empty passphrase (as no passphrase)',
    material: () => ({ cert: leaf.certPem, key: leaf.encryptedPkcs8Pem(PASSPHRASE), passphrase: '' }),
    code: 'WRONG_PASSPHRASE',
    field: 'key',
    says: /encrypted and needs a passphrase, but the passphrase given is empty.*Set passphrase/s,
  },
  {
    name: 'a Proc-Type: 4,ENCRYPTED key with an empty passphrase from a file (only a newline)',
    material: () => ({ cert: rsa.certPem, key: rsa.encryptedTraditionalPem(PASSPHRASE), passphrase: '\n' }),
    code: 'WRONG_PASSPHRASE',
    field: 'key',
    says: /does not decrypt/,
  },
  {
    name: 'a Proc-Type: 4,ENCRYPTED key with the wrong passphrase',
    material: () => ({ cert: rsa.certPem, key: rsa.encryptedTraditionalPem(PASSPHRASE), passphrase: WRONG }),
    code: 'WRONG_PASSPHRASE',
    field: 'key',
    says: /does not decrypt/,
  },
  {
    name: 'a Proc-Type: 4,ENCRYPTED key without a passphrase',
    material: () => ({ cert: rsa.certPem, key: rsa.encryptedTraditionalPem(PASSPHRASE) }),
    code: 'WRONG_PASSPHRASE',
    field: 'key',
    says: /needs a passphrase/,
  },
  {
    name: 'the key of another certificate',
    material: () => ({ cert: leaf.fullChainPem, key: other.keyPem }),
    code: 'KEY_MISMATCH',
    field: 'key',
    says: /does not belong to the certificate.*CSR was generated with/s,
  },
  {
    name: 'an EC key with an RSA certificate',
    material: () => ({ cert: rsa.certPem, key: leaf.keyPem }),
    code: 'KEY_MISMATCH',
    field: 'key',
    says: /an EC prime256v1 key with an RSA 2048 certificate/,
  },
  {
    name: 'an expired certificate',
    material: () => ({ cert: expired.certPem, key: expired.keyPem }),
    code: 'EXPIRED',
    field: 'cert',
    says: /expired on .*Renew it/s,
  },
  {
    name: 'a certificate not yet valid',
    material: () => ({ cert: notYet.certPem, key: notYet.keyPem }),
    code: 'NOT_YET_VALID',
    field: 'cert',
    says: /not valid before .*clock/s,
  },
  {
    name: 'a certificate without clientAuth',
    material: () => ({ cert: serverOnly.certPem, key: serverOnly.keyPem }),
    code: 'NO_CLIENT_AUTH',
    field: 'cert',
    says: /extended key usage is serverAuth.*extendedKeyUsage=clientAuth/s,
  },
  {
    name: 'a key where the certificate belongs',
    material: () => ({ cert: leaf.keyPem, key: leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /holds a private key, not a certificate.*swapped/s,
  },
  {
    name: 'a certificate where the key belongs',
    material: () => ({ cert: leaf.certPem, key: leaf.certPem }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /holds a certificate, not a private key.*swapped/s,
  },
  {
    name: 'certificate and key swapped',
    material: () => ({ cert: b64(leaf.keyPem), key: b64(leaf.certPem) }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /swapped/,
  },
  {
    name: 'an OpenSSH private key',
    material: () => ({ cert: leaf.certPem, key: ssh }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /OpenSSH private key.*ssh-keygen/s,
  },
  {
    name: 'an SSH public key as the certificate',
    material: () => ({ cert: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC0e user@host', key: leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /SSH public key/,
  },
  {
    name: 'a public key where the private key belongs',
    material: () => ({
      cert: leaf.certPem,
      key: createPublicKey(leaf.privateKey).export({ type: 'spki', format: 'pem' }) as string,
    }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /public key, not a private key/,
  },
  {
    name: 'an empty certificate',
    material: () => ({ cert: '', key: leaf.keyPem }),
    code: 'MISSING_FIELD',
    field: 'cert',
    says: /is empty/,
  },
  {
    name: 'a key of only whitespace and a BOM',
    material: () => ({ cert: leaf.certPem, key: '\uFEFF \n\t ' }),
    code: 'MISSING_FIELD',
    field: 'key',
    says: /is empty/,
  },
  {
    name: 'no key at all',
    material: () => ({ cert: leaf.certPem }),
    code: 'MISSING_FIELD',
    field: 'key',
    says: /No private key was found.*MTLS_KEY/s,
  },
  {
    name: 'no certificate at all',
    material: () => ({ key: leaf.keyPem }),
    code: 'MISSING_FIELD',
    field: 'cert',
    says: /No client certificate was found.*MTLS_CERT/s,
  },
  {
    name: 'a PKCS#12 with the wrong password',
    material: () => ({ pfx, passphrase: WRONG }),
    code: 'WRONG_PASSPHRASE',
    field: 'pfx',
    says: /does not open the PKCS#12.*exported with/s,
  },
  {
    name: 'a PKCS#12 without a password',
    material: () => ({ pfx }),
    code: 'WRONG_PASSPHRASE',
    field: 'pfx',
    says: /protected by a password and no passphrase was given/,
  },
  {
    name: 'a PKCS#12 with an empty passphrase',
    material: () => ({ pfx, passphrase: '' }),
    code: 'WRONG_PASSPHRASE',
    field: 'pfx',
    says: /protected by a password and the passphrase given is empty/,
  },
  {
    name: 'a PKCS#12 given as Base64 text, with the wrong password (not "wrong tag")',
    material: () => ({ pfx: b64(pfx), passphrase: WRONG }),
    code: 'WRONG_PASSPHRASE',
    field: 'pfx',
    says: /does not open the PKCS#12/,
  },
  {
    name: 'a PKCS#12 given as Base64 text, cut short',
    material: () => ({ pfx: b64(pfx).slice(0, 1200), passphrase: PASSPHRASE }),
    code: 'DECODE_FAILED',
    field: 'pfx',
    says: /truncated.*Base64 of the file/s,
  },
  {
    name: 'a PKCS#12 whose MAC asks for 2^31 iterations',
    material: () => ({ pfx: hostilePfx(), passphrase: PASSPHRASE }),
    code: 'DECODE_FAILED',
    field: 'pfx',
    says: /2,147,483,647 iterations, above mtlskit's limit.*-iter 2048/s,
  },
  {
    name: 'an encrypted key whose PBKDF2 asks for 2^31 iterations',
    material: () => ({
      cert: leaf.certPem,
      key: encryptedKeyWith(pbkdf2Kdf(0x7fffffff)),
      passphrase: PASSPHRASE,
    }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /above mtlskit's limit.*Re-encrypt/s,
  },
  {
    // N=2^20, r=8 is 1 GiB of memory and seconds of work; p=16 multiplies the time again.
    name: 'an encrypted key whose scrypt asks for 1 GiB and minutes of work',
    material: () => ({
      cert: leaf.certPem,
      key: encryptedKeyWith(scryptKdf(2 ** 20, 8, 16)),
      passphrase: PASSPHRASE,
    }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /scrypt with N=1048576, r=8, p=16 asks for more work than mtlskit's limit.*Re-encrypt/s,
  },
  {
    name: 'an encrypted key with impossible scrypt parameters (damage, not a wrong passphrase)',
    material: () => ({
      cert: leaf.certPem,
      key: encryptedKeyWith(scryptKdf(1000, 8, 1)),
      passphrase: PASSPHRASE,
    }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /damaged \(scrypt parameters N=1000, r=8, p=1 are not valid\).*exactly as generated/s,
  },
  {
    name: 'an encrypted key with scrypt parameters OpenSSL refuses (damage, not a wrong passphrase)',
    material: () => ({
      cert: leaf.certPem,
      key: encryptedKeyWith(scryptKdf(2 ** 17, 1, 1)),
      passphrase: PASSPHRASE,
    }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /damaged \(scrypt parameters N=131072, r=1, p=1 are not valid\).*exactly as generated/s,
  },
  {
    name: 'an encrypted key whose encryption parameters are cut short (damage, not a wrong passphrase)',
    material: () => ({
      cert: leaf.certPem,
      key: encryptedKeyWith(SEQ(OID('1.2.840.113549.1.5.12'), SEQ(OCTETS(randomBytes(16))))),
      passphrase: PASSPHRASE,
    }),
    code: 'DECODE_FAILED',
    field: 'key',
    says: /is damaged \(PBKDF2 parameters: too few elements\)/,
  },
  {
    name: 'a field larger than the size limit',
    material: () => ({ cert: leaf.certPem + ' '.repeat(LIMITS.maxFieldBytes), key: leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /above mtlskit's limit of 1,048,576/,
  },
  {
    name: 'a CA value that does not parse',
    material: () => ({
      cert: leaf.certPem,
      key: leaf.keyPem,
      ca: leaf.caPem.replace(
        /\n[A-Za-z0-9+/]{64}\n/,
        '\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n',
      ),
    }),
    code: 'CHAIN_INVALID',
    field: 'ca',
    says: /does not parse.*CA certificate your provider publishes/s,
  },
  {
    name: 'an intermediate certificate that does not parse',
    material: () => ({
      cert: leaf.certPem + leaf.chainPem.replace(/\n[A-Za-z0-9+/]{64}\n/, `\n${'A'.repeat(64)}\n`),
      key: leaf.keyPem,
    }),
    code: 'CHAIN_INVALID',
    field: 'cert',
    says: /2nd certificate in `cert` does not parse.*exactly as issued/s,
  },
  {
    name: 'a private key inside the CA field',
    material: () => ({ cert: leaf.certPem, key: leaf.keyPem, ca: leaf.caPem + leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'ca',
    says: /takes only CA certificates/,
  },
  {
    name: 'an intermediate missing between the leaf and the root given',
    material: () => ({ cert: leaf.certPem + ca.certPem, key: leaf.keyPem }),
    code: 'CHAIN_INVALID',
    field: 'cert',
    says: /cannot be put in order.*remove unrelated certificates/s,
  },
  {
    name: 'the key of another certificate, both from a JSON bundle (messages name the bundle fields)',
    material: () => ({ bundle: JSON.stringify({ 'tls.crt': leaf.fullChainPem, 'tls.key': other.keyPem }) }),
    code: 'KEY_MISMATCH',
    field: 'key',
    says: /private key in the bundle's `tls\.key` does not belong to the certificate .* in the bundle's `tls\.crt`/,
  },
  {
    name: 'an expired certificate from a JSON bundle',
    material: () => ({ bundle: JSON.stringify({ cert: expired.certPem, key: expired.keyPem }) }),
    code: 'EXPIRED',
    field: 'cert',
    says: /in the bundle's `cert` expired on .*Renew it with your provider/s,
  },
  {
    name: 'a contentType that is not text',
    material: () =>
      ({ bundle: leaf.keyPem + leaf.certPem, contentType: 12 }) as unknown as CredentialMaterial,
    code: 'DECODE_FAILED',
    field: 'bundle',
    says: /contentType of the bundle is a number, not text.*application\/x-pkcs12/s,
  },
  {
    name: 'a certificate for another identity',
    material: () => ({ cert: leaf.certPem, key: leaf.keyPem }),
    policy: { expectedIdentity: { commonName: 'client-42.sandbox.mangopay.com' } },
    code: 'IDENTITY_MISMATCH',
    field: 'cert',
    says: /has common name "mtlskit test client", expected "client-42.sandbox.mangopay.com"/,
  },
  {
    name: 'a JSON bundle with none of the known fields',
    material: () => ({ bundle: JSON.stringify({ certData: leaf.certPem, secretKey: leaf.keyPem }) }),
    code: 'MISSING_FIELD',
    field: 'bundle',
    says: /its keys: certData, secretKey.*policy\.fields/s,
  },
  {
    name: 'a JSON bundle with a syntax error around the key',
    material: () => ({
      bundle: `{"cert": ${JSON.stringify(leaf.certPem)}, "key": ${JSON.stringify(leaf.keyPem)}`,
    }),
    code: 'DECODE_FAILED',
    field: 'bundle',
    says: /not valid JSON/,
  },
  {
    name: 'a JSON bundle nested absurdly deep',
    material: () => ({ bundle: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}` }),
    code: 'DECODE_FAILED',
    field: 'bundle',
    says: /nested deeper than 32/,
  },
  {
    name: 'a JSON document in the certificate field',
    material: () => ({ cert: JSON.stringify({ cert: leaf.certPem }), key: leaf.keyPem }),
    code: 'DECODE_FAILED',
    field: 'cert',
    says: /JSON document.*bundle/s,
  },
  {
    name: 'a PKCS#12 in a JSON bundle with the wrong password',
    material: () => ({ bundle: JSON.stringify({ pfx: b64(pfx), password: WRONG }) }),
    code: 'WRONG_PASSPHRASE',
    field: 'pfx',
    says: /the bundle's `pfx`/,
  },
];

describe('bad-input matrix: the specific code, a message naming the field and the fix, no secret', () => {
  const leaks = () =>
    leakCheck([
      leaf.keyPem.split('\n')[2]!,
      leaf.keyDer,
      rsa.keyDer,
      other.keyDer,
      expired.keyDer,
      notYet.keyDer,
      serverOnly.keyDer,
      pfx,
      PASSPHRASE,
      WRONG,
      ssh.split('\n')[3]!,
    ]);

  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const started = performance.now();
    const err = await loadCredentials(c.material(), c.policy).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(MtlsError);
    const e = err as MtlsError;
    expect({ code: e.code, field: e.field }).toEqual({ code: c.code, field: c.field });
    expect(e.message).toMatch(c.says);
    expect(e.message).toMatch(new RegExp(`\\b${c.field}\\b`));
    // Problem, then fix: at least two sentences.
    expect(e.message.split(/[.!?] /).length).toBeGreaterThan(1);
    leaks().check(e, `the error for ${c.name}`);
  });

  test.skipIf(!hasOpenssl())('a certificate signing request where the certificate belongs', async () => {
    expect(csrPem).toContain('BEGIN CERTIFICATE REQUEST');
    const err = await loadCredentials({ cert: csrPem!, key: leaf.keyPem }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DECODE_FAILED', field: 'cert' });
    expect((err as Error).message).toMatch(/signing request \(CSR\).*Submit the CSR/s);
  });

  test('several errors at once: the first is thrown and the others are named', async () => {
    const err = await loadCredentials({ cert: expired.certPem, key: other.keyPem }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KEY_MISMATCH' });
    expect((err as Error).message).toContain('(Also: EXPIRED.)');
  });
});

describe('loadCredentials with a source', () => {
  test('carries the source id and version onto the credentials', async () => {
    const source: CredentialSource = {
      id: 'env:',
      load: async () => ({ cert: leaf.fullChainPem, key: leaf.keyPem, version: 'v7' }),
    };
    const creds = await loadCredentials(source);
    expect(creds.sourceId).toBe('env:');
    expect(creds.sourceVersion).toBe('v7');
  });

  test('passes the context (abort signal) to the source', async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const signal = new AbortController().signal;
    const source: CredentialSource = {
      id: 'test:ctx',
      load: async (ctx) => {
        seen.push(ctx?.signal);
        return { cert: leaf.certPem, key: leaf.keyPem };
      },
    };
    await loadCredentials(source, undefined, { signal });
    expect(seen).toEqual([signal]);
  });

  test('an MtlsError from the source passes through unchanged', async () => {
    const original = new MtlsError('ACCESS_DENIED', 'denied', { sourceId: 'aws-sm://x' });
    const source: CredentialSource = { id: 'aws-sm://x', load: () => Promise.reject(original) };
    await expect(loadCredentials(source)).rejects.toBe(original);
  });

  test('any other failure becomes SOURCE_UNAVAILABLE with the source id and a redacted cause', async () => {
    const token = 'hvs.CAESIJlZ0123456789abcdefghijklmnop';
    const vendorError = Object.assign(new Error(`connect ECONNREFUSED (token ${token})`), {
      code: 'ECONNREFUSED',
      config: { headers: { 'X-Vault-Token': token } },
    });
    const source: CredentialSource = { id: 'vault://secret/mtls', load: () => Promise.reject(vendorError) };
    const err = (await loadCredentials(source).catch((e: unknown) => e)) as MtlsError;
    expect(err).toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      sourceId: 'vault://secret/mtls',
      retryable: true,
    });
    expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect(err.message).toContain('vault://secret/mtls failed (Error ECONNREFUSED)');
    leakCheck([token]).check(err, 'SOURCE_UNAVAILABLE error');
    expect(inspect(err)).not.toContain('X-Vault-Token');
  });

  test('the same rule is loadMaterial of @mtlskit/core/decode, for tools that load without validating', async () => {
    const failing: CredentialSource = {
      id: 'vault://secret/mtls',
      load: () => Promise.reject(Object.assign(new Error('token hvs.x leaked'), { code: 'ECONNRESET' })),
    };
    const err = (await loadMaterial(failing).catch((e: unknown) => e)) as MtlsError;
    expect(err).toBeInstanceOf(MtlsError);
    expect(err).toMatchObject({ code: 'SOURCE_UNAVAILABLE', sourceId: 'vault://secret/mtls' });
    expect(err.message).toContain('vault://secret/mtls failed (Error ECONNRESET)');
    expect(err.message).not.toContain('hvs.x');
    const original = new MtlsError('ACCESS_DENIED', 'denied');
    await expect(loadMaterial({ id: 'x', load: () => Promise.reject(original) })).rejects.toBe(original);
    const material = { cert: leaf.certPem, key: leaf.keyPem };
    expect(await loadMaterial({ id: 'x', load: async () => material })).toBe(material);
  });

  test('decode and validation errors name the source they came from', async () => {
    const source: CredentialSource = {
      id: 'file:/etc/mtls',
      load: async () => ({ cert: leaf.certPem, key: other.keyPem }),
    };
    await expect(loadCredentials(source)).rejects.toMatchObject({
      code: 'KEY_MISMATCH',
      sourceId: 'file:/etc/mtls',
    });
    const bad: CredentialSource = {
      id: 'file:/etc/mtls',
      load: async () => ({ cert: 'garbage!', key: leaf.keyPem }),
    };
    await expect(loadCredentials(bad)).rejects.toMatchObject({
      code: 'DECODE_FAILED',
      sourceId: 'file:/etc/mtls',
    });
  });

  test('no material at all is MISSING_FIELD, not a TypeError', async () => {
    await expect(loadCredentials(null as unknown as CredentialMaterial)).rejects.toMatchObject({
      code: 'MISSING_FIELD',
    });
  });

  test('a source that resolves to nothing is MISSING_FIELD', async () => {
    const source = { id: 'test:empty', load: async () => undefined } as unknown as CredentialSource;
    await expect(loadCredentials(source)).rejects.toMatchObject({
      code: 'MISSING_FIELD',
      sourceId: 'test:empty',
    });
  });

  test('takes a reference string, and closes the source it built from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-load-ref-'));
    try {
      writeFileSync(join(dir, 'certificate.pem'), leaf.fullChainPem);
      writeFileSync(join(dir, 'private.key'), leaf.keyPem, { mode: 0o600 });
      const creds = await loadCredentials(`file:${dir}`);
      expect(creds.fingerprint256).toBe(leaf.fingerprint256);
      expect(creds.sourceId).toBe(`file:${dir}`);
      await expect(loadCredentials(`file:${dir}/missing`)).rejects.toMatchObject({
        code: 'SOURCE_NOT_FOUND',
      });
      await expect(loadCredentials('no-such-scheme:x')).rejects.toMatchObject({
        code: 'INVALID_REFERENCE',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Promise of a source (a forgotten await) is named as such, not a missing field', async () => {
    const forgotten = Promise.resolve({
      id: 'test:x',
      load: async () => ({}),
    }) as unknown as CredentialSource;
    const err = await loadCredentials(forgotten).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_OPTION' });
    expect((err as Error).message).toMatch(/loadCredentials\(\) was given a Promise.*`await` missing/);
    expect((err as Error).message).not.toMatch(/MTLS_CERT/);
  });

  test('warnings ride on the credentials instead of throwing', async () => {
    const soon = await ca.issueClient({ validForSeconds: 5 * 86_400 });
    const creds = await loadCredentials({ cert: soon.certPem, key: soon.keyPem }, { warnDays: 30 });
    expect(creds.findings.map((f) => f.code)).toEqual(['EXPIRING_SOON']);
    expect(creds.fingerprint256).toBe(new X509Certificate(soon.certPem).fingerprint256);
  });

  test("an abort passes through as the signal's reason, not as SOURCE_UNAVAILABLE", async () => {
    const controller = new AbortController();
    const source: CredentialSource = {
      id: 'test:slow',
      load: (ctx) =>
        new Promise((_, reject) => ctx?.signal?.addEventListener('abort', () => reject(ctx.signal?.reason))),
    };
    const pending = loadCredentials(source, undefined, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBe(controller.signal.reason);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  test("a source's own warnings (e.g. key file permissions) ride on the credentials", async () => {
    const warning = {
      code: 'KEY_FILE_PERMISSIONS',
      severity: 'warning' as const,
      message: 'The key file is readable by others.',
      fix: 'chmod 600 it.',
      field: 'key',
    };
    const source = {
      id: 'file:/etc/mtls',
      warnings: [warning],
      load: async () => ({ cert: leaf.certPem, key: leaf.keyPem }),
    };
    const creds = await loadCredentials(source);
    expect(creds.findings).toContainEqual(warning);
  });

  test('a wrong passphrase whose decryption happens to end in valid padding is still WRONG_PASSPHRASE', async () => {
    // About one wrong passphrase in 256 decrypts the last CBC block to noise with valid padding, and
    // OpenSSL then reports a decoder error instead of "bad decrypt". Find one, and check the code.
    const encrypted = leaf.encryptedPkcs8Pem(PASSPHRASE);
    let lucky: string | undefined;
    for (let i = 0; i < 4000 && lucky === undefined; i++) {
      try {
        createPrivateKey({ key: encrypted, passphrase: `wrong ${i}` });
      } catch (err) {
        if (!/bad decrypt/.test(String(err))) lucky = `wrong ${i}`;
      }
    }
    expect(lucky, 'a passphrase that passes the padding check').toBeDefined();
    await expect(
      loadCredentials({ cert: leaf.certPem, key: encrypted, passphrase: lucky }),
    ).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE', field: 'key' });
  });
});

describe('loadForContext (the resolver’s load)', () => {
  test('hands over the key and the leaf with its chain as PEM written from what was decoded, from PEM and from PKCS#12', async () => {
    const forms: CredentialMaterial[] = [
      { cert: leaf.fullChainPem, key: leaf.keyPem, ca: ca.rootPem },
      { pfx, passphrase: PASSPHRASE },
    ];
    for (const material of forms) {
      let pem: ContextPem | undefined;
      const creds = await loadForContext(material, resolvePolicy(), undefined, (written) => {
        pem = written;
      });
      // The PEM given to the context is the DER decoded: the same certificates, the same key.
      const blocks =
        pem?.cert?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
      expect(blocks.map((b) => new X509Certificate(b).fingerprint256)).toEqual(
        [creds.leaf, ...creds.chain].map((c) => c.fingerprint256),
      );
      expect(
        createPrivateKey(pem!.key!)
          .export({ type: 'pkcs8', format: 'der' })
          .equals(creds.key.export({ type: 'pkcs8', format: 'der' })),
      ).toBe(true);
      expect(() => tls.createSecureContext({ cert: pem!.cert, key: pem!.key })).not.toThrow();
    }
  });
});

describe('what a load leaves behind', () => {
  /** What V8 keeps of the last successful match of any regular expression, readable by every module. */
  const lastMatch = () => {
    const statics = RegExp as unknown as Record<string, string>;
    return ['input', 'lastMatch', 'leftContext', 'rightContext', 'lastParen']
      .map((name) => `${name}: ${statics[name]}`)
      .join('\n');
  };

  test('no secret in RegExp.input and the other legacy statics after a load or a failed one, from every text form', async () => {
    const check = leakCheck([leaf.keyDer, rsa.keyDer, leaf.keyPem.split('\n')[2]!, PASSPHRASE]);
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const forms: Array<[string, CredentialMaterial]> = [
      ['PEM', { cert: leaf.certPem, key: leaf.keyPem }],
      ['Base64 PEM', { cert: b64(leaf.certPem), key: b64(leaf.keyPem) }],
      [
        'PEM with literal \\n',
        { cert: leaf.certPem.replaceAll('\n', '\\n'), key: leaf.keyPem.replaceAll('\n', '\\n') },
      ],
      [
        'Base64 DER',
        { cert: leaf.certDer.toString('base64'), key: Buffer.from(leaf.keyDer).toString('base64') },
      ],
      ['RSA PEM', { cert: rsa.certPem, key: rsa.keyPem }],
      ['JSON bundle', { bundle: JSON.stringify({ 'tls.crt': leaf.certPem, 'tls.key': b64(leaf.keyPem) }) }],
      ['PKCS#12 with passphrase', { pfx, passphrase: PASSPHRASE }],
    ];
    for (const [form, material] of forms) {
      await loadCredentials(material);
      check.checkText(lastMatch(), `RegExp statics after loading ${form}`);
      let pem: ContextPem | undefined;
      await loadForContext(material, resolvePolicy(), undefined, (written) => {
        pem = written;
      });
      expect(pem?.key).toContain('PRIVATE KEY');
      check.checkText(lastMatch(), `RegExp statics after loadForContext of ${form}`);
      // The synchronous decode of @mtlskit/core/decode clears them too.
      expect(decodeMaterial(material).key.asymmetricKeyType).toBeDefined();
      check.checkText(lastMatch(), `RegExp statics after decodeMaterial of ${form}`);
    }
    // A refused load: the key of another certificate, and a wrong passphrase.
    await expect(loadCredentials({ cert: leaf.certPem, key: rsa.keyPem })).rejects.toThrow(MtlsError);
    check.checkText(lastMatch(), 'RegExp statics after a key mismatch');
    await expect(loadCredentials({ pfx, passphrase: `${PASSPHRASE}x` })).rejects.toThrow(MtlsError);
    check.checkText(lastMatch(), 'RegExp statics after a wrong passphrase');
  });
});
