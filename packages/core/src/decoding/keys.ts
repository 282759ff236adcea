// Private keys in every stored form — PKCS#8, PKCS#1, SEC1, encrypted PKCS#8 (PBES1/PBES2) and
// OpenSSL's traditional `Proc-Type: 4,ENCRYPTED` — turned into a KeyObject. Encrypted keys are
// decrypted by pbe.ts rather than by OpenSSL so their iteration counts are checked before any work and
// the DES/RC2 keys OpenSSL 3 refuses still open.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { KeyType } from '../types.js';
import { Asn1Error, algorithm, octets, parseOne, sequence } from './asn1.js';
import { PbeError } from './budget.js';
import { encryptedCode } from './on-demand.js';
import type { PbeOptions } from './pbe.js';

/** A private key as found, not yet opened. */
export type KeyItem =
  | { kind: 'pkcs8' | 'pkcs1' | 'sec1' | 'encrypted-pkcs8'; der: Buffer }
  | { kind: 'traditional'; der: Buffer; dekInfo: string; type: 'pkcs1' | 'sec1' };

/**
 * The DER a key was opened from (decrypted, for an encrypted one) and its form: a TLS context can be
 * given the key as PEM written from it, instead of OpenSSL exporting the KeyObject again.
 */
export interface KeyDer {
  readonly der: Buffer;
  readonly type: 'pkcs8' | 'pkcs1' | 'sec1';
}

/** Options of {@link openKey}: PBE limits, and who to tell the DER of each key opened. */
export interface OpenKeyOptions extends PbeOptions {
  opened?: (key: KeyObject, source: KeyDer) => void;
}

/** Why a key could not be opened. */
export class KeyError extends Error {
  override name = 'KeyError';
  constructor(
    readonly reason:
      | 'needs-passphrase'
      | 'empty-passphrase'
      | 'bad-decrypt'
      | 'limit'
      | 'unsupported'
      | 'malformed'
      | 'key-type',
    message: string,
  ) {
    super(message);
  }
}

const TLS_KEY_TYPES: readonly string[] = ['rsa', 'rsa-pss', 'ec', 'ed25519', 'ed448'];

/** True when the key needs a passphrase to open. */
function isEncrypted(item: KeyItem): boolean {
  return item.kind === 'encrypted-pkcs8' || item.kind === 'traditional';
}

function fromDer(der: Buffer, type: KeyDer['type'], opts: OpenKeyOptions): KeyObject {
  const key = createPrivateKey({ key: der, format: 'der', type });
  const kind = key.asymmetricKeyType ?? 'unknown';
  if (!TLS_KEY_TYPES.includes(kind)) {
    throw new KeyError(
      'key-type',
      `it is a ${kind.toUpperCase()} key; TLS client certificates use RSA, EC or Ed25519 keys`,
    );
  }
  opts.opened?.(key, { der, type });
  return key;
}

function decrypt(item: KeyItem, password: string, opts: OpenKeyOptions): KeyObject {
  const { decryptPbe, decryptTraditional } = encryptedCode();
  if (item.kind === 'traditional')
    return fromDer(decryptTraditional(item.dekInfo, item.der, password, opts), item.type, opts);
  const [algNode, dataNode] = sequence(parseOne(item.der), 'EncryptedPrivateKeyInfo', 2);
  const alg = algorithm(algNode, 'key encryption');
  return fromDer(decryptPbe(alg, octets(dataNode, 'encrypted key'), password, opts), 'pkcs8', opts);
}

/**
 * Opens `item`, trying each passphrase candidate in turn for an encrypted key. A passphrase given
 * for an unencrypted key is ignored. An empty passphrase counts as none: it is tried (a key can be
 * encrypted under ''), after the non-empty candidates (a passphrase of just "\n" gives '' and "\n"),
 * but when only it was given and it fails the key "needs a passphrase" rather than a "wrong" one.
 * Throws KeyError, or CodeNeeded (an encrypted key, before the code that decrypts it is loaded).
 */
export function openKey(item: KeyItem, passphrases: readonly string[], opts: OpenKeyOptions): KeyObject {
  if (!isEncrypted(item)) {
    try {
      return fromDer(item.der, item.kind as KeyDer['type'], opts);
    } catch (err) {
      if (err instanceof KeyError) throw err;
      throw new KeyError('malformed', 'OpenSSL cannot read it as a private key');
    }
  }
  const given = passphrases.filter((p) => p !== '');
  const tried = passphrases.includes('') ? [...given, ''] : given;
  for (const password of tried) {
    const key = tryPassword(item, password, opts);
    if (key !== undefined) return key;
  }
  if (given.length > 0) throw new KeyError('bad-decrypt', 'the passphrase does not decrypt it');
  throw passphrases.length > 0
    ? new KeyError('empty-passphrase', 'it is encrypted and the passphrase given is empty')
    : new KeyError('needs-passphrase', 'it is encrypted and no passphrase was given');
}

/** The key opened with `password`, or undefined when it is not the right one. Throws KeyError otherwise. */
function tryPassword(item: KeyItem, password: string, opts: OpenKeyOptions): KeyObject | undefined {
  const mark = opts.budget.mark();
  try {
    return decrypt(item, password, opts);
  } catch (err) {
    if (err instanceof KeyError && err.reason === 'key-type') throw err;
    if (err instanceof PbeError && err.reason !== 'bad-decrypt') throw new KeyError(err.reason, err.message);
    // The ASN.1 read here is the encryption's structure and parameters, never the decrypted bytes
    // (OpenSSL reads those): a failure is damage, whatever the passphrase.
    if (err instanceof Asn1Error) throw new KeyError('malformed', err.message);
    // Bad padding, or a plaintext that is not a key: this passphrase is not the one.
    if (!(err instanceof PbeError || isOpenSslError(err))) throw err;
    opts.budget.wasted(mark);
    return undefined;
  }
}

function isOpenSslError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_');
}

/** Sizes of the named curves mtlskit describes (an unknown curve has no size). */
const CURVE_BITS: Record<string, number> = {
  prime256v1: 256,
  'P-256': 256,
  secp256k1: 256,
  secp384r1: 384,
  'P-384': 384,
  secp521r1: 521,
  'P-521': 521,
  prime192v1: 192,
  secp224r1: 224,
  brainpoolP256r1: 256,
  brainpoolP384r1: 384,
  brainpoolP512r1: 512,
};

/** Facts about a key: type, size in bits, curve. */
export interface KeyDescription {
  readonly keyType: KeyType;
  readonly keySize: number | undefined;
  readonly curve: string | undefined;
}

// Reading a key's details costs a call into OpenSSL and a BigInt: validation and the credentials ask
// for the same key's, so each key is described once.
const descriptions = new WeakMap<KeyObject, KeyDescription>();

/** Facts about a key for MtlsCredentials: type, size in bits, curve. */
export function describeKey(key: KeyObject): KeyDescription {
  let known = descriptions.get(key);
  if (known === undefined) {
    known = readDescription(key);
    descriptions.set(key, known);
  }
  return known;
}

function readDescription(key: KeyObject): KeyDescription {
  const keyType = (key.asymmetricKeyType ?? 'rsa') as KeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const curve = details.namedCurve;
  let keySize: number | undefined;
  if (keyType === 'rsa' || keyType === 'rsa-pss') keySize = details.modulusLength;
  else if (keyType === 'ec') keySize = curve === undefined ? undefined : CURVE_BITS[curve];
  else if (keyType === 'ed25519') keySize = 256;
  else if (keyType === 'ed448') keySize = 448;
  return { keyType, keySize, curve };
}
