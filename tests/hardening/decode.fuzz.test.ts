// Fuzz of decoding (`@mtlskit/core/decode`'s decodeMaterial, and loadCredentials over it): real
// credentials made by the testkit CA in every stored form (PEM, DER, Base64, JSON bundles, PKCS#12
// modern, 3DES and legacy RC2, encrypted PKCS#8 and traditional keys; RSA, EC and Ed25519), damaged
// by bit flips, truncation, insertions, wrong Base64 padding, huge ASN.1 lengths and nesting, plus
// random bytes and text. Every case ends in a result or an MtlsError with a known code, within the
// bound, and no error shows the passphrase or a private key in any form. Case counts and the slowest
// case are printed at the end (docs/reliability.md, "Fuzz").

import type { CredentialMaterial } from '@mtlskit/core';
import { loadCredentials } from '@mtlskit/core';
import { decodeMaterial } from '@mtlskit/core/decode';
import { hasOpenssl, type IssuedCert, type LeakCheck, leakCheck, TestCA } from '@mtlskit/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BOUND_MS, type Case, report, runProperty, sizeOf, TOTAL_CASES } from './fuzz-support.js';

/** Recognisable: found anywhere in an error, it leaked. */
const PASSPHRASE = 'fuzz-Passphrase-Q7x2!marker';

type Field = 'cert' | 'key' | 'pfx' | 'bundle' | 'ca';

interface Seed {
  label: string;
  field: Field;
  value: string | Buffer;
  /** The DER under the value, and how to put a changed DER back in the value's form. */
  der?: Buffer;
  wrap?: (der: Buffer) => string | Buffer;
  /** Fields that complete the credential (the certificate for a key, the key for a certificate). */
  with?: CredentialMaterial;
}

const seeds: Seed[] = [];
let leaks: LeakCheck;
let leaves: IssuedCert[] = [];
let encryptedKeys: string[] = [];

const pemOf = (label: string, der: Buffer) =>
  `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;
const pemDer = (pem: string) =>
  Buffer.from(
    pem
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-----') && !l.includes(':'))
      .join(''),
    'base64',
  );

beforeAll(async () => {
  const root = await TestCA.create({ commonName: 'fuzz root' });
  const ca = await root.intermediate({ commonName: 'fuzz issuing' });
  leaves = await Promise.all(
    (['rsa2048', 'ec-p256', 'ed25519'] as const).map((keyType) => ca.issueClient({ keyType })),
  );
  encryptedKeys = leaves.map((l) => l.encryptedPkcs8Pem(PASSPHRASE));
  leaks = leakCheck([PASSPHRASE, ...leaves.flatMap((l) => [l.keyPem, l.traditionalKeyPem()])]);
  for (const leaf of leaves) {
    const t = leaf.keyType;
    const cert = { cert: leaf.fullChainPem };
    const key = { key: leaf.keyPem };
    const pkcs8 = leaf.encryptedPkcs8Pem(PASSPHRASE);
    seeds.push(
      { label: `${t} chain PEM`, field: 'cert', value: leaf.fullChainPem, with: key },
      {
        label: `${t} leaf PEM`,
        field: 'cert',
        value: leaf.certPem,
        der: leaf.certDer,
        wrap: (d) => pemOf('CERTIFICATE', d),
        with: key,
      },
      {
        label: `${t} leaf DER`,
        field: 'cert',
        value: leaf.certDer,
        der: leaf.certDer,
        wrap: (d) => d,
        with: key,
      },
      {
        label: `${t} leaf Base64 of DER`,
        field: 'cert',
        value: leaf.certDer.toString('base64'),
        der: leaf.certDer,
        wrap: (d) => d.toString('base64'),
        with: key,
      },
      {
        label: `${t} chain Base64 of PEM`,
        field: 'cert',
        value: Buffer.from(leaf.fullChainPem).toString('base64'),
        with: key,
      },
      {
        label: `${t} key PKCS#8 PEM`,
        field: 'key',
        value: leaf.keyPem,
        der: leaf.keyDer,
        wrap: (d) => pemOf('PRIVATE KEY', d),
        with: cert,
      },
      {
        label: `${t} key DER`,
        field: 'key',
        value: leaf.keyDer,
        der: leaf.keyDer,
        wrap: (d) => d,
        with: cert,
      },
      {
        label: `${t} key encrypted PKCS#8`,
        field: 'key',
        value: pkcs8,
        der: pemDer(pkcs8),
        wrap: (d) => pemOf('ENCRYPTED PRIVATE KEY', d),
        with: cert,
      },
      {
        label: `${t} key PEM with \\n escapes`,
        field: 'key',
        value: leaf.keyPem.replace(/\n/g, '\\n'),
        with: cert,
      },
      {
        label: `${t} JSON bundle`,
        field: 'bundle',
        value: JSON.stringify({ cert: leaf.fullChainPem, key: pkcs8, passphrase: PASSPHRASE }),
      },
      {
        label: `${t} JSON bundle of Base64`,
        field: 'bundle',
        value: JSON.stringify({
          certificate: Buffer.from(leaf.fullChainPem).toString('base64'),
          private_key: Buffer.from(leaf.keyPem).toString('base64'),
        }),
      },
      { label: `${t} key+chain PEM bundle`, field: 'bundle', value: leaf.keyPem + leaf.fullChainPem },
      { label: `${t} CA PEM`, field: 'ca', value: leaf.caPem, with: { ...cert, ...key } },
    );
    if (t === 'rsa2048') {
      const traditional = leaf.encryptedTraditionalPem(PASSPHRASE);
      seeds.push({
        label: `${t} key traditional encrypted PEM`,
        field: 'key',
        value: traditional,
        with: cert,
      });
    }
    const pfxForms: Array<[string, Buffer]> = [['AES-256 PKCS#12', await leaf.pkcs12(PASSPHRASE)]];
    if (hasOpenssl()) {
      pfxForms.push(['3DES PKCS#12', await leaf.pkcs12(PASSPHRASE, { algorithm: '3des' })]);
      pfxForms.push(['RC2-40 PKCS#12', await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' })]);
    }
    for (const [label, pfx] of pfxForms) {
      seeds.push(
        { label: `${t} ${label}`, field: 'pfx', value: pfx, der: pfx, wrap: (d) => d },
        {
          label: `${t} ${label} Base64`,
          field: 'pfx',
          value: pfx.toString('base64'),
          der: pfx,
          wrap: (d) => d.toString('base64'),
        },
      );
    }
  }
  // The first legacy PKCS#12 loads the RC2/DES fallback lazily: not a per-case cost.
  for (const seed of seeds) await loadCredentials(materialOf(seed, seed.value, true)).catch(() => {});
}, 120_000);

