// What node:crypto's X509Certificate does not expose — the signature algorithm, the key usage bits,
// the Netscape certificate type — read from the certificate's DER once per certificate. Decoding hands
// over the DER it parsed the certificate from, so validation never asks for `cert.raw`: X509Certificate
// keeps every value a getter returned, and a kept copy of each leaf's DER is memory for nothing.
import type { X509Certificate } from 'node:crypto';
import { Asn1Error, algorithm, isContext, isUniversal, octets, oid, parseOne, sequence, TAG } from './asn1.js';

/** The facts validation needs that X509Certificate does not give. */
export interface CertStructure {
  signatureOid: string | undefined;
  /** The first byte of the key usage bits (digitalSignature is 0x80), when the extension is present. */
  keyUsage: number | undefined;
  /** The first byte of the Netscape certificate type bits (sslClient is 0x80), when present. */
  netscapeType: number | undefined;
}

const structures = new WeakMap<X509Certificate, CertStructure>();

/** The first byte of a DER BIT STRING's bits (0 when it has none). */
function firstBits(der: Buffer): number {
  const bits = parseOne(der);
  if (!isUniversal(bits, TAG.BIT_STRING) || bits.content.length === 0)
    throw new Asn1Error('expected a BIT STRING');
  return bits.content[1] ?? 0;
}

function parse(der: Buffer): CertStructure {
  const found: CertStructure = { signatureOid: undefined, keyUsage: undefined, netscapeType: undefined };
  try {
    const [tbs, signature] = sequence(parseOne(der), 'certificate', 3);
    found.signatureOid = algorithm(signature, 'signatureAlgorithm').oid;
    const extensions = sequence(tbs, 'tbsCertificate').find((n) => isContext(n, 3))?.children[0];
    for (const ext of extensions === undefined ? [] : sequence(extensions, 'extensions')) {
      const parts = sequence(ext, 'extension', 2);
      const id = oid(parts[0], 'extnID');
      if (id === '2.5.29.15') found.keyUsage = firstBits(octets(parts.at(-1), 'keyUsage'));
      if (id === '2.16.840.1.113730.1.1') found.netscapeType = firstBits(octets(parts.at(-1), 'nsCertType'));
    }
  } catch {
    // node:crypto parsed the certificate; a shape this reader does not know leaves the facts unknown.
  }
  return found;
}

/** Reads the structure of `cert` from `der`, the DER it was parsed from, for {@link readStructure}. */
export function rememberStructure(cert: X509Certificate, der: Buffer): void {
  if (!structures.has(cert)) structures.set(cert, parse(der));
}

/** The structure of `cert`: as decoding read it, or read now from `cert.raw` (a certificate made elsewhere). */
export function readStructure(cert: X509Certificate): CertStructure {
  let known = structures.get(cert);
  if (known === undefined) {
    known = parse(cert.raw);
    structures.set(cert, known);
  }
  return known;
}
