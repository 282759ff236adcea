// Test helper: genuine credentials of shapes no library writes on demand, built with node:crypto —
// an scrypt-encrypted PKCS#8 key (Node cannot export one), a traditional encrypted key under an
// empty passphrase (Node 24 refuses to export one), and a chain of certificates that all share
// one name and carry no key identifiers (so only a signature check tells issuers apart).
import {
  createCipheriv,
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scryptSync,
  sign,
} from 'node:crypto';
import { der, INT, OCTETS, OID, pem, SEQ, SET } from './der.js';

/** An `ENCRYPTED PRIVATE KEY` (PBES2, scrypt, AES-256-CBC) as RFC 8018 and 7914 define it. */
export function scryptEncryptedPem(
  key: KeyObject,
  passphrase: string,
  { N, r, p }: { N: number; r: number; p: number },
): string {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const secret = scryptSync(passphrase, salt, 32, { N, r, p, maxmem: 128 * N * r + 16 * 1024 * 1024 });
  const cipher = createCipheriv('aes-256-cbc', secret, iv);
  const plain = key.export({ type: 'pkcs8', format: 'der' });
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const kdf = SEQ(OID('1.3.6.1.4.1.11591.4.11'), SEQ(OCTETS(salt), INT(N), INT(r), INT(p)));
  const scheme = SEQ(OID('2.16.840.1.101.3.4.1.42'), OCTETS(iv));
  const body = SEQ(SEQ(OID('1.2.840.113549.1.5.13'), SEQ(kdf, scheme)), OCTETS(encrypted));
  return pem('ENCRYPTED PRIVATE KEY', body);
}

const ECDSA_SHA256 = SEQ(OID('1.2.840.10045.4.3.2'));

function utcTime(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // 2025-01-02T03:04:05.000Z
  const s = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return der(0x17, Buffer.from(s));
}

function name(cn: string): Buffer {
  return SEQ(SET(SEQ(OID('2.5.4.3'), der(0x0c, Buffer.from(cn)))));
}

function certificate(subjectKey: KeyObject, signer: KeyObject, cn: string, ca: boolean): Buffer {
  const now = Date.now();
  const extensions = ca
    ? // basicConstraints, critical, CA:TRUE
      [
        der(
          0xa3,
          SEQ(
            SEQ(
              OID('2.5.29.19'),
              der(0x01, Buffer.from([0xff])),
              OCTETS(SEQ(der(0x01, Buffer.from([0xff])))),
            ),
          ),
        ),
      ]
    : [];
  const tbs = SEQ(
    der(0xa0, INT(2)),
    der(0x02, Buffer.concat([Buffer.from([0x01]), randomBytes(8)])),
    ECDSA_SHA256,
    name(cn),
    SEQ(utcTime(now - 3_600_000), utcTime(now + 90 * 86_400_000)),
    name(cn),
    subjectKey.export({ type: 'spki', format: 'der' }),
    ...extensions,
  );
  const signature = sign('sha256', tbs, signer);
  return SEQ(tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
}

export interface SameNameChain {
  /** PEM of every certificate, root first and leaf last: the reverse of the order TLS sends. */
  reversedPem: string;
  /** The leaf's key, PKCS#8 PEM. */
  keyPem: string;
}

/**
 * `length` certificates named `CN=<cn>`, each (but the self-signed root) issued by the one before,
 * without authority or subject key identifiers: every one looks like the issuer of every other until
 * its signature is checked. The leaf is the last.
 */
export function sameNameChain(length: number, cn = 'A'): SameNameChain {
  const keys = Array.from({ length }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const certs = keys.map((k, i) =>
    certificate(k.publicKey, (keys[i - 1] ?? k).privateKey, cn, i < length - 1),
  );
  return {
    reversedPem: certs.map((c) => pem('CERTIFICATE', c)).join(''),
    keyPem: keys[length - 1]!.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

/**
 * A traditional `Proc-Type: 4,ENCRYPTED` PEM (AES-256-CBC, OpenSSL's EVP_BytesToKey with MD5), written
 * by hand: Node 24's OpenSSL refuses to export one under an empty passphrase, which tests need.
 */
export function traditionalEncryptedPem(key: KeyObject, passphrase: string): string {
  const ec = key.asymmetricKeyType === 'ec';
  const der = key.export({ type: ec ? 'sec1' : 'pkcs1', format: 'der' });
  const iv = randomBytes(16);
  let material = Buffer.alloc(0);
  let block = Buffer.alloc(0);
  while (material.length < 32) {
    block = createHash('md5')
      .update(Buffer.concat([block, Buffer.from(passphrase), iv.subarray(0, 8)]))
      .digest();
    material = Buffer.concat([material, block]);
  }
  const cipher = createCipheriv('aes-256-cbc', material.subarray(0, 32), iv);
  const body = Buffer.concat([cipher.update(der), cipher.final()]).toString('base64');
  const label = ec ? 'EC PRIVATE KEY' : 'RSA PRIVATE KEY';
  return (
    `-----BEGIN ${label}-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,${iv.toString('hex').toUpperCase()}\n\n` +
    `${body.match(/.{1,64}/g)?.join('\n')}\n-----END ${label}-----\n`
  );
}

/**
 * Lines shaped like a key's first PEM lines: the opening of every PKCS#8 RSA 2048 key and the second
 * line of every AES-256 encrypted PKCS#8 key (fixed structure), with made-up tails that bring the
 * class-change rate to 0.25-0.3, under the 0.3 random Base64 clears. No key material.
 */
export const STRUCTURED_KEY_LINES = [
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDCQEIBDKZSOAUX',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDqrstu/vwxyzab',
  'MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBAXwvkTRQdpMNLzehybaoGRBIIE',
];
