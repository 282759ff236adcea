// Turns whatever node-vault throws into an MtlsError with a stable code and a message that says what
// to do. node-vault rejects with an ApiResponseError (`response.statusCode`, `response.body.errors`,
// message = Vault's first error) for every non-2xx answer, and with an AxiosError for transport
// failures. Both carry secrets — an AxiosError holds the request config with `X-Vault-Token` and the
// login body (AppRole `secret_id`, Kubernetes `jwt`) — so the cause kept is core's redacted copy
// (name, code, status, message) and nothing from the error is quoted but Vault's own first error line.
import { MtlsError, type MtlsErrorCode } from '@mtlskit/core/adapter';

/** What was being done when the call failed, for the message. */
export interface VaultCallContext {
  sourceId: string;
  /** What the call did, in words: `read secret "secret/app/mtls"`, `log in with AppRole`. */
  action: string;
  /** The Vault address, for network and TLS failures. */
  endpoint: string;
  /** A hint added to a not-found message (e.g. a KV version given explicitly may be wrong). */
  notFoundHint?: string | undefined;
  /** What a 404 means for this call, and what to check (default: no such secret or version). */
  notFound?: string | undefined;
}

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  response?: { statusCode?: unknown; status?: unknown };
}

/** The HTTP status Vault answered, when the error is an answer (not a transport failure). */
export function statusOf(err: unknown): number | undefined {
  const response = (err as ErrorShape | undefined)?.response;
  const status = response?.statusCode ?? response?.status;
  return typeof status === 'number' ? status : undefined;
}

/** Vault's first error line (node-vault's message), or '' for a transport failure. */
export function vaultMessage(err: unknown): string {
  if (statusOf(err) === undefined) return '';
  const message = (err as ErrorShape).message;
  if (typeof message !== 'string') return '';
  // Vault's multierror wording: "1 error occurred:\n\t* permission denied\n\n".
  const lines = message
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s*/, '').trim())
    .filter((l) => l !== '' && !/^\d+ errors? occurred:$/.test(l));
  const text = lines.join('; ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** TLS failures that retrying will not fix: the trust or the address is wrong. */
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);
const PROTOCOL_CODES = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

type Reason =
  | 'tls'
  | 'protocol'
  | 'network'
  | 'sealed'
  | 'redirect'
  | 'conflict'
  | 'refused'
  | 'login'
  | 'answer';

function classify(err: unknown): { code: MtlsErrorCode; retryable?: boolean; reason?: Reason } {
  const status = statusOf(err);
  const netCode = typeof (err as ErrorShape)?.code === 'string' ? ((err as ErrorShape).code as string) : '';
  const said = vaultMessage(err);
  if (status === undefined) {
    if (TLS_CODES.has(netCode)) return { code: 'SOURCE_UNAVAILABLE', retryable: false, reason: 'tls' };
    if (PROTOCOL_CODES.has(netCode) || /wrong version number/i.test(String((err as ErrorShape)?.message))) {
      return { code: 'SOURCE_UNAVAILABLE', retryable: false, reason: 'protocol' };
    }
    if (netCode === 'ERR_FR_TOO_MANY_REDIRECTS') return { code: 'SOURCE_UNAVAILABLE', reason: 'redirect' };
    return { code: 'SOURCE_UNAVAILABLE', reason: 'network' };
  }
  if (status >= 300 && status < 400) return { code: 'SOURCE_UNAVAILABLE', reason: 'redirect' };
  if (status === 400) {
    if (/check-and-set/i.test(said))
      return { code: 'SOURCE_UNAVAILABLE', retryable: false, reason: 'conflict' };
    if (/invalid (role|secret)|role or secret id|invalid role name|invalid jwt|login/i.test(said)) {
      return { code: 'ACCESS_DENIED', reason: 'login' };
    }
    return { code: 'SOURCE_UNAVAILABLE', retryable: false, reason: 'refused' };
  }
  if (status === 401 || status === 403) return { code: 'ACCESS_DENIED' };
  if (status === 404) return { code: 'SOURCE_NOT_FOUND' };
  if (status === 412) return { code: 'SOURCE_UNAVAILABLE' }; // a replica behind the index asked for
  if (status === 429) return { code: 'THROTTLED' };
  if (status === 503 && /sealed/i.test(said)) return { code: 'SOURCE_UNAVAILABLE', reason: 'sealed' };
  if (status >= 500) return { code: 'SOURCE_UNAVAILABLE' };
  return { code: 'SOURCE_UNAVAILABLE', retryable: false, reason: 'refused' };
}