function materialOf(seed: Seed, value: string | Buffer, withPassphrase: boolean): CredentialMaterial {
  const material: CredentialMaterial = { ...seed.with, [seed.field]: value };
  if (withPassphrase) material.passphrase = PASSPHRASE;
  return material;
}

// ---------------------------------------------------------------------------------------------
// Damage

type Damage =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number; times: number }
  | { kind: 'asn1-length'; header: number; length: number[] }
  | { kind: 'asn1-tag'; header: number; tag: number }
  | {
      kind: 'base64';
      op: 'strip-padding' | 'extra-padding' | 'padding-inside' | 'url-alphabet' | 'rewrap' | 'drop-char';
      at: number;
    }
  | { kind: 'text'; op: 'bom' | 'crlf' | 'escaped-newlines' | 'whitespace' | 'nul' };

const HUGE_LENGTHS: number[][] = [
  [0x84, 0xff, 0xff, 0xff, 0xff],
  [0x84, 0x7f, 0xff, 0xff, 0xff],
  [0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x89, 0x01, 0, 0, 0, 0, 0, 0, 0, 0],
  [0x80], // indefinite length, in DER
  [0xff],
  [0x84, 0, 0, 0, 0x05], // non-minimal
  [0x83, 0x10, 0, 0], // 1 MiB
  [0x81, 0x00],
  [0x00],
];

const damage: fc.Arbitrary<Damage> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('repeat' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 200 }),
      times: fc.integer({ min: 2, max: 50 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('asn1-length' as const),
      header: fc.nat(),
      length: fc.oneof(
        fc.constantFrom(...HUGE_LENGTHS),
        fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 6 }),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('asn1-tag' as const),
      header: fc.nat(),
      tag: fc.nat({ max: 255 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('base64' as const),
      op: fc.constantFrom(
        'strip-padding' as const,
        'extra-padding' as const,
        'padding-inside' as const,
        'url-alphabet' as const,
        'rewrap' as const,
        'drop-char' as const,
      ),
      at: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('text' as const),
      op: fc.constantFrom(
        'bom' as const,
        'crlf' as const,
        'escaped-newlines' as const,
        'whitespace' as const,
        'nul' as const,
      ),
    }),
  },
);

