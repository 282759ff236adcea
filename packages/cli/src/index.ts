// @mtlskit/cli as a library: the command runner (for tests and wrappers) and the pieces other
// packages may reuse (CSR and PKCS#12 writers). Mangopay's naming is @mtlskit/mangopay's.
export { type CsrRequest, createKeyAndCsr, type KeyType } from './csr.js';
export type { CliIo } from './io.js';
export { run } from './main.js';
export { type Pkcs12WriteOptions, writePkcs12 } from './pkcs12.js';
