// Property tests over decoding: whatever a field holds — arbitrary text, arbitrary bytes, random
// ASN.1, or a real credential with random damage — loading ends in credentials or an MtlsError, never
// another exception, and within a time bound.
import { hasOpenssl, type IssuedCert, TestCA } from '@mtlskit/testkit';
import fc from 'fast-check';
import { beforeAll, describe, test } from 'vitest';
import { decodeMaterial } from './decode.js';
import { MtlsError } from './errors.js';
import { loadCredentials } from './load.js';
import type { CredentialMaterial } from './types.js';

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

function check(err: unknown, started: number): void {
  if (err !== NONE && !(err instanceof MtlsError)) {
    throw new Error(`not an MtlsError: ${String(err)}`, { cause: err });
  }
  const took = performance.now() - started;
  if (took > BOUND_MS) throw new Error(`took ${took.toFixed(0)} ms, above the ${BOUND_MS} ms bound`);
}

/** Loads `material` and checks the property: credentials or an MtlsError, within the bound. */
async function holds(material: CredentialMaterial): Promise<void> {
  const started = performance.now();
  const err = await loadCredentials(material).then(
    () => NONE,
    (e: unknown) => e,
  );
  check(err, started);
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
