// Fuzz of reference parsing: parseReferenceAsync over every scheme with every adapter's grammar
// loaded (env:, file:, aws-sm:, azure-kv:, gcp-sm:, vault:, vault-pki:), on references built from
// each scheme's own option table (values of the right and wrong types, sub-references nested,
// percent coding right and wrong), random strings over the references' alphabet, valid references
// with random damage, and credentials pasted where a reference belongs. Every case parses (and then
// formats back to the same reference) or ends in an MtlsError with a known code, within the bound;
// no error shows a passphrase, token or key written in the reference.
import '@mtlskit/aws/scheme';
import '@mtlskit/azure/scheme';
import '@mtlskit/gcp/scheme';
import '@mtlskit/vault/scheme';
import { isDeepStrictEqual } from 'node:util';
import {
  formatReference,
  listSchemes,
  parseReference,
  parseReferenceAsync,
  type SchemeInfo,
} from '@mtlskit/core';
import { type LeakCheck, leakCheck, TestCA } from '@mtlskit/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Case, report, runProperty, TOTAL_CASES } from './fuzz-support.js';

/** Recognisable secrets: written as a passphrase, a token, an unknown option's value. */
const PASSPHRASE = 'fuzz-Ref.Passphrase!Q7x';
const TOKEN = 'hvs.FuzzVaultToken-9xY';
const SECRET_NAMES = [
  'passphrase',
  'password',
  'key_password',
  'pfx_password',
  'Passphrase',
  'token',
  'secret_id',
];

let schemes: SchemeInfo[] = [];
let keyPem = '';
let leaks: LeakCheck;

beforeAll(async () => {
  schemes = listSchemes().filter((s) => s.defined);
  const client = await (await TestCA.create()).issueClient({ keyType: 'ec-p256' });
  keyPem = client.keyPem;
  leaks = leakCheck([PASSPHRASE, TOKEN, keyPem]);
});

// ---------------------------------------------------------------------------------------------
// Pieces

const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';
const ALPHABET = `${SAFE}:/?#[]@!$&'()*+,;=% \t\n€é\u0000\u0007\u00a0\u200b\ud800`;
const PERCENT = [
  '%20',
  '%2F',
  '%3F',
  '%26',
  '%3D',
  '%25',
  '%3A',
  '%E2%82%AC',
  '%C3%28',
  '%C0%AF',
  '%ED%A0%80',
  '%ZZ',
  '%2',
  '%',
  '%00',
];

const segment = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...SAFE) },
      { weight: 1, arbitrary: fc.constantFrom(...PERCENT) },
    ),
    {
      minLength: 0,
      maxLength: 12,
    },
  )
  .map((parts) => parts.join(''));

const alphabetText = (maxLength: number) => fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength });

/**
 * Percent-encodes about one character in k, but not `=`, `&` and `?`: an encoded `=` makes
 * `token=VALUE` one option name and an encoded `?` makes the query part of the path, which an error
 * may quote (only a name that says passphrase or password is hidden then: `passphrase%3D…` is among
 * the secrets inserted below; `pass%70hrase=` is hidden in a query, core's unit tests show).
 */
const percentSome = (text: string, k: number, seed: number) =>
  [...text]
    .map((ch, i) =>
      !'=&?'.includes(ch) && (((i + 1) * 2654435761 + seed) >>> 0) % k === 0 ? encodeURIComponent(ch) : ch,
    )
    .join('');

interface Built {
  text: string;
  /** How it was built (for the shape): scheme, options, depth. */
  shape: string;
}

function optionValue(info: SchemeInfo, name: string, depth: number): fc.Arbitrary<Built> {
  const option = info.options[name];
  const plain = (a: fc.Arbitrary<string>) => a.map((text) => ({ text, shape: name }));
  if (option === undefined) return plain(fc.oneof(segment, fc.constant(PASSPHRASE), fc.constant(TOKEN)));
  switch (option.type) {
    case 'enum':
      return plain(fc.oneof(fc.constantFrom(...(option.values ?? ['x'])), segment));
    case 'integer':
      return plain(
        fc.oneof(
          fc.integer({ min: -10, max: 100_000 }).map(String),
          fc.constantFrom('0', '1e3', '0x10', '99999999999999999999999', '-0', '1.5', '', ' 1', '٣'),
        ),
      );
    case 'boolean':
      return plain(fc.constantFrom('true', 'false', '1', '0', 'yes', 'TRUE', ''));
    case 'url':
      return plain(
        fc.oneof(
          fc.constantFrom(
            'http://127.0.0.1:8200',
            'https://vault.example:8200/',
            'https://x.vault.azure.net',
            'ftp://x',
            'http://',
            '::',
            'http://[::1]:1',
          ),
          segment,
        ),
      );
    case 'reference':
      return depth <= 0
        ? plain(
            name === 'passphrase'
              ? fc.constantFrom('env:PASS', PASSPHRASE, 'file:/run/p')
              : fc.constantFrom('env:CA', 'file:/etc/ca.pem', 'not-a-reference'),
          )
        : fc.tuple(reference(depth - 1), fc.boolean(), fc.boolean()).map(([inner, encode, literal]) => ({
            text:
              literal && name === 'passphrase'
                ? PASSPHRASE
                : encode
                  ? encodeURIComponent(inner.text)
                  : inner.text,
            shape: `${name}=(${literal ? 'literal' : inner.shape})`,
          }));
    default:
      return plain(segment);
  }
}

