// The mapping rows no emulator fault in source.test.ts reaches, on errors shaped as core-rest-pipeline's
// RestError (`statusCode`, `code`, `details.error.innerError.code`) and the identity library's errors.
import { describe, expect, it } from 'vitest';
import { timeoutError, toMtlsError } from './errors.js';

const ctx = {
  sourceId: 'azure-kv://myvault.vault.azure.net/mtls',
  operation: 'getSecret' as const,
  secret: 'mtls',
  vaultUrl: 'https://myvault.vault.azure.net',
};
const restError = (statusCode: number, code: string, message: string, inner?: string) =>
  Object.assign(new Error(message), {
    name: 'RestError',
    statusCode,
    code,
    details: { error: { code, innerError: inner === undefined ? undefined : { code: inner } } },
  });

describe('toMtlsError', () => {
  it('a 403 without an inner code Key Vault names is ACCESS_DENIED naming both permission models', () => {
    const err = toMtlsError(restError(403, 'Forbidden', 'Operation get is not allowed.'), ctx);
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(
      /refused getSecret on secret "mtls" .*\(Operation get is not allowed\.\) — .*"Key Vault Secrets User" \(or the access-policy permission get\)/,
    );
  });

  it('a disabled secret (no version given: every version is disabled) says to enable one', () => {
    const err = toMtlsError(restError(403, 'Forbidden', 'disabled', 'SecretDisabled'), ctx);
    expect(err.code).toBe('ACCESS_DENIED');
    expect(err.message).toMatch(
      /^every version of secret "mtls" .* is disabled \(SecretDisabled\) — enable one \(az keyvault secret set-attributes --version VERSION --enabled true\)/,
    );
    const listing = toMtlsError(restError(403, 'Forbidden', 'no list', 'AccessDenied'), {
      ...ctx,
      operation: 'listPropertiesOfSecretVersions',
    });
    expect(listing.message).toMatch(/secret permission "list" .* assign "Key Vault Secrets User"/);
    const update = toMtlsError(restError(403, 'Forbidden', 'no', 'ForbiddenByRbac'), {
      ...ctx,
      operation: 'updateSecretProperties',
    });
    expect(update.message).toMatch(/not allowed to update .*"Key Vault Secrets Officer"/);
  });

  it('a 409 on a read is a plain refusal, not the deleted-secret advice of a write; a 408 is retried', () => {
    const conflict = toMtlsError(restError(409, 'Conflict', 'conflict'), ctx);
    expect([conflict.code, conflict.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(conflict.message).toMatch(/\(409 Conflict: conflict\) — act on Key Vault's message/);
    expect(conflict.message).not.toMatch(/recover or purge/);
    expect(toMtlsError(restError(408, 'RequestTimeout', 'slow'), ctx)).toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      retryable: true,
    });
  });

  it('an error with no status and no network code names the error it is', () => {
    const err = toMtlsError(
      Object.assign(new Error('Unexpected end of JSON input'), { name: 'SyntaxError' }),
      ctx,
    );
    expect([err.code, err.retryable]).toEqual(['SOURCE_UNAVAILABLE', true]);
    expect(err.message).toMatch(/did not answer getSecret .*\(SyntaxError: Unexpected end of JSON input\)/);
  });

  it('words a timeout with the secret and the option to raise', () => {
    expect(timeoutError({ ...ctx, version: 'abc' }, 250).message).toMatch(
      /did not answer getSecret on secret "mtls" in https:\/\/myvault\.vault\.azure\.net, version abc within 250 ms — .*raise the timeoutMs option/,
    );
  });
});
