// Test key pairs: generation over WebCrypto (what @peculiar/x509 signs with) and the node:crypto
// KeyObject view of the same key, from which every export form of an IssuedCert is derived.
import { createPrivateKey, type KeyObject, webcrypto } from 'node:crypto';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** The key types the test CA issues: the ones mtlskit must read, with Mangopay's RSA-2048 among them. */
export type TestKeyType = 'rsa2048' | 'rsa3072' | 'ec-p256' | 'ed25519';

export const TEST_KEY_TYPES: readonly TestKeyType[] = ['rsa2048', 'rsa3072', 'ec-p256', 'ed25519'];

type GenerateAlgorithm = webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | { name: 'Ed25519' };

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

function generateAlgorithm(keyType: TestKeyType): GenerateAlgorithm {
  switch (keyType) {
    case 'rsa2048':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: RSA_EXPONENT,
        hash: 'SHA-256',
      };
    case 'rsa3072':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 3072,
        publicExponent: RSA_EXPONENT,
        hash: 'SHA-256',
      };
    case 'ec-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ed25519':
      return { name: 'Ed25519' };
    default:
      throw new RangeError(
        `unknown test key type ${JSON.stringify(keyType)}: use one of ${TEST_KEY_TYPES.join(', ')}`,
      );
  }
}

/** The algorithm a key of this type signs certificates with (SHA-256 wherever a hash is chosen). */
export function signingAlgorithm(keyType: TestKeyType): webcrypto.Algorithm | webcrypto.EcdsaParams {
  switch (keyType) {
    case 'rsa2048':
    case 'rsa3072':
      return { name: 'RSASSA-PKCS1-v1_5' };
    case 'ec-p256':
      return { name: 'ECDSA', hash: 'SHA-256' } satisfies webcrypto.EcdsaParams;
    case 'ed25519':
      return { name: 'Ed25519' };
  }
}

export interface TestKeyPair {
  keyType: TestKeyType;
  /** WebCrypto pair, extractable: @peculiar/x509 signs and embeds with it. */
  pair: CryptoKeyPair;
  /** The same private key as node:crypto sees it, for PEM/DER exports in every form. */
  privateKey: KeyObject;
  /** Unencrypted PKCS#8 DER. */
  pkcs8Der: Buffer;
}

export async function generateTestKey(keyType: TestKeyType): Promise<TestKeyPair> {
  const pair = (await webcrypto.subtle.generateKey(generateAlgorithm(keyType), true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const pkcs8Der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  const privateKey = createPrivateKey({ key: pkcs8Der, format: 'der', type: 'pkcs8' });
  return { keyType, pair, privateKey, pkcs8Der };
}

/** The key's "traditional" PEM type: PKCS#1 for RSA, SEC1 for EC; Ed25519 has none. */
export function traditionalType(keyType: TestKeyType): 'pkcs1' | 'sec1' | undefined {
  if (keyType === 'rsa2048' || keyType === 'rsa3072') return 'pkcs1';
  if (keyType === 'ec-p256') return 'sec1';
  return undefined;
}
