// PKCS#12 reading beyond the decode matrix: files as the openssl CLI and the testkit's pkijs writer
// make them (CA certificates, wrong passwords, -nomac, high iteration counts), BER-encoded files,
// PBMAC1 (RFC 9579, which OpenSSL 3.0 cannot write: built here, its MAC computed with node:crypto),
// the iteration budget, and loading the legacy ciphers only for the files that need them.
import { createHmac, pbkdf2Sync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { hasOpenssl, type IssuedCert, type Pkcs12Algorithm, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, test } from 'vitest';
import { der, INT, NULL, OCTETS, OID, SEQ } from '../__tests__/der.js';
import { MtlsError } from '../errors.js';
import { loadCredentials } from '../validation/load.js';
import { octets, parseOne } from './asn1.js';
import { decodeMaterial } from './decode-material.js';
import { legacyCiphersIfLoaded } from './legacy-ciphers.js';
import { LIMITS } from './limits.js';
import {
  bmpPassword,
  decryptPbe,
  decryptTraditional,
  IterationBudget,
  PbeError,
  pbkdf2,
  pkcs12Kdf,
} from './pbe.js';

const PASSPHRASE = 'pkcs12 test password';
const WRONG = 'not the pkcs12 password';
const OPENSSL = hasOpenssl();
let leaf: IssuedCert;
let intermediateFingerprint: string;
let rootFingerprint: string;

beforeAll(async () => {
  const root = await TestCA.create();
  leaf = await (await root.intermediate()).issueClient({ validForSeconds: 90 * 86_400 });
  intermediateFingerprint = new X509Certificate(leaf.chainPem).fingerprint256;
  rootFingerprint = new X509Certificate(leaf.caPem).fingerprint256;
}, 60_000);

/** One BER element with an indefinite length. */
function indefinite(tag: number, ...content: Uint8Array[]): Buffer {
  return Buffer.concat([Buffer.from([tag, 0x80]), ...content, Buffer.from([0, 0])]);
}

/** Re-encodes a PFX's outer layers as BER (indefinite lengths, the content OCTET STRING in 100-byte pieces). */
function toBer(pfx: Buffer): Buffer {
  const [version, authSafe, macData] = parseOne(pfx).children;
  const [contentType, explicit] = authSafe!.children;
  const content = explicit!.children[0]!.content;
  const pieces: Buffer[] = [];
  for (let i = 0; i < content.length; i += 100) pieces.push(der(0x04, content.subarray(i, i + 100)));
  return indefinite(
    0x30,
    version!.encoded,
    indefinite(0x30, contentType!.encoded, indefinite(0xa0, indefinite(0x24, ...pieces))),
    macData!.encoded,
  );
}

/** `openssl pkcs12 -export` of the leaf, its key and its intermediate, with extra arguments. */
function opensslPkcs12(args: string[]): Promise<Buffer> {
  return leaf.pkcs12(PASSPHRASE, { algorithm: 'openssl', opensslArgs: args });
}

const HMAC_OID = { sha256: '1.2.840.113549.2.9', sha512: '1.2.840.113549.2.11' } as const;

interface Pbmac1Options {
  prf: keyof typeof HMAC_OID;
  mac: keyof typeof HMAC_OID;
  iterations?: number;
  /** The PBKDF2 keyLength field; `null` leaves it out (RFC 9579 requires it). */
  keyLength?: number | null;
}

/**
 * The same PFX with its MacData replaced by a PBMAC1 one (RFC 9579): key = PBKDF2(UTF-8 password),
 * MAC = HMAC over the AuthenticatedSafe, both from node:crypto, independently of the code under test.
 */
function withPbmac1(pfx: Buffer, password: string, o: Pbmac1Options): Buffer {
  const [version, authSafe] = parseOne(pfx).children;
  const content = octets(authSafe!.children[1]!.children[0], 'AuthenticatedSafe');
  const salt = randomBytes(16);
  const iterations = o.iterations ?? 2048;
  const keyLength = o.mac === 'sha256' ? 32 : 64;
  // A count above the limit is refused before any MAC is computed: no need to spend it here either.
  const key =
    iterations > LIMITS.maxIterations
      ? randomBytes(keyLength)
      : pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, keyLength, o.prf);
  const mac = createHmac(o.mac, key).update(content).digest();
  const kdfParams = SEQ(
    OCTETS(salt),
    INT(iterations),
    ...(o.keyLength === null ? [] : [INT(o.keyLength ?? keyLength)]),
    SEQ(OID(HMAC_OID[o.prf]), NULL),
  );
  const pbmac1 = SEQ(
    OID('1.2.840.113549.1.5.14'),
    SEQ(SEQ(OID('1.2.840.113549.1.5.12'), kdfParams), SEQ(OID(HMAC_OID[o.mac]), NULL)),
  );
  // macSalt and iterations are unused with PBMAC1; RFC 9579 fills them with "NOT USED" and 1.
  const macData = SEQ(SEQ(pbmac1, OCTETS(mac)), OCTETS(Buffer.from('NOT USED')), INT(1));
  return SEQ(version!.encoded, authSafe!.encoded, macData);
}

