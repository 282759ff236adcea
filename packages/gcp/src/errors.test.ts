// The mapping table, on error objects shaped as the Google client throws them (observed with the real
// client against the emulator: gRPC `{code, details, metadata}`, REST `{code: <HTTP>, message: <JSON body>}`,
// network `{code: 'ECONNRESET'}`). source.test.ts covers the same mapping end to end.
import { MtlsError } from '@mtlskit/core';
import { describe, expect, it } from 'vitest';
import { timeoutError, toMtlsError } from './errors.js';

const ctx = {
  sourceId: 'gcp-sm://projects/p/secrets/s',
  operation: 'AccessSecretVersion',
  name: 'projects/p/secrets/s/versions/latest',
};
const grpc = (code: number, details: string) =>
  Object.assign(new Error(`${code} X: ${details}`), { code, details, metadata: {} });
const rest = (status: number, named: string, message: string) =>
  Object.assign(new Error(JSON.stringify({ error: { code: status, message, status: named } })), {
    code: status,
    status,
    config: { headers: { authorization: 'Bearer ya29.secret-token-value' } },
  });

describe('toMtlsError', () => {
  it.each([
    [grpc(5, 'Secret [projects/1/secrets/s] not found or has no versions.'), 'SOURCE_NOT_FOUND'],
    [rest(404, 'NOT_FOUND', 'Secret [projects/1/secrets/s] not found.'), 'SOURCE_NOT_FOUND'],
    [grpc(7, "Permission 'secretmanager.versions.access' denied"), 'ACCESS_DENIED'],
    [rest(403, 'PERMISSION_DENIED', 'denied'), 'ACCESS_DENIED'],
    [grpc(16, 'Request had invalid authentication credentials.'), 'ACCESS_DENIED'],
    [rest(401, 'UNAUTHENTICATED', 'invalid credentials'), 'ACCESS_DENIED'],
    [grpc(8, 'Quota exceeded'), 'THROTTLED'],
    [rest(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded'), 'THROTTLED'],
    [grpc(14, 'read ECONNRESET'), 'SOURCE_UNAVAILABLE'],
    [grpc(4, 'Deadline exceeded'), 'SOURCE_UNAVAILABLE'],
    [rest(503, 'UNAVAILABLE', 'try again'), 'SOURCE_UNAVAILABLE'],
    [rest(502, '', '<html>bad gateway</html>'), 'SOURCE_UNAVAILABLE'],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      'SOURCE_UNAVAILABLE',
    ],
    [grpc(3, 'Invalid resource field value'), 'INVALID_REFERENCE'],
    [
      new Error(
        'Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication',
      ),
      'ACCESS_DENIED',
    ],
  ] as const)('maps %s to %s', (err, code) => {
    const mapped = toMtlsError(err, ctx);
    expect(mapped.code).toBe(code);
    expect(mapped.sourceId).toBe(ctx.sourceId);
    expect(JSON.stringify(mapped)).not.toContain('ya29');
  });

  it('names the version Google refused for its state, on both transports', () => {
    for (const err of [
      grpc(9, 'Secret Version [projects/123/secrets/s/versions/4] is in DISABLED state.'),
      rest(
        400,
        'FAILED_PRECONDITION',
        'Secret Version [projects/123/secrets/s/versions/4] is in DISABLED state.',
      ),
    ]) {
      const mapped = toMtlsError(err, ctx);
      expect(mapped.code).toBe('SOURCE_NOT_FOUND');
      expect(mapped.message).toMatch(/^version 4 of projects\/p\/secrets\/s is DISABLED/);
    }
    expect(toMtlsError(grpc(9, 'Secret Version [x/versions/2] is in DESTROYED state.'), ctx).message).toMatch(
      /gone for good/,
    );
  });

  it('quotes Google’s message, not the REST body around it', () => {
    const mapped = toMtlsError(
      rest(403, 'PERMISSION_DENIED', "Permission 'secretmanager.versions.access' denied"),
      ctx,
    );
    expect(mapped.message).toContain("(Permission 'secretmanager.versions.access' denied)");
    expect(mapped.message).toContain('roles/secretmanager.secretAccessor');
    expect(mapped.message).not.toContain('{"error"');
  });

  it('calls a refusal that retrying cannot change not retryable', () => {
    const mapped = toMtlsError(grpc(9, 'Secret is scheduled for deletion.'), ctx);
    expect(mapped).toMatchObject({ code: 'SOURCE_UNAVAILABLE', retryable: false });
    expect(toMtlsError(grpc(12, 'not implemented'), ctx).retryable).toBe(false);
  });

  it('reads a refused checksum on AddSecretVersion as INTEGRITY_FAILED', () => {
    const mapped = toMtlsError(grpc(3, 'Checksum of the payload does not match data_crc32c.'), {
      ...ctx,
      operation: 'AddSecretVersion',
    });
    expect(mapped.code).toBe('INTEGRITY_FAILED');
  });

  it('names the role each write needs when Google refuses it', () => {
    const denied = grpc(7, 'Permission denied');
    expect(toMtlsError(denied, { ...ctx, operation: 'AddSecretVersion' }).message).toContain(
      'roles/secretmanager.secretVersionAdder',
    );
    expect(toMtlsError(denied, { ...ctx, operation: 'DisableSecretVersion' }).message).toContain(
      'roles/secretmanager.secretVersionManager',
    );
  });

  it('points a regional secret that is missing or rejected at the regional endpoint', () => {
    const regional = { ...ctx, name: 'projects/p/locations/europe-west1/secrets/s/versions/latest' };
    for (const err of [grpc(5, 'not found'), grpc(3, 'Invalid resource field value')]) {
      expect(toMtlsError(err, regional).message).toMatch(/the regional endpoint of the location/);
      expect(toMtlsError(err, ctx).message).not.toMatch(/regional endpoint/);
    }
  });

  it('reads a REST status without Google’s JSON body by its number', () => {
    const bare = (status: number) => Object.assign(new Error('<html>proxy</html>'), { status });
    expect(toMtlsError(bare(400), ctx).code).toBe('INVALID_REFERENCE');
    expect(toMtlsError(bare(504), ctx)).toMatchObject({ code: 'SOURCE_UNAVAILABLE', retryable: true });
    expect(toMtlsError(bare(409), ctx)).toMatchObject({ code: 'SOURCE_UNAVAILABLE', retryable: false });
    // A 4xx Google's REST surface does not use is a proxy's, not Secret Manager's: worth retrying.
    expect(toMtlsError(bare(418), ctx).message).toMatch(/gave no usable answer/);
  });

  it('retries what carries no status at all: no answer, or not Secret Manager’s', () => {
    const mapped = toMtlsError(new Error('socket hang up'), ctx);
    expect(mapped).toMatchObject({ code: 'SOURCE_UNAVAILABLE', retryable: true });
    expect(mapped.message).toMatch(/gave no usable answer to AccessSecretVersion .*\(socket hang up\)/);
    expect(toMtlsError('not an error', ctx).code).toBe('SOURCE_UNAVAILABLE');
  });

  it('passes MtlsErrors through and words a timeout', () => {
    const own = new MtlsError('CLOSED', 'closed');
    expect(toMtlsError(own, ctx)).toBe(own);
    expect(timeoutError(ctx, 250).message).toMatch(/within 250 ms — .*raise the timeoutMs option/);
  });
});
