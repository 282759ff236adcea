// @mtlskit/core/decode: the primitives under loadCredentials, for tools that inspect stored material
// without validating it away (the CLI, tests): decoding, and a source's load with core's error rule.
// Applications use `loadCredentials`.

export type { DecodedMaterial } from './decoding/decode.js';
export { decodeMaterial } from './decoding/decode-material.js';
export { LIMITS } from './decoding/limits.js';
export { loadMaterial } from './sources/load-material.js';
export type { CredentialField } from './validation/policy.js';
export { FIELD_ALIASES } from './validation/policy.js';
