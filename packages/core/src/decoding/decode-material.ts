// The synchronous decode, for tools that inspect stored material (`@mtlskit/core/decode`: the CLI,
// adapters reading a vault's certificate object). It imports the PKCS#12 and encrypted-key readers
// statically, so it never waits for them; loadCredentials and the resolver decode through
// decodeLoading, which loads them only for material that needs them.
import type { CredentialMaterial } from '../types.js';
import { resolvePolicy, type ValidationPolicy } from '../validation/policy.js';
import { type DecodedMaterial, decodeWith } from './decode.js';
import { ENCRYPTED } from './encrypted.js';
import { loadLegacyCiphersSync } from './legacy-ciphers.js';
import { provideEncrypted } from './on-demand.js';
import { forgetLastMatch } from './pem.js';

/**
 * Decodes material as stored into a leaf certificate, its chain, the private key and CA certificates,
 * without judging them (see `validateCredentials` of `@mtlskit/core`). Synchronous: a legacy PKCS#12 loads the
 * RC2/DES ciphers with `require`. Throws MtlsError (DECODE_FAILED, MISSING_FIELD, WRONG_PASSPHRASE,
 * CHAIN_INVALID for a CA certificate that does not parse).
 */
export function decodeMaterial(material: CredentialMaterial, policy?: ValidationPolicy): DecodedMaterial {
  provideEncrypted(ENCRYPTED);
  try {
    return decodeWith(material, resolvePolicy(policy), { legacy: loadLegacyCiphersSync });
  } finally {
    // Decoding matched secret text; loadCredentials clears this itself (see forgetLastMatch).
    forgetLastMatch();
  }
}
