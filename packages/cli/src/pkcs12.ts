// Writing PKCS#12 files for Java and .NET users. Modern by default — PBES2 (PBKDF2-HMAC-SHA256,
// AES-256-CBC) for the key and the certificates, an HMAC-SHA256 MAC: what OpenSSL 3 writes, and
// what Java 11.0.12+/17+, .NET on current Windows and OpenSSL 1.1.1+ read. `legacy`: PBE-SHA1-3DES
// and an HMAC-SHA1 MAC, for readers that know nothing newer (Java 8 before 8u301, Windows Server
// 2016 and older). WebCrypto has no 3DES, so that cipher and its PKCS#12 key derivation are
// node:crypto here; pkijs builds the structures and the MAC in both cases.
import {
  createCipheriv,
  createHash,
  type KeyObject,
  randomBytes,
  webcrypto,
  type X509Certificate,
} from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export interface Pkcs12WriteOptions {
  /** `aes256` (default) or `legacy` (3DES, SHA-1 MAC). */
  algorithm?: 'aes256' | 'legacy';
  /** friendlyName of the key and leaf (the alias Java's keytool shows). Default: the leaf's CN. */
  friendlyName?: string;
  /** PBKDF2 / PKCS#12 KDF iterations. Default 2048 (OpenSSL's). */
  iterations?: number;
}

const OID_PKCS8_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';
const OID_PBE_SHA1_3DES = '1.2.840.113549.1.12.1.3';
const OID_DATA = '1.2.840.113549.1.7.1';
const OID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6';

let engine: pkijs.CryptoEngine | undefined;
// A private engine rather than pkijs.setEngine: a library must not change global state.
function cryptoEngine(): pkijs.CryptoEngine {
  engine ??= new pkijs.CryptoEngine({
    name: 'mtlskit-cli',
    crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'],
  });
  return engine;
}

