// A small, bounded BER/DER reader: just enough ASN.1 to tell stored blobs apart (certificate, key,
// PKCS#12, PKCS#7) and to walk PKCS#12 and encryption parameters. Node has no ASN.1 API, and the
// PKCS#12 files in the wild include BER (indefinite lengths, constructed OCTET STRINGs), so this
// reads both. Depth, element count and lengths are checked, so no input can make it loop or recurse
// without bound; every failure is an Asn1Error for the caller to turn into an MtlsError.
import { LIMITS } from './limits.js';

/** Malformed or over-limit ASN.1. The message is structural (never the bytes themselves). */
export class Asn1Error extends Error {
  override name = 'Asn1Error';
}

/** Universal tag numbers this package reads. */
export const TAG = {
  BOOLEAN: 1,
  INTEGER: 2,
  BIT_STRING: 3,
  OCTET_STRING: 4,
  NULL: 5,
  OID: 6,
  UTF8_STRING: 12,
  SEQUENCE: 16,
  SET: 17,
  BMP_STRING: 30,
} as const;

/** One element. `content` is the content octets (for a constructed element, its encoded children). */
export interface Asn1Node {
  /** 0 universal, 1 application, 2 context-specific, 3 private. */
  readonly cls: number;
  readonly constructed: boolean;
  readonly tagNumber: number;
  readonly content: Buffer;
  readonly children: readonly Asn1Node[];
  /** The whole element as encoded, header included. */
  readonly encoded: Buffer;
}

interface ParseState {
  nodes: number;
}

function readElement(buf: Buffer, start: number, end: number, depth: number, state: ParseState) {
  if (depth > LIMITS.maxAsn1Depth) throw new Asn1Error(`nested deeper than ${LIMITS.maxAsn1Depth} levels`);
  if (++state.nodes > LIMITS.maxAsn1Nodes) throw new Asn1Error(`more than ${LIMITS.maxAsn1Nodes} elements`);
  let pos = start;
  if (pos >= end) throw new Asn1Error('truncated: expected an element');
  const first = buf[pos++]!;
  const cls = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (i === 4 || pos >= end) throw new Asn1Error('tag number too long or truncated');
      const b = buf[pos++]!;
      tagNumber = tagNumber * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (pos >= end) throw new Asn1Error('truncated: missing length');
  const lenByte = buf[pos++]!;
  let children: Asn1Node[] = [];
  let contentStart = pos;
  let contentEnd: number;
  let next: number;
  if (lenByte === 0x80) {
    if (!constructed) throw new Asn1Error('indefinite length on a primitive element');
    // BER indefinite length: children until an end-of-contents marker (00 00).
    for (;;) {
      if (pos + 2 > end) throw new Asn1Error('truncated: indefinite length without end-of-contents');
      if (buf[pos] === 0 && buf[pos + 1] === 0) break;
      const child = readElement(buf, pos, end, depth + 1, state);
      children.push(child.node);
      pos = child.next;
    }
    contentEnd = pos;
    next = pos + 2;
  } else {
    let length = lenByte;
    if (lenByte > 0x80) {
      const n = lenByte & 0x7f;
      if (n > 4) throw new Asn1Error('length field longer than 4 bytes');
      if (pos + n > end) throw new Asn1Error('truncated: length field');
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + buf[pos++]!;
      contentStart = pos;
    }
    contentEnd = contentStart + length;
    if (contentEnd > end) throw new Asn1Error('truncated: content shorter than its length says');
    next = contentEnd;
    if (constructed) children = readChildren(buf, contentStart, contentEnd, depth + 1, state);
  }
  const node: Asn1Node = {
    cls,
    constructed,
    tagNumber,
    content: buf.subarray(contentStart, contentEnd),
    children,
    encoded: buf.subarray(start, next),
  };
  return { node, next };
}

