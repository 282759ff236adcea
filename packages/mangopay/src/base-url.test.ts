// The base URL check, as a table: every Mangopay host against each environment's certificate.
import { describe, expect, it } from 'vitest';
import { checkMangopayBaseUrl, enforceBaseUrl, environmentOfBaseUrl } from './base-url.js';
import { MANGOPAY_BASE_URLS } from './environment.js';

describe('checkMangopayBaseUrl', () => {
  it.each([
    ['https://api-mtls.sandbox.mangopay.com', 'sandbox', undefined],
    ['https://api-mtls.sandbox.mangopay.com/', 'sandbox', undefined],
    ['https://API-MTLS.mangopay.com', 'production', undefined],
    ['https://127.0.0.1:8443', 'sandbox', undefined],
    ['https://mangopay-proxy.internal', 'production', undefined],
    [
      'https://api-mtls.mangopay.com',
      'sandbox',
      "Mangopay's production mTLS host, but the certificate is for sandbox",
    ],
    [
      'https://api-mtls.sandbox.mangopay.com',
      'production',
      "Mangopay's sandbox mTLS host, but the certificate is for production",
    ],
    ['https://api.sandbox.mangopay.com', 'sandbox', 'without mTLS'],
    ['https://api.mangopay.com', 'production', 'without mTLS'],
    ['https://hub.mangopay.com', 'sandbox', "not one of Mangopay's mTLS API hosts"],
    ['http://api-mtls.sandbox.mangopay.com', 'sandbox', 'is not https'],
    ['http://127.0.0.1:8080', 'sandbox', 'is not https'],
    ['api-mtls.sandbox.mangopay.com', 'sandbox', 'is not a URL'],
  ] as const)('%s with a %s certificate: %s', (url, environment, problem) => {
    const findings = checkMangopayBaseUrl(url, environment);
    if (problem === undefined) {
      expect(findings).toEqual([]);
    } else {
      expect(findings).toHaveLength(1);
      expect(findings[0]).toMatchObject({ code: 'INVALID_OPTION', severity: 'error', field: 'baseUrl' });
      expect(findings[0]?.message).toContain(problem);
    }
  });

  it('tells the plain host’s user which mTLS host to use', () => {
    const [finding] = checkMangopayBaseUrl('https://api.sandbox.mangopay.com', 'sandbox');
    expect(finding?.fix).toBe(
      `Set baseUrl to ${MANGOPAY_BASE_URLS.sandbox}: every call, the OAuth token included, goes there.`,
    );
  });

  it('throws INVALID_OPTION for an environment that is neither sandbox nor production', () => {
    expect(() => checkMangopayBaseUrl(MANGOPAY_BASE_URLS.production, 'prod' as never)).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: `environment "prod" is neither 'sandbox' nor 'production'.`,
      }),
    );
  });

  it('maps the api-mtls hosts back to their environment', () => {
    expect(environmentOfBaseUrl('https://api-mtls.mangopay.com/v2.01')).toBe('production');
    expect(environmentOfBaseUrl('https://api-mtls.sandbox.mangopay.com')).toBe('sandbox');
    expect(environmentOfBaseUrl('https://api.mangopay.com')).toBeUndefined();
    expect(environmentOfBaseUrl('not a url')).toBeUndefined();
  });
});

describe('enforceBaseUrl', () => {
  it('throws the first error in throw mode', () => {
    expect(() => enforceBaseUrl('https://api.mangopay.com', 'production', 'throw', () => {})).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringContaining('without mTLS'),
      }),
    );
  });

  it('hands each finding to onWarning in warn mode, and does nothing when off', () => {
    const seen: string[] = [];
    enforceBaseUrl('https://api.mangopay.com', 'production', 'warn', (f) => seen.push(f.message));
    enforceBaseUrl('https://api.mangopay.com', 'production', 'off', (f) => seen.push(f.message));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toContain('without mTLS');
  });
});