/** Offsets of every TLV header in `der` (walking into constructed values), with the length field's size. */
function headers(der: Buffer): Array<{ at: number; lengthAt: number; lengthSize: number }> {
  const out: Array<{ at: number; lengthAt: number; lengthSize: number }> = [];
  const walk = (start: number, end: number, depth: number) => {
    let i = start;
    while (i + 2 <= end && depth < 64 && out.length < 10_000) {
      const tag = der[i]!;
      const first = der[i + 1]!;
      let length = first;
      let size = 1;
      if (first & 0x80) {
        size = 1 + (first & 0x7f);
        if (size > 5 || i + 1 + size > end) return;
        length = 0;
        for (let k = 2; k <= size; k++) length = length * 256 + der[i + k]!;
      }
      const body = i + 1 + size;
      if (body + length > end) return;
      out.push({ at: i, lengthAt: i + 1, lengthSize: size });
      if (tag & 0x20) walk(body, body + length, depth + 1);
      else if (tag === 0x04 && length > 2 && der[body] === 0x30) walk(body, body + length, depth + 1);
      i = body + length;
    }
  };
  walk(0, der.length, 0);
  return out;
}

function applyBytes(value: Buffer, d: Damage): Buffer {
  if (value.length === 0) return value;
  const at = 'at' in d ? d.at % value.length : 0;
  switch (d.kind) {
    case 'flip': {
      const out = Buffer.from(value);
      out[at] = out[at]! ^ (1 << d.bit);
      return out;
    }
    case 'truncate':
      return value.subarray(0, at);
    case 'insert':
      return Buffer.concat([value.subarray(0, at), d.bytes, value.subarray(at)]);
    case 'delete':
      return Buffer.concat([value.subarray(0, at), value.subarray(at + d.length)]);
    case 'repeat': {
      const chunk = value.subarray(at, at + d.length);
      return Buffer.concat([value.subarray(0, at), ...Array(d.times).fill(chunk), value.subarray(at)]);
    }
    default:
      return value;
  }
}

function applyAsn1(der: Buffer, d: Damage): Buffer {
  const all = headers(der);
  if (all.length === 0 || (d.kind !== 'asn1-length' && d.kind !== 'asn1-tag')) return der;
  const h = all[d.header % all.length]!;
  if (d.kind === 'asn1-tag') {
    const out = Buffer.from(der);
    out[h.at] = d.tag;
    return out;
  }
  return Buffer.concat([
    der.subarray(0, h.lengthAt),
    Buffer.from(d.length),
    der.subarray(h.lengthAt + h.lengthSize),
  ]);
}

