// @mtlskit/gcp: the Google Secret Manager source. Importing this module registers the `gcp-sm:`
// scheme with @mtlskit/core, so `sourceFromReference('gcp-sm://projects/p/secrets/s')` works (core
// also imports this package on demand when it meets the scheme). The Google client itself is loaded
// only when a source first calls Secret Manager.
import { formatReference, registerScheme, type SchemeAdapter } from '@mtlskit/core';
import { gcpSecretManagerSource, type SecretManagerClientLike } from './source.js';

export { checksumValue, crc32c } from './crc32c.js';
export type { GcpCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type { GcpSecretName, NameProblem } from './name.js';
export { parseSecretName, regionalEndpoint } from './name.js';
export type {
  AccessResponseLike,
  GcpCallOptions,
  GcpClientOptions,
  GcpSecretManagerSource,
  GcpSecretManagerSourceOptions,
  SecretManagerClientLike,
  SecretVersionLike,
} from './source.js';
export { gcpReferenceOf, gcpSecretManagerSource } from './source.js';

/** The `gcp-sm:` adapter, registered with core when this module is imported. */
export const gcpSmScheme: SchemeAdapter<'gcp-sm'> = {
  scheme: 'gcp-sm',
  packageName: '@mtlskit/gcp',
  options: {},
  create(ref, deps) {
    return gcpSecretManagerSource({
      id: formatReference(ref),
      name: ref.target.name,
      transport: ref.target.transport,
      ...(deps.client !== undefined && { client: deps.client as SecretManagerClientLike }),
      ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
    });
  },
};

registerScheme(gcpSmScheme);
