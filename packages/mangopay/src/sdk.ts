// Wiring for Mangopay's Node SDK (mangopay4-nodejs-sdk). The SDK builds one https.Agent at
// construction from Base64 `cert`/`key`/`ca` (keep-alive off, never rebuilt) and passes
// `api.httpsAgent` to axios on every request, the OAuth call included. So an instance can be given the
// resolver's agent after construction: keep-alive, and a certificate renewed in the vault is used by
// new connections without a restart. The SDK also keeps per-account state on its prototype (the
// OAuth token and the ClientId of request paths) and in axios' global defaults (base URL, timeout):
// attachMangopay gives the instance its own copy of the former; the latter stays process-wide.
import type https from 'node:https';
import { assertNoErrors, type Finding, MtlsError, type TlsResolver } from '@mtlskit/core';
import { type BaseUrlCheck, emitWarning, enforceBaseUrl, environmentOfBaseUrl } from './base-url.js';
import {
  ENVIRONMENTS,
  MANGOPAY_BASE_URLS,
  MANGOPAY_PLAIN_BASE_URLS,
  type MangopayEnvironment,
  parseCertificateName,
} from './environment.js';
import { checkMangopayIdentity } from './identity.js';
import { identityOf } from './resolver.js';

/** The SDK's mTLS constructor options, as mangopaySdkConfig returns them. */
export interface MangopaySdkTlsConfig {
  /** Leaf and intermediates, PEM, Base64-encoded (the SDK decodes Base64). */
  cert: string;
  /** The private key, unencrypted PKCS#8 PEM, Base64-encoded. */
  key: string;
  /** The server CA, PEM, Base64-encoded; absent when the credential has none (the system roots apply). */
  ca?: string;
  /**
   * Never set: the key is handed over decrypted, whatever the source stored (an encrypted key and its
   * passphrase are decrypted by mtlskit). Present in the type for SDK configs built by hand.
   */
  passphrase?: string;
  /** The api-mtls base URL of the certificate's environment (or the one given). */
  baseUrl: string;
}

