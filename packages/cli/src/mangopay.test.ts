import { describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { csrNameOf, environmentOfHost, mangopayHost, mangopayPreset } from './mangopay.js';

describe('Mangopay naming', () => {
  it('names the CSR subject CN, O, C in that order, sandbox unless --production', () => {
    expect(csrNameOf(mangopayPreset('acme', false))).toEqual({
      subject: [
        ['CN', 'acme.sandbox.mangopay.com'],
        ['O', 'Mangopay'],
        ['C', 'LU'],
      ],
      san: ['DNS:acme.sandbox.mangopay.com'],
    });
    expect(mangopayPreset('acme', true).commonName).toBe('acme.prod.mangopay.com');
  });

  it('makes a --client-id that cannot be a ClientId a usage error', () => {
    expect(() => mangopayPreset('bad name!', false)).toThrow(UsageError);
    expect(() => mangopayPreset('a.b', true)).toThrow(/--client-id "a\.b" is not a Mangopay ClientId/);
  });

  it.each([
    ['https://api-mtls.sandbox.mangopay.com/v2.01/', { mangopay: true, mtls: true }],
    ['https://api-mtls.mangopay.com/v2.01/', { mangopay: true, mtls: true }],
    [
      'https://api.sandbox.mangopay.com/v2.01/x?y=1',
      { mangopay: true, mtls: false, suggestion: 'https://api-mtls.sandbox.mangopay.com/v2.01/x?y=1' },
    ],
    [
      'https://api.mangopay.com/',
      { mangopay: true, mtls: false, suggestion: 'https://api-mtls.mangopay.com/' },
    ],
    ['https://hub.mangopay.com/', { mangopay: true, mtls: false }],
    ['https://mangopay.com.evil.example/', { mangopay: false }],
    ['https://api.example.com/', { mangopay: false }],
  ])('classifies %s', (url, expected) => {
    expect(mangopayHost(new URL(url))).toEqual(expected);
  });

  it('tells the environment of a host, with or without api-mtls', () => {
    expect(environmentOfHost('API-MTLS.sandbox.mangopay.com')).toBe('sandbox');
    expect(environmentOfHost('api-mtls.mangopay.com')).toBe('production');
    expect(environmentOfHost('api.sandbox.mangopay.com')).toBe('sandbox');
    expect(environmentOfHost('api.mangopay.com')).toBe('production');
    expect(environmentOfHost('api.example.com')).toBeUndefined();
  });
});
