// Turns what the Key Vault SDK and the identity library throw into an MtlsError with a stable code and
// a message that says what to do. Matching is on `name`, `statusCode` and Key Vault's error codes,
// never `instanceof`: the client may come from another copy of the SDK. A RestError carries the
// request (with its `Authorization: Bearer` header) and the response: only the redacted name, code,
// status and message reach the MtlsError's cause (MtlsError redacts whatever it is given).
import { MtlsError, type MtlsErrorCode, quoteVendorMessage } from '@mtlskit/core/adapter';

/** What was being done when the SDK failed, for the message. */
export interface AzureCallContext {
  sourceId: string;
  /** The SDK method called. */
  operation: 'getSecret' | 'setSecret' | 'updateSecretProperties' | 'listPropertiesOfSecretVersions';
  /** The secret name. */
  secret: string;
  /** The vault URL. */
  vaultUrl: string;
  /** The version asked for, when one was. */
  version?: string | undefined;
}

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  details?: { error?: { code?: unknown; innerError?: { code?: unknown } } };
  errors?: unknown;
}

/** The identity library's errors: no token could be had. */
const NO_TOKEN = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
]);

/** Network and TLS failures below HTTP, as core-rest-pipeline reports them in `code`. */
const NETWORK =
  /^(?:E[A-Z_]+|REQUEST_SEND_ERROR|UND_ERR_[A-Z_]+|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/;

function describe(ctx: AzureCallContext): string {
  const what = `secret "${ctx.secret}" in ${ctx.vaultUrl}`;
  return ctx.version === undefined ? what : `${what}, version ${ctx.version}`;
}

/** The role and the access-policy permission an operation needs. */
function permissionOf(ctx: AzureCallContext): { role: string; verb: string; policy: string } {
  switch (ctx.operation) {
    case 'setSecret':
      return { role: 'Key Vault Secrets Officer', verb: 'write', policy: 'set' };
    case 'updateSecretProperties':
      return { role: 'Key Vault Secrets Officer', verb: 'update', policy: 'set' };
    case 'listPropertiesOfSecretVersions':
      return { role: 'Key Vault Secrets User', verb: 'list the versions of', policy: 'list' };
    default:
      return { role: 'Key Vault Secrets User', verb: 'read', policy: 'get' };
  }
}

/** The credentials a DefaultAzureCredential (or any chain) tried, named in its errors. */
function credentialsTried(err: SdkErrorShape): string[] {
  const texts = [typeof err.message === 'string' ? err.message : ''];
  if (Array.isArray(err.errors)) {
    for (const e of err.errors) texts.push(String((e as { message?: unknown })?.message ?? ''));
  }
  const names = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(/\b([A-Z][A-Za-z]*Credential)\b/g)) {
      if (m[1] !== 'ChainedTokenCredential' && m[1] !== 'DefaultAzureCredential') names.add(m[1]!);
    }
  }
  return [...names];
}

interface Mapped {
  code: MtlsErrorCode;
  message: string;
  retryable?: boolean;
}

function forbidden(inner: string, ctx: AzureCallContext, said: string): Mapped {
  const p = permissionOf(ctx);
  switch (inner) {
    case 'ForbiddenByFirewall':
      return {
        code: 'ACCESS_DENIED',
        message: `the firewall of ${ctx.vaultUrl} refused this client's address (ForbiddenByFirewall) — add the address or its virtual network to the vault's networking rules, or reach the vault through a private endpoint`,
      };
    case 'ForbiddenByRbac':
      return {
        code: 'ACCESS_DENIED',
        message: `the identity is not allowed to ${p.verb} ${describe(ctx)} (ForbiddenByRbac) — assign it the role "${p.role}" on the vault or the secret (role assignments take a few minutes to apply)`,
      };
    case 'AccessDenied':
      return {
        code: 'ACCESS_DENIED',
        message: `the vault's access policy does not give the identity the secret permission "${p.policy}" on ${describe(ctx)} (AccessDenied) — add ${p.policy} to its access policy, or move the vault to Azure RBAC and assign "${p.role}"`,
      };
    case 'SecretDisabled':
      return {
        code: 'ACCESS_DENIED',
        message:
          ctx.version === undefined
            ? `every version of ${describe(ctx)} is disabled (SecretDisabled) — enable one (az keyvault secret set-attributes --version VERSION --enabled true) or write a new version`
            : `version ${ctx.version} of secret "${ctx.secret}" in ${ctx.vaultUrl} is disabled (SecretDisabled) — enable it (az keyvault secret set-attributes --enabled true) or pin another version`,
      };
    default:
      return {
        code: 'ACCESS_DENIED',
        message: `Key Vault refused ${ctx.operation} on ${describe(ctx)}${said ? ` (${said})` : ''} — check that the identity has "${p.role}" (or the access-policy permission ${p.policy}) and that the vault's network rules let this client in`,
      };
  }
}

