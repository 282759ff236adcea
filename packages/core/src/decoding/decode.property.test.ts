// Property tests over decoding: whatever a field holds — arbitrary text, arbitrary bytes, random
// ASN.1, or a real credential with random damage — loading ends in credentials or an MtlsError, never
// another exception, and within a time bound.
import { randomBytes } from 'node:crypto';
import { hasOpenssl, type IssuedCert, TestCA } from '@mtlskit/testkit';
import fc from 'fast-check';
import { beforeAll, describe, test } from 'vitest';
import { der, INT, NULL, OCTETS, OID, pem, SEQ } from '../__tests__/der.js';
import { MtlsError } from '../errors.js';
import type { CredentialMaterial } from '../types.js';
import { loadCredentials } from '../validation/load.js';
import type { ValidationPolicy } from '../validation/policy.js';
import { decodeMaterial } from './decode-material.js';
import { LIMITS } from './limits.js';

/** Generous for a shared CI machine; real failures are microseconds, real successes milliseconds. */
const BOUND_MS = 1_500;
const PASSPHRASE = 'property passphrase';
const FIELDS = ['cert', 'key', 'pfx', 'bundle', 'ca', 'passphrase'] as const;

let leaf: IssuedCert;
/** Valid values per field, to damage. */
let seeds: { field: (typeof FIELDS)[number]; value: string | Buffer }[];

beforeAll(async () => {
  const root = await TestCA.create();
  leaf = await (await root.intermediate()).issueClient({ validForSeconds: 90 * 86_400 });
  const pfx = await leaf.pkcs12(PASSPHRASE);
  seeds = [
    { field: 'cert', value: leaf.fullChainPem },
    { field: 'cert', value: Buffer.from(leaf.fullChainPem).toString('base64') },
    { field: 'cert', value: leaf.certDer },
    { field: 'key', value: leaf.keyPem },
    { field: 'key', value: leaf.keyDer },
    { field: 'key', value: leaf.encryptedPkcs8Pem(PASSPHRASE) },
    { field: 'key', value: leaf.encryptedTraditionalPem(PASSPHRASE) },
    { field: 'pfx', value: pfx },
    { field: 'pfx', value: pfx.toString('base64') },
    { field: 'bundle', value: JSON.stringify({ cert: leaf.fullChainPem, key: leaf.keyPem }) },
    { field: 'bundle', value: leaf.keyPem + leaf.fullChainPem },
  ];
  if (hasOpenssl()) {
    seeds.push({ field: 'pfx', value: await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' }) });
    seeds.push({ field: 'pfx', value: await leaf.pkcs12(PASSPHRASE, { algorithm: '3des' }) });
  }
}, 60_000);

/** What a run that did not throw leaves (so that even `throw undefined` counts as throwing). */
const NONE = Symbol('none');

function check(err: unknown, started: number, bound = BOUND_MS): void {
  if (err !== NONE && !(err instanceof MtlsError)) {
    throw new Error(`not an MtlsError: ${String(err)}`, { cause: err });
  }
  const took = performance.now() - started;
  if (took > bound) throw new Error(`took ${took.toFixed(0)} ms, above the ${bound} ms bound`);
}

/** Loads `material` and checks the property: credentials or an MtlsError, within the bound. */
async function holds(material: CredentialMaterial, policy?: ValidationPolicy, bound?: number): Promise<void> {
  const started = performance.now();
  const err = await loadCredentials(material, policy).then(
    () => NONE,
    (e: unknown) => e,
  );
  check(err, started, bound);
}

/** The same property through the synchronous decodeMaterial. */
function holdsSync(material: CredentialMaterial): void {
  const started = performance.now();
  let err: unknown = NONE;
  try {
    decodeMaterial(material);
  } catch (e) {
    err = e;
  }
  check(err, started);
}

const field = fc.constantFrom(...FIELDS);
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc.string({
    unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n -_'),
    maxLength: 600,
  }),
  fc
    .array(
      fc.constantFrom(
        '-----BEGIN CERTIFICATE-----',
        '-----END CERTIFICATE-----',
        '-----BEGIN ENCRYPTED PRIVATE KEY-----',
        '-----END ENCRYPTED PRIVATE KEY-----',
        '-----BEGIN RSA PRIVATE KEY-----',
        'Proc-Type: 4,ENCRYPTED',
        'DEK-Info: DES-CBC,0011223344556677',
        '-----END RSA PRIVATE KEY-----',
        '-----BEGIN PKCS7-----',
        'MIIB',
        'MII',
        'AAAA',
        '\n',
        '\\n',
        '{',
        '}',
        '"cert":',
        '"',
        ',',
      ),
      { maxLength: 40 },
    )
    .map((parts) => parts.join('')),
);
const bytes = fc.uint8Array({ maxLength: 600 });

/** Random BER/DER trees: SEQUENCEs, SETs, context tags, OCTET STRINGs, INTEGERs, OIDs. */
const derTree: fc.Arbitrary<Buffer> = fc.letrec<{ node: Buffer }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc
      .tuple(fc.constantFrom(0x02, 0x04, 0x05, 0x06, 0x03, 0x0c, 0x80), fc.uint8Array({ maxLength: 40 }))
      .map(([tag, body]) => tlv(tag, body)),
    fc
      .tuple(fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0x24), fc.array(tie('node'), { maxLength: 5 }))
      .map(([tag, kids]) => tlv(tag, Buffer.concat(kids))),
  ),
})).node;

