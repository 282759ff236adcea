// @mtlskit/core: material -> credentials -> TLS. Public entry point.

export type { CredentialsOrigin } from './credentials.js';
export { ValidatedCredentials } from './credentials.js';
export type { DecodedMaterial } from './decode.js';
export { decodeMaterial } from './decode.js';
export type { MtlsErrorCode, MtlsErrorOptions } from './errors.js';
export { ERROR_CODES, MtlsError } from './errors.js';
export { LIMITS } from './limits.js';
export { loadCredentials } from './load.js';
export type { CredentialField, ValidationPolicy } from './policy.js';
export { FIELD_ALIASES } from './policy.js';
export { RedactedError, redactCause, redactText } from './redact.js';
export type {
  AwsSmTarget,
  AzureKvTarget,
  BuiltinScheme,
  BuiltinTargets,
  EnvTarget,
  FileTarget,
  GcpSmTarget,
  ParsedReference,
  ReferenceField,
  ReferenceParts,
  SchemeOption,
  SchemeOptions,
  SchemeOptionType,
  TargetOf,
  VaultPkiTarget,
  VaultTarget,
} from './reference.js';
export {
  BUILTIN_SCHEMES,
  formatReference,
  parseReference,
  schemeNames,
  schemeOptions,
} from './reference.js';
export type {
  AdapterImporter,
  SchemeAdapter,
  SchemeInfo,
  SourceDeps,
  SourceFromReferenceOptions,
} from './registry.js';
export {
  createImporter,
  defaultImporter,
  KNOWN_SCHEMES,
  listSchemes,
  registerScheme,
  sourceFromReference,
} from './registry.js';
export type {
  ExpiringEvent,
  RefreshFailedEvent,
  ResolverClock,
  ResolverFetch,
  ResolverHealth,
  RotatedEvent,
  TlsResolver,
  TlsResolverEvents,
  TlsResolverOptions,
} from './resolver.js';
export { createTlsResolver } from './resolver.js';
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
  StoreOptions,
  StoreResult,
} from './types.js';
export { assertNoErrors, validateCredentials } from './validate.js';
