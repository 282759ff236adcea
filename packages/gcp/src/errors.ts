// Turns what the Google client throws into an MtlsError with a stable code and a message that says
// what to do. The gRPC transport fails with a gRPC status code (5), the REST fallback with the HTTP
// status (404) and Google's JSON error as the message; both are read here, by number (the ranges do
// not overlap), never by class. Only Google's message is quoted: the error objects also carry call
// metadata and request configuration (authorization headers), which redaction drops.
import { isNetworkErrorCode, MtlsError, type MtlsErrorCode, quoteVendorMessage } from '@mtlskit/core/adapter';

/** What was being done when the client failed, for the message. */
export interface GcpCallContext {
  sourceId: string;
  /** The Secret Manager method, e.g. `AccessSecretVersion`. */
  operation: string;
  /** The resource name the call named. */
  name: string;
}

/** gRPC status codes, by number. */
const GRPC = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;
type GrpcStatus = (typeof GRPC)[number];

/** The gRPC status an HTTP status stands for on Google's REST surface (400 is refined by the body). */
const FROM_HTTP: Record<number, GrpcStatus> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  501: 'UNIMPLEMENTED',
  504: 'DEADLINE_EXCEEDED',
};

interface ClientErrorShape {
  code?: unknown;
  status?: unknown;
  details?: unknown;
  message?: unknown;
}

/** What a client error says: the gRPC status it amounts to, the HTTP status if any, Google's words. */
interface Reading {
  status: GrpcStatus | undefined;
  http: number | undefined;
  said: string;
  network: boolean;
}

function read(err: ClientErrorShape): Reading {
  const message = typeof err.message === 'string' ? err.message : '';
  const code = err.code;
  if (isNetworkErrorCode(code)) {
    return { status: 'UNAVAILABLE', http: undefined, said: quoteVendorMessage(message), network: true };
  }
  if (typeof code === 'number' && code >= 0 && code < GRPC.length) {
    const details = typeof err.details === 'string' ? err.details : message.replace(/^\d+ [A-Z_]+: /, '');
    return { status: GRPC[code], http: undefined, said: quoteVendorMessage(details), network: false };
  }
  const http =
    typeof code === 'number' && code >= 100 ? code : typeof err.status === 'number' ? err.status : undefined;
  if (http !== undefined) {
    // The REST fallback's message is Google's JSON error body: {"error":{"code","message","status"}}.
    let body: { error?: { message?: unknown; status?: unknown } } | undefined;
    try {
      body = JSON.parse(message) as typeof body;
    } catch {
      body = undefined;
    }
    const named = body?.error?.status;
    const status =
      typeof named === 'string' && (GRPC as readonly string[]).includes(named)
        ? (named as GrpcStatus)
        : (FROM_HTTP[http] ?? (http >= 500 ? 'UNAVAILABLE' : undefined));
    const said = typeof body?.error?.message === 'string' ? body.error.message : message;
    return { status, http, said: quoteVendorMessage(said), network: false };
  }
  return { status: undefined, http: undefined, said: quoteVendorMessage(message), network: false };
}

/** The role to grant for a method refused with PERMISSION_DENIED (AccessSecretVersion's by default). */
const ROLE_FOR: Record<string, string> = {
  AddSecretVersion: 'roles/secretmanager.secretVersionAdder',
  DisableSecretVersion: 'roles/secretmanager.secretVersionManager',
  GetSecretVersion: 'roles/secretmanager.viewer',
  GetSecret: 'roles/secretmanager.viewer (secretmanager.secrets.get)',
  UpdateSecret:
    'roles/secretmanager.admin, or a custom role with secretmanager.secrets.update (staged renewal moves the alias and annotations with it)',
};

/** "DISABLED" or "DESTROYED" when Google refused a version for its state. */
function refusedState(said: string): 'DISABLED' | 'DESTROYED' | undefined {
  return /\bis in (DISABLED|DESTROYED) state\b/.exec(said)?.[1] as 'DISABLED' | 'DESTROYED' | undefined;
}

/** The advice for a version Secret Manager will not serve in `state`. */
export function stateAdvice(name: string, state: string): string {
  const version = /\/versions\/([^/]+)$/.exec(name)?.[1] ?? '?';
  const secret = name.replace(/\/versions\/[^/]+$/, '');
  const what =
    state === 'DESTROYED' ? 'its payload is gone for good' : 'Secret Manager serves no payload for it';
  const fix =
    state === 'DESTROYED'
      ? 'add a new version (gcloud secrets versions add) or point the source at another version'
      : `enable it (gcloud secrets versions enable ${version} --secret=…) or add a new version`;
  return `version ${version} of ${secret} is ${state} (${what}; \`latest\` is the newest version whatever its state) — ${fix}`;
}

