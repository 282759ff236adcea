import { describe, expect, it } from 'vitest';
import { MtlsError } from '../errors.js';
import { closedSourceError, isNetworkErrorCode, quoteVendorMessage, timeoutOption } from './adapter-kit.js';

describe('the adapters’ shared pieces', () => {
  it('closedSourceError: CLOSED, naming the source and what to do', () => {
    const err = closedSourceError('aws-sm://prod/mtls');
    expect(err).toMatchObject({ code: 'CLOSED', sourceId: 'aws-sm://prod/mtls', retryable: false });
    expect(err.message).toBe('the source aws-sm://prod/mtls was closed: create a new one');
  });

  it('timeoutOption: the value, the fallback, or INVALID_OPTION for anything but a positive number', () => {
    expect(timeoutOption(500, 10_000, 'x')).toBe(500);
    expect(timeoutOption(undefined, 10_000, 'x')).toBe(10_000);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = (() => {
        try {
          timeoutOption(bad, 10_000, 'src');
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(MtlsError);
      expect(err).toMatchObject({ code: 'INVALID_OPTION', sourceId: 'src' });
      expect((err as Error).message).toMatch(/timeoutMs must be a positive number/);
    }
  });

  it('quoteVendorMessage: the first line, trimmed and cut', () => {
    expect(quoteVendorMessage('  Access denied \r\nstack…')).toBe('Access denied');
    expect(quoteVendorMessage(undefined)).toBe('');
    expect(quoteVendorMessage('x'.repeat(400))).toBe(`${'x'.repeat(300)}…`);
    expect(quoteVendorMessage('abcdef', 3)).toBe('abc…');
  });

  it('isNetworkErrorCode: codes of a request that got no answer, nothing else', () => {
    for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'UND_ERR_SOCKET'])
      expect(isNetworkErrorCode(code)).toBe(true);
    for (const code of ['ERR_TLS_CERT_ALTNAME_INVALID', 'ENOENT', 5, undefined])
      expect(isNetworkErrorCode(code)).toBe(false);
  });
});
