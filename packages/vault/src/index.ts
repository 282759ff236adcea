// @mtlskit/vault: HashiCorp Vault sources for mtlskit — KV v1/v2 secrets holding a credential, and
// PKI minting short-lived client certificates — read with node-vault under token, AppRole or
// Kubernetes authentication. Importing this module defines the `vault:` and `vault-pki:` schemes
// (./scheme.ts, no node-vault) and registers their source factories with @mtlskit/core, so
// `sourceFromReference('vault://secret/app/mtls')` works (core also imports this package on demand).
import { MtlsError, registerSourceFactory, type SourceDeps } from '@mtlskit/core/adapter';
import type { VaultAuth } from './auth.js';
import type { NodeVaultClient } from './client.js';
import { vaultPkiSource } from './pki.js';
import { type VaultAuthTarget, vaultPkiScheme, vaultScheme } from './scheme.js';
import type { VaultSessionOptions } from './session.js';
import { vaultSource } from './source.js';

export type { SecretInput, VaultAuth } from './auth.js';
export { KUBERNETES_JWT_FILE } from './auth.js';
export type { NodeVaultClient, VaultConnectionOptions } from './client.js';
export type { CsrKeyType } from './csr.js';
export type { VaultCallContext } from './errors.js';
export { toMtlsError } from './errors.js';
export type { FieldMapping } from './fields.js';
export type { VaultPkiSource, VaultPkiSourceOptions } from './pki.js';
export { vaultPkiReferenceOf, vaultPkiSource } from './pki.js';
export type { VaultAuthTarget, VaultPkiTarget, VaultTarget } from './scheme.js';
export { vaultPkiScheme, vaultScheme } from './scheme.js';
export type { VaultSessionOptions } from './session.js';
export type { VaultSource, VaultSourceOptions, VaultStoreOptions } from './source.js';
export { vaultReferenceOf, vaultSource } from './source.js';

/** What a reference (and the caller's deps) say about reaching Vault. */
function sessionOf(
  target: { namespace?: string; endpoint?: string; auth?: VaultAuthTarget },
  id: string,
  timeoutMs: number | undefined,
  deps: SourceDeps,
): VaultSessionOptions {
  // Duck-typed: the application's node-vault may be another copy than this package's.
  const client = deps.client as NodeVaultClient | undefined;
  if (client !== undefined && typeof (client as { read?: unknown }).read !== 'function') {
    throw new MtlsError('INVALID_OPTION', `the client given for ${id} is not a node-vault client`, {
      sourceId: id,
    });
  }
  const auth: VaultAuth | undefined = target.auth;
  return {
    ...(target.namespace !== undefined && { namespace: target.namespace }),
    ...(target.endpoint !== undefined && { endpoint: target.endpoint }),
    ...(auth !== undefined && { auth }),
    ...(timeoutMs !== undefined && { timeoutMs }),
    ...(client !== undefined && { client }),
    ...(deps.env !== undefined && { env: deps.env }),
    ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
  };
}

registerSourceFactory(vaultScheme, (ref, deps) => {
  const t = ref.target;
  const fields = {
    ...(t.certField !== undefined && { cert: t.certField }),
    ...(t.keyField !== undefined && { key: t.keyField }),
  };
  return vaultSource({
    id: ref.id,
    path: t.path,
    mount: t.mount,
    ...(t.kv !== undefined && { kv: t.kv }),
    ...(t.version !== undefined && { version: t.version }),
    ...(Object.keys(fields).length > 0 && { fields }),
    ...(t.bundleField !== undefined && { bundleField: t.bundleField }),
    ...sessionOf(t, ref.id, ref.values.timeoutMs as number | undefined, deps),
  });
});

registerSourceFactory(vaultPkiScheme, (ref, deps) => {
  const t = ref.target;
  return vaultPkiSource({
    id: ref.id,
    mount: t.mount,
    role: t.role,
    mode: t.mode,
    commonName: t.commonName,
    params: t.params,
    ...(t.keyType !== undefined && { keyType: t.keyType }),
    ...(t.trustIssuingCa !== undefined && { trustIssuingCa: t.trustIssuingCa }),
    ...sessionOf(t, ref.id, ref.values.timeoutMs as number | undefined, deps),
  });
});