/** A reference of a loaded scheme, built from its own form and option table. */
function reference(depth: number): fc.Arbitrary<Built> {
  return fc.nat().chain((pick) => {
    const info = schemes[pick % schemes.length]!;
    const slashes = /^[a-z-]+:\/\//.test(info.form ?? '');
    const names = [...Object.keys(info.options), ...SECRET_NAMES, 'zzz'];
    return fc
      .tuple(
        fc.boolean(),
        fc.array(segment, { minLength: 0, maxLength: 6 }),
        fc
          .uniqueArray(fc.constantFrom(...names), { maxLength: 5 })
          .chain((chosen) =>
            fc.tuple(...chosen.map((name) => optionValue(info, name, depth).map((v) => [name, v] as const))),
          ),
        fc.boolean(),
      )
      .map(([flipSlashes, path, options, duplicate]) => {
        const pairs = options.map(
          ([name, v]) =>
            `${name}=${SECRET_NAMES.includes(name) && name !== 'passphrase' ? PASSPHRASE : v.text}`,
        );
        if (duplicate && pairs.length > 0) pairs.push(pairs[0]!);
        const query = pairs.length === 0 ? '' : `?${pairs.join('&')}`;
        const text = `${info.scheme}:${slashes !== flipSlashes ? '//' : ''}${path.join('/')}${query}`;
        return {
          text,
          shape: `${info.scheme} ${path.length} segments, options [${options.map(([, v]) => v.shape).join(' ')}]`,
        };
      });
  });
}

