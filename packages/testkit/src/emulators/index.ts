// The emulator framework (store, faults, request log, loopback HTTP server, connection tracker) and
// the vendor emulators built on it.

export type { AwsSecretsManagerEmulator, AwsSecretsManagerEmulatorOptions } from './aws-secrets-manager.js';
export {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  startAwsSecretsManagerEmulator,
} from './aws-secrets-manager.js';
export * from './azure-key-vault.js';
export type { CallIdentity, FaultKind, FaultSpec, InjectedFault } from './faults.js';
export { corruptValue, FAULT_KINDS, FaultInjector } from './faults.js';
export type {
  GcpEmulatorClientOptions,
  GcpSecretManagerEmulator,
  GcpSecretManagerEmulatorOptions,
  GcpSecretMetadata,
  GcpVersionState,
} from './gcp-secret-manager.js';
export { crc32cBitwise, startGcpSecretManagerEmulator } from './gcp-secret-manager.js';
export type { Closable, LoopbackHarness } from './harness.js';
export { startLoopbackHarness, until } from './harness.js';
export type {
  EmulatorCall,
  EmulatorRequest,
  EmulatorResponse,
  HttpEmulatorOptions,
  HttpProtocol,
  LoopbackEmulator,
} from './http.js';
export { startHttpEmulator } from './http.js';
export type { CallFilter, LoggedCall } from './log.js';
export { RequestLog } from './log.js';
export type { ConnectionTracker, OutboundConnection } from './network.js';
export { trackConnections } from './network.js';
export type {
  PutOptions,
  SecretStoreOptions,
  SecretValue,
  SecretVersion,
  StoredSecret,
  VersionIdScheme,
} from './store.js';
export { SecretStore } from './store.js';
export type {
  VaultAppRoleOptions,
  VaultCapability,
  VaultEmulator,
  VaultEmulatorOptions,
  VaultKubernetesRoleOptions,
  VaultMountOptions,
  VaultPkiRoleOptions,
  VaultPolicy,
  VaultSecretData,
  VaultTokenInfo,
  VaultTokenOptions,
} from './vault.js';
export { parseVaultDuration, startVaultEmulator } from './vault.js';