function applyText(text: string, d: Damage): string {
  if (d.kind === 'text') {
    switch (d.op) {
      case 'bom':
        return `\uFEFF${text}`;
      case 'crlf':
        return text.replace(/\n/g, '\r\n');
      case 'escaped-newlines':
        return text.replace(/\n/g, '\\n');
      case 'whitespace':
        return `  \t\n${text}\n \t `;
      case 'nul':
        return `${text}\u0000`;
    }
  }
  if (d.kind !== 'base64' || text.length === 0) return text;
  const at = d.at % text.length;
  switch (d.op) {
    case 'strip-padding':
      return text.replace(/=/g, '');
    case 'extra-padding':
      return text.replace(/(=*)(\s*-----END|\s*$)/, '$1==$2');
    case 'padding-inside':
      return `${text.slice(0, at)}==${text.slice(at)}`;
    case 'url-alphabet':
      return text.replace(/\+/g, '-').replace(/\//g, '_');
    case 'rewrap':
      return text.replace(/\n/g, '').replace(/(.{76})/g, '$1\n');
    case 'drop-char':
      return text.slice(0, at) + text.slice(at + 1);
  }
}

/** `seed.value` with `damages` applied in order, each in the layer it names. */
function damaged(seed: Seed, damages: Damage[]): string | Buffer {
  let value: string | Buffer = seed.value;
  let der = seed.der;
  for (const d of damages) {
    if (d.kind === 'asn1-length' || d.kind === 'asn1-tag') {
      const base = der ?? (Buffer.isBuffer(value) ? value : undefined);
      if (base === undefined) continue;
      der = applyAsn1(base, d);
      value = seed.wrap ? seed.wrap(der) : der;
    } else if (d.kind === 'base64' || d.kind === 'text') {
      if (typeof value === 'string') value = applyText(value, d);
      der = undefined;
    } else {
      value =
        typeof value === 'string'
          ? applyBytes(Buffer.from(value, 'latin1'), d).toString('latin1')
          : applyBytes(value, d);
      der = undefined;
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Derivation cost: an input whose key derivations LIMITS allow to be slow

/** Every short INTEGER value in the DER structures an input holds (PEM bodies, Base64, raw bytes). */
function iterationLikeIntegers(material: CredentialMaterial): number[] {
  const out: number[] = [];
  const scan = (der: Buffer) => {
    const walk = (start: number, end: number, depth: number) => {
      let i = start;
      while (i + 2 <= end && depth < 48) {
        const tag = der[i]!;
        let length = der[i + 1]!;
        let size = 1;
        if (length & 0x80) {
          size = 1 + (length & 0x7f);
          if (size > 5) return;
          length = 0;
          for (let k = 2; k <= size; k++) length = length * 256 + (der[i + k] ?? 0);
        }
        const body = i + 1 + size;
        if (body + length > end) return;
        if (tag === 0x02 && length <= 4)
          out.push(der.subarray(body, body + length).reduce((n, b) => n * 256 + b, 0));
        if (tag & 0x20 || (tag === 0x04 && der[body] === 0x30)) walk(body, body + length, depth + 1);
        // An encrypted safe's content is [0] IMPLICIT: walked as constructed when it parses.
        if (tag === 0x80 && der[body] === 0x30) walk(body, body + length, depth + 1);
        i = body + length;
      }
    };
    walk(0, der.length, 0);
  };
  for (const v of Object.values(material)) {
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) scan(Buffer.from(v));
    else if (typeof v === 'string') {
      for (const m of v.replace(/\\n/g, '\n').matchAll(/-----BEGIN [^-]+-----([\s\S]*?)-----END/g)) {
        scan(Buffer.from(m[1]!.replace(/^[^\n]*:[^\n]*$/gm, ''), 'base64'));
      }
      if (/^[A-Za-z0-9+/=_\-\s]+$/.test(v)) scan(Buffer.from(v, 'base64'));
      scan(Buffer.from(v, 'latin1'));
    }
  }
  return out;
}

const bytesIn = (m: CredentialMaterial) =>
  Object.values(m).reduce((n, v) => n + (typeof v === 'string' || v instanceof Uint8Array ? v.length : 0), 0);
const LARGE = 64 * 1024;

/**
 * Cases LIMITS let cost more than BOUND_MS: iteration counts above what any seed uses (2,048), up to
 * the 10^6 LIMITS allow (a budget of 2–4.5 s of derivations); and fields over 64 KiB, up to the
 * 1 MiB LIMITS allow, held to BOUND_MS per 64 KiB (the ASN.1 reader stops at LIMITS.maxAsn1Nodes).
 */
function classify(m: CredentialMaterial): { group: string; boundMs: number } | undefined {
  // 65,537 is every RSA key's public exponent, not a cost.
  if (iterationLikeIntegers(m).some((n) => n > 16_384 && n <= 1_000_000 && n !== 65_537)) {
    return { group: 'derivation-heavy', boundMs: 10_000 };
  }
  const size = bytesIn(m);
  if (size > LARGE) return { group: 'over 64 KiB', boundMs: Math.ceil((BOUND_MS * size) / LARGE) };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries, each a Case with a printable shape

function shapeOf(material: CredentialMaterial, what: string): string {
  const fields = Object.entries(material)
    .filter(([k]) => k !== 'passphrase')
    .map(([k, v]) => `${k}=${sizeOf(v)}`)
    .join(' ');
  return `${what}; ${fields}${material.passphrase === undefined ? '' : ' +passphrase'}`;
}

const damagedSeed: fc.Arbitrary<Case<CredentialMaterial>> = fc
  .tuple(
    fc.nat(),
    fc.array(damage, { minLength: 1, maxLength: 4 }),
    fc.boolean(),
    fc.option(fc.constantFrom('application/x-pkcs12', 'application/x-pem-file', 'text/plain'), {
      nil: undefined,
    }),
  )
  .map(([pick, damages, withPassphrase, contentType]) => {
    const seed = seeds[pick % seeds.length]!;
    const material = materialOf(seed, damaged(seed, damages), withPassphrase);
    if (contentType !== undefined && (seed.field === 'pfx' || seed.field === 'bundle'))
      material.contentType = contentType;
    const how = damages.map((d) => ('op' in d ? `${d.kind}:${d.op}` : d.kind)).join('+');
    return { input: material, shape: shapeOf(material, `${seed.label}, ${how}`) };
  });

const FIELDS = ['cert', 'key', 'pfx', 'bundle', 'ca', 'passphrase'] as const;
const randomField: fc.Arbitrary<Case<CredentialMaterial>> = fc
  .tuple(
    fc.constantFrom(...FIELDS),
    fc.oneof(
      fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 500 }),
      fc.string({
        unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\n '),
        maxLength: 2_000,
      }),
    ),
    fc.boolean(),
  )
  .map(([field, value, withPassphrase]) => {
    const material: CredentialMaterial = { [field]: value };
    if (withPassphrase && field !== 'passphrase') material.passphrase = PASSPHRASE;
    return {
      input: material,
      shape: shapeOf(material, `random ${typeof value === 'string' ? 'text' : 'bytes'} in ${field}`),
    };
  });

/** JSON bundles: nested objects and arrays, double-encoded JSON, deep nesting, aliases, wrong types. */
const jsonBundle: fc.Arbitrary<Case<CredentialMaterial>> = fc
  .tuple(
    fc.nat(),
    fc.constantFrom(
      'nested-object',
      'double-encoded',
      'deep-array',
      'deep-object',
      'array-values',
      'wrong-types',
      'aliases',
      'duplicate-keys',
      'huge-string',
    ),
    fc.integer({ min: 1, max: 200_000 }),
    fc.jsonValue({ maxDepth: 4 }),
  )
  .map(([pick, kind, n, random]) => {
    const index = pick % leaves.length;
    const leaf = leaves[index]!;
    const fields = { cert: leaf.fullChainPem, key: encryptedKeys[index]!, passphrase: PASSPHRASE };
    let text: string;
    switch (kind) {
      case 'nested-object':
        text = JSON.stringify({
          cert: { pem: fields.cert },
          key: { value: fields.key },
          passphrase: PASSPHRASE,
        });
        break;
      case 'double-encoded':
        text = JSON.stringify(JSON.stringify(fields));
        break;
      case 'deep-array':
        text = `${'['.repeat(n)}${JSON.stringify(fields)}${']'.repeat(n)}`;
        break;
      case 'deep-object':
        text = `${'{"bundle":'.repeat(Math.min(n, 50_000))}${JSON.stringify(fields)}${'}'.repeat(Math.min(n, 50_000))}`;
        break;
      case 'array-values':
        text = JSON.stringify({
          cert: fields.cert.split(/(?=-----BEGIN)/),
          key: [fields.key],
          passphrase: [PASSPHRASE],
        });
        break;
      case 'wrong-types':
        text = JSON.stringify({ cert: random, key: fields.key, passphrase: PASSPHRASE, ca: random });
        break;
      case 'aliases':
        text = JSON.stringify({
          certificate: fields.cert,
          private_key: fields.key,
          key_password: PASSPHRASE,
          Passphrase: PASSPHRASE,
        });
        break;
      case 'duplicate-keys':
        text = `{"cert":${JSON.stringify(fields.cert)},"key":${JSON.stringify(fields.key)},"key":${JSON.stringify(leaf.keyPem)},"passphrase":${JSON.stringify(PASSPHRASE)}}`;
        break;
      default:
        // Sizes spread over 2 B to 1 MiB and just past it, most of them small.
        text = JSON.stringify({ ...fields, ca: 'A'.repeat(Math.min(2 ** (1 + (n % 21)), 1_100_000)) });
    }
    const material: CredentialMaterial = { bundle: text };
    return { input: material, shape: shapeOf(material, `JSON bundle, ${kind} (n=${n})`) };
  });

// ---------------------------------------------------------------------------------------------

/** Both entry points: decodeMaterial (synchronous, no validation) and loadCredentials (validation too). */
function decodeBoth(material: CredentialMaterial): unknown {
  decodeMaterial(material);
  return loadCredentials(material);
}

// Shares of the file's cases: this file takes 60% of TOTAL_CASES.
const SHARE = Math.round(TOTAL_CASES * 0.6);
const cases = (part: number) => Math.max(1, Math.round(SHARE * part));

describe('decoding fuzz', () => {
  afterAll(() => {
    console.log(report('decode fuzz'));
  });

  it('real credentials with random damage end in credentials or an MtlsError, quickly, showing no secret', async () => {
    await runProperty({
      name: 'damaged credentials',
      seedOffset: 0,
      cases: cases(0.6),
      arbitrary: damagedSeed,
      run: decodeBoth,
      leaks,
      classify,
    });
  }, 3_600_000);

  it('random bytes and text in any field end in an MtlsError, quickly', async () => {
    await runProperty({
      name: 'random fields',
      seedOffset: 1,
      cases: cases(0.25),
      arbitrary: randomField,
      run: decodeBoth,
      leaks,
      classify,
    });
  }, 3_600_000);

  it('JSON bundles nested, double-encoded, deep, mistyped or huge end in credentials or an MtlsError', async () => {
    await runProperty({
      name: 'JSON bundles',
      seedOffset: 2,
      cases: cases(0.15),
      arbitrary: jsonBundle,
      run: decodeBoth,
      leaks,
      classify,
      scanSuccess: true,
    });
  }, 3_600_000);
});