/** Paths each scheme's form accepts, to build references that mostly parse. */
const PATHS: Record<string, string[]> = {
  env: ['', 'MTLS_BUNDLE'],
  file: ['/etc/mtls', 'relative/dir', '/tmp/with space/€'],
  'aws-sm': ['prod/mtls', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/mtls-AbCdEf', ''],
  'azure-kv': [
    'myvault/mtls',
    'myvault/mtls/0123456789abcdef0123456789abcdef',
    'myvault.vault.azure.net/mtls',
  ],
  'gcp-sm': [
    'projects/my-project/secrets/mtls',
    'projects/my-project/secrets/mtls/versions/3',
    'projects/123456/locations/europe-west1/secrets/s',
  ],
  vault: ['secret/mtls', 'kv/team/app/mtls'],
  'vault-pki': ['pki/issue/client', 'pki_int/sign/client'],
};
const WELL_TYPED: Record<string, fc.Arbitrary<string>> = {
  string: fc.constantFrom(
    'MTLS_CERT',
    'PRIVATE_KEY_B64',
    '/run/secrets/cert.pem',
    'a.example',
    'prod',
    '72h',
    'AWSPENDING',
  ),
  integer: fc.integer({ min: 1, max: 100_000 }).map(String),
  boolean: fc.constantFrom('true', 'false'),
  url: fc.constantFrom('http://127.0.0.1:8200', 'https://vault.example:8200', 'https://x.vault.azure.net'),
  reference: fc.constantFrom('env:PASS', 'file:/run/secrets/pass', 'env:?prefix=CA_', 'aws-sm://prod/pass'),
};

/** A reference of a loaded scheme with a path its form accepts and well-typed options: most parse. */
const wellFormed: fc.Arbitrary<Case<unknown>> = fc.nat().chain((pick) => {
  const info = schemes[pick % schemes.length]!;
  const slashes = /^[a-z-]+:\/\//.test(info.form ?? '');
  const table = Object.entries(info.options);
  const required = table.filter(([, o]) => o.required).map(([n]) => n);
  return fc
    .tuple(
      fc.constantFrom(...(PATHS[info.scheme] ?? [''])),
      fc.uniqueArray(fc.constantFrom(...table.map(([n]) => n)), { maxLength: 3 }),
      fc.nat(),
      fc.nat({ max: 4 }),
    )
    .chain(([path, chosen, seed, k]) => {
      const names = [
        ...new Set([...(info.scheme === 'vault-pki' ? ['common_name'] : []), ...required, ...chosen]),
      ];
      return fc
        .tuple(
          ...names.map((n) => {
            const o = info.options[n]!;
            return (o.type === 'enum' ? fc.constantFrom(...(o.values ?? ['x'])) : WELL_TYPED[o.type]!).map(
              (v) => `${n}=${encodeURIComponent(v).replace(/%2F/g, '/').replace(/%3A/g, ':')}`,
            );
          }),
        )
        .map((pairs) => {
          const encodedPath = path
            .split('/')
            .map((p) => encodeURIComponent(p).replace(/%3A/g, ':'))
            .join('/');
          const query = pairs.length === 0 ? '' : `?${pairs.join('&')}`;
          const plain = `${info.scheme}:${slashes ? '//' : ''}${encodedPath}${query}`;
          const text = k === 0 ? percentSome(plain, 9, seed) : plain;
          return {
            input: text,
            shape: shapeOfText(`well-formed ${info.scheme}, options [${names.join(' ')}]`, text),
          };
        });
    });
});

const DOCUMENTED = [
  'env:',
  'env:?prefix=MANGOPAY_',
  'env:?cert=CERTIFICATE_PEM_B64&key=PRIVATE_KEY_B64&passphrase=env:KEY_PASS',
  'file:/etc/mtls?ca=/etc/ssl/api-ca.pem',
  'file:?cert=/run/client.crt&key=/run/client.key&passphrase=file:/run/pass',
  'aws-sm://prod/mtls?region=eu-west-1&passphrase=env:PASS',
  'aws-sm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/mtls-AbCdEf',
  'aws-sm://?cert=prod/cert&key=prod/key',
  'azure-kv://myvault/mtls-client/0123456789abcdef0123456789abcdef',
  'azure-kv://myvault.vault.usgovcloudapi.net/mtls?ca=file:/etc/ca.pem',
  'gcp-sm://projects/p/secrets/mtls/versions/3',
  'vault://secret/mtls?kv=2&version=3&auth=approle&roleId=r&secretIdFile=/run/sid',
  'vault-pki://pki/issue/client?common_name=a.example&ttl=24h',
  'vault-pki://pki/sign/client?common_name=a.example&alt_names=b.example,c.example',
];

type Mutation = {
  op: 'insert' | 'delete' | 'replace' | 'percent' | 'duplicate' | 'truncate';
  at: number;
  ch: string;
};
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom(
    'insert' as const,
    'delete' as const,
    'replace' as const,
    'percent' as const,
    'duplicate' as const,
    'truncate' as const,
  ),
  at: fc.nat(),
  ch: fc.oneof(fc.constantFrom(...ALPHABET), fc.constantFrom(...PERCENT)),
});

/**
 * A secret written into a reference, after the damage (so the damage cannot turn `passphrase=` into
 * a name nothing could tell from any other): it must not be echoed wherever it lands.
 */
const secretInsert = fc.record({
  at: fc.nat(),
  text: fc.constantFrom(
    `&passphrase=${PASSPHRASE}`,
    `?passphrase=${PASSPHRASE}`,
    `?token=${TOKEN}`,
    `&secret_id=${TOKEN}`,
    `&passphrase%3D${PASSPHRASE}`,
    `?key_password%3d${PASSPHRASE}`,
    `&password=${PASSPHRASE}`,
    `&Passphrase=${encodeURIComponent(PASSPHRASE)}`,
  ),
});

/** encodeURIComponent, but a lone surrogate (which it refuses) as the bytes UTF-8 would give it. */
function encodeLoosely(ch: string): string {
  try {
    return encodeURIComponent(ch);
  } catch {
    return '%ED%A0%80';
  }
}

function mutate(text: string, m: Mutation): string {
  const at = text.length === 0 ? 0 : m.at % text.length;
  switch (m.op) {
    case 'insert':
      return text.slice(0, at) + m.ch + text.slice(at);
    case 'delete':
      return text.slice(0, at) + text.slice(at + 1);
    case 'replace':
      return text.slice(0, at) + m.ch + text.slice(at + 1);
    case 'percent':
      return text.slice(0, at) + encodeLoosely(text.charAt(at)) + text.slice(at + 1);
    case 'duplicate':
      return text.slice(0, at) + text.slice(at) + text.slice(at);
    case 'truncate':
      return text.slice(0, at);
  }
}

const shapeOfText = (what: string, text: unknown) =>
  `${what}; ${typeof text === 'string' ? `text(${text.length})` : typeof text}`;

// ---------------------------------------------------------------------------------------------
// Arbitraries

const grammar: fc.Arbitrary<Case<unknown>> = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.nat({ max: 5 }), fc.nat())
  .chain(([depth, k, seed]) =>
    reference(depth).map((b) => {
      const text = k === 0 ? b.text : percentSome(b.text, k + 3, seed);
      return {
        input: text,
        shape: shapeOfText(`grammar: ${b.shape}${k === 0 ? '' : `, 1/${k + 3} percent-encoded`}`, text),
      };
    }),
  );

