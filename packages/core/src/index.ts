// @mtlskit/core: what an application uses — load and validate a credential, resolve it into
// self-rotating TLS outputs, name it by one reference string, and handle MtlsError. Adapter authors
// import `@mtlskit/core/adapter`; decoding primitives are in `@mtlskit/core/decode`.

export type { MtlsErrorCode, MtlsErrorOptions, MtlsErrorWithCode } from './errors.js';
export { ERROR_CODES, MtlsError } from './errors.js';
export type { ParsedReference } from './references/reference.js';
export { formatReference, parseReference } from './references/reference.js';
export type { SchemeInfo, SourceFromReferenceOptions } from './references/registry.js';
export { listSchemes, parseReferenceAsync, sourceFromReference } from './references/registry.js';
export type {
  Http2ClientOptions,
  Http2SessionOptions,
  RotatingHttp2Client,
} from './resolver/http2.js';
export type {
  NamedTlsResolverConfig,
  ReadyOptions,
  SharedResolverOptions,
  TlsResolverSet,
  TlsResolversConfig,
} from './resolver/named.js';
export { createTlsResolvers, tlsResolversFromEnv } from './resolver/named.js';
export type {
  DispatcherVariant,
  ExpiringEvent,
  RefreshFailedEvent,
  ResolverClock,
  ResolverFetch,
  ResolverHealth,
  RotatedEvent,
  TlsResolver,
  TlsResolverEvents,
  TlsResolverListener,
  TlsResolverOptions,
} from './resolver/resolver.js';
export { createTlsResolver } from './resolver/resolver.js';
export type { TelemetryMeterProvider, TelemetryTracerProvider } from './resolver/telemetry.js';
export { withCa } from './sources/ca.js';
export type { EnvCredentialSource, EnvSourceOptions, WarningSource } from './sources/env.js';
export { envSource } from './sources/env.js';
export type { FileCredentialSource, FileSourceOptions } from './sources/file.js';
export { fileSource } from './sources/file.js';
export { firstOf } from './sources/first-of.js';
export type { InlineCredentialSource, InlineSourceOptions } from './sources/inline.js';
export { inlineSource } from './sources/inline.js';
export { withPassphrase } from './sources/passphrase.js';
export type { CaMode, PlainTlsOptions } from './tls/context.js';
export type { DispatcherOptions } from './tls/dispatcher.js';
export type { ProxyOption } from './tls/proxy.js';
export { ProxyTunnelError } from './tls/proxy.js';
export type {
  CredentialMaterial,
  CredentialSource,
  FieldValue,
  Finding,
  FindingSeverity,
  KeyType,
  MtlsCredentials,
  SourceContext,
  SourceKind,
  StageChange,
  StoreOptions,
  StoreResult,
} from './types.js';
export type { ValidatedCredentials } from './validation/credentials.js';
export { loadCredentials } from './validation/load.js';
export type { CheckedParts, ValidationPolicy } from './validation/policy.js';
export type { Validatable } from './validation/validate.js';
export { assertNoErrors, validateCredentials } from './validation/validate.js';