/** A PFX whose password MAC asks for `iterations`: the rest of the file is genuine. */
function withMacIterations(pfx: Buffer, iterations: number): Buffer {
  const [version, authSafe, macData] = parseOne(pfx).children;
  const [digestInfo, salt] = macData!.children;
  return SEQ(version!.encoded, authSafe!.encoded, SEQ(digestInfo!.encoded, salt!.encoded, INT(iterations)));
}

async function errorOf(promise: Promise<unknown>): Promise<MtlsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MtlsError);
  return err as MtlsError;
}

// First in this file: RC2/DES load once per module instance, so this must run before any legacy file.
describe('legacy ciphers', () => {
  test.skipIf(!OPENSSL)('loads the legacy ciphers only when a file needs them', async () => {
    await loadCredentials({ pfx: await leaf.pkcs12(PASSPHRASE), passphrase: PASSPHRASE });
    await loadCredentials({
      pfx: await leaf.pkcs12(PASSPHRASE, { algorithm: '3des' }),
      passphrase: PASSPHRASE,
    });
    expect(legacyCiphersIfLoaded()).toBeUndefined();
    const legacy = await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' });
    const creds = await loadCredentials({ pfx: legacy, passphrase: PASSPHRASE });
    expect(creds.findings.map((f) => f.code)).toContain('LEGACY_PKCS12');
    expect(legacyCiphersIfLoaded()).toBeDefined();
  });
});

const WRITERS: { name: string; algorithm: Pkcs12Algorithm; openssl: boolean }[] = [
  { name: 'modern AES-256 (pkijs, the testkit writer)', algorithm: 'aes256', openssl: false },
  { name: '3DES (openssl CLI)', algorithm: '3des', openssl: true },
  { name: 'legacy RC2-40 (openssl CLI -legacy)', algorithm: 'legacy-rc2', openssl: true },
];

