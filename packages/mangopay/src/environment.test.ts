import { describe, expect, it } from 'vitest';
import { checkIdentity, mangopayCertificateName, parseCertificateName } from './environment.js';

describe('Mangopay certificate names', () => {
  it('names a ClientId per environment and reads the name back', () => {
    expect(mangopayCertificateName({ clientId: 'acme', environment: 'sandbox' })).toBe(
      'acme.sandbox.mangopay.com',
    );
    expect(mangopayCertificateName({ clientId: 'acme', environment: 'production' })).toBe(
      'acme.prod.mangopay.com',
    );
    expect(parseCertificateName('acme.prod.mangopay.com')).toEqual({
      clientId: 'acme',
      environment: 'production',
    });
    expect(parseCertificateName('Acme.SANDBOX.mangopay.com')).toEqual({
      clientId: 'Acme',
      environment: 'sandbox',
    });
  });

  it.each(['client.example.com', 'a.b.sandbox.mangopay.com', 'api-mtls.mangopay.com', ''])(
    'does not take %j for a certificate name',
    (name) => {
      expect(parseCertificateName(name)).toBeUndefined();
    },
  );

  it('refuses an identity that is missing or has no known environment, naming what to give', () => {
    expect(() => checkIdentity(undefined)).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringMatching(/is missing: give \{ clientId/),
      }),
    );
    expect(() => checkIdentity({ clientId: 'acme', environment: 'prod' }, 'options')).toThrow(
      /^options: environment "prod" is neither 'sandbox' nor 'production'\.$/,
    );
    expect(() => checkIdentity({ clientId: 'acme' })).toThrow(/environment undefined is neither/);
    expect(() => checkIdentity({ clientId: 7, environment: 'sandbox' })).toThrow(
      /clientId 7 is not a Mangopay ClientId/,
    );
  });
});