function readChildren(buf: Buffer, start: number, end: number, depth: number, state: ParseState): Asn1Node[] {
  const out: Asn1Node[] = [];
  let pos = start;
  while (pos < end) {
    const { node, next } = readElement(buf, pos, end, depth, state);
    out.push(node);
    pos = next;
  }
  return out;
}

/** Parses every top-level element of `bytes` (a DER file may hold several certificates back to back). */
export function parseAll(bytes: Uint8Array): Asn1Node[] {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length === 0) throw new Asn1Error('empty');
  return readChildren(buf, 0, buf.length, 0, { nodes: 0 });
}

/** Parses exactly one element that spans all of `bytes`. */
export function parseOne(bytes: Uint8Array): Asn1Node {
  const nodes = parseAll(bytes);
  if (nodes.length !== 1) throw new Asn1Error(`expected one element, found ${nodes.length}`);
  return nodes[0]!;
}

/** True when `node` is the universal type `tag`. */
export function isUniversal(node: Asn1Node | undefined, tag: number): node is Asn1Node {
  return node !== undefined && node.cls === 0 && node.tagNumber === tag;
}

/** True when `node` is context-specific `[n]`. */
export function isContext(node: Asn1Node | undefined, n: number): node is Asn1Node {
  return node !== undefined && node.cls === 2 && node.tagNumber === n;
}

/** The children of a SEQUENCE (or SET), checking the type and a minimum count. */
export function sequence(node: Asn1Node | undefined, what: string, minChildren = 0): readonly Asn1Node[] {
  if (node === undefined || node.cls !== 0 || !node.constructed)
    throw new Asn1Error(`${what}: expected a SEQUENCE`);
  if (node.tagNumber !== TAG.SEQUENCE && node.tagNumber !== TAG.SET) {
    throw new Asn1Error(`${what}: expected a SEQUENCE`);
  }
  if (node.children.length < minChildren) throw new Asn1Error(`${what}: too few elements`);
  return node.children;
}

/** The bytes of an OCTET STRING (or an implicitly tagged one), joining BER constructed pieces. */
export function octets(node: Asn1Node | undefined, what: string): Buffer {
  if (node === undefined) throw new Asn1Error(`${what}: missing`);
  if (!node.constructed) return node.content;
  return Buffer.concat(node.children.map((c) => octets(c, what)));
}

/** Dotted form of an OBJECT IDENTIFIER. */
export function oid(node: Asn1Node | undefined, what: string): string {
  if (!isUniversal(node, TAG.OID) || node.constructed || node.content.length === 0) {
    throw new Asn1Error(`${what}: expected an OBJECT IDENTIFIER`);
  }
  const bytes = node.content;
  if (bytes.length > 64) throw new Asn1Error(`${what}: OBJECT IDENTIFIER too long`);
  const arcs: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) {
        const top = value < 40 ? 0 : value < 80 ? 1 : 2;
        arcs.push(top, value - top * 40);
      } else {
        arcs.push(value);
      }
      value = 0;
    }
  }
  return arcs.join('.');
}

/**
 * Value of a non-negative INTEGER as a number. Values above 2^48 come back as Infinity: every caller
 * compares against a limit far below that.
 */
export function integer(node: Asn1Node | undefined, what: string): number {
  if (!isUniversal(node, TAG.INTEGER) || node.constructed || node.content.length === 0) {
    throw new Asn1Error(`${what}: expected an INTEGER`);
  }
  const bytes = node.content;
  if ((bytes[0]! & 0x80) !== 0) throw new Asn1Error(`${what}: negative INTEGER`);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  if (bytes.length - start > 6) return Number.POSITIVE_INFINITY;
  let value = 0;
  for (let i = start; i < bytes.length; i++) value = value * 256 + bytes[i]!;
  return value;
}

/** An AlgorithmIdentifier: its OID and its parameters element, if any. */
export function algorithm(
  node: Asn1Node | undefined,
  what: string,
): { oid: string; params: Asn1Node | undefined } {
  const parts = sequence(node, what, 1);
  return { oid: oid(parts[0], what), params: parts[1] };
}