function ab(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function attributes(friendlyName: string | undefined, localKeyId: Buffer): pkijs.Attribute[] {
  return [
    ...(friendlyName === undefined
      ? []
      : [
          new pkijs.Attribute({
            type: OID_FRIENDLY_NAME,
            values: [new asn1js.BmpString({ value: friendlyName })],
          }),
        ]),
    new pkijs.Attribute({
      type: OID_LOCAL_KEY_ID,
      values: [new asn1js.OctetString({ valueHex: ab(localKeyId) })],
    }),
  ];
}

function certBag(der: Buffer, attrs: pkijs.Attribute[]): pkijs.SafeBag {
  return new pkijs.SafeBag({
    bagId: OID_CERT_BAG,
    bagValue: new pkijs.CertBag({
      certId: OID_X509_CERTIFICATE,
      certValue: new asn1js.OctetString({ valueHex: ab(der) }),
    }),
    ...(attrs.length > 0 && { bagAttributes: attrs }),
  });
}

/** The PKCS#12 key derivation (RFC 7292 appendix B.2) over SHA-1, as the legacy PBE schemes use it. */
export function pkcs12Kdf(
  password: string,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  const u = 20;
  const v = 64;
  const bmp = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) bmp.writeUInt16BE(password.charCodeAt(i), i * 2);
  const fill = (src: Buffer) => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
    return out;
  };
  let I = Buffer.concat([salt.length ? fill(salt) : Buffer.alloc(0), fill(bmp)]);
  const D = Buffer.alloc(v, id);
  const out: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let A = createHash('sha1').update(D).update(I).digest();
    for (let j = 1; j < iterations; j++) A = createHash('sha1').update(A).digest();
    out.push(A);
    const B = fill(A);
    const next = Buffer.alloc(I.length);
    for (let block = 0; block < I.length; block += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[block + k]! + B[k]! + carry;
        next[block + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
    I = next;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** pbeWithSHAAnd3-KeyTripleDES-CBC: the AlgorithmIdentifier and the ciphertext. */
function encrypt3des(
  data: Uint8Array,
  password: string,
  iterations: number,
): { algorithm: pkijs.AlgorithmIdentifier; ciphertext: Buffer } {
  const salt = randomBytes(8);
  const key = pkcs12Kdf(password, salt, 1, iterations, 24);
  const iv = pkcs12Kdf(password, salt, 2, iterations, 8);
  const cipher = createCipheriv('des-ede3-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
  const algorithm = new pkijs.AlgorithmIdentifier({
    algorithmId: OID_PBE_SHA1_3DES,
    algorithmParams: new asn1js.Sequence({
      value: [new asn1js.OctetString({ valueHex: ab(salt) }), new asn1js.Integer({ value: iterations })],
    }),
  });
  return { algorithm, ciphertext };
}

/** Writes a PKCS#12 holding the key, the leaf and its chain (leaf first). */
export async function writePkcs12(
  leaf: X509Certificate,
  chain: readonly X509Certificate[],
  key: KeyObject,
  passphrase: string,
  opts: Pkcs12WriteOptions = {},
): Promise<Buffer> {
  const crypto = cryptoEngine();
  const iterations = opts.iterations ?? 2048;
  const friendlyName = opts.friendlyName ?? /^CN=(.*)$/m.exec(leaf.subject)?.[1];
  // OpenSSL's convention: localKeyID = SHA-1 of the leaf, on the key and on the leaf.
  const localKeyId = createHash('sha1').update(leaf.raw).digest();
  const keyDer = key.export({ type: 'pkcs8', format: 'der' });
  const certs = new pkijs.SafeContents({
    safeBags: [
      certBag(leaf.raw, attributes(friendlyName, localKeyId)),
      ...chain.map((c) => certBag(c.raw, [])),
    ],
  });
  const password = ab(Buffer.from(passphrase, 'utf8'));

  let authenticatedSafe: pkijs.AuthenticatedSafe;
  if (opts.algorithm === 'legacy') {
    const shrouded = encrypt3des(keyDer, passphrase, iterations);
    const keyBag = new pkijs.SafeBag({
      bagId: OID_PKCS8_SHROUDED_KEY_BAG,
      bagValue: new pkijs.PKCS8ShroudedKeyBag({
        encryptionAlgorithm: shrouded.algorithm,
        encryptedData: new asn1js.OctetString({ valueHex: ab(shrouded.ciphertext) }),
      }),
      bagAttributes: attributes(friendlyName, localKeyId),
    });
    const keys = new pkijs.SafeContents({ safeBags: [keyBag] });
    const sealed = encrypt3des(new Uint8Array(certs.toSchema().toBER(false)), passphrase, iterations);
    const encryptedCerts = new pkijs.EncryptedData({
      version: 0,
      encryptedContentInfo: new pkijs.EncryptedContentInfo({
        contentType: OID_DATA,
        contentEncryptionAlgorithm: sealed.algorithm,
        encryptedContent: new asn1js.OctetString({ valueHex: ab(sealed.ciphertext) }),
      }),
    });
    authenticatedSafe = new pkijs.AuthenticatedSafe({
      safeContents: [
        new pkijs.ContentInfo({ contentType: OID_ENCRYPTED_DATA, content: encryptedCerts.toSchema() }),
        new pkijs.ContentInfo({
          contentType: OID_DATA,
          content: new asn1js.OctetString({ valueHex: keys.toSchema().toBER(false) }),
        }),
      ],
    });
    // The parsed form pkijs' PFX expects beside the schema.
    authenticatedSafe.parsedValue = {
      safeContents: [
        { privacyMode: 1, value: certs },
        { privacyMode: 0, value: keys },
      ],
    };
  } else {
    const pbes2 = {
      password,
      contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 },
      hmacHashAlgorithm: 'SHA-256',
      iterationCount: iterations,
    };
    const shrouded = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: pkijs.PrivateKeyInfo.fromBER(keyDer) });
    await shrouded.makeInternalValues(pbes2, crypto);
    const keys = new pkijs.SafeContents({
      safeBags: [
        new pkijs.SafeBag({
          bagId: OID_PKCS8_SHROUDED_KEY_BAG,
          bagValue: shrouded,
          bagAttributes: attributes(friendlyName, localKeyId),
        }),
      ],
    });
    // OpenSSL's layout: certificates in an encrypted safe, the (already shrouded) key in a plain one.
    authenticatedSafe = new pkijs.AuthenticatedSafe({
      parsedValue: {
        safeContents: [
          { privacyMode: 1, value: certs },
          { privacyMode: 0, value: keys },
        ],
      },
    });
    await authenticatedSafe.makeInternalValues({ safeContents: [pbes2, {}] }, crypto);
  }
  const sha = opts.algorithm === 'legacy' ? 'SHA-1' : 'SHA-256';
  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe } });
  await pfx.makeInternalValues(
    { password, iterations, pbkdf2HashAlgorithm: { name: sha }, hmacHashAlgorithm: sha },
    crypto,
  );
  return Buffer.from(pfx.toSchema().toBER(false));
}
