// @mtlskit/core: material -> credentials -> TLS. Public entry point.

export type { MtlsErrorCode, MtlsErrorOptions } from './errors.js';
export { ERROR_CODES, MtlsError } from './errors.js';
export { RedactedError, redactCause, redactText } from './redact.js';
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
