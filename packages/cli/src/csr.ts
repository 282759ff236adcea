// A private key and a PKCS#10 CSR in pure Node (node:crypto and @peculiar/x509, no openssl binary),
// encoded as `openssl req -new -subj … -addext …` encodes them, so that a CA which checks the CSR
// against its OpenSSL instructions (Mangopay's Dashboard) sees the same bytes: subject attributes in
// the order given, CN/O/… as UTF8String and C as PrintableString (OpenSSL's utf8only string mask),
// extensions in one extensionRequest attribute, SAN first, then EKU, neither critical.
import 'reflect-metadata'; // @peculiar/x509 2.x registers its parsers through tsyringe, which needs it
import { generateKeyPair, type KeyObject, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';

export type KeyType = 'rsa2048' | 'ec-p256';
export const KEY_TYPES: readonly KeyType[] = ['rsa2048', 'ec-p256'];

export interface CsrRequest {
  keyType: KeyType;
  /** Subject attributes in certificate order, e.g. [['CN', 'x'], ['O', 'Mangopay'], ['C', 'LU']]. */
  subject: [string, string][];
  /** Subject alternative names: `DNS:name`, `IP:addr`, `email:addr`, `URI:uri`, or a bare DNS name. */
  san: string[];
  /** Add extendedKeyUsage=clientAuth (default true). */
  clientAuth?: boolean;
}

/** Attribute names as OpenSSL's `-subj` accepts them, with their OIDs. */
const ATTRIBUTE_OIDS: Record<string, string> = {
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  SERIALNUMBER: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  TITLE: '2.5.4.12',
  GN: '2.5.4.42',
  DNQUALIFIER: '2.5.4.46',
  ORGANIZATIONIDENTIFIER: '2.5.4.97',
  EMAILADDRESS: '1.2.840.113549.1.9.1',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
};

/** OpenSSL's ASN1_STRING_TABLE: these attributes have a fixed string type whatever the mask. */
const PRINTABLE = new Set(['2.5.4.6', '2.5.4.5', '2.5.4.46']);
const IA5 = new Set(['1.2.840.113549.1.9.1', '0.9.2342.19200300.100.1.25']);

/** Parses `/CN=a/O=b/C=c` (OpenSSL's -subj) or `CN=a, O=b, C=c`, keeping the order written. */
export function parseSubject(text: string): [string, string][] {
  const trimmed = text.trim();
  const parts = trimmed.startsWith('/') ? trimmed.slice(1).split(/(?<!\\)\//) : trimmed.split(/(?<!\\),/);
  const out: [string, string][] = [];
  for (const part of parts) {
    const at = part.indexOf('=');
    if (at <= 0) throw new SyntaxError(`"${part.trim()}" is not NAME=value`);
    const name = part.slice(0, at).trim().toUpperCase();
    const value = part.slice(at + 1).trim().replace(/\\([,/])/g, '$1');
    if (!(name in ATTRIBUTE_OIDS)) {
      throw new SyntaxError(`unknown attribute ${part.slice(0, at).trim()} (known: ${Object.keys(ATTRIBUTE_OIDS).join(', ')})`);
    }
    if (value === '') throw new SyntaxError(`${name} is empty`);
    if (ATTRIBUTE_OIDS[name] === '2.5.4.6' && !/^[A-Za-z]{2}$/.test(value)) {
      throw new SyntaxError(`C must be a two-letter country code, not "${value}"`);
    }
    out.push([name, value]);
  }
  if (out.length === 0) throw new SyntaxError('no attribute');
  return out;
}

function subjectName(subject: [string, string][]): x509.Name {
  return new x509.Name(
    subject.map(([name, value]) => {
      const oid = ATTRIBUTE_OIDS[name.toUpperCase()] ?? name;
      const typed = PRINTABLE.has(oid) ? { printableString: value } : IA5.has(oid) ? { ia5String: value } : { utf8String: value };
      return { [oid]: [typed] };
    }) as x509.JsonNameParams,
  );
}

function generalName(entry: string): x509.JsonGeneralName {
  const at = entry.indexOf(':');
  const kind = at > 0 ? entry.slice(0, at).toLowerCase() : '';
  const value = at > 0 ? entry.slice(at + 1) : entry;
  switch (kind) {
    case 'dns':
      return { type: 'dns', value };
    case 'ip':
      if (isIP(value) === 0) throw new SyntaxError(`"${value}" is not an IP address`);
      return { type: 'ip', value };
    case 'email':
      return { type: 'email', value };
    case 'uri':
      return { type: 'url', value };
    default:
      if (isIP(entry) !== 0) return { type: 'ip', value: entry };
      if (!/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(entry)) {
        throw new SyntaxError(`"${entry}" is not a DNS name (write DNS:, IP:, email: or URI: before other kinds)`);
      }
      return { type: 'dns', value: entry };
  }
}

/** The SAN entries, checked (throws SyntaxError naming the bad one). */
export function parseSan(entries: string[]): x509.JsonGeneralName[] {
  return entries.flatMap((e) => e.split(',')).map((e) => e.trim()).filter(Boolean).map(generalName);
}

const generate = promisify(generateKeyPair);

async function newKey(keyType: KeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return keyType === 'ec-p256'
    ? generate('ec', { namedCurve: 'prime256v1' })
    : generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
}

/** A new key and the CSR signed with it (SHA-256). The key stays a KeyObject: the caller writes it. */
export async function createKeyAndCsr(req: CsrRequest): Promise<{ privateKey: KeyObject; csrPem: string }> {
  const { privateKey, publicKey } = await newKey(req.keyType);
  return { privateKey, csrPem: await csrFor(req, privateKey, publicKey) };
}

/** A CSR for an existing key pair. */
export async function csrFor(
  req: Omit<CsrRequest, 'keyType'>,
  privateKey: KeyObject,
  publicKey: KeyObject,
): Promise<string> {
  const algorithm =
    privateKey.asymmetricKeyType === 'ec'
      ? { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const subtle = webcrypto.subtle;
  const keys = {
    privateKey: await subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']),
    publicKey: await subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), algorithm, true, ['verify']),
  };
  const extensions: x509.Extension[] = [];
  const san = parseSan(req.san);
  if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));
  if (req.clientAuth !== false) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: subjectName(req.subject), keys, signingAlgorithm: algorithm, extensions },
    webcrypto as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1],
  );
  return `${csr.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
}
