// PKCS#10 certificate signing requests, written with node:crypto and a few lines of DER: the subject
// in the order given (Mangopay fixes CN, O, C), SAN DNS names and extended key usage requested as
// extensions, signed with SHA-256. No X.509 library: a CSR is a small fixed structure, and writing
// it here keeps this package free of dependencies and of their global set-up.
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { MtlsError } from '@mtlskit/core';

/** Subject attributes a CSR may carry, by their usual short names. */
export type SubjectAttribute = 'CN' | 'O' | 'OU' | 'C' | 'L' | 'ST';

/** Extended key usages a CSR may request. */
export type ExtendedKeyUsage = 'clientAuth' | 'serverAuth';

/** The object identifier of each subject attribute. */
export const SUBJECT_ATTRIBUTES: Readonly<Record<SubjectAttribute, string>> = {
  CN: '2.5.4.3',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
};

const EXTENDED_KEY_USAGES: Readonly<Record<ExtendedKeyUsage, string>> = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

/** What a CSR asks for. */
export interface CsrRequest {
  /** Subject attributes in certificate order, e.g. `[['CN', 'x.sandbox.mangopay.com'], ['O', 'Mangopay'], ['C', 'LU']]`. */
  subject: ReadonlyArray<readonly [SubjectAttribute, string]>;
  /** DNS names for the subject alternative name extension. */
  dnsNames?: readonly string[];
  /** Extended key usages to request. */
  extendedKeyUsage?: readonly ExtendedKeyUsage[];
}

// ---- DER ------------------------------------------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));

function objectId(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes = [40 * (arcs[0] as number) + (arcs[1] as number)];
  for (const arc of arcs.slice(2)) {
    const digits = [arc & 0x7f];
    for (let rest = arc >>> 7; rest > 0; rest >>>= 7) digits.unshift(0x80 | (rest & 0x7f));
    bytes.push(...digits);
  }
  return tlv(0x06, Buffer.from(bytes));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** As OpenSSL writes them: C as PrintableString, the rest as UTF8String. */
function attributeValue(type: SubjectAttribute, value: string): Buffer {
  if (type === 'C') {
    if (!/^[A-Z]{2}$/.test(value)) {
      throw new MtlsError(
        'INVALID_OPTION',
        `the CSR's C must be a two-letter country code such as LU (got "${value}").`,
      );
    }
    return tlv(0x13, Buffer.from(value, 'ascii'));
  }
  return tlv(0x0c, Buffer.from(value, 'utf8'));
}

function name(subject: CsrRequest['subject']): Buffer {
  return sequence(
    ...subject.map(([type, value]) => {
      const oid = SUBJECT_ATTRIBUTES[type];
      if (oid === undefined || typeof value !== 'string' || value === '') {
        throw new MtlsError(
          'INVALID_OPTION',
          `the CSR subject attribute ${String(type)} must be one of ${Object.keys(SUBJECT_ATTRIBUTES).join(', ')} with a non-empty value.`,
        );
      }
      return set(sequence(objectId(oid), attributeValue(type, value)));
    }),
  );
}

function extension(oid: string, value: Buffer): Buffer {
  return sequence(objectId(oid), tlv(0x04, value));
}

function extensions(request: CsrRequest): Buffer[] {
  const out: Buffer[] = [];
  const dnsNames = request.dnsNames ?? [];
  if (dnsNames.length > 0) {
    for (const dns of dnsNames) {
      if (!PRINTABLE.test(dns) || dns.includes(' ')) {
        throw new MtlsError(
          'INVALID_OPTION',
          `"${dns}" is not a DNS name for the CSR's subject alternative names.`,
        );
      }
    }
    // GeneralName dNSName is [2] IMPLICIT IA5String.
    out.push(
      extension('2.5.29.17', sequence(...dnsNames.map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))))),
    );
  }
  const usages = request.extendedKeyUsage ?? [];
  if (usages.length > 0) {
    out.push(extension('2.5.29.37', sequence(...usages.map((u) => objectId(EXTENDED_KEY_USAGES[u])))));
  }
  return out;
}

/** The signature algorithm for a key, SHA-256 always. */
function signatureAlgorithm(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'rsa')
    return sequence(objectId('1.2.840.113549.1.1.11'), tlv(0x05, Buffer.alloc(0)));
  if (key.asymmetricKeyType === 'ec') return sequence(objectId('1.2.840.10045.4.3.2'));
  throw new MtlsError(
    'INVALID_OPTION',
    `a CSR can be signed here with an RSA or EC key, not ${String(key.asymmetricKeyType)}.`,
  );
}

function pem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/**
 * A PKCS#10 CSR (PEM) for `request`, signed with `privateKey` (RSA or EC; a KeyObject or PEM) over
 * SHA-256. The subject is encoded in the order given.
 */
export function createCsr(request: CsrRequest, privateKey: KeyObject | string): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  if (key.type !== 'private') {
    throw new MtlsError(
      'INVALID_OPTION',
      'createCsr needs the private key the certificate will be used with.',
    );
  }
  const algorithm = signatureAlgorithm(key);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const requested = extensions(request);
  // attributes [0] IMPLICIT SET OF Attribute: one extensionRequest (PKCS#9) holding the extensions.
  const attributes = tlv(
    0xa0,
    requested.length === 0
      ? Buffer.alloc(0)
      : sequence(objectId('1.2.840.113549.1.9.14'), set(sequence(...requested))),
  );
  const info = sequence(tlv(0x02, Buffer.from([0])), name(request.subject), spki, attributes);
  const signature = sign('sha256', info, key);
  return pem(sequence(info, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))));
}
