// @mtlskit/vault: HashiCorp Vault sources for mtlskit — KV v1/v2 secrets holding a credential, read
// with node-vault under token, AppRole or Kubernetes authentication.

export type { SecretInput, VaultAuth } from './auth.js';
export { KUBERNETES_JWT_FILE } from './auth.js';
export type { NodeVaultClient, VaultConnectionOptions } from './client.js';
export type { CsrKeyType } from './csr.js';
export type { VaultCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type { FieldMapping } from './fields.js';
export type { VaultPkiSource, VaultPkiSourceOptions } from './pki.js';
export { vaultPkiReferenceOf, vaultPkiSource } from './pki.js';
export type { VaultSessionOptions } from './session.js';
export type { VaultSource, VaultSourceOptions, VaultStoreOptions } from './source.js';
export { vaultReferenceOf, vaultSource } from './source.js';
