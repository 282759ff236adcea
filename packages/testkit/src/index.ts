// @mtlskit/testkit: what mtlskit's own tests (and adapter authors') stand on — a test CA, a real mTLS
// server that reports what it saw, a secret-leak checker, the openssl CLI for cross-checks, loopback
// vault emulators. The adapter conformance suite, which needs vitest, is the subpath
// `@mtlskit/testkit/conformance`.

export type { CaOptions, IssuedCert, IssueOptions, SignedCert } from './ca.js';
export { TestCA } from './ca.js';
export { documentedOptionRows, optionTableRows, pointedAt } from './docs.js';
export * from './emulators/index.js';
export type { TestKeyType } from './keys.js';
export { TEST_KEY_TYPES } from './keys.js';
export type { LeakCheck } from './leak.js';
export { ChildTimeoutError, leakCheck } from './leak.js';
export type { OpensslResult } from './openssl.js';
export { hasOpenssl, opensslPath, runOpenssl } from './openssl.js';
export type { Pkcs12Algorithm, Pkcs12Options } from './pkcs12.js';
export type {
  HttpsResponse,
  MtlsServerOptions,
  MtlsTestServer,
  ObservedConnection,
  ObservedRequest,
  ObservedTlsError,
} from './server.js';
export { httpsRequest, startMtlsServer } from './server.js';
