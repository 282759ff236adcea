// @mtlskit/gcp: the Google Secret Manager source. Importing this module defines the `gcp-sm:` scheme
// (./scheme.ts, no client) and registers its source factory with @mtlskit/core, so
// `sourceFromReference('gcp-sm://projects/p/secrets/s')` works (core also imports this package on
// demand when it meets the scheme). The Google client itself is imported on the first call.
import { registerSourceFactory } from '@mtlskit/core/adapter';
import { gcpSmScheme } from './scheme.js';
import { gcpSecretManagerSource, type SecretManagerClientLike } from './source.js';

export { checksumValue, crc32c } from './crc32c.js';
export type { GcpCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type { GcpSecretName, NameProblem } from './name.js';
export { parseSecretName, regionalEndpoint } from './name.js';
export type { GcpSmTarget } from './scheme.js';
export { gcpSmScheme } from './scheme.js';
export type {
  AccessResponseLike,
  GcpCall,
  GcpCallOptions,
  GcpClientOptions,
  GcpSecretManagerSource,
  GcpSecretManagerSourceOptions,
  SecretLike,
  SecretManagerClientLike,
  SecretUpdate,
  SecretVersionLike,
} from './source.js';
export {
  CURRENT_ALIAS,
  gcpReferenceOf,
  gcpSecretManagerSource,
  PENDING_ANNOTATION,
  PREVIOUS_ANNOTATION,
} from './source.js';

registerSourceFactory(gcpSmScheme, (ref, deps) =>
  // The client is checked by shape in gcpSecretManagerSource (the application's copy may be another version).
  gcpSecretManagerSource({
    id: ref.id,
    name: ref.target.name,
    transport: ref.target.transport,
    ...(ref.target.timeoutMs !== undefined && { timeoutMs: ref.target.timeoutMs }),
    ...(deps.client !== undefined && { client: deps.client as SecretManagerClientLike }),
    ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
  }),
);
