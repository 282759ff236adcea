// The code that opens password-protected material — PKCS#12 files (pkcs12.ts) and encrypted private
// keys (pbe.ts, iterated-hash.ts) — as one module: the build puts it in a chunk of its own, which a
// credential without either never loads (see on-demand.ts).
import { decryptPbe, decryptTraditional } from './pbe.js';
import { readPkcs12 } from './pkcs12.js';

export const ENCRYPTED = Object.freeze({ readPkcs12, decryptPbe, decryptTraditional });

export type EncryptedCode = typeof ENCRYPTED;
