// @mtlskit/core: material -> credentials -> TLS. Public entry point.

export type { DecodedMaterial } from './decoding/decode.js';
export { decodeMaterial } from './decoding/decode.js';
export { LIMITS } from './decoding/limits.js';
export type { MtlsErrorCode, MtlsErrorOptions } from './errors.js';
export { ERROR_CODES, MtlsError } from './errors.js';
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
} from './references/reference.js';
export {
  BUILTIN_SCHEMES,
  formatReference,
  parseReference,
  schemeNames,
  schemeOptions,
} from './references/reference.js';
export type {
  AdapterImporter,
  SchemeAdapter,
  SchemeInfo,
  SourceDeps,
  SourceFromReferenceOptions,
} from './references/registry.js';
export {
  createImporter,
  defaultImporter,
  KNOWN_SCHEMES,
  listSchemes,
  registerScheme,
  sourceFromReference,
} from './references/registry.js';
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
} from './resolver/resolver.js';
export { createTlsResolver } from './resolver/resolver.js';
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
export type { CredentialsOrigin } from './validation/credentials.js';
export { ValidatedCredentials } from './validation/credentials.js';
export { loadCredentials } from './validation/load.js';
export type { CredentialField, ValidationPolicy } from './validation/policy.js';
export { FIELD_ALIASES } from './validation/policy.js';
export { assertNoErrors, validateCredentials } from './validation/validate.js';
