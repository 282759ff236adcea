// The error table beyond the common cases in source.test.ts: every AWS error name the mapping knows,
// sent by the emulator and parsed by the real SDK, so the names are the ones the SDK really produces.
import { inspect } from 'node:util';
import { MtlsError } from '@mtlskit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsHarness, startAwsHarness } from './__tests__/harness.js';
import { toMtlsError } from './errors.js';

let aws: AwsHarness;
beforeAll(async () => {
  aws = await startAwsHarness();
  aws.emulator.putSecret('s', BUNDLE);
});
afterAll(() => aws.close());

const table: Array<[name: string, status: number, code: string, retryable: boolean]> = [
  ['ExpiredTokenException', 400, 'ACCESS_DENIED', false],
  ['InvalidSignatureException', 400, 'ACCESS_DENIED', false],
  ['IncompleteSignature', 400, 'ACCESS_DENIED', false],
  ['MissingAuthenticationTokenException', 400, 'ACCESS_DENIED', false],
  ['TooManyRequestsException', 400, 'THROTTLED', true],
  ['RequestLimitExceeded', 400, 'THROTTLED', true],
  ['SlowDown', 503, 'THROTTLED', true],
  ['EncryptionFailure', 400, 'INTEGRITY_FAILED', false],
  ['InvalidParameterException', 400, 'INVALID_REFERENCE', false],
  ['ServiceUnavailable', 503, 'SOURCE_UNAVAILABLE', true],
  ['SomethingNew', 502, 'SOURCE_UNAVAILABLE', true],
  ['SomethingNew', 429, 'THROTTLED', true],
  ['LimitExceededException', 400, 'SOURCE_UNAVAILABLE', false],
];

const BUNDLE = '{"cert":"c","key":"k"}';

/** What one load (or store) of "s" by a new source fails with after the emulator was told to answer `code`. */
async function refused(
  code: string,
  message: string,
  { status = 400, call = 'load' }: { status?: number; call?: 'load' | 'store' } = {},
): Promise<MtlsError> {
  aws.emulator.fail({ kind: 'error', code, status, message });
  const source = aws.source({ secretId: 's' });
  const err = await (call === 'load' ? source.load() : source.store({ bundle: BUNDLE })).catch(
    (e: unknown) => e,
  );
  expect(MtlsError.is(err)).toBe(true);
  return err as MtlsError;
}

