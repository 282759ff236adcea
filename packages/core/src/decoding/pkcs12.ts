// Reads PKCS#12 (.p12/.pfx) files into certificates and private keys. Node can *use* a PFX
// (tls.createSecureContext({ pfx })) but has no API to read one, and core must see the certificate and
// key to validate them. So this walks the structure itself: MAC check (HMAC over the PKCS#12 KDF, or
// PBMAC1), then each safe and bag, decrypting with pbe.ts. Modern (PBES2/AES) and 3DES files need
// only node:crypto; legacy RC2-40 files pull in the lazily loaded legacy ciphers. Iteration counts are
// checked before any derivation runs, so a hostile 2^31 fails in microseconds.
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  Asn1Error,
  type Asn1Node,
  algorithm,
  integer,
  isContext,
  octets,
  oid,
  parseOne,
  sequence,
} from './asn1.js';
import { type IterationBudget, PbeError } from './budget.js';
import { LIMITS } from './limits.js';
import {
  bmpPassword,
  DIGEST_OIDS,
  decryptPbe,
  describePbe,
  HASHES,
  HMAC_OIDS,
  OID_PBKDF2,
  OID_PBMAC1,
  type PbeOptions,
  pbkdf2,
  pbkdf2Params,
  pkcs12Kdf,
} from './pbe.js';

const OID_DATA = '1.2.840.113549.1.7.1';
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6';
const OID_ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const BAG_KEY = '1.2.840.113549.1.12.10.1.1';
const BAG_SHROUDED_KEY = '1.2.840.113549.1.12.10.1.2';
const BAG_CERT = '1.2.840.113549.1.12.10.1.3';
const BAG_SAFE_CONTENTS = '1.2.840.113549.1.12.10.1.6';
const CERT_X509 = '1.2.840.113549.1.9.22.1';

/** What a PKCS#12 file held. */
export interface Pkcs12Contents {
  /** X.509 certificates (DER), in file order. */
  certs: Buffer[];
  /** Private keys as PKCS#8 PrivateKeyInfo (DER), decrypted. */
  keys: Buffer[];
  /** True when the file needed RC2 or DES (a "legacy" export). */
  legacy: boolean;
  /** Names of the encryption schemes met, for messages. */
  schemes: string[];
}

/** The content of a ContentInfo whose type is `data`: the inner OCTET STRING's bytes. */
function dataContent(contentInfo: Asn1Node | undefined, what: string): { type: string; body: Asn1Node } {
  const [typeNode, explicit] = sequence(contentInfo, what, 2);
  const type = oid(typeNode, what);
  if (!isContext(explicit, 0) || !explicit.constructed || explicit.children.length !== 1) {
    throw new PbeError('malformed', `${what}: content is not [0] EXPLICIT`);
  }
  return { type, body: explicit.children[0]! };
}

