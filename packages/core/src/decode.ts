// @mtlskit/core/decode: the decoding primitives under loadCredentials, for tools that inspect
// stored material without a source (the CLI, tests). Applications use `loadCredentials`.

export type { DecodedMaterial } from './decoding/decode.js';
export { decodeMaterial } from './decoding/decode.js';
export { LIMITS } from './decoding/limits.js';
export type { CredentialField } from './validation/policy.js';
export { FIELD_ALIASES } from './validation/policy.js';
