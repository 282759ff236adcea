import { describe, expect, it } from 'vitest';
import { environmentOfHost, environmentOfName, mangopayHost, mangopayIdentity } from './mangopay.js';

describe('Mangopay naming', () => {
  it('names the CSR subject CN, O, C in that order, sandbox by default', () => {
    expect(mangopayIdentity('acme')).toEqual({
      commonName: 'acme.sandbox.mangopay.com',
      subject: [
        ['CN', 'acme.sandbox.mangopay.com'],
        ['O', 'Mangopay'],
        ['C', 'LU'],
      ],
      dnsName: 'acme.sandbox.mangopay.com',
    });
    expect(mangopayIdentity('acme', 'production').commonName).toBe('acme.prod.mangopay.com');
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

  it('tells the environment of a host and of a certificate name', () => {
    expect(environmentOfHost('API-MTLS.sandbox.mangopay.com')).toBe('sandbox');
    expect(environmentOfHost('api-mtls.mangopay.com')).toBe('production');
    expect(environmentOfHost('api.example.com')).toBeUndefined();
    expect(environmentOfName('acme.prod.mangopay.com')).toBe('production');
    expect(environmentOfName('acme.sandbox.mangopay.com')).toBe('sandbox');
    expect(environmentOfName('client.example.com')).toBeUndefined();
  });
});
