// @mtlskit/azure: the Azure Key Vault source, for plain secrets and the secrets behind Key Vault
// certificates.
export type { AzureCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type {
  AzureKeyVaultSource,
  AzureKeyVaultSourceOptions,
  AzureStoreOptions,
  SecretClientLike,
} from './source.js';
export {
  azureKeyVaultSource,
  azureReferenceOf,
  PEM_CONTENT_TYPE,
  PKCS12_CONTENT_TYPE,
  vaultUrlOf,
} from './source.js';
