// @mtlskit/azure: the Azure Key Vault source, for plain secrets and the secrets behind Key Vault
// certificates. Importing this module defines the `azure-kv:` scheme (./scheme.ts, no SDK) and
// registers its source factory with @mtlskit/core, so `sourceFromReference('azure-kv://myvault/mtls')`
// works (core also imports this package on demand when it meets the scheme).
import type { TokenCredential } from '@azure/identity';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import { MtlsError, registerSourceFactory } from '@mtlskit/core/adapter';
import { azureKvScheme } from './scheme.js';
import { azureKeyVaultSource, type SecretClientLike } from './source.js';

export type { AzureCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type { AzureKvTarget } from './scheme.js';
export { azureKvScheme, vaultUrlOf } from './scheme.js';
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
  PENDING_SUFFIX,
  PKCS12_CONTENT_TYPE,
  TAG_COPY_OF,
  TAG_PENDING_OF,
  TAG_PREVIOUS,
  TAG_PROMOTED_TO,
} from './source.js';

/**
 * `deps` of `sourceFromReference` for `azure-kv:`: `client` (a configured SecretClient), or
 * `credential` (a TokenCredential) and `clientOptions` for the client built from the reference.
 */
registerSourceFactory(azureKvScheme, (ref, deps) => {
  const { secret, version, vaultUrl } = ref.target;
  const timeoutMs = ref.values.timeoutMs as number | undefined;
  const credential = deps.credential as TokenCredential | undefined;
  if (credential !== undefined && typeof (credential as { getToken?: unknown })?.getToken !== 'function') {
    throw new MtlsError(
      'INVALID_OPTION',
      `the credential given for ${ref.id} is not a TokenCredential (it has no getToken)`,
      {
        sourceId: ref.id,
      },
    );
  }
  return azureKeyVaultSource({
    id: ref.id,
    name: secret,
    vaultUrl,
    ...(version !== undefined && { version }),
    ...(timeoutMs !== undefined && { timeoutMs }),
    // Duck-typed by the source: the application's SDK may be another copy or version than this package's.
    ...(deps.client !== undefined && { client: deps.client as SecretClientLike }),
    ...(credential !== undefined && { credential }),
    ...(deps.clientOptions !== undefined && { clientOptions: deps.clientOptions as SecretClientOptions }),
  });
});
