// PKCS#12 files of the three generations mtlskit meets in the wild: modern (PBES2 AES-256-CBC,
// PBKDF2-HMAC-SHA256, SHA-256 MAC: OpenSSL 3's default) written in-process with pkijs; 3DES
// (PBE-SHA1-3DES, SHA-1 MAC: what older tools and Windows export) and legacy RC2-40 (what
// `openssl pkcs12 -export -legacy` and OpenSSL 1.x write) through the openssl CLI, because WebCrypto
// has neither cipher.
import { createHash, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { requireOpenssl, runOpenssl } from './openssl.js';

/** `openssl`: whatever `openssl pkcs12 -export` writes by default (plus `opensslArgs`), as users' files look. */
export type Pkcs12Algorithm = 'aes256' | '3des' | 'legacy-rc2' | 'openssl';

export interface Pkcs12Options {
  /** Default `aes256` (modern). `3des`, `legacy-rc2` and `openssl` need the openssl CLI. */
  algorithm?: Pkcs12Algorithm;
  /**
   * Extra `openssl pkcs12 -export` flags, after the algorithm's own (`-nomac`, `-iter 1`, ...); only
   * with the openssl writers. Order matters to openssl: `-iter` after `-nomac` brings the MAC back.
   */
  opensslArgs?: string[];
  /** Put the intermediates in the file (default true). */
  includeChain?: boolean;
  /** Put the root in the file as well (default false). */
  includeRoot?: boolean;
  /** The key's and leaf's friendlyName attribute (default: the leaf's common name). */
  friendlyName?: string;
}

export interface Pkcs12Contents {
  /** Unencrypted PKCS#8 DER of the private key. */
  keyDer: Buffer;
  certDer: Buffer;
  /** Intermediates, leaf-first. */
  chainDer: Buffer[];
  rootDer: Buffer;
  friendlyName: string;
}

// OpenSSL's own default (PKCS12_DEFAULT_ITER): files look like the ones users export.
const ITERATIONS = 2048;

const OID_PKCS8_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';

let engine: pkijs.CryptoEngine | undefined;

// A private engine rather than pkijs.setEngine: the testkit must not change global state that code
// under test (which may use pkijs too) depends on.
function cryptoEngine(): pkijs.CryptoEngine {
  engine ??= new pkijs.CryptoEngine({ name: 'mtlskit-testkit', crypto: webcrypto });
  return engine;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function pem(label: string, der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function bagAttributes(friendlyName: string | undefined, localKeyId: Buffer | undefined): pkijs.Attribute[] {
  const attributes: pkijs.Attribute[] = [];
  if (friendlyName !== undefined) {
    attributes.push(
      new pkijs.Attribute({
        type: OID_FRIENDLY_NAME,
        values: [new asn1js.BmpString({ value: friendlyName })],
      }),
    );
  }
  if (localKeyId !== undefined) {
    attributes.push(
      new pkijs.Attribute({
        type: OID_LOCAL_KEY_ID,
        values: [new asn1js.OctetString({ valueHex: toArrayBuffer(localKeyId) })],
      }),
    );
  }
  return attributes;
}

function certBag(der: Buffer, attributes: pkijs.Attribute[]): pkijs.SafeBag {
  return new pkijs.SafeBag({
    bagId: OID_CERT_BAG,
    bagValue: new pkijs.CertBag({
      certId: OID_X509_CERTIFICATE,
      // The DER as given, not re-encoded by pkijs: the file must hold the exact certificate bytes.
      certValue: new asn1js.OctetString({ valueHex: toArrayBuffer(der) }),
    }),
    ...(attributes.length > 0 ? { bagAttributes: attributes } : {}),
  });
}

function extraCerts(contents: Pkcs12Contents, opts: Pkcs12Options): Buffer[] {
  return [
    ...(opts.includeChain === false ? [] : contents.chainDer),
    ...(opts.includeRoot === true ? [contents.rootDer] : []),
  ];
}

async function writeModern(
  contents: Pkcs12Contents,
  passphrase: string,
  opts: Pkcs12Options,
): Promise<Buffer> {
  const crypto = cryptoEngine();
  const password = toArrayBuffer(Buffer.from(passphrase, 'utf8'));
  // OpenSSL's convention: localKeyID = SHA-1 of the leaf, on both the key and the leaf, so that
  // readers pair them without trying every certificate against the key.
  const localKeyId = createHash('sha1').update(contents.certDer).digest();
  const pbes2 = {
    password,
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: ITERATIONS,
  };

  const shrouded = new pkijs.PKCS8ShroudedKeyBag({
    parsedValue: pkijs.PrivateKeyInfo.fromBER(contents.keyDer),
  });
  await shrouded.makeInternalValues(pbes2, crypto);

  const certificates = new pkijs.SafeContents({
    safeBags: [
      certBag(contents.certDer, bagAttributes(contents.friendlyName, localKeyId)),
      ...extraCerts(contents, opts).map((der) => certBag(der, [])),
    ],
  });
  const keys = new pkijs.SafeContents({
    safeBags: [
      new pkijs.SafeBag({
        bagId: OID_PKCS8_SHROUDED_KEY_BAG,
        bagValue: shrouded,
        bagAttributes: bagAttributes(contents.friendlyName, localKeyId),
      }),
    ],
  });

  // The layout OpenSSL writes: certificates in an encrypted safe, the (already shrouded) key in a
  // plain one, the whole protected by a password MAC.
  const authenticatedSafe = new pkijs.AuthenticatedSafe({
    parsedValue: {
      safeContents: [
        { privacyMode: 1, value: certificates },
        { privacyMode: 0, value: keys },
      ],
    },
  });
  await authenticatedSafe.makeInternalValues({ safeContents: [pbes2, {}] }, crypto);

  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe } });
  await pfx.makeInternalValues(
    {
      password,
      iterations: ITERATIONS,
      pbkdf2HashAlgorithm: { name: 'SHA-256' },
      hmacHashAlgorithm: 'SHA-256',
    },
    crypto,
  );
  return Buffer.from(pfx.toSchema().toBER(false));
}