function classify(err: SdkErrorShape, ctx: AzureCallContext): Mapped {
  const name = typeof err.name === 'string' ? err.name : 'Error';
  const status = typeof err.statusCode === 'number' ? err.statusCode : undefined;
  const code = typeof err.code === 'string' ? err.code : undefined;
  const inner = err.details?.error?.innerError?.code;
  const said = quoteVendorMessage(err.message);

  if (NO_TOKEN.has(name)) {
    const tried = credentialsTried(err);
    return {
      code: 'ACCESS_DENIED',
      message: `no Azure access token for ${describe(ctx)} (${name}${tried.length > 0 ? `; tried ${tried.join(', ')}` : ''}) — give the process a managed or workload identity, set AZURE_TENANT_ID/AZURE_CLIENT_ID with a secret or certificate, sign in with az login, or pass a credential or a configured client`,
    };
  }
  // The SDK checks that the challenge's resource belongs to the vault's host before it asks for a token.
  if (/does not match the requested domain/.test(said)) {
    return {
      code: 'ACCESS_DENIED',
      message: `the vault at ${ctx.vaultUrl} asked for a token of another resource than its own host — check vaultUrl; for a private endpoint or a custom domain pass clientOptions: { disableChallengeResourceVerification: true }`,
    };
  }
  if (status === 404) {
    return {
      code: 'SOURCE_NOT_FOUND',
      message: `Key Vault has no ${describe(ctx)} — check the secret name, the vault, and (with a version) the version id; a deleted secret must be recovered first`,
    };
  }
  if (status === 401) {
    return {
      code: 'ACCESS_DENIED',
      message: `Key Vault refused the access token for ${describe(ctx)} (${code ?? 'Unauthorized'}${said ? `: ${said}` : ''}) — the identity must belong to the vault's tenant; check AZURE_TENANT_ID or the credential's tenant`,
    };
  }
  if (status === 403) return forbidden(typeof inner === 'string' ? inner : '', ctx, said);
  if (status === 429) {
    return {
      code: 'THROTTLED',
      message: `Key Vault throttled ${ctx.operation} on ${describe(ctx)} — it will be retried with backoff; refresh less often or share one resolver per credential if this persists`,
    };
  }
  if (status !== undefined && status >= 500) {
    return {
      code: 'SOURCE_UNAVAILABLE',
      message: `Key Vault failed ${ctx.operation} on ${describe(ctx)} (${status}${code ? ` ${code}` : ''}) — it is retried; check the Azure status page if it persists`,
    };
  }
  if (status === 409 && ctx.operation === 'setSecret') {
    return {
      code: 'SOURCE_UNAVAILABLE',
      retryable: false,
      message: `Key Vault refused setSecret on ${describe(ctx)} (${code ?? 'Conflict'}${said ? `: ${said}` : ''}) — a deleted secret of that name is kept until purged: recover or purge it first; retrying will not help`,
    };
  }
  if (status !== undefined && status >= 400 && status !== 408) {
    // Key Vault understood and refused (a bad parameter, a value over 25 KB): retrying will not help.
    return {
      code: 'SOURCE_UNAVAILABLE',
      retryable: false,
      message: `Key Vault refused ${ctx.operation} on ${describe(ctx)} (${status}${code ? ` ${code}` : ''}${said ? `: ${said}` : ''}) — act on Key Vault's message; retrying the same call will not help, so it is not retried`,
    };
  }
  // No answer (DNS, refused or reset connection, TLS), a timeout, or an answer that was not Key
  // Vault's (a proxy's page, a truncated body): all worth retrying.
  const network = code !== undefined && NETWORK.test(code);
  return {
    code: 'SOURCE_UNAVAILABLE',
    message: `Key Vault did not answer ${ctx.operation} on ${describe(ctx)} (${network ? code : name}${said ? `: ${said}` : ''}) — check network access and TLS trust to ${ctx.vaultUrl}; the call is retried`,
  };
}

/** Maps an SDK or identity error to an MtlsError; MtlsErrors pass through. */
export function toMtlsError(err: unknown, ctx: AzureCallContext): MtlsError {
  if (err instanceof MtlsError) return err;
  const shape: SdkErrorShape = typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
  const { code, message, retryable } = classify(shape, ctx);
  return new MtlsError(code, message, {
    sourceId: ctx.sourceId,
    cause: err,
    ...(retryable === undefined ? {} : { retryable }),
  });
}

/** The error for an SDK call that outlived its deadline. */
export function timeoutError(ctx: AzureCallContext, timeoutMs: number): MtlsError {
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `Key Vault did not answer ${ctx.operation} on ${describe(ctx)} within ${timeoutMs} ms — check network access to the vault, or raise the timeoutMs option`,
    { sourceId: ctx.sourceId },
  );
}
