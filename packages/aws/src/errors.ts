// Turns whatever the AWS SDK throws into an MtlsError with a stable code and a message that says what
// to do. Matching is on the error's `name` (and `code` for network errors), never `instanceof`: several
// Secrets Manager errors (AccessDenied, Throttling, Validation) are not modelled classes and arrive as
// a plain SecretsManagerServiceException carrying the right name.
import { isNetworkErrorCode, MtlsError, type MtlsErrorCode, quoteVendorMessage } from '@mtlskit/core/adapter';

/** What was being done when the SDK failed, for the message. */
export interface AwsCallContext {
  sourceId: string;
  /** The Secrets Manager operation, e.g. `GetSecretValue`. */
  operation: string;
  /** The secret id (name or ARN) the call named. */
  secretId: string;
  /** The credential field the secret holds, in one-secret-per-field mode. */
  field?: string | undefined;
  /** The version id or stage asked for, when one was. */
  version?: string | undefined;
}

const NOT_FOUND = new Set(['ResourceNotFoundException', 'ResourceNotFound']);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredToken',
  'ExpiredTokenException',
  'NotAuthorized',
  'CredentialsProviderError',
]);
const THROTTLED = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
]);
const INTEGRITY = new Set(['DecryptionFailure', 'EncryptionFailure']);
const INVALID = new Set(['InvalidParameterException', 'ValidationException', 'InvalidNextTokenException']);
const UNAVAILABLE = new Set([
  'InternalServiceError',
  'InternalFailure',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function describe(ctx: AwsCallContext): string {
  const what =
    ctx.field === undefined ? `secret "${ctx.secretId}"` : `secret "${ctx.secretId}" (field ${ctx.field})`;
  return ctx.version === undefined ? what : `${what}, version ${ctx.version}`;
}

/**
 * How a call failed: `refused` is AWS understanding the request and saying no (a 4xx the table above
 * does not name), which retrying will not change; `deleted` a secret scheduled for deletion.
 */
type Reason = 'refused' | 'deleted';

/**
 * AWS's wording for a secret scheduled for deletion: "You can't perform this operation on the secret
 * because it was marked for deletion." (and "…is already scheduled for deletion." on CreateSecret).
 * Only the phrase: the message may quote a secret name or ARN that contains "delete".
 */
const DELETION = /\b(?:marked|scheduled) for deletion\b/i;

function classify(err: SdkErrorShape): { code: MtlsErrorCode; retryable?: boolean; reason?: Reason } {
  const name = typeof err.name === 'string' ? err.name : '';
  const status = typeof err.$metadata?.httpStatusCode === 'number' ? err.$metadata.httpStatusCode : undefined;
  const netCode = typeof err.code === 'string' ? err.code : undefined;
  const message = typeof err.message === 'string' ? err.message : '';

  // Network codes first: the SDK names a reset connection `TimeoutError` but keeps `code: ECONNRESET`.
  if (netCode !== undefined && isNetworkErrorCode(netCode)) return { code: 'SOURCE_UNAVAILABLE' };
  if (NOT_FOUND.has(name)) return { code: 'SOURCE_NOT_FOUND' };
  // InvalidRequestException: "not valid for the current state of the secret". A secret scheduled for
  // deletion answers it to every call, and for mtlskit it is gone; AWS tells the cases apart only in
  // its message. Others (e.g. PutSecretValue on a secret another AWS service manages) are refusals.
  if (name === 'InvalidRequestException') {
    return DELETION.test(message)
      ? { code: 'SOURCE_NOT_FOUND', reason: 'deleted' }
      : { code: 'SOURCE_UNAVAILABLE', retryable: false, reason: 'refused' };
  }
  if (DENIED.has(name)) return { code: 'ACCESS_DENIED' };
  if (THROTTLED.has(name) || status === 429) return { code: 'THROTTLED' };
  if (INTEGRITY.has(name)) return { code: 'INTEGRITY_FAILED' };
  if (INVALID.has(name)) return { code: 'INVALID_REFERENCE' };
  if (/\bregion is missing\b/i.test(message)) return { code: 'INVALID_REFERENCE' };
  if (UNAVAILABLE.has(name) || (status !== undefined && status >= 500) || err.$fault === 'server') {
    return { code: 'SOURCE_UNAVAILABLE' };
  }
  // No HTTP status at all: the request never got an answer (socket, TLS or DNS trouble), or the
  // answer was not Secrets Manager's (a proxy's HTML page): both are worth retrying.
  if (status === undefined || name === 'SyntaxError' || /deserialization error/i.test(message)) {
    return { code: 'SOURCE_UNAVAILABLE' };
  }
  // Any other 4xx: AWS understood and refused; retrying the same call will not help.
  return { code: 'SOURCE_UNAVAILABLE', retryable: false, reason: 'refused' };
}

/** What to do about a refusal, from the error's name and the operation refused. */
function refusalFix(name: string, ctx: AwsCallContext): string {
  switch (name) {
    case 'LimitExceededException':
      return ctx.operation === 'PutSecretValue'
        ? 'a Secrets Manager quota was reached (often: too many versions of the secret written in a short time, more than AWS has removed yet): store less often, or ask AWS for a higher quota'
        : 'a Secrets Manager quota was reached: wait, or ask AWS for a higher quota';
    case 'ResourceExistsException':
      return 'a version with the same request token but another value already exists (two writers at once?): store again, which sends a new token';
    case 'InvalidRequestException':
      return ctx.operation === 'PutSecretValue'
        ? 'the secret’s current state does not allow a new value (a secret managed by another AWS service, e.g. RDS, is updated through that service): write to a secret of your own'
        : 'the secret’s current state does not allow this call: check the secret in the AWS console';
    default:
      return 'act on AWS’s message';
  }
}

function advice(
  code: MtlsErrorCode,
  reason: Reason | undefined,
  err: SdkErrorShape,
  ctx: AwsCallContext,
): string {
  const name = typeof err.name === 'string' ? err.name : 'Error';
  if (reason === 'refused') {
    // AWS's own words first: for a refusal they say what is wrong better than any table here.
    const said = quoteVendorMessage(err.message);
    return `AWS Secrets Manager refused ${ctx.operation} on ${describe(ctx)} (${name}${said ? `: ${said}` : ''}) — ${refusalFix(name, ctx)}; retrying the same call will not help, so it is not retried`;
  }
  switch (code) {
    case 'SOURCE_NOT_FOUND':
      return reason === 'deleted'
        ? `AWS Secrets Manager refused ${ctx.operation} on ${describe(ctx)}, because the secret is scheduled for deletion — restore it (aws secretsmanager restore-secret) or point the reference at another secret`
        : `AWS Secrets Manager has no ${describe(ctx)} — check the secret name or full ARN, the region, and (with a version) that the version or staging label exists`;
    case 'ACCESS_DENIED':
      return name === 'CredentialsProviderError'
        ? `no AWS credentials were found for ${ctx.operation} on ${describe(ctx)} — give the process a role, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass a configured client`
        : `AWS refused ${ctx.operation} on ${describe(ctx)} (${name}) — check the credentials are valid and allow secretsmanager:${ctx.operation} on the secret (and kms:Decrypt on its key when it uses a customer managed key)`;
    case 'THROTTLED':
      return `AWS throttled ${ctx.operation} on ${describe(ctx)} — it will be retried with backoff; refresh less often or share one resolver per credential if this persists`;
    case 'INTEGRITY_FAILED':
      return `AWS could not ${name === 'EncryptionFailure' ? 'encrypt' : 'decrypt'} ${describe(ctx)} with its KMS key — check the key is enabled and the caller may use it (kms:Decrypt, kms:GenerateDataKey)`;
    case 'INVALID_REFERENCE':
      return /region is missing/i.test(String(err.message))
        ? `no AWS region for ${describe(ctx)} — add ?region=… to the reference, set AWS_REGION, or pass the region option`
        : `AWS rejected ${ctx.operation} on ${describe(ctx)} as invalid (${name}) — check the secret id is a name or a full ARN and the version id or stage is well formed`;
    default:
      return `AWS Secrets Manager did not complete ${ctx.operation} on ${describe(ctx)} (${name}) — check network access to the Secrets Manager endpoint; the call is retried when the error is transient`;
  }
}

/** Maps an AWS SDK error (or a network error under it) to an MtlsError; MtlsErrors pass through. */
export function toMtlsError(err: unknown, ctx: AwsCallContext): MtlsError {
  if (err instanceof MtlsError) return err;
  const shape: SdkErrorShape = typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
  const { code, retryable, reason } = classify(shape);
  const said = reason === 'refused' ? '' : quoteVendorMessage(shape.message);
  const detail = said ? `: ${said}` : '';
  return new MtlsError(code, `${advice(code, reason, shape, ctx)}${detail}`, {
    sourceId: ctx.sourceId,
    field: ctx.field,
    cause: err,
    ...(retryable === undefined ? {} : { retryable }),
  });
}

/** The error for an SDK call that outlived its deadline. */
export function timeoutError(ctx: AwsCallContext, timeoutMs: number): MtlsError {
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `AWS Secrets Manager did not answer ${ctx.operation} on ${describe(ctx)} within ${timeoutMs} ms — check network access to the endpoint, or raise the timeoutMs option`,
    { sourceId: ctx.sourceId, field: ctx.field },
  );
}