function advice(
  code: MtlsErrorCode,
  reason: Reason | undefined,
  err: unknown,
  ctx: VaultCallContext,
): string {
  const status = statusOf(err);
  const netCode = String((err as ErrorShape)?.code ?? 'error');
  switch (reason) {
    case 'tls':
      return `could not ${ctx.action}: the TLS connection to Vault at ${ctx.endpoint} failed (${netCode}) — Vault's certificate is not trusted or does not match the address: set VAULT_CACERT (or the ca option) to the CA that signed it, and check VAULT_ADDR's host name`;
    case 'protocol':
      return `could not ${ctx.action}: Vault at ${ctx.endpoint} did not speak the protocol of the address (${netCode}) — check whether VAULT_ADDR should start with http:// or https://`;
    case 'network':
      return `could not ${ctx.action}: Vault at ${ctx.endpoint} did not answer (${netCode}) — check VAULT_ADDR and network access to Vault; the call is retried`;
    case 'sealed':
      return `could not ${ctx.action}: Vault at ${ctx.endpoint} is sealed — unseal it (or point VAULT_ADDR at an unsealed node); the call is retried`;
    case 'redirect':
      return `could not ${ctx.action}: Vault at ${ctx.endpoint} redirected the call (a standby node${status === undefined ? ', redirecting in a loop' : `, status ${status}`}) and the active node could not be reached — point VAULT_ADDR at the cluster's load balancer or active node; the call is retried`;
    case 'conflict':
      return `could not ${ctx.action}: the secret was written by someone else since the version given for check-and-set — load it again and store against the version read`;
    case 'login':
      return `could not ${ctx.action}: Vault refused the login — check the role and its credentials (role_id and secret_id, or the Kubernetes role and service-account token)`;
    case 'refused':
      return `could not ${ctx.action}: Vault refused the call (status ${status}) — act on Vault's message; retrying will not help, so it is not retried`;
    default:
      break;
  }
  switch (code) {
    case 'ACCESS_DENIED':
      return `could not ${ctx.action}: Vault denied it — check the token is valid and its policy allows this path (the @mtlskit/vault README lists the policy)`;
    case 'SOURCE_NOT_FOUND':
      return `could not ${ctx.action}: ${ctx.notFound ?? 'Vault has no such secret or version — check the mount, the path and the version'}${ctx.notFoundHint ? `; ${ctx.notFoundHint}` : ''}`;
    case 'THROTTLED':
      return `could not ${ctx.action}: Vault rate-limited the call — it is retried with backoff; refresh less often if this persists`;
    default:
      return `could not ${ctx.action}: Vault at ${ctx.endpoint} failed (status ${status ?? 'none'}) — the call is retried`;
  }
}

/** Maps a node-vault error (or a transport error under it) to an MtlsError; MtlsErrors pass through. */
export function toMtlsError(err: unknown, ctx: VaultCallContext): MtlsError {
  if (err instanceof MtlsError) return err;
  const { code, retryable, reason } = classify(err);
  const said = vaultMessage(err);
  return new MtlsError(code, `${advice(code, reason, err, ctx)}${said ? ` (Vault said: ${said})` : ''}`, {
    sourceId: ctx.sourceId,
    cause: err,
    ...(retryable === undefined ? {} : { retryable }),
  });
}

/** The error for a call that outlived its deadline. */
export function timeoutError(ctx: VaultCallContext, timeoutMs: number, cause?: unknown): MtlsError {
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `could not ${ctx.action}: Vault at ${ctx.endpoint} did not answer within ${timeoutMs} ms — check network access to Vault, or raise the timeoutMs option`,
    { sourceId: ctx.sourceId, cause },
  );
}

/** A bad option or argument given in code (a reference's own problems are core's to report). */
export function invalidOption(message: string, sourceId: string, cause?: unknown): MtlsError {
  return new MtlsError('INVALID_OPTION', message, { sourceId, ...(cause === undefined ? {} : { cause }) });
}
