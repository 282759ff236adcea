// @mtlskit/cli as a library: the command runner (for tests and wrappers) and the pieces other
// packages may reuse (CSR and PKCS#12 writers, the Mangopay naming).
export { type CsrRequest, createKeyAndCsr, type KeyType } from './csr.js';
export type { CliIo } from './io.js';
export { run } from './main.js';
export { mangopayHost, mangopayIdentity } from './mangopay.js';
export { writePkcs12 } from './pkcs12.js';