const randomText: fc.Arbitrary<Case<unknown>> = fc
  .tuple(
    fc.oneof(fc.constantFrom(...DOCUMENTED.map((d) => d.slice(0, d.indexOf(':') + 1))), fc.constant('')),
    alphabetText(200),
  )
  .map(([prefix, tail]) => ({
    input: prefix + tail,
    shape: shapeOfText(`random text after "${prefix}"`, prefix + tail),
  }));

const mutated: fc.Arbitrary<Case<unknown>> = fc
  .tuple(
    fc.constantFrom(...DOCUMENTED),
    fc.array(mutation, { minLength: 1, maxLength: 5 }),
    fc.array(secretInsert, { maxLength: 2 }),
  )
  .map(([text, ms, secrets]) => {
    let out = ms.reduce(mutate, text);
    // Positions in the damaged text, filled from the last: no secret is spliced into another.
    const base = out.length;
    const placed = secrets
      .map(({ at, text: piece }) => ({ i: at % (base + 1), piece }))
      .sort((a, b) => b.i - a.i);
    for (const { i, piece } of placed) out = out.slice(0, i) + piece + out.slice(i);
    const how = `${ms.map((m) => m.op).join('+')}${secrets.length > 0 ? ` +${secrets.length} secrets` : ''}`;
    return { input: out, shape: shapeOfText(`${text.slice(0, text.indexOf(':'))}: documented, ${how}`, out) };
  });

const pasted: fc.Arbitrary<Case<unknown>> = fc
  .tuple(
    fc.constantFrom('whole', 'base64', 'json', 'option', 'option-encoded', 'yaml', 'hex'),
    fc.constantFrom(...DOCUMENTED),
  )
  .map(([how, ref]) => {
    const b64 = Buffer.from(keyPem).toString('base64');
    const texts: Record<string, string> = {
      whole: keyPem,
      base64: b64,
      json: JSON.stringify({ key: keyPem, passphrase: PASSPHRASE, token: TOKEN }),
      option: `${ref}${ref.includes('?') ? '&' : '?'}key=${b64}`,
      'option-encoded': `${ref}${ref.includes('?') ? '&' : '?'}key=${encodeURIComponent(keyPem)}&passphrase=${PASSPHRASE}`,
      yaml: `key_password: ${PASSPHRASE}\ntoken: ${TOKEN}\nkey: ${b64}`,
      hex: `${ref}${ref.includes('?') ? '&' : '?'}cert=${Buffer.from(keyPem).toString('hex')}`,
    };
    const text = texts[how]!;
    return { input: text, shape: shapeOfText(`a credential pasted (${how})`, text) };
  });

const notText: fc.Arbitrary<Case<unknown>> = fc.anything({ maxDepth: 2 }).map((v) => ({
  input: v,
  shape: `not a string: ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`,
}));

/** Parses; a reference that parses must format back to text that parses to the same reference. */
async function parseAndRoundTrip(text: unknown): Promise<void> {
  const ref = await parseReferenceAsync(text as string);
  const again = formatReference(ref);
  const back = parseReference(again);
  if (!isDeepStrictEqual(back, ref)) throw new Error('formatReference(ref) parses to a different reference');
}

// Shares of the file's cases: this file takes 40% of TOTAL_CASES.
const SHARE = Math.round(TOTAL_CASES * 0.4);
const cases = (part: number) => Math.max(1, Math.round(SHARE * part));

describe('reference parsing fuzz', () => {
  afterAll(() => {
    console.log(report('reference fuzz'));
  });

  it('every loaded scheme is exercised', () => {
    expect(schemes.map((s) => s.scheme).sort()).toEqual([
      'aws-sm',
      'azure-kv',
      'env',
      'file',
      'gcp-sm',
      'vault',
      'vault-pki',
    ]);
  });

  const properties: Array<[string, fc.Arbitrary<Case<unknown>>, number]> = [
    ['references built from each grammar', grammar, 0.3],
    ['well-formed references of each scheme, formatted back', wellFormed, 0.15],
    ['random text over the reference alphabet', randomText, 0.2],
    ['documented references with random damage', mutated, 0.25],
    ['credentials pasted where a reference belongs', pasted, 0.05],
    ['values that are not strings', notText, 0.05],
  ];
  properties.forEach(([name, arbitrary, part], index) => {
    it(`${name}: a reference or an MtlsError, quickly, no secret shown`, async () => {
      await runProperty({
        name,
        seedOffset: 100 + index,
        cases: cases(part),
        arbitrary,
        run: parseAndRoundTrip,
        leaks,
      });
    }, 3_600_000);
  });
});