function macMatches(
  macData: Asn1Node,
  authSafe: Buffer,
  password: string | null,
  budget: IterationBudget,
): boolean {
  const [digestInfo, saltNode, iterNode] = sequence(macData, 'MacData', 2);
  const [algNode, digestNode] = sequence(digestInfo, 'MAC DigestInfo', 2);
  const alg = algorithm(algNode, 'MAC algorithm');
  const expected = octets(digestNode, 'MAC digest');
  let actual: Buffer;
  if (alg.oid === OID_PBMAC1) {
    // RFC 9579: the MAC key comes from PBKDF2 over the UTF-8 password; macSalt/iterations are unused.
    const [kdfNode, schemeNode] = sequence(alg.params, 'PBMAC1 parameters', 2);
    const kdf = algorithm(kdfNode, 'PBMAC1 key derivation');
    if (kdf.oid !== OID_PBKDF2) throw new PbeError('unsupported', `PBMAC1 with key derivation ${kdf.oid}`);
    const p = pbkdf2Params(kdf.params);
    const schemeOid = algorithm(schemeNode, 'PBMAC1 scheme').oid;
    const scheme = HMAC_OIDS[schemeOid];
    if (!scheme) throw new PbeError('unsupported', `PBMAC1 with MAC scheme ${schemeOid}`);
    // RFC 9579 makes the key length mandatory: without it the MAC key is undefined.
    if (p.keyLength === undefined)
      throw new PbeError('malformed', 'PBMAC1 key derivation without a key length');
    const key = pbkdf2(Buffer.from(password ?? '', 'utf8'), p.salt, p.iterations, p.keyLength, p.prf, budget);
    actual = createHmac(scheme, key).update(authSafe).digest();
  } else {
    const digest = DIGEST_OIDS[alg.oid];
    if (!digest) throw new PbeError('unsupported', `PKCS#12 MAC with digest ${alg.oid}`);
    const salt = octets(saltNode, 'MAC salt');
    const iterations = iterNode === undefined ? 1 : integer(iterNode, 'MAC iteration count');
    const key = pkcs12Kdf(digest, bmpPassword(password), salt, 3, iterations, HASHES[digest]!.u, budget);
    actual = createHmac(digest, key).update(authSafe).digest();
  }
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

interface WalkState {
  password: string | null;
  opts: PbeOptions;
  out: Pkcs12Contents;
  bags: number;
  /** A MAC proved the password. Without one, decrypted bytes that do not parse mean a wrong password. */
  macVerified: boolean;
}

/**
 * Without a MAC nothing has proved the password before decryption: a wrong one yields noise that
 * passes the padding check about once in 256 tries, and then fails to parse. That is a wrong password
 * too, not damage. With a verified MAC, unreadable content is damage and the error stands.
 */
function decryptedAs<T>(state: WalkState, read: () => T): T {
  try {
    return read();
  } catch (err) {
    const garbage = err instanceof Asn1Error || (err instanceof PbeError && err.reason === 'malformed');
    if (state.macVerified || !garbage) throw err;
    throw new PbeError('bad-decrypt', 'the password decrypts the file to bytes that do not parse');
  }
}

function readBags(safeContents: Asn1Node, state: WalkState, nesting: number): void {
  if (nesting > 4) throw new PbeError('malformed', 'safe contents nested too deep');
  for (const bag of sequence(safeContents, 'SafeContents')) {
    if (++state.bags > LIMITS.maxSafeBags) {
      throw new PbeError('limit', `more than ${LIMITS.maxSafeBags} bags in one PKCS#12 file`);
    }
    const [idNode, valueNode] = sequence(bag, 'SafeBag', 2);
    const bagId = oid(idNode, 'SafeBag type');
    if (!isContext(valueNode, 0) || valueNode.children.length !== 1) {
      throw new PbeError('malformed', 'SafeBag value is not [0] EXPLICIT');
    }
    const value = valueNode.children[0]!;
    if (bagId === BAG_KEY) {
      state.out.keys.push(value.encoded);
    } else if (bagId === BAG_SHROUDED_KEY) {
      const [algNode, dataNode] = sequence(value, 'EncryptedPrivateKeyInfo', 2);
      const alg = algorithm(algNode, 'key encryption');
      state.out.schemes.push(describePbe(alg));
      const plain = Buffer.from(
        decryptPbe(alg, octets(dataNode, 'encrypted key'), state.password, state.opts),
      );
      decryptedAs(state, () => sequence(parseOne(plain), 'PrivateKeyInfo', 3));
      state.out.keys.push(plain);
    } else if (bagId === BAG_CERT) {
      const [typeNode, certValue] = sequence(value, 'CertBag', 2);
      if (oid(typeNode, 'CertBag type') !== CERT_X509) continue;
      if (!isContext(certValue, 0) || certValue.children.length !== 1) {
        throw new PbeError('malformed', 'CertBag value is not [0] EXPLICIT');
      }
      state.out.certs.push(Buffer.from(octets(certValue.children[0], 'certificate')));
    } else if (bagId === BAG_SAFE_CONTENTS) {
      readBags(value, state, nesting + 1);
    }
    // CRL and secret bags carry nothing a TLS client needs.
  }
}

function readSafes(
  authSafe: Buffer,
  password: string | null,
  opts: PbeOptions,
  macVerified: boolean,
): Pkcs12Contents {
  const out: Pkcs12Contents = { certs: [], keys: [], legacy: false, schemes: [] };
  const state: WalkState = { password, opts, out, bags: 0, macVerified };
  for (const info of sequence(parseOne(authSafe), 'AuthenticatedSafe')) {
    const { type, body } = dataContent(info, 'safe');
    if (type === OID_DATA) {
      readBags(parseOne(octets(body, 'safe contents')), state, 0);
    } else if (type === OID_ENCRYPTED_DATA) {
      const [, encryptedContentInfo] = sequence(body, 'EncryptedData', 2);
      const [, algNode, contentNode] = sequence(encryptedContentInfo, 'EncryptedContentInfo', 3);
      if (!isContext(contentNode, 0)) throw new PbeError('malformed', 'EncryptedContentInfo has no content');
      const alg = algorithm(algNode, 'safe encryption');
      out.schemes.push(describePbe(alg));
      const plain = decryptPbe(alg, octets(contentNode, 'encrypted safe'), password, opts);
      const safeContents = decryptedAs(state, () => parseOne(plain));
      decryptedAs(state, () => readBags(safeContents, state, 0));
    } else if (type === OID_ENVELOPED_DATA) {
      throw new PbeError('unsupported', 'a PKCS#12 safe encrypted to a public key (envelopedData)');
    } else {
      throw new PbeError('unsupported', `a PKCS#12 safe of type ${type}`);
    }
  }
  return out;
}

/**
 * Reads a PKCS#12 file with the first of `passwords` that opens it (`null` is "no password", which
 * PKCS#12 tells apart from the empty string). Throws PbeError: `bad-decrypt` when none opens it,
 * `limit`, `unsupported` or `malformed`; LegacyCiphersNeeded when RC2/DES are needed and not loaded.
 */
export function readPkcs12(
  pfx: Asn1Node,
  passwords: readonly (string | null)[],
  opts: PbeOptions,
): Pkcs12Contents {
  const [, authSafeInfo, macData] = sequence(pfx, 'PFX', 2);
  const { type, body } = dataContent(authSafeInfo, 'PFX content');
  if (type === OID_SIGNED_DATA) {
    throw new PbeError('unsupported', 'a PKCS#12 file in public-key integrity mode (signedData)');
  }
  if (type !== OID_DATA) throw new PbeError('unsupported', `a PKCS#12 content of type ${type}`);
  const authSafe = octets(body, 'AuthenticatedSafe');
  let legacy = false;
  const tracked: PbeOptions = {
    budget: opts.budget,
    legacy: () => {
      legacy = true;
      return opts.legacy();
    },
  };

  if (macData !== undefined) {
    for (const [i, password] of passwords.entries()) {
      const mark = opts.budget.mark();
      let ok: boolean;
      try {
        ok = macMatches(macData, authSafe, password, opts.budget);
      } catch (err) {
        // Fallback passwords must not turn a plain "wrong passphrase" into a limit error.
        if (i > 0 && err instanceof PbeError && err.reason === 'limit') break;
        throw err;
      }
      if (ok) {
        const out = readSafes(authSafe, password, tracked, true);
        return { ...out, legacy };
      }
      // A wrong candidate's MAC check counts only against the overall bound, not against what
      // opening the file with the right one needs.
      opts.budget.wasted(mark);
    }
    throw new PbeError('bad-decrypt', 'MAC verification failed');
  }

  // No MAC (`-nomac`): the first password whose decryption yields well-formed safes wins.
  for (const password of passwords) {
    const mark = opts.budget.mark();
    try {
      const out = readSafes(authSafe, password, tracked, false);
      return { ...out, legacy };
    } catch (err) {
      // A wrong password decrypts to garbage: bad padding, or bytes that are not ASN.1.
      const garbage = err instanceof Asn1Error || (err instanceof PbeError && err.reason === 'bad-decrypt');
      if (!garbage) throw err;
      opts.budget.wasted(mark);
    }
  }
  throw new PbeError('bad-decrypt', 'no password opened the PKCS#12 file');
}
