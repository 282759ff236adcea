// @mtlskit/core/adapter: what adapter authors use — defining a scheme (grammar and option table),
// registering its source factory, the source types, redaction of vendor errors and the deadline
// helper. Applications import `@mtlskit/core`.

export type { MtlsErrorCode, MtlsErrorOptions } from './errors.js';
export { MtlsError } from './errors.js';
export { RedactedError, redactCause, redactText } from './redact.js';
export { fieldOptions } from './references/builtin.js';
export type { ParsedReference, ReferenceParts } from './references/reference.js';
export { formatReference, parseReference } from './references/reference.js';
export type { AdapterImporter, SchemeAdapter, SourceDeps, SourceFactory } from './references/registry.js';
export {
  createImporter,
  defaultImporter,
  parseReferenceAsync,
  registerScheme,
  registerSourceFactory,
} from './references/registry.js';
export type {
  ReferenceCursor,
  ReferenceField,
  SchemeDefinition,
  SchemeOption,
  SchemeOptions,
  SchemeOptionType,
} from './references/scheme.js';
export { defineScheme, KNOWN_SCHEMES, REFERENCE_FIELDS } from './references/scheme.js';
export {
  closedSourceError,
  isNetworkErrorCode,
  quoteVendorMessage,
  timeoutOption,
} from './sources/adapter-kit.js';
export type { DeadlineOptions } from './sources/deadline.js';
export { withDeadline } from './sources/deadline.js';
export type {
  CredentialMaterial,
  CredentialSource,
  FieldValue,
  Finding,
  FindingSeverity,
  SourceContext,
  SourceKind,
  StageChange,
  StoreOptions,
  StoreResult,
} from './types.js';