const OPENSSL_FLAGS: Record<Exclude<Pkcs12Algorithm, 'aes256'>, string[]> = {
  '3des': ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'],
  'legacy-rc2': ['-legacy'],
  openssl: [],
};

async function writeWithOpenssl(
  contents: Pkcs12Contents,
  passphrase: string,
  opts: Pkcs12Options,
  algorithm: Exclude<Pkcs12Algorithm, 'aes256'>,
): Promise<Buffer> {
  requireOpenssl(`write a ${algorithm} PKCS#12 file`);
  const dir = await mkdtemp(join(tmpdir(), 'mtlskit-p12-'));
  try {
    const extra = extraCerts(contents, opts);
    await writeFile(join(dir, 'key.pem'), pem('PRIVATE KEY', contents.keyDer), { mode: 0o600 });
    await writeFile(join(dir, 'cert.pem'), pem('CERTIFICATE', contents.certDer));
    if (extra.length > 0)
      await writeFile(join(dir, 'extra.pem'), extra.map((der) => pem('CERTIFICATE', der)).join(''));
    const result = await runOpenssl(
      [
        'pkcs12',
        '-export',
        '-in',
        'cert.pem',
        '-inkey',
        'key.pem',
        ...(extra.length > 0 ? ['-certfile', 'extra.pem'] : []),
        '-name',
        contents.friendlyName,
        ...OPENSSL_FLAGS[algorithm],
        ...(opts.opensslArgs ?? []),
        '-passout',
        'env:MTLSKIT_P12_PASSPHRASE',
        '-out',
        'out.p12',
      ],
      { cwd: dir, env: { MTLSKIT_P12_PASSPHRASE: passphrase } },
    );
    if (result.code !== 0) {
      throw new Error(
        `openssl pkcs12 -export (${algorithm}) failed with exit code ${result.code}: ${result.stderr.trim()}`,
      );
    }
    return await readFile(join(dir, 'out.p12'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes a PKCS#12 file holding the key, the leaf and (by default) its intermediates. */
export function writePkcs12(
  contents: Pkcs12Contents,
  passphrase: string,
  opts: Pkcs12Options = {},
): Promise<Buffer> {
  const algorithm = opts.algorithm ?? 'aes256';
  switch (algorithm) {
    case 'aes256':
      return writeModern(contents, passphrase, opts);
    case '3des':
    case 'legacy-rc2':
    case 'openssl':
      return writeWithOpenssl(contents, passphrase, opts, algorithm);
    default:
      return Promise.reject(
        new RangeError(
          `unknown PKCS#12 algorithm ${JSON.stringify(algorithm)}: use aes256, 3des, legacy-rc2 or openssl`,
        ),
      );
  }
}