describe('toMtlsError', () => {
  it.each(table)('maps %s (HTTP %i) to %s, retryable %s', async (name, status, code, retryable) => {
    const e = await refused(name, `${name} from the emulator`, { status });
    expect([e.code, e.retryable]).toEqual([code, retryable]);
    expect(e.message).toContain(`${name} from the emulator`);
    expect(e.message).toContain('"s"');
  });

  it('words a refused 4xx as a refusal, with AWS’s message and what to do, not as a network problem', async () => {
    const quota = 'You have exceeded the maximum number of versions for this secret.';
    const err = await refused('LimitExceededException', quota, { call: 'store' });
    expect([err.code, err.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(err.message).toContain(
      `AWS Secrets Manager refused PutSecretValue on secret "s" (LimitExceededException: ${quota})`,
    );
    expect(err.message).toMatch(/quota was reached.*store less often.*not retried/);
    expect(err.message).not.toMatch(/network|retried when/);

    const exists = await refused('ResourceExistsException', 'exists', { call: 'store' });
    expect(exists.message).toMatch(
      /refused PutSecretValue .*\(ResourceExistsException: exists\) — .*store again/,
    );
  });

  it('reads InvalidRequestException from AWS’s text: scheduled for deletion, or a state that forbids the call', async () => {
    const deleted = "You can't perform this operation on the secret because it was marked for deletion.";
    const gone = await refused('InvalidRequestException', deleted);
    expect([gone.code, gone.retryable]).toEqual(['SOURCE_NOT_FOUND', false]);
    expect(gone.message).toMatch(
      /refused GetSecretValue on secret "s", version AWSCURRENT, because the secret is scheduled for deletion — restore it/,
    );
    expect(gone.message).toContain(deleted);

    const managed =
      'You can’t modify secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:s because it’s managed by rds.';
    const managedErr = await refused('InvalidRequestException', managed, { call: 'store' });
    expect([managedErr.code, managedErr.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(managedErr.message).toContain(
      `refused PutSecretValue on secret "s" (InvalidRequestException: ${managed})`,
    );
    expect(managedErr.message).toMatch(/managed by another AWS service.*write to a secret of your own/);
    expect(managedErr.message).not.toMatch(/deletion/);
  });

  it('takes a secret as scheduled for deletion only from AWS’s phrase, not from a quoted name that contains "delete"', async () => {
    const quoting =
      'You can’t modify secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:to-delete/mtls-AbCdEf because it’s managed by rds.';
    const quoted = await refused('InvalidRequestException', quoting);
    expect([quoted.code, quoted.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(quoted.message).not.toMatch(/scheduled for deletion — restore it/);

    // AWS's other wording (CreateSecret on a name whose secret awaits deletion) is recognised too.
    const scheduled =
      'You can’t create this secret because a secret with this name is already scheduled for deletion.';
    const gone = await refused('InvalidRequestException', scheduled);
    expect(gone.code).toBe('SOURCE_NOT_FOUND');
    expect(gone.message).toMatch(/scheduled for deletion — restore it/);
  });

  it('quotes at most the first 300 characters of AWS’s message', async () => {
    const long = `Refused: ${'x'.repeat(1_000)}END`;
    const limited = await refused('LimitExceededException', long);
    expect(limited.message).toContain(`(LimitExceededException: ${long.slice(0, 300)}…)`);
    expect(limited.message).not.toContain('END');
    expect(limited.message.length).toBeLessThan(700);

    const unavailable = await refused('ServiceUnavailable', long, { status: 503 });
    expect(unavailable.message).toContain(`: ${long.slice(0, 300)}…`);
    expect(unavailable.message).not.toContain('END');
  });

  it('keeps the name, status and message of the SDK error and drops its request, response and signature', async () => {
    aws.emulator.fail('denied');
    const err = (await aws
      .source({ secretId: 's' })
      .load()
      .catch((e: unknown) => e)) as MtlsError;
    const cause = err.cause as { name: string; status: number };
    expect(cause.name).toBe('AccessDeniedException');
    expect(cause.status).toBe(400);
    const shown = inspect(err, { depth: 10, showHidden: true }) + JSON.stringify(err);
    expect(shown).not.toMatch(/AWS4-HMAC-SHA256|x-amz-|\$response|\$metadata/i);
  });

  it('words the cases no emulator call above reaches: decryption, refusals outside PutSecretValue, an unreadable answer, no region', () => {
    const ctx = { sourceId: 'id', operation: 'GetSecretValue', secretId: 's' };
    const sdkError = (name: string, message: string, status?: number) =>
      Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

    const decrypt = toMtlsError(sdkError('DecryptionFailure', 'kms', 400), ctx);
    expect(decrypt.code).toBe('INTEGRITY_FAILED');
    expect(decrypt.message).toMatch(/could not decrypt secret "s" with its KMS key/);

    const quota = toMtlsError(sdkError('LimitExceededException', 'too many', 400), ctx);
    expect([quota.code, quota.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(quota.message).toMatch(/a Secrets Manager quota was reached: wait, or ask AWS/);

    const state = toMtlsError(sdkError('InvalidRequestException', 'not now', 400), ctx);
    expect([state.code, state.retryable]).toEqual(['SOURCE_UNAVAILABLE', false]);
    expect(state.message).toMatch(/does not allow this call: check the secret in the AWS console/);

    // A 200 whose body is not Secrets Manager's JSON (a proxy's page) is worth retrying, not a refusal.
    for (const unreadable of [
      sdkError('SyntaxError', 'Unexpected token <', 200),
      sdkError('Error', 'Deserialization error: to see the raw response, inspect the hidden field', 400),
    ]) {
      const mapped = toMtlsError(unreadable, ctx);
      expect([mapped.code, mapped.retryable]).toEqual(['SOURCE_UNAVAILABLE', true]);
      expect(mapped.message).toMatch(/did not complete GetSecretValue .* check network access/);
    }

    const region = toMtlsError(sdkError('Error', 'Region is missing'), ctx);
    expect(region.code).toBe('INVALID_REFERENCE');
    expect(region.message).toMatch(/no AWS region for secret "s" — add \?region=/);

    const credentials = toMtlsError(sdkError('CredentialsProviderError', 'Could not load credentials'), {
      ...ctx,
      operation: 'DescribeSecret',
    });
    expect(credentials.code).toBe('ACCESS_DENIED');
    expect(credentials.message).toMatch(/^no AWS credentials were found for DescribeSecret/);
  });

  it('passes an MtlsError through unchanged and names the field in per-field mode', () => {
    const original = new MtlsError('KEY_MISMATCH', 'x');
    expect(toMtlsError(original, { sourceId: 'id', operation: 'GetSecretValue', secretId: 's' })).toBe(
      original,
    );
    const mapped = toMtlsError(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }), {
      sourceId: 'id',
      operation: 'GetSecretValue',
      secretId: 'prod/key',
      field: 'key',
    });
    expect(mapped).toMatchObject({ code: 'SOURCE_NOT_FOUND', field: 'key', sourceId: 'id' });
    expect(mapped.message).toContain('secret "prod/key" (field key)');
  });
});
