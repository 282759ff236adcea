// What node:crypto's X509Certificate does not expose — the signature algorithm, the key usage bits,
// the Netscape certificate type — read from the certificate's DER once per certificate. Decoding hands
// over the DER it parsed the certificate from, so validation never asks for `cert.raw`: X509Certificate
// keeps every value a getter returned, and a kept copy of each leaf's DER is memory for nothing.
import type { X509Certificate } from 'node:crypto';
import {
  Asn1Error,
  algorithm,
  isContext,
  isUniversal,
  octets,
  oid,
  parseOne,
  sequence,
  TAG,
} from './asn1.js';

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

/** One DER element's place in the buffer: its first byte, and where its content starts and ends. */
interface Span {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/** The element at `pos` (definite length only, as DER has), or undefined when it is not one. */
function spanAt(der: Buffer, pos: number, limit: number): Span | undefined {
  if (pos + 2 > limit) return undefined;
  const tag = der[pos]!;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let len = der[pos + 1]!;
  let start = pos + 2;
  if (len === 0x80) return undefined;
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4 || start + n > limit) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  return end > limit ? undefined : { tag, start, end };
}

const OID_KEY_USAGE = Buffer.from([0x55, 0x1d, 0x0f]);
const OID_NS_CERT_TYPE = Buffer.from([0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x42, 0x01, 0x01]);

/**
 * The structure read by walking the DER in place, to the three facts wanted and no further (a full
 * parse allocates a node and two buffer views per element, some hundred per certificate: garbage for
 * every credential loaded). Undefined when the DER is anything but the plain shape expected: the
 * full parse below then decides.
 */
function walk(der: Buffer): CertStructure | undefined {
  const SEQ = 0x30;
  const cert = spanAt(der, 0, der.length);
  if (cert?.tag !== SEQ || cert.end !== der.length) return undefined;
  const tbs = spanAt(der, cert.start, cert.end);
  if (tbs?.tag !== SEQ) return undefined;
  const sigAlg = spanAt(der, tbs.end, cert.end);
  if (sigAlg?.tag !== SEQ) return undefined;
  const sigOid = spanAt(der, sigAlg.start, sigAlg.end);
  if (sigOid?.tag !== 0x06 || sigOid.end === sigOid.start) return undefined;
  const found: CertStructure = {
    signatureOid: oid(
      {
        cls: 0,
        constructed: false,
        tagNumber: TAG.OID,
        content: der.subarray(sigOid.start, sigOid.end),
        children: [],
        encoded: der.subarray(sigAlg.start, sigOid.end),
      },
      'signatureAlgorithm',
    ),
    keyUsage: undefined,
    netscapeType: undefined,
  };
  let pos = tbs.start;
  while (pos < tbs.end) {
    const field = spanAt(der, pos, tbs.end);
    if (field === undefined) return undefined;
    pos = field.end;
    if (field.tag !== 0xa3) continue;
    const list = spanAt(der, field.start, field.end);
    if (list?.tag !== SEQ) return undefined;
    for (let at = list.start; at < list.end; ) {
      const ext = spanAt(der, at, list.end);
      if (ext?.tag !== SEQ) return undefined;
      at = ext.end;
      const id = spanAt(der, ext.start, ext.end);
      if (id?.tag !== 0x06) return undefined;
      const idBytes = der.subarray(id.start, id.end);
      const which = idBytes.equals(OID_KEY_USAGE)
        ? 'keyUsage'
        : idBytes.equals(OID_NS_CERT_TYPE)
          ? 'netscapeType'
          : undefined;
      if (which === undefined) continue;
      // extnID, critical BOOLEAN (optional), then the OCTET STRING holding a BIT STRING.
      let value = spanAt(der, id.end, ext.end);
      if (value?.tag === 0x01) value = spanAt(der, value.end, ext.end);
      if (value?.tag !== 0x04 || value.end !== ext.end) return undefined;
      const bits = spanAt(der, value.start, value.end);
      if (bits?.tag !== 0x03 || bits.end !== value.end || bits.end === bits.start) return undefined;
      found[which] = bits.end - bits.start > 1 ? der[bits.start + 1]! : 0;
    }
  }
  return found;
}

function parse(der: Buffer): CertStructure {
  return walk(der) ?? parseFully(der);
}

/** The structure read through the full ASN.1 parser (any BER the reader takes). Exported for tests. */
export function parseFully(der: Buffer): CertStructure {
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