function classify(
  r: Reading,
  ctx: GcpCallContext,
): { code: MtlsErrorCode; retryable?: boolean; advice: string } {
  const on = `${ctx.operation} on ${ctx.name}`;
  const quoted = r.said ? ` (${r.said})` : '';
  if (/Could not load the default credentials|Unable to detect a Project Id/i.test(r.said)) {
    return {
      code: 'ACCESS_DENIED',
      advice: `no Google credentials were found for ${on} — run on GCP with a service account (workload identity on GKE), set GOOGLE_APPLICATION_CREDENTIALS, run gcloud auth application-default login, or pass a configured client`,
    };
  }
  switch (r.status) {
    case 'NOT_FOUND':
      return {
        code: 'SOURCE_NOT_FOUND',
        advice: `Secret Manager has no ${ctx.name}${quoted} — check the project, the secret id and the version${/\/locations\//.test(ctx.name) ? ', and that the client uses the regional endpoint of the location' : ''}`,
      };
    case 'FAILED_PRECONDITION': {
      const state = refusedState(r.said);
      // Google names the version it refused (`latest` resolved): "Secret Version [NAME] is in … state."
      const refused = /Secret Version \[([^\]]+)\]/.exec(r.said)?.[1];
      const version = refused === undefined ? undefined : /\/versions\/(\d+)$/.exec(refused)?.[1];
      const name =
        version === undefined ? ctx.name : ctx.name.replace(/\/versions\/[^/]+$/, `/versions/${version}`);
      if (state) return { code: 'SOURCE_NOT_FOUND', advice: stateAdvice(name, state) };
      return {
        code: 'SOURCE_UNAVAILABLE',
        retryable: false,
        advice: `Secret Manager refused ${on}${quoted} — act on Google's message; retrying the same call will not help`,
      };
    }
    case 'PERMISSION_DENIED':
      return {
        code: 'ACCESS_DENIED',
        advice: `Google refused ${on}${quoted} — grant the caller ${ROLE_FOR[ctx.operation] ?? 'roles/secretmanager.secretAccessor'} on the secret (a secret that does not exist is reported this way too)`,
      };
    case 'UNAUTHENTICATED':
      return {
        code: 'ACCESS_DENIED',
        advice: `Google did not accept the credentials for ${on}${quoted} — check the service account or GOOGLE_APPLICATION_CREDENTIALS, and that its key or token has not expired`,
      };
    case 'RESOURCE_EXHAUSTED':
      return {
        code: 'THROTTLED',
        advice: `Secret Manager throttled ${on}${quoted} — it is retried with backoff; refresh less often, or share one resolver per credential`,
      };
    case 'INVALID_ARGUMENT':
      if (ctx.operation === 'AddSecretVersion' && /checksum|crc32c/i.test(r.said)) {
        return {
          code: 'INTEGRITY_FAILED',
          advice: `Secret Manager refused the new version of ${ctx.name}: the payload it received does not match its CRC32C${quoted} — the data was damaged on the way; store again`,
        };
      }
      return {
        code: 'INVALID_REFERENCE',
        advice: `Secret Manager rejected ${on} as invalid${quoted} — check the resource name (${ctx.name})${/\/locations\//.test(ctx.name) ? ' and that the client uses the regional endpoint of the location' : ''}`,
      };
    case 'UNAVAILABLE':
    case 'DEADLINE_EXCEEDED':
    case 'INTERNAL':
    case 'UNKNOWN':
    case 'ABORTED':
    case 'CANCELLED':
    case 'DATA_LOSS':
      return {
        code: 'SOURCE_UNAVAILABLE',
        advice: `Secret Manager did not complete ${on}${quoted} — check network access to the endpoint; the call is retried with backoff`,
      };
    case undefined:
      // No status: no answer (socket, TLS, DNS) or not Secret Manager's (a proxy's page), worth retrying.
      return {
        code: 'SOURCE_UNAVAILABLE',
        advice: `Secret Manager gave no usable answer to ${on}${quoted} — check network access to the endpoint and any proxy on the way; the call is retried with backoff`,
      };
    default:
      return {
        code: 'SOURCE_UNAVAILABLE',
        retryable: false,
        advice: `Secret Manager refused ${on} (${r.status}${r.said ? `: ${r.said}` : ''}) — act on Google's message; retrying the same call will not help`,
      };
  }
}

/** Maps a Google client error (gRPC status, HTTP status or network error) to an MtlsError; MtlsErrors pass through. */
export function toMtlsError(err: unknown, ctx: GcpCallContext): MtlsError {
  if (err instanceof MtlsError) return err;
  const shape: ClientErrorShape = typeof err === 'object' && err !== null ? (err as ClientErrorShape) : {};
  const { code, retryable, advice } = classify(read(shape), ctx);
  return new MtlsError(code, advice, {
    sourceId: ctx.sourceId,
    cause: err,
    ...(retryable === undefined ? {} : { retryable }),
  });
}

/** The error for a call that outlived its deadline. */
export function timeoutError(ctx: GcpCallContext, timeoutMs: number): MtlsError {
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `Secret Manager did not answer ${ctx.operation} on ${ctx.name} within ${timeoutMs} ms — check network access to the endpoint, or raise the timeoutMs option`,
    { sourceId: ctx.sourceId },
  );
}
