// The bounds every decoder in core respects, so that hostile or corrupt input fails fast with an
// MtlsError instead of hanging a synchronous parser or exhausting memory.

/**
 * Limits applied while decoding credential material. Typical files sit far below every one of them:
 * OpenSSL writes PKCS#12 with 2,048 iterations, Java keytool 10,000, .NET and OWASP-minded tools up
 * to 600,000; a hostile 2^31 is refused before any work is done.
 */
export const LIMITS = Object.freeze({
  /** Largest accepted value of one field (text length or byte length): 1 MiB. */
  maxFieldBytes: 1024 * 1024,
  /** Most certificates one field may hold (a full public CA bundle has about 150). */
  maxCertificatesPerField: 512,
  /**
   * Most distinct certificates for the leaf and its chain, over `cert`, `bundle`, `pfx` and `key`
   * together (`ca` is not counted): a client sends its certificate and a few intermediates, and
   * ordering them costs signature checks that grow with the square of their number.
   */
  maxChainCertificates: 16,
  /** Most private keys one field (or one PKCS#12 file) may hold; each may cost a key derivation. */
  maxPrivateKeysPerField: 8,
  /** Most PEM blocks one field may hold. */
  maxPemBlocks: 1024,
  /** Deepest nesting accepted in a JSON bundle. */
  maxJsonDepth: 32,
  /** Deepest ASN.1 nesting accepted (PKCS#12 needs about 12). */
  maxAsn1Depth: 48,
  /** Most ASN.1 elements in one parsed blob. */
  maxAsn1Nodes: 200_000,
  /** Highest iteration count of one key derivation (PKCS#12 MAC, PKCS#12 PBE, PBKDF2, PBKDF1). */
  maxIterations: 1_000_000,
  /**
   * Highest work of the key derivations that open one credential (all its fields, with the
   * passphrase that opens them), in units of one SHA-1 iteration of the PKCS#12 KDF (~0.5 µs): slower
   * digests count several units per iteration, scrypt one per N·r·p. An OpenSSL 3 PKCS#12 export at
   * the per-derivation limit (a SHA-256 MAC and two PBKDF2-SHA-256 derivations of 1,000,000) needs
   * all of it.
   */
  maxTotalIterations: 4_000_000,
  /**
   * Highest work for one credential counting also the derivations of passphrase candidates that did
   * not open it (a passphrase and its form without a trailing newline; `''` and no password for a
   * PKCS#12): a passphrase given for a PKCS#12 exported without one costs a MAC check first. The
   * worst a credential can cost: 2–4.5 s of CPU (README, "Limits").
   */
  maxTotalIterationsWithCandidates: 6_000_000,
  /** Most safe bags in one PKCS#12 file. */
  maxSafeBags: 256,
  /**
   * Highest scrypt work N·r·p accepted in an encrypted PKCS#8 key (it also caps memory, 128·N·r
   * bytes, at 128 MiB). OpenSSL's `-scrypt` default is 2^17; OWASP's N=2^17, r=8, p=1 is the limit.
   */
  maxScryptCost: 2 ** 20,
});
