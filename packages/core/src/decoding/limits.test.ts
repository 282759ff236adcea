// Every limit in LIMITS met by real input just past it — genuine certificates, keys and PKCS#12 files,
// or the structures hostile input would use — each ending in its specific MtlsError, quickly. And
// the limits that bound work rather than size: the key-derivation budget (PKCS#12 iterations, scrypt),
// private keys per field, and certificates to order into a chain.
import { randomBytes, X509Certificate } from 'node:crypto';
import { hasOpenssl, type IssuedCert, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, test } from 'vitest';
import { sameNameChain, scryptEncryptedPem } from '../__tests__/crafted.js';
import { der, INT, NULL, OCTETS, OID, SEQ } from '../__tests__/der.js';
import { MtlsError } from '../errors.js';
import type { CredentialMaterial } from '../types.js';
import { loadCredentials } from '../validation/load.js';
import { parseOne } from './asn1.js';
import { decodeMaterial } from './decode-material.js';
import { LIMITS } from './limits.js';

const PASSPHRASE = 'limits test passphrase';
/** "Fast" on a loaded two-core machine: refusals take microseconds to a few milliseconds. */
// Bounded, not benchmarked: each refused input would take minutes (or hang) if it reached the parser
// or the derivation; the margin absorbs a loaded machine.
const FAST_MS = 5_000;
/** The most scrypt work one key may ask for: N=2^17, r=8, p=1 (~0.6 s). */
const SCRYPT_MAX = { N: 2 ** 17, r: 8, p: 1 };
const OPENSSL = hasOpenssl();

let leaf: IssuedCert;
let other: IssuedCert;
/** The leaf's key and another key, scrypt-encrypted at the highest cost accepted. */
let leafScrypt: string;
let otherScrypt: string;

beforeAll(async () => {
  const root = await TestCA.create();
  const intermediate = await root.intermediate();
  [leaf, other] = await Promise.all([
    intermediate.issueClient({ validForSeconds: 90 * 86_400 }),
    intermediate.issueClient({ validForSeconds: 90 * 86_400 }),
  ]);
  expect(SCRYPT_MAX.N * SCRYPT_MAX.r * SCRYPT_MAX.p).toBe(LIMITS.maxScryptCost);
  leafScrypt = scryptEncryptedPem(leaf.privateKey, PASSPHRASE, SCRYPT_MAX);
  otherScrypt = scryptEncryptedPem(other.privateKey, PASSPHRASE, SCRYPT_MAX);
}, 60_000);

/** Runs `fn`, returning what it threw and how long it took. */
async function timed(fn: () => unknown): Promise<{ err: MtlsError; ms: number }> {
  const started = performance.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - started;
  expect(err, 'an MtlsError').toBeInstanceOf(MtlsError);
  return { err: err as MtlsError, ms };
}

const refused = (material: CredentialMaterial) => timed(() => loadCredentials(material));

describe('size limits', () => {
  test(`more than ${LIMITS.maxPemBlocks} PEM blocks in one field`, async () => {
    const cert = leaf.certPem.repeat(LIMITS.maxPemBlocks + 1);
    expect(cert.length).toBeLessThan(LIMITS.maxFieldBytes);
    const { err, ms } = await refused({ cert, key: leaf.keyPem });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'cert' });
    expect(err.message).toMatch(/`cert` holds PEM .*more than 1024 PEM blocks/);
    expect(ms).toBeLessThan(FAST_MS);
  });

  test(`more than ${LIMITS.maxCertificatesPerField} certificates in one field`, async () => {
    const ca = leaf.caPem.repeat(LIMITS.maxCertificatesPerField + 1);
    const { err, ms } = await refused({ cert: leaf.fullChainPem, key: leaf.keyPem, ca });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'ca' });
    expect(err.message).toMatch(/`ca` holds more than 512 certificates\. Keep only/);
    expect(ms).toBeLessThan(FAST_MS);
  });

  test(`more than ${LIMITS.maxAsn1Nodes} ASN.1 elements in one value`, async () => {
    const many = SEQ(Buffer.concat(Array.from({ length: LIMITS.maxAsn1Nodes }, () => NULL)));
    expect(many.length).toBeLessThan(LIMITS.maxFieldBytes);
    const { err, ms } = await refused({ cert: many, key: leaf.keyPem });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'cert' });
    expect(err.message).toMatch(/not DER \(more than 200000 elements\)/);
    expect(ms).toBeLessThan(FAST_MS);
  });

  test(`ASN.1 nested deeper than ${LIMITS.maxAsn1Depth} levels, as Base64`, async () => {
    let deep: Buffer = NULL;
    for (let i = 0; i <= LIMITS.maxAsn1Depth; i++) deep = SEQ(deep);
    const { err, ms } = await refused({ cert: leaf.certPem, key: deep.toString('base64') });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'key' });
    expect(err.message).toMatch(/nested deeper than 48 levels/);
    expect(ms).toBeLessThan(FAST_MS);
  });

  test(`more than ${LIMITS.maxSafeBags} bags in one PKCS#12`, async () => {
    // A genuine layout (version 3, one unencrypted safe, no MAC) of 257 secret bags, which carry
    // nothing a TLS client needs and so cost nothing each: only the count stops it.
    const secretBag = SEQ(
      OID('1.2.840.113549.1.12.10.1.5'),
      der(0xa0, SEQ(OID('1.2.3.4'), der(0xa0, OCTETS(Buffer.from('x'))))),
    );
    const safeContents = SEQ(...Array.from({ length: LIMITS.maxSafeBags + 1 }, () => secretBag));
    const data = (content: Buffer) => SEQ(OID('1.2.840.113549.1.7.1'), der(0xa0, OCTETS(content)));
    const pfx = SEQ(der(0x02, Buffer.from([3])), data(SEQ(data(safeContents))));
    const { err, ms } = await refused({ pfx });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'pfx' });
    expect(err.message).toMatch(/PKCS#12 in `pfx` was refused: more than 256 bags/);
    expect(ms).toBeLessThan(FAST_MS);
  });
});