function tlv(tag: number, body: Uint8Array): Buffer {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

type Damage =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number; length: number };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
);

function apply(value: Buffer, d: Damage): Buffer {
  if (value.length === 0) return value;
  const at = d.at % value.length;
  switch (d.kind) {
    case 'flip': {
      const out = Buffer.from(value);
      out[at] = out[at]! ^ (1 << d.bit);
      return out;
    }
    case 'truncate':
      return value.subarray(0, at);
    case 'insert':
      return Buffer.concat([value.subarray(0, at), Buffer.from([d.byte]), value.subarray(at)]);
    case 'delete':
      return Buffer.concat([value.subarray(0, at), value.subarray(at + d.length)]);
  }
}

describe('decoding never throws anything but MtlsError, and never takes long', () => {
  test('arbitrary text in any field', async () => {
    await fc.assert(
      fc.asyncProperty(field, text, (f, value) => holds({ [f]: value })),
      { numRuns: 400 },
    );
  });

  test('arbitrary bytes in any field', async () => {
    await fc.assert(
      fc.asyncProperty(field, bytes, (f, value) => holds({ [f]: value })),
      { numRuns: 300 },
    );
  });

  test('random ASN.1 structures, raw and as Base64, as certificate, key or PKCS#12', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('cert', 'key', 'pfx', 'bundle'),
        derTree,
        fc.boolean(),
        (f, der, asText) => holds({ [f]: asText ? der.toString('base64') : der, passphrase: PASSPHRASE }),
      ),
      { numRuns: 400 },
    );
  });

  test('a real credential with random damage', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(damage, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (pick, damages, withPassphrase) => {
          const seed = seeds[pick % seeds.length]!;
          const original = typeof seed.value === 'string' ? Buffer.from(seed.value) : seed.value;
          const damaged = damages.reduce(apply, original);
          const value = typeof seed.value === 'string' ? damaged.toString('latin1') : damaged;
          const material: CredentialMaterial = { [seed.field]: value };
          if (seed.field === 'key') material.cert = leaf.fullChainPem;
          if (seed.field === 'cert') material.key = leaf.keyPem;
          if (withPassphrase) material.passphrase = PASSPHRASE;
          await holds(material);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('every field at once, arbitrary, through the synchronous decodeMaterial', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            cert: fc.oneof(text, bytes),
            key: fc.oneof(text, bytes),
            ca: fc.oneof(text, fc.array(text, { maxLength: 3 })),
            passphrase: fc.oneof(text, bytes),
            bundle: fc.oneof(text, bytes),
            contentType: fc.constantFrom('application/x-pkcs12', 'application/x-pem-file', 'text/plain'),
          },
          { requiredKeys: [] },
        ),
        (material) => holdsSync(material as CredentialMaterial),
      ),
      { numRuns: 300 },
    );
  });

  test('non-string values where text is expected (a JSON bundle of numbers, nulls, objects)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('cert', 'key', 'ca', 'passphrase', 'pfx', 'x'), fc.jsonValue()),
        (json) => holds({ bundle: JSON.stringify(json) }),
      ),
      { numRuns: 300 },
    );
  });
});

describe('options of any shape', () => {
  test('arbitrary policies and content types end in credentials or an MtlsError', async () => {
    const anyFn = fc.anything().map((v) => () => v);
    const policy = fc.record(
      {
        now: fc.oneof(
          anyFn,
          fc.anything(),
          fc.constant(() => Date.now()),
        ),
        warnDays: fc.oneof(fc.anything(), fc.double()),
        requireClientAuth: fc.anything(),
        pfxCaAsTrust: fc.anything(),
        expectedIdentity: fc.oneof(
          fc.anything(),
          fc.record(
            { commonName: fc.anything(), dnsName: fc.anything(), subject: fc.anything() },
            { requiredKeys: [] },
          ),
        ),
        fields: fc.oneof(
          fc.anything(),
          fc.dictionary(fc.constantFrom('cert', 'key', 'ca', 'passphrase', 'pfx'), fc.anything()),
        ),
        passphrase: fc.anything(),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(policy, fc.anything()), fc.anything(), (p, contentType) =>
        holds(
          { bundle: leaf.keyPem + leaf.fullChainPem, contentType } as CredentialMaterial,
          p as ValidationPolicy,
        ),
      ),
      { numRuns: 300 },
    );
  });
});

