// The mapping between a KV secret's fields and CredentialMaterial, as a table: which field is read
// for what, and what a store() writes over the secret's current fields.
import { describe, expect, it } from 'vitest';
import { dataFor, materialOf } from './fields.js';

const ID = 'vault://secret/app';

describe('materialOf', () => {
  it.each([
    ['own names', { cert: 'C', key: 'K', ca: 'A' }, {}, { cert: 'C', key: 'K', ca: 'A' }],
    [
      'aliases, any case and separators',
      { 'TLS.CRT': 'C', Private_Key: 'K', password: 'P' },
      {},
      { cert: 'C', key: 'K', passphrase: 'P' },
    ],
    ['a PKCS#12 alone', { p12: 'X', pfx_password: 'P' }, {}, { pfx: 'X', passphrase: 'P' }],
    [
      'names given',
      { a: 'C', b: 'K', cert: 'other' },
      { fields: { cert: 'a', key: 'b' } },
      { cert: 'C', key: 'K' },
    ],
    ['a bundle field by default', { bundle: '{"cert":"C"}', owner: 'x' }, {}, { bundle: '{"cert":"C"}' }],
    [
      'a JSON object in the bundle field',
      { mtls: { cert: 'C', key: 'K' } },
      { bundleField: 'mtls' },
      { bundle: '{"cert":"C","key":"K"}' },
    ],
  ])('%s', (_, data, mapping, expected) => {
    const { version, fetchedAt, ...material } = materialOf(data, mapping, ID, '3');
    expect(material).toEqual(expected);
    expect(version).toBe('3');
    expect(fetchedAt).toBeInstanceOf(Date);
  });
});

describe('dataFor', () => {
  it.each([
    [
      'keeps the secret’s own names and other fields',
      { certificate: 'c0', private_key: 'k0', owner: 'team' },
      { cert: 'c1', key: 'k1' },
      {},
      { certificate: 'c1', private_key: 'k1', owner: 'team' },
    ],
    [
      'removes credential fields the new material lacks',
      { cert: 'c0', key: 'k0', passphrase: 'p0' },
      { cert: 'c1', key: 'k1' },
      {},
      { cert: 'c1', key: 'k1' },
    ],
    [
      'replaces a bundle with fields',
      { bundle: 'b0', note: 'n' },
      { cert: 'c1', key: 'k1' },
      {},
      { cert: 'c1', key: 'k1', note: 'n' },
    ],
    [
      'writes the bundle field asked for',
      { cert: 'c0', key: 'k0' },
      { cert: 'c1', key: 'k1' },
      { bundleField: 'mtls' },
      { mtls: '{"cert":"c1","key":"k1"}' },
    ],
    [
      'writes bytes as Base64 and a CA list as PEM',
      {},
      { cert: 'c', key: new Uint8Array([1, 2, 3]), ca: ['A', new Uint8Array([4])] },
      {},
      {
        cert: 'c',
        key: 'AQID',
        ca: 'A\n-----BEGIN CERTIFICATE-----\nBA==\n-----END CERTIFICATE-----\n',
      },
    ],
  ])('%s', (_, current, material, mapping, expected) => {
    expect(dataFor(material, current, mapping)).toEqual(expected);
  });
});