/** Options of mangopaySdkConfig and attachMangopay. */
export interface MangopaySdkOptions {
  /** The certificate's environment. Default: the resolver's (createMangopayResolver), else the certificate's name. */
  environment?: MangopayEnvironment;
  /** mangopaySdkConfig: check the certificate is this ClientId's (default: the resolver's, if it has one). */
  clientId?: string;
  /** mangopaySdkConfig: the base URL to return instead of the environment's (an emulator, a proxy). */
  baseUrl?: string;
  /** A base URL that is not the environment's api-mtls host: `throw` (default), `warn`, or `off`. */
  baseUrlCheck?: BaseUrlCheck;
  /** Where warnings go. Default: a process warning. */
  onWarning?: (finding: Finding) => void;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function environmentOfAnyHost(baseUrl: unknown): MangopayEnvironment | undefined {
  if (typeof baseUrl !== 'string') return undefined;
  const mtls = environmentOfBaseUrl(baseUrl);
  if (mtls) return mtls;
  try {
    const host = new URL(baseUrl).hostname.toLowerCase();
    return ENVIRONMENTS.find((env) => new URL(MANGOPAY_PLAIN_BASE_URLS[env]).hostname === host);
  } catch {
    return undefined;
  }
}

/**
 * The SDK's constructor options for the resolver's current credential: `cert`, `key` and `ca` as
 * Base64 PEM, and `baseUrl` (the api-mtls host of the certificate's environment). Works with any
 * source. The SDK reads them once: a certificate renewed later is not picked up — use
 * attachMangopay for that. Throws the first error of checkMangopayIdentity (IDENTITY_MISMATCH…) when
 * a ClientId is known (given, or the resolver's) and the certificate is not the one Mangopay expects.
 */
export async function mangopaySdkConfig(
  resolver: TlsResolver,
  options: MangopaySdkOptions = {},
): Promise<MangopaySdkTlsConfig> {
  const credentials = await resolver.credentials();
  const registered = identityOf(resolver);
  const named = credentials.leaf.subject.match(/^CN=(.*)$/m)?.[1];
  const fromName = named === undefined ? undefined : parseCertificateName(named);
  const environment =
    options.environment ??
    registered?.environment ??
    fromName?.environment ??
    (options.baseUrl === undefined ? undefined : environmentOfBaseUrl(options.baseUrl));
  if (environment === undefined && options.baseUrl === undefined) {
    throw new MtlsError(
      'INVALID_OPTION',
      `the certificate's name (${named ?? 'no CN'}) does not say which Mangopay environment it is for; pass { environment: 'sandbox' | 'production' } or a baseUrl.`,
      { sourceId: credentials.sourceId },
    );
  }
  const clientId = options.clientId ?? registered?.clientId;
  if (clientId !== undefined && environment !== undefined) {
    assertNoErrors(checkMangopayIdentity(credentials, { clientId, environment }), credentials.sourceId);
  }
  const baseUrl = options.baseUrl ?? MANGOPAY_BASE_URLS[environment as MangopayEnvironment];
  if (environment !== undefined) {
    enforceBaseUrl(baseUrl, environment, options.baseUrlCheck ?? 'throw', options.onWarning ?? emitWarning);
  }
  const tls = await resolver.tlsOptions();
  const ca = Array.isArray(tls.ca) ? tls.ca.join('\n') : tls.ca;
  return { cert: b64(tls.cert), key: b64(tls.key), ...(ca === undefined ? {} : { ca: b64(ca) }), baseUrl };
}

/** What attachMangopay touches on an SDK instance (mangopay4-nodejs-sdk 1.x and 2.x). */
interface SdkInstance {
  config: { clientId?: unknown; baseUrl?: unknown; apiVersion?: unknown };
  httpsAgent?: https.Agent;
  requestOptions?: { headers?: Record<string, unknown>; path?: Record<string, unknown> };
  authorize?: (...args: unknown[]) => PromiseLike<unknown>;
  _requestApi?: (...args: unknown[]) => PromiseLike<unknown>;
}

function isSdkInstance(api: unknown): api is SdkInstance {
  const a = api as Partial<SdkInstance> | null;
  return typeof a === 'object' && a !== null && typeof a.config === 'object' && a.config !== null;
}

/** Options of attachMangopay. */
export interface AttachMangopayOptions extends Omit<MangopaySdkOptions, 'clientId' | 'baseUrl'> {
  /**
   * Give the instance its own OAuth token and request paths instead of the SDK's, which every instance
   * shares through its prototype (so two accounts would use each other's token). Default true.
   */
  isolate?: boolean;
}

/**
 * Makes a Mangopay SDK instance call through the resolver's rotating keep-alive agent (OAuth included)
 * and returns it. Checks the instance's baseUrl is the api-mtls host of the environment (`baseUrlCheck`)
 * and, for a resolver made by createMangopayResolver, that its clientId is the resolver's.
 */
export function attachMangopay<T>(api: T, resolver: TlsResolver, options: AttachMangopayOptions = {}): T {
  if (!isSdkInstance(api)) {
    throw new MtlsError(
      'INVALID_OPTION',
      'attachMangopay needs an instance of the Mangopay SDK: new Mangopay({ clientId, clientApiKey, baseUrl }).',
    );
  }
  if (typeof resolver?.agent !== 'function') {
    throw new MtlsError(
      'INVALID_OPTION',
      'attachMangopay needs a resolver from createTlsResolver or createMangopayResolver.',
    );
  }
  const registered = identityOf(resolver);
  const clientId = api.config.clientId;
  if (registered !== undefined && typeof clientId === 'string' && clientId !== registered.clientId) {
    throw new MtlsError(
      'IDENTITY_MISMATCH',
      `The SDK is configured for ClientId "${clientId}", but the resolver serves the certificate of "${registered.clientId}". Give each account its own resolver (and, best, its own process).`,
    );
  }
  const environment =
    options.environment ?? registered?.environment ?? environmentOfAnyHost(api.config.baseUrl);
  if (environment !== undefined && typeof api.config.baseUrl === 'string') {
    enforceBaseUrl(
      api.config.baseUrl,
      environment,
      options.baseUrlCheck ?? 'throw',
      options.onWarning ?? emitWarning,
    );
  }
  const own = api.httpsAgent;
  const agent = resolver.agent();
  api.httpsAgent = agent;
  // The SDK's own agent (keep-alive off) has no pooled sockets; destroying it frees nothing but is tidy.
  if (own !== undefined && own !== agent && typeof own.destroy === 'function') own.destroy();
  if (options.isolate !== false) isolate(api);
  const attachedBefore = attached.has(api);
  attached.set(api, resolver);
  if (!attachedBefore) failFast(api);
  return api;
}

/** The resolver each attached SDK instance calls through (attaching again replaces it). */
const attached = new WeakMap<object, TlsResolver>();

/**
 * The SDK handles a failed connection badly: after its OAuth call, a request that gets no response
 * (the agent refusing an expired or refused certificate, a closed resolver) throws a TypeError inside
 * its own error handler — the call never settles and the process sees an unhandled rejection, which
 * ends it by default. So each call first asks the resolver for a usable credential (cached: a resolved
 * promise) and rejects with its MtlsError instead of reaching the SDK's handler.
 */
function failFast(api: SdkInstance): void {
  for (const name of ['authorize', '_requestApi'] as const) {
    const original = api[name];
    if (typeof original !== 'function') continue;
    api[name] = function (this: unknown, ...args: unknown[]) {
      const resolver = attached.get(api) as TlsResolver;
      const call = resolver.credentials().then(() => original.apply(this, args));
      // Like the SDK's own promises: a rejection nobody awaits (callback style) is not fatal.
      call.catch(() => {});
      return call;
    };
  }
}

/**
 * The SDK's requestOptions object lives on its prototype and each constructor call re-points its
 * `headers` and `path` at new objects: every instance then reads the last one's ClientId and writes
 * its OAuth token where all the others read it. An own copy ends the sharing for this instance.
 */
function isolate(api: SdkInstance): void {
  const shared = api.requestOptions ?? {};
  const { Authorization: _token, ...headers } = shared.headers ?? {};
  api.requestOptions = {
    ...shared,
    headers,
    path: { ...shared.path, clientId: api.config.clientId, apiVersion: api.config.apiVersion },
  };
}
