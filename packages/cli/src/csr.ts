// A private key and a PKCS#10 CSR in pure Node (node:crypto and @peculiar/x509, no openssl binary),
// encoded as `openssl req -new -subj … -addext …` encodes them, so that a CA which checks the CSR
// against its OpenSSL instructions (Mangopay's Dashboard) sees the same bytes: subject attributes in
// the order given, CN/O/… as UTF8String and C as PrintableString (OpenSSL's utf8only string mask),
// extensions in one extensionRequest attribute, SAN first, then EKU, neither critical. Mangopay's CSR
// is @mtlskit/mangopay's createCsr, which writes the same bytes without an X.509 library: importing
// @peculiar/x509 (and its tsyringe set-up) is most of `init`'s run time, so it loads only when a CSR
// for another subject is made.
import { generateKeyPair, type KeyObject, webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { createCsr, type MangopayCsrPreset } from '@mtlskit/mangopay';
import type * as X509 from '@peculiar/x509';

export type { KeyType } from './names.js';

import type { KeyType } from './names.js';

export interface CsrRequest {
  keyType: KeyType;
  /** Subject attributes in certificate order, e.g. [['CN', 'x'], ['O', 'Mangopay'], ['C', 'LU']]. */
  subject: [string, string][];
  /** Subject alternative names: `DNS:name`, `IP:addr`, `email:addr`, `URI:uri`, or a bare DNS name. */
  san: string[];
  /** Add extendedKeyUsage=clientAuth (default true). */
  clientAuth?: boolean;
}

import { ATTRIBUTE_OIDS, IA5, PRINTABLE, parseSan } from './names.js';

function subjectName(x509: typeof X509, subject: [string, string][]): X509.Name {
  return new x509.Name(
    subject.map(([name, value]) => {
      const oid = ATTRIBUTE_OIDS[name.toUpperCase()] ?? name;
      const typed = PRINTABLE.has(oid)
        ? { printableString: value }
        : IA5.has(oid)
          ? { ia5String: value }
          : { utf8String: value };
      return { [oid]: [typed] };
    }) as X509.JsonNameParams,
  );
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

/** A new key and the CSR Mangopay's guide describes for `preset` (its OpenSSL commands' bytes). */
export async function createKeyAndMangopayCsr(
  keyType: KeyType,
  preset: MangopayCsrPreset,
): Promise<{ privateKey: KeyObject; csrPem: string }> {
  const { privateKey } = await newKey(keyType);
  return { privateKey, csrPem: createCsr(preset, privateKey) };
}

/** A CSR for an existing key pair. */
async function csrFor(
  req: Omit<CsrRequest, 'keyType'>,
  privateKey: KeyObject,
  publicKey: KeyObject,
): Promise<string> {
  await import('reflect-metadata'); // @peculiar/x509 2.x registers its parsers through tsyringe, which needs it
  const x509 = await import('@peculiar/x509');
  const algorithm =
    privateKey.asymmetricKeyType === 'ec'
      ? { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const subtle = webcrypto.subtle;
  const keys = {
    privateKey: await subtle.importKey(
      'pkcs8',
      privateKey.export({ type: 'pkcs8', format: 'der' }),
      algorithm,
      false,
      ['sign'],
    ),
    publicKey: await subtle.importKey(
      'spki',
      publicKey.export({ type: 'spki', format: 'der' }),
      algorithm,
      true,
      ['verify'],
    ),
  };
  const extensions: X509.Extension[] = [];
  const san = parseSan(req.san);
  if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));
  if (req.clientAuth !== false)
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: subjectName(x509, req.subject), keys, signingAlgorithm: algorithm, extensions },
    webcrypto as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1],
  );
  return `${csr.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
}