describe('private keys per field', () => {
  test(`more than ${LIMITS.maxPrivateKeysPerField} keys are refused before any is decrypted`, async () => {
    // Each of these keys costs ~0.6 s of scrypt to try: 9 would be seconds, 1,024 (the most PEM
    // blocks a field may hold, well under 1 MiB) ten minutes.
    for (const count of [LIMITS.maxPrivateKeysPerField + 1, LIMITS.maxPemBlocks]) {
      const { err, ms } = await refused({
        cert: leaf.certPem,
        key: otherScrypt.repeat(count),
        passphrase: PASSPHRASE,
      });
      expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'key' });
      expect(err.message).toMatch(/`key` holds more than 8 private keys\. Keep only the private key/);
      expect(ms).toBeLessThan(FAST_MS);
    }
  });

  test('opening stops at the key that belongs to the certificate', () => {
    // Eight keys at the highest scrypt cost would need more than the derivation budget: decoding only
    // succeeds because the first key matches and the seven spares are never decrypted.
    const key = leafScrypt + otherScrypt.repeat(LIMITS.maxPrivateKeysPerField - 1);
    const decoded = decodeMaterial({ cert: leaf.certPem, key, passphrase: PASSPHRASE });
    expect(decoded.leaf.checkPrivateKey(decoded.key)).toBe(true);
  });
});