describe.each(WRITERS)('PKCS#12 $name', ({ algorithm, openssl }) => {
  test.skipIf(openssl && !OPENSSL)(
    'CA certificates in the file are sent as chain, and trusted only with pfxCaAsTrust',
    async () => {
      const pfx = await leaf.pkcs12(PASSPHRASE, { algorithm, includeRoot: true });
      const asChain = await loadCredentials({ pfx, passphrase: PASSPHRASE });
      expect(asChain.fingerprint256).toBe(leaf.fingerprint256);
      expect(asChain.chain.map((c) => c.fingerprint256)).toEqual([intermediateFingerprint, rootFingerprint]);
      expect(asChain.ca).toEqual([]);
      const asTrust = await loadCredentials({ pfx, passphrase: PASSPHRASE }, { pfxCaAsTrust: true });
      expect(asTrust.chain.map((c) => c.fingerprint256)).toEqual([intermediateFingerprint, rootFingerprint]);
      expect(asTrust.ca.map((c) => c.fingerprint256).sort()).toEqual(
        [intermediateFingerprint, rootFingerprint].sort(),
      );
      expect(asTrust.version).not.toBe(asChain.version);
    },
  );

  test.skipIf(openssl && !OPENSSL)('a wrong password is WRONG_PASSPHRASE, naming pfx', async () => {
    const pfx = await leaf.pkcs12(PASSPHRASE, { algorithm });
    const err = await errorOf(loadCredentials({ pfx, passphrase: WRONG }));
    expect({ code: err.code, field: err.field }).toEqual({ code: 'WRONG_PASSPHRASE', field: 'pfx' });
    expect(err.message).toMatch(/passphrase does not open the PKCS#12 in `pfx`/);
  });
});

describe.skipIf(!OPENSSL)('PKCS#12 files written by `openssl pkcs12 -export`', () => {
  test.each([
    ["with OpenSSL 3's defaults (PBES2 AES-256, SHA-256 MAC)", []],
    ['without a MAC (-nomac)', ['-nomac']],
    ['legacy RC2-40 without a MAC (-legacy -nomac)', ['-legacy', '-nomac']],
    ['unencrypted (-keypbe NONE -certpbe NONE)', ['-keypbe', 'NONE', '-certpbe', 'NONE']],
    ['with 600,000 iterations (hardened exports)', ['-iter', '600000']],
    ['with a SHA-512 MAC', ['-macalg', 'sha512']],
  ])('reads one written %s', async (_name, args) => {
    const creds = await loadCredentials({ pfx: await opensslPkcs12(args), passphrase: PASSPHRASE });
    expect(creds.fingerprint256).toBe(leaf.fingerprint256);
    expect(creds.keyPem()).toBe(leaf.keyPem);
    expect(creds.chain.map((c) => c.fingerprint256)).toEqual([intermediateFingerprint]);
  });

  test('a whole store exported (certificates unrelated to the leaf) loads as Node loads it: the leaf with its own chain, the others named', async () => {
    const serverRoot = await TestCA.create({ commonName: 'server root CA' });
    const stranger = await serverRoot.issueClient({ commonName: 'another client' });
    const dir = mkdtempSync(join(tmpdir(), 'mtlskit-store-'));
    try {
      const extra = join(dir, 'extra.pem');
      // -certfile replaces the writer's own: the intermediate goes in with the others.
      writeFileSync(extra, leaf.chainPem + serverRoot.certPem + stranger.certPem);
      const store = await opensslPkcs12(['-certfile', extra]);
      // Node's own `pfx` option reads the file (and would trust its CA certificates).
      expect(() => tls.createSecureContext({ pfx: store, passphrase: PASSPHRASE })).not.toThrow();

      const creds = await loadCredentials({ pfx: store, passphrase: PASSPHRASE });
      expect(creds.fingerprint256).toBe(leaf.fingerprint256);
      expect(creds.chain.map((c) => c.fingerprint256)).toEqual([intermediateFingerprint]);
      expect(creds.ca).toEqual([]);
      const byCode = new Map(creds.findings.map((f) => [f.code, f]));
      expect([...byCode.keys()].sort()).toEqual(['PFX_CA_NOT_TRUSTED', 'UNRELATED_CERTIFICATES']);
      expect(byCode.get('UNRELATED_CERTIFICATES')?.message).toMatch(
        /`pfx` holds 2 certificates outside the chain.*"CN=server root CA", "CN=another client"/,
      );
      expect(byCode.get('PFX_CA_NOT_TRUSTED')).toMatchObject({ severity: 'warning', field: 'pfx' });
      expect(byCode.get('PFX_CA_NOT_TRUSTED')?.message).toMatch(
        /"CN=server root CA".*does not trust it for the server.*UNABLE_TO_VERIFY_LEAF_SIGNATURE or SELF_SIGNED_CERT_IN_CHAIN/,
      );
      expect(byCode.get('PFX_CA_NOT_TRUSTED')?.message).not.toContain('another client');

      // Trusted when the user says so: no warning about trust then.
      const trusted = await loadCredentials({ pfx: store, passphrase: PASSPHRASE }, { pfxCaAsTrust: true });
      expect(trusted.ca.map((c) => c.subject)).toContain('CN=server root CA');
      expect(trusted.findings.map((f) => f.code)).toEqual(['UNRELATED_CERTIFICATES']);

      // The same store without the intermediate that signed the leaf: a broken chain, not padding.
      writeFileSync(extra, serverRoot.certPem + stranger.certPem);
      const broken = await opensslPkcs12(['-certfile', extra]);
      await expect(loadCredentials({ pfx: broken, passphrase: PASSPHRASE })).rejects.toMatchObject({
        code: 'CHAIN_INVALID',
        field: 'pfx',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('one PEM with the key, the chain and a CA bundle pasted after it loads, the bundle named', async () => {
    const pasted = [
      await TestCA.create({ commonName: 'pasted CA 1' }),
      await TestCA.create({ commonName: 'pasted CA 2' }),
    ];
    const bundle = leaf.keyPem + leaf.fullChainPem + pasted.map((c) => c.certPem).join('');
    const creds = await loadCredentials({ bundle });
    expect(creds.chain.map((c) => c.fingerprint256)).toEqual([intermediateFingerprint]);
    expect(creds.findings.map((f) => f.code)).toEqual(['UNRELATED_CERTIFICATES']);
    expect(creds.findings[0]?.message).toMatch(
      /bundle holds 2 certificates.*"CN=pasted CA 1", "CN=pasted CA 2"/,
    );
  });

  test('a wrong password on a file without a MAC is WRONG_PASSPHRASE, not damage', async () => {
    // Without a MAC, only the decryption can tell: RC2 with the wrong key gives bad padding or garbage.
    const pfx = await opensslPkcs12(['-legacy', '-nomac']);
    const err = await errorOf(loadCredentials({ pfx, passphrase: WRONG }));
    expect(err.code).toBe('WRONG_PASSPHRASE');
  });

  test('every wrong password on a file without a MAC is WRONG_PASSPHRASE, even one that passes the padding check', async () => {
    // The key is the only encrypted part of such a file. About one wrong password in 256 decrypts it to
    // noise with valid padding (1,500 tries include several); one iteration keeps each try cheap.
    // `-iter` after `-nomac` would bring the MAC back (and the MAC would reject every try at once).
    const pfx = await opensslPkcs12(['-legacy', '-iter', '1', '-nomac']);
    const codes = new Map<string, number>();
    for (let i = 0; i < 1500; i++) {
      const err = await errorOf(loadCredentials({ pfx, passphrase: `wrong ${i}` }));
      codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
    }
    expect(Object.fromEntries(codes)).toEqual({ WRONG_PASSPHRASE: 1500 });
  });
});

describe('PKCS#12 structure', () => {
  test('reads a BER-encoded file (indefinite lengths, chunked OCTET STRING), as Java and macOS write them', async () => {
    const ber = toBer(await leaf.pkcs12(PASSPHRASE));
    expect(ber[1]).toBe(0x80);
    const creds = await loadCredentials({ pfx: ber, passphrase: PASSPHRASE });
    expect(creds.fingerprint256).toBe(leaf.fingerprint256);
  });

  test('the empty password and "no password" are both tried for a file without passphrase', async () => {
    const creds = await loadCredentials({ pfx: await leaf.pkcs12('') });
    expect(creds.fingerprint256).toBe(leaf.fingerprint256);
  });

  test.skipIf(!OPENSSL)('a legacy file says which schemes it uses and how to re-export it', async () => {
    const legacy = await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' });
    const [warning] = decodeMaterial({ pfx: legacy, passphrase: PASSPHRASE }).findings;
    expect(warning?.message).toMatch(/RC2-40-CBC/);
    expect(warning?.fix).toMatch(/openssl pkcs12 -legacy/);
  });
});

describe('PBMAC1 (RFC 9579)', () => {
  test.each([
    ['sha256', 'sha256'],
    ['sha512', 'sha256'],
    ['sha256', 'sha512'],
  ] as const)('opens a file MACed with PBKDF2-HMAC-%s and HMAC-%s', async (prf, mac) => {
    const pfx = withPbmac1(await leaf.pkcs12(PASSPHRASE), PASSPHRASE, { prf, mac });
    const creds = await loadCredentials({ pfx, passphrase: PASSPHRASE });
    expect(creds.fingerprint256).toBe(leaf.fingerprint256);
    expect(creds.keyPem()).toBe(leaf.keyPem);
  });

  test('a wrong password is WRONG_PASSPHRASE', async () => {
    const pfx = withPbmac1(await leaf.pkcs12(PASSPHRASE), PASSPHRASE, { prf: 'sha256', mac: 'sha256' });
    const err = await errorOf(loadCredentials({ pfx, passphrase: WRONG }));
    expect({ code: err.code, field: err.field }).toEqual({ code: 'WRONG_PASSPHRASE', field: 'pfx' });
  });

  test('a PBKDF2 without the mandatory key length is DECODE_FAILED, saying so', async () => {
    const pfx = withPbmac1(await leaf.pkcs12(PASSPHRASE), PASSPHRASE, {
      prf: 'sha256',
      mac: 'sha256',
      keyLength: null,
    });
    const err = await errorOf(loadCredentials({ pfx, passphrase: PASSPHRASE }));
    expect(err.code).toBe('DECODE_FAILED');
    expect(err.message).toMatch(/PBMAC1 key derivation without a key length.*Export the \.p12/s);
  });
});

describe('hostile iteration counts', () => {
  test('are refused before any derivation runs, whatever MAC carries them', async () => {
    const pfx = await leaf.pkcs12(PASSPHRASE);
    const hostile: [Buffer, string][] = [
      [withMacIterations(pfx, 0x7fffffff), '2,147,483,647'],
      [withMacIterations(pfx, LIMITS.maxIterations + 1), '1,000,001'],
      [
        withPbmac1(pfx, PASSPHRASE, { prf: 'sha256', mac: 'sha256', iterations: 0x7fffffff }),
        '2,147,483,647',
      ],
    ];
    for (const [file, count] of hostile) {
      const started = performance.now();
      const err = await errorOf(loadCredentials({ pfx: file, passphrase: PASSPHRASE }));
      // 2^31 iterations would take minutes, and even one million a third of a second; a refusal takes microseconds.
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(err.code).toBe('DECODE_FAILED');
      expect(err.message).toContain(`${count} iterations, above mtlskit's limit of 1,000,000`);
    }
  });
});

describe('iteration budget', () => {
  test('refuses one derivation above the per-derivation limit before spending anything', () => {
    const budget = new IterationBudget();
    expect(() => budget.spend(LIMITS.maxIterations + 1, 'PBKDF2')).toThrow(PbeError);
    expect(budget.remaining).toBe(LIMITS.maxTotalIterations);
    budget.spend(LIMITS.maxIterations, 'PBKDF2');
  });

  test('refuses many derivations that add up past the total', () => {
    const budget = new IterationBudget();
    const spend = () => budget.spend(LIMITS.maxIterations, 'PBKDF2');
    for (let i = 0; i < LIMITS.maxTotalIterations / LIMITS.maxIterations; i++) spend();
    expect(spend).toThrow(/add up to more than/);
  });

  test('the work of a passphrase candidate that proved wrong leaves the total, not the overall bound', () => {
    const budget = new IterationBudget();
    const wrongMac = () => {
      // A wrong candidate's MAC check: a SHA-256 PKCS#12 KDF of 1,000,000 iterations.
      const mark = budget.mark();
      budget.spend(LIMITS.maxIterations, 'the PKCS#12 key derivation', 2 * LIMITS.maxIterations);
      budget.wasted(mark);
    };
    wrongMac();
    // Opening the file with the right candidate may still spend the whole total...
    expect(budget.remaining).toBe(LIMITS.maxTotalIterations);
    wrongMac();
    // ...as long as everything together stays within the overall bound.
    expect(budget.remaining).toBe(LIMITS.maxTotalIterationsWithCandidates - 4 * LIMITS.maxIterations);
    budget.spend(LIMITS.maxIterations, 'PBKDF2');
    budget.spend(LIMITS.maxIterations, 'PBKDF2');
    expect(budget.remaining).toBe(0);
    expect(() => budget.spend(1, 'PBKDF2')).toThrow(
      /with those of the passphrase candidates that did not open it, add up to more than 6,000,000/,
    );
    // Without wrong candidates, the total is what stops the work.
    const plain = new IterationBudget();
    for (let i = 0; i < LIMITS.maxTotalIterations / LIMITS.maxIterations; i++) {
      plain.spend(LIMITS.maxIterations, 'PBKDF2');
    }
    expect(() => plain.spend(1, 'PBKDF2')).toThrow(/derivations add up to more than 4,000,000/);
  });

  test('charges the real work: every output block, and the slower digests several times', () => {
    const spent = (derive: (budget: IterationBudget) => void) => {
      const budget = new IterationBudget();
      derive(budget);
      return LIMITS.maxTotalIterations - budget.remaining;
    };
    const kdf = (digest: string, length: number) => (budget: IterationBudget) =>
      pkcs12Kdf(digest, bmpPassword('pw'), Buffer.alloc(8), 1, 1000, length, budget);
    const pbkdf = (prf: string, length: number) => (budget: IterationBudget) =>
      pbkdf2(Buffer.from('pw'), Buffer.alloc(8), 1000, length, prf, budget);
    expect(spent(kdf('sha1', 20))).toBe(1000);
    expect(spent(kdf('sha1', 24))).toBe(2000); // a 3DES key: two SHA-1 blocks
    expect(spent(kdf('sha256', 32))).toBe(2000); // JS SHA-256 is ~1.6× slower than JS SHA-1
    expect(spent(kdf('sha512', 64))).toBe(4000); // no JS fast path: crypto.hash per repeat
    expect(spent(pbkdf('sha256', 32))).toBe(1000);
    expect(spent(pbkdf('sha1', 32))).toBe(2000);
    expect(spent(pbkdf('sha512', 32))).toBe(3000);
  });

  test('with a memo, a repeated derivation is not run again, but still charged', () => {
    const memo = new Map<string, Buffer>();
    const runs: number[] = [];
    for (let i = 0; i < 2; i++) {
      // A new budget each time, as a decode run again after the legacy ciphers loaded.
      const budget = new IterationBudget(memo);
      let calls = 0;
      const derive = (salt: string) =>
        budget.derive(['pbkdf2', salt], () => {
          calls++;
          return pbkdf2Sync('pw', salt, 1000, 32, 'sha256');
        });
      budget.charge(1000);
      expect(derive('salt a')).toEqual(pbkdf2Sync('pw', 'salt a', 1000, 32, 'sha256'));
      expect(derive('salt b')).not.toEqual(derive('salt a'));
      runs.push(calls);
      expect(budget.remaining).toBe(LIMITS.maxTotalIterations - 1000);
    }
    expect(runs).toEqual([2, 0]);
  });

  test('refuses a zero iteration count as malformed', () => {
    expect(() => new IterationBudget().spend(0, 'MAC')).toThrow(
      expect.objectContaining({ reason: 'malformed' }),
    );
  });
});

describe('malformed or unsupported encryption parameters', () => {
  const PBES2 = '1.2.840.113549.1.5.13';
  const AES256 = '2.16.840.1.101.3.4.1.42';
  const pbkdf2Of = (...rest: Buffer[]) =>
    SEQ(OID('1.2.840.113549.1.5.12'), SEQ(OCTETS(Buffer.alloc(8)), INT(1), ...rest));
  const pbes2 = (kdf: Buffer, cipher: Buffer) => {
    const node = parseOne(SEQ(OID(PBES2), SEQ(kdf, cipher)));
    return { oid: PBES2, params: node.children[1] };
  };
  const opts = () => ({
    budget: new IterationBudget(),
    legacy: () => {
      throw new Error('no legacy cipher is needed to refuse these');
    },
  });
  test.each([
    {
      name: 'an RC2 version that encodes no key size',
      alg: () => pbes2(pbkdf2Of(), SEQ(OID('1.2.840.113549.3.2'), SEQ(INT(7), OCTETS(Buffer.alloc(8))))),
      reason: 'malformed',
      says: 'RC2 parameters with an unknown version',
    },
    {
      name: 'a PBES2 cipher without an IV',
      alg: () => pbes2(pbkdf2Of(), SEQ(OID(AES256), NULL)),
      reason: 'malformed',
      says: 'PBES2 cipher without an IV',
    },
    {
      name: 'a PBKDF2 key length other than the cipher’s',
      alg: () => pbes2(pbkdf2Of(INT(16)), SEQ(OID(AES256), OCTETS(Buffer.alloc(16)))),
      reason: 'malformed',
      says: 'PBKDF2 key length does not match the cipher',
    },
    {
      name: 'a PBKDF2 key length out of range',
      alg: () => pbes2(pbkdf2Of(INT(65)), SEQ(OID(AES256), OCTETS(Buffer.alloc(16)))),
      reason: 'malformed',
      says: 'PBKDF2 key length out of range',
    },
    {
      name: 'a PBKDF2 salt from another source (not an OCTET STRING)',
      alg: () =>
        pbes2(
          SEQ(OID('1.2.840.113549.1.5.12'), SEQ(SEQ(OID('1.2.3.4')), INT(1))),
          SEQ(OID(AES256), OCTETS(Buffer.alloc(16))),
        ),
      reason: 'unsupported',
      says: 'PBKDF2 with a salt from another source',
    },
    {
      name: 'an IV of the wrong length',
      alg: () => pbes2(pbkdf2Of(), SEQ(OID(AES256), OCTETS(Buffer.alloc(8)))),
      reason: 'malformed',
      says: 'AES-256-CBC IV has the wrong length',
    },
    {
      name: 'a ciphertext that is not whole blocks',
      alg: () => pbes2(pbkdf2Of(), SEQ(OID(AES256), OCTETS(Buffer.alloc(16)))),
      data: Buffer.alloc(5),
      reason: 'malformed',
      says: 'AES-256-CBC ciphertext is not a whole number of blocks',
    },
    {
      name: 'PKCS#12 PBE with RC4',
      alg: () => ({
        oid: '1.2.840.113549.1.12.1.1',
        params: parseOne(SEQ(OCTETS(Buffer.alloc(8)), INT(1))),
      }),
      reason: 'unsupported',
      says: 'PKCS#12 PBE with SHA-1 and RC4-128 (RC4 is not supported)',
    },
  ])('refuses $name', ({ alg, data = Buffer.alloc(16), reason, says }) => {
    expect(() => decryptPbe(alg(), data, 'pw', opts())).toThrow(
      expect.objectContaining({ name: 'PbeError', reason, message: says }),
    );
  });

  test.each([
    ['not hex', 'AES-256-CBC,not-hex-at-all!!!!!!!!!!!!!!!!!!!!!!!!'],
    ['of the wrong length', `AES-256-CBC,${'00'.repeat(8)}`],
  ])('refuses a DEK-Info IV %s', (_name, dekInfo) => {
    expect(() => decryptTraditional(dekInfo, Buffer.alloc(16), 'pw', opts())).toThrow(
      expect.objectContaining({ name: 'PbeError', reason: 'malformed', message: 'DEK-Info has no valid IV' }),
    );
  });
});