// The worst a file can cost while every count in it stays within LIMITS: PKCS#12 files and encrypted
// keys whose derivations are random but each allowed (any digest, up to 1,000,000 iterations, scrypt
// up to N·r·p = 2^20), with random MACs and ciphertexts, so every passphrase candidate is tried. The
// budget, not the per-derivation limit, is what bounds them: all candidates together at most
// LIMITS.maxTotalIterationsWithCandidates, 2–4.5 s of derivations (the most on a busy machine).
const WORST_BOUND_MS = 15_000;
const DIGESTS = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  md5: '1.2.840.113549.2.5',
} as const;
const HMACS = ['1.2.840.113549.2.7', '1.2.840.113549.2.9', '1.2.840.113549.2.11'];
const iterations = fc.oneof(
  fc.integer({ min: 1, max: LIMITS.maxIterations }),
  fc.constant(LIMITS.maxIterations),
);

/** A password-based encryption AlgorithmIdentifier within the limits, and a ciphertext for it. */
const pbe = fc.oneof(
  // PKCS#12 PBE with SHA-1 and 3DES: three SHA-1 blocks per iteration.
  iterations.map((n) => ({
    alg: SEQ(OID('1.2.840.113549.1.12.1.3'), SEQ(OCTETS(randomBytes(8)), INT(n))),
    block: 8,
  })),
  // PBES2: PBKDF2 with a random PRF, AES-256-CBC.
  fc.tuple(iterations, fc.constantFrom(...HMACS)).map(([n, prf]) => ({
    alg: SEQ(
      OID('1.2.840.113549.1.5.13'),
      SEQ(
        SEQ(OID('1.2.840.113549.1.5.12'), SEQ(OCTETS(randomBytes(16)), INT(n), SEQ(OID(prf), NULL))),
        SEQ(OID('2.16.840.1.101.3.4.1.42'), OCTETS(randomBytes(16))),
      ),
    ),
    block: 16,
  })),
  // PBES2 with scrypt at up to the highest cost accepted (N < 2^(16·r), as OpenSSL requires).
  fc
    .tuple(fc.integer({ min: 10, max: 17 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }))
    .filter(([logN, r, p]) => 2 ** logN * r * p <= LIMITS.maxScryptCost && logN < 16 * r)
    .map(([logN, r, p]) => ({
      alg: SEQ(
        OID('1.2.840.113549.1.5.13'),
        SEQ(
          SEQ(OID('1.3.6.1.4.1.11591.4.11'), SEQ(OCTETS(randomBytes(16)), INT(2 ** logN), INT(r), INT(p))),
          SEQ(OID('2.16.840.1.101.3.4.1.42'), OCTETS(randomBytes(16))),
        ),
      ),
      block: 16,
    })),
);

const encryptedKey = pbe.map(({ alg, block }) => SEQ(alg, OCTETS(randomBytes(block * 10))));
const data = (content: Buffer) => SEQ(OID('1.2.840.113549.1.7.1'), der(0xa0, OCTETS(content)));
const safe = fc.oneof(
  // An encrypted safe (certificates, as OpenSSL writes them).
  pbe.map(({ alg, block }) =>
    SEQ(
      OID('1.2.840.113549.1.7.6'),
      der(0xa0, SEQ(INT(0), SEQ(OID('1.2.840.113549.1.7.1'), alg, der(0x80, randomBytes(block * 40))))),
    ),
  ),
  // A plain safe holding shrouded keys.
  fc
    .array(encryptedKey, { minLength: 1, maxLength: 3 })
    .map((keys) => data(SEQ(...keys.map((k) => SEQ(OID('1.2.840.113549.1.12.10.1.2'), der(0xa0, k)))))),
);
const mac = fc
  .tuple(fc.constantFrom(...(Object.keys(DIGESTS) as (keyof typeof DIGESTS)[])), iterations)
  .map(([digest, n]) =>
    SEQ(SEQ(SEQ(OID(DIGESTS[digest]), NULL), OCTETS(randomBytes(64))), OCTETS(randomBytes(8)), INT(n)),
  );
const worstPfx = fc
  .tuple(fc.array(safe, { minLength: 1, maxLength: 4 }), fc.option(mac, { nil: undefined }))
  .map(([safes, macData]) => SEQ(INT(3), data(SEQ(...safes)), ...(macData === undefined ? [] : [macData])));

describe('the worst case within the limits', () => {
  test('PKCS#12 files and encrypted keys with every derivation at its limit stay within a bound', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          worstPfx.map((pfx): CredentialMaterial => ({ pfx, passphrase: `${PASSPHRASE}\n` })),
          fc.array(encryptedKey, { minLength: 1, maxLength: LIMITS.maxPrivateKeysPerField }).map(
            (keys): CredentialMaterial => ({
              cert: leaf.certPem,
              key: keys.map((k) => pem('ENCRYPTED PRIVATE KEY', k)).join(''),
              passphrase: `${PASSPHRASE}\n`,
            }),
          ),
        ),
        (material) => holds(material, undefined, WORST_BOUND_MS),
      ),
      { numRuns: 8 },
    );
  }, 180_000);
});