describe('key-derivation budget', () => {
  /** The whole budget spent on a loaded two-core machine (~1.5–3 s of derivations on an idle one). */
  const BUDGET_MS = 15_000;

  test('scrypt work counts: keys that each pass the scrypt limit cannot add up to a hang', async () => {
    // Four keys of another certificate at N·r·p = 2^20 each, opened with the right passphrase: three
    // are tried (~1.8 s), the fourth would pass the budget. Synchronous decodeMaterial, so no
    // derivation is cached.
    expect(3 * LIMITS.maxScryptCost).toBeLessThanOrEqual(LIMITS.maxTotalIterations);
    expect(4 * LIMITS.maxScryptCost).toBeGreaterThan(LIMITS.maxTotalIterations);
    const { err, ms } = await timed(() =>
      decodeMaterial({ cert: leaf.certPem, key: otherScrypt.repeat(4), passphrase: PASSPHRASE }),
    );
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'key' });
    expect(err.message).toMatch(
      /private key in `key` was refused: its key derivations add up to more than 4,000,000 iterations' worth of work/,
    );
    expect(ms).toBeLessThan(BUDGET_MS);
  });

  test('a PKCS#12 whose MAC derivation alone is over the budget is refused before any work', async () => {
    // A genuine file with its MAC replaced by PBMAC1 (RFC 9579) over PBKDF2-HMAC-SHA384 with a 64-byte
    // key: 1,000,000 iterations (the per-derivation limit), two output blocks of 3 units each.
    const [version, authSafe] = parseOne(await leaf.pkcs12(PASSPHRASE)).children;
    const kdf = SEQ(
      OID('1.2.840.113549.1.5.12'),
      SEQ(OCTETS(randomBytes(16)), INT(LIMITS.maxIterations), INT(64), SEQ(OID('1.2.840.113549.2.10'), NULL)),
    );
    const pbmac1 = SEQ(OID('1.2.840.113549.1.5.14'), SEQ(kdf, SEQ(OID('1.2.840.113549.2.9'), NULL)));
    const macData = SEQ(SEQ(pbmac1, OCTETS(randomBytes(32))), OCTETS(Buffer.from('NOT USED')), INT(1));
    const pfx = SEQ(version!.encoded, authSafe!.encoded, macData);
    const { err, ms } = await refused({ pfx, passphrase: PASSPHRASE });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'pfx' });
    expect(err.message).toMatch(/add up to more than 4,000,000 iterations' worth of work.*-iter 2048/s);
    expect(ms).toBeLessThan(FAST_MS);
  });

  test.skipIf(!OPENSSL)(
    'a real PKCS#12 whose SHA-512 MAC takes the whole budget stops before the next derivation',
    async () => {
      // A 1,000,000-iteration SHA-512 MAC is 4 units an iteration: all of the budget. The certificates'
      // PBKDF2 (another 1,000,000) is refused before it runs.
      const pfx = await leaf.pkcs12(PASSPHRASE, {
        algorithm: 'openssl',
        opensslArgs: ['-iter', '1000000', '-macalg', 'sha512'],
      });
      const { err, ms } = await refused({ pfx, passphrase: PASSPHRASE });
      expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'pfx' });
      expect(err.message).toMatch(/add up to more than 4,000,000 iterations' worth of work.*-iter 2048/s);
      expect(ms).toBeLessThan(BUDGET_MS);
    },
    60_000,
  );

  test.skipIf(!OPENSSL)(
    'a real OpenSSL 3 PKCS#12 with 1,000,000 iterations everywhere loads: the budget covers it',
    async () => {
      // A SHA-256 MAC (2 units an iteration) and PBKDF2-SHA256 for the certificates and the key: each
      // derivation at the per-derivation limit, 4,000,000 units in all.
      const pfx = await leaf.pkcs12(PASSPHRASE, { algorithm: 'openssl', opensslArgs: ['-iter', '1000000'] });
      const creds = await loadCredentials({ pfx, passphrase: PASSPHRASE });
      expect(creds.fingerprint256).toBe(leaf.fingerprint256);
    },
    60_000,
  );

  test.skipIf(!OPENSSL)(
    'a PKCS#12 exported without a password opens although a passphrase is given, at 600,000 iterations',
    async () => {
      // The passphrase (read from a file: with and without its newline) is tried first: two MAC
      // checks of 1,200,000 units that fail. They count against the bound with candidates, not against
      // what opening the file with '' needs (2,400,000).
      const pfx = await leaf.pkcs12('', { algorithm: 'openssl', opensslArgs: ['-iter', '600000'] });
      const creds = await loadCredentials({ pfx, passphrase: 'given anyway\n' });
      expect(creds.fingerprint256).toBe(leaf.fingerprint256);
    },
    60_000,
  );

  test.skipIf(!OPENSSL)(
    'the passphrase candidates that fail are bounded too',
    async () => {
      // At 1,000,000 iterations the same file needs two failed MAC checks (4,000,000 units) and then
      // 4,000,000 to open: past the 6,000,000 of all candidates together, it stops there.
      const pfx = await leaf.pkcs12('', { algorithm: 'openssl', opensslArgs: ['-iter', '1000000'] });
      const { err, ms } = await refused({ pfx, passphrase: 'given anyway\n' });
      expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'pfx' });
      expect(err.message).toMatch(
        /with those of the passphrase candidates that did not open it, add up to more than 6,000,000 iterations' worth of work/,
      );
      expect(ms).toBeLessThan(BUDGET_MS);
      // With a passphrase given once, not twice, the file opens: 2,000,000 + 4,000,000.
      const creds = await loadCredentials({ pfx, passphrase: 'given anyway' });
      expect(creds.fingerprint256).toBe(leaf.fingerprint256);
    },
    60_000,
  );
});

describe('certificates to order into a chain', () => {
  test(`more than ${LIMITS.maxChainCertificates} are refused before any signature check`, async () => {
    // 40 certificates that all look like each other's issuer: ordering them would cost ~800 signature
    // checks (511 of them, the audit's case, took 18 s).
    const chain = sameNameChain(40);
    const { err, ms } = await refused({ cert: chain.reversedPem, key: chain.keyPem });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'cert' });
    expect(err.message).toMatch(
      /`cert` holds 40 different certificates .*limit of 16\. Keep only the client certificate/,
    );
    expect(ms).toBeLessThan(FAST_MS);
  });

  test(`${LIMITS.maxChainCertificates} given in reverse order are put in order, quickly`, async () => {
    const chain = sameNameChain(LIMITS.maxChainCertificates);
    const started = performance.now();
    const creds = await loadCredentials({ cert: chain.reversedPem, key: chain.keyPem });
    expect(performance.now() - started).toBeLessThan(2_000);
    const given = chain.reversedPem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g)!;
    const fingerprints = given.map((p) => new X509Certificate(p).fingerprint256).reverse();
    expect([creds.fingerprint256, ...creds.chain.map((c) => c.fingerprint256)]).toEqual(fingerprints);
  });

  test('the count is over every field that holds chain certificates, after duplicates are dropped', async () => {
    const chain = sameNameChain(12);
    const more = sameNameChain(6, 'B');
    // The same 12 twice are 12; with 6 unrelated ones in the bundle, 18.
    const ok = await loadCredentials({ cert: chain.reversedPem + chain.reversedPem, key: chain.keyPem });
    expect(ok.chain).toHaveLength(11);
    const { err } = await refused({ cert: chain.reversedPem, bundle: more.reversedPem + chain.keyPem });
    expect({ code: err.code, field: err.field }).toEqual({ code: 'DECODE_FAILED', field: 'cert' });
    expect(err.message).toMatch(/`cert` and bundle hold 18 different certificates/);
  });
});
