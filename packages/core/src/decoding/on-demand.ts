// Code decoding loads only when material needs it: the PKCS#12 and encrypted-key readers
// (encrypted.ts) and node-forge's RC2/DES (legacy-ciphers.ts). A credential from the environment as
// PEM, the usual cold start, loads neither. Decoding itself stays synchronous: it asks for the code,
// and when it is not loaded yet it throws a CodeNeeded; the async path (decodeLoading, which
// loadCredentials and the resolver use) loads it and decodes again. The synchronous decodeMaterial
// brings it in with a static import (decode-material.ts).
import type { EncryptedCode } from './encrypted.js';

/** Thrown by a decode run that needs code not loaded yet: `load()` it, then run the decode again. */
export class CodeNeeded extends Error {
  override name = 'CodeNeeded';
  constructor(readonly load: () => Promise<unknown>) {
    super('decoding needs code that is not loaded yet');
  }
}

let encrypted: EncryptedCode | undefined;

/** Loads the PKCS#12 and encrypted-key readers with dynamic `import()` (once per process). */
export async function loadEncrypted(): Promise<EncryptedCode> {
  encrypted ??= (await import('./encrypted.js')).ENCRYPTED;
  return encrypted;
}

/** For the synchronous path, which imports them statically. */
export function provideEncrypted(code: EncryptedCode): void {
  encrypted ??= code;
}

/** The PKCS#12 and encrypted-key readers; throws CodeNeeded when they are not loaded yet. */
export function encryptedCode(): EncryptedCode {
  if (encrypted === undefined) throw new CodeNeeded(loadEncrypted);
  return encrypted;
}
