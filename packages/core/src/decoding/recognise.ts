// Format recognition: what one stored value is — PEM (also with `\n` escapes, CRLF, a BOM,
// quotes), Base64 of PEM or DER, DER bytes, PKCS#12, PKCS#7, a JSON bundle, or something mtlskit
// does not read (an SSH key, a CSR, a public key), said in a message that names the field and how to
// store it instead. It yields the certificates, keys and unopened PKCS#12 files a value holds;
// nothing here needs a passphrase. decode.ts assembles those into one credential.
import { X509Certificate } from 'node:crypto';
import { MtlsError, type MtlsErrorCode } from '../errors.js';
import type { FieldValue, Finding } from '../types.js';
import type { CredentialField, ResolvedPolicy } from '../validation/policy.js';
import { Asn1Error, type Asn1Node, isContext, isUniversal, oid, parseAll, TAG } from './asn1.js';
import type { IterationBudget } from './budget.js';
import type { KeyDer, KeyItem } from './keys.js';
import type { LegacyCiphers } from './legacy-ciphers.js';
import { LIMITS } from './limits.js';
import { decodeBase64, hasPem, normaliseText, PemError, readPemBlocks, unquote } from './pem.js';
import { sharedCertificate } from './shared-certs.js';
import { rememberStructure } from './structure.js';

/** Internal options of a decode run. */
export interface DecodeOptions {
  sourceId?: string;
  /** Returns RC2/DES or throws LegacyCiphersNeeded (the async path then loads them and retries). */
  legacy: () => LegacyCiphers;
  /** Derived keys kept across a retry, so that the retry does not spend the derivations again. */
  derivations?: Map<string, Buffer>;
  /** Told the DER of the key decoding chose (see keys.ts KeyDer): for a TLS context built right after. */
  keyDer?: (source: KeyDer) => void;
  /** Told the DER of each certificate not shared (see shared-certs.ts): for that TLS context too. */
  certDer?: (cert: X509Certificate, der: Buffer) => void;
}

export type Role = CredentialField | 'bundle';

/** Where a value came from: the canonical field, and how to name it in a message. */
export interface Where {
  field: Role;
  label: string;
}

/** What one value held, before any passphrase is used. */
export interface Items {
  certs: X509Certificate[];
  keys: KeyItem[];
  pfx: Asn1Node[];
  json?: Record<string, unknown>;
  csr?: boolean;
  publicKey?: boolean;
}

export interface Run {
  policy: ResolvedPolicy;
  opts: DecodeOptions;
  budget: IterationBudget;
  findings: Finding[];
}

const FORMATS_TRIED = 'PEM, Base64 of PEM, Base64 of DER, DER, PKCS#12, PKCS#7';

export function fail(code: MtlsErrorCode, where: Where, problem: string, fix: string, run: Run): never {
  throw new MtlsError(code, `${problem} ${fix}`, { field: where.field, sourceId: run.opts.sourceId });
}

export function emptyItems(): Items {
  return { certs: [], keys: [], pfx: [] };
}

export function merge(into: Items, from: Items): void {
  into.certs.push(...from.certs);
  into.keys.push(...from.keys);
  into.pfx.push(...from.pfx);
  into.csr ||= from.csr;
  into.publicKey ||= from.publicKey;
}

function ordinal(n: number): string {
  return n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`;
}

function checkCertCount(count: number, where: Where, run: Run): void {
  if (count > LIMITS.maxCertificatesPerField) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} holds more than ${LIMITS.maxCertificatesPerField} certificates.`,
      'Keep only the certificates this credential needs.',
      run,
    );
  }
}

/**
 * A certificate, its lazily parsed parts read now so that a damaged one fails here, not later (and
 * what X509Certificate does not expose read from the DER in hand: structure.ts).
 */
function readCertificate(der: Buffer): X509Certificate {
  const cert = new X509Certificate(der);
  void [
    cert.publicKey,
    cert.subject,
    cert.issuer,
    cert.validFrom,
    cert.validTo,
    cert.fingerprint256,
    cert.keyUsage,
  ];
  if (Number.isNaN(Date.parse(cert.validFrom)) || Number.isNaN(Date.parse(cert.validTo)))
    throw new Error('validity');
  rememberStructure(cert, der);
  return cert;
}

/**
 * Parses one certificate; a failure is DECODE_FAILED for a leaf position, CHAIN_INVALID for a CA or
 * later one. CA certificates and those after the first of a field (intermediates, as a rule) are the
 * ones credentials hold alike: those are shared by content (shared-certs.ts).
 */
export function parseCert(der: Buffer, where: Where, items: Items, run: Run): void {
  checkCertCount(items.certs.length + 1, where, run);
  const position = items.certs.length + 1;
  const asChain = where.field === 'ca' || position > 1;
  try {
    const cert = asChain ? sharedCertificate(der, readCertificate) : readCertificate(der);
    items.certs.push(cert);
    if (!asChain) run.opts.certDer?.(cert, der);
  } catch {
    fail(
      asChain ? 'CHAIN_INVALID' : 'DECODE_FAILED',
      where,
      `The ${ordinal(position)} certificate in ${where.label} does not parse as an X.509 certificate.`,
      where.field === 'ca'
        ? 'Replace it with the CA certificate your provider publishes (PEM), or remove it.'
        : 'Store the certificate file exactly as issued; it may be truncated or edited.',
      run,
    );
  }
}

/** Adds a private key found in a value; each may cost a key derivation, so a field holds a few at most. */
export function addKey(item: KeyItem, where: Where, items: Items, run: Run): void {
  if (items.keys.length >= LIMITS.maxPrivateKeysPerField) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} holds more than ${LIMITS.maxPrivateKeysPerField} private keys.`,
      'Keep only the private key of the client certificate.',
      run,
    );
  }
  items.keys.push(item);
}

/** The shape of a DER element, told apart by structure. */
type DerKind =
  | 'certificate'
  | 'pkcs12'
  | 'pkcs8'
  | 'pkcs1'
  | 'sec1'
  | 'encrypted-pkcs8'
  | 'public-key'
  | 'csr'
  | 'pkcs7'
  | 'unknown';

/** True when `node` has the shape of a PFX: SEQUENCE { INTEGER 3, ContentInfo, ... }. */
function looksLikePkcs12(node: Asn1Node): boolean {
  if (!isUniversal(node, TAG.SEQUENCE) || node.children.length < 2) return false;
  const [version, authSafe] = node.children;
  if (!isUniversal(version, TAG.INTEGER) || version.content.length !== 1 || version.content[0] !== 3)
    return false;
  const first = authSafe?.children[0];
  return isUniversal(authSafe, TAG.SEQUENCE) && isUniversal(first, TAG.OID);
}

function classifyDer(node: Asn1Node): DerKind {
  if (!isUniversal(node, TAG.SEQUENCE)) return 'unknown';
  const c = node.children;
  const [a, b, d] = c;
  if (a === undefined) return 'unknown';
  // Compare tag numbers rather than narrowing `a` with type guards: it is tested against several types.
  const first = a.cls === 0 ? a.tagNumber : -1;
  if (first === TAG.INTEGER) {
    if (looksLikePkcs12(node)) return 'pkcs12';
    if (
      isUniversal(b, TAG.SEQUENCE) &&
      isUniversal(b.children[0], TAG.OID) &&
      isUniversal(d, TAG.OCTET_STRING)
    ) {
      return 'pkcs8';
    }
    const version = a.content.length === 1 ? a.content[0] : -1;
    if (version === 0 && c.length >= 9 && c.every((x) => isUniversal(x, TAG.INTEGER))) return 'pkcs1';
    if (version === 1 && isUniversal(b, TAG.OCTET_STRING)) return 'sec1';
    return 'unknown';
  }
  if (first === TAG.SEQUENCE) {
    const algLike = isUniversal(a.children[0], TAG.OID);
    if (c.length === 2 && algLike && isUniversal(b, TAG.OCTET_STRING)) return 'encrypted-pkcs8';
    if (c.length === 2 && algLike && isUniversal(b, TAG.BIT_STRING)) return 'public-key';
    if (c.length === 3 && isUniversal(b, TAG.SEQUENCE) && isUniversal(d, TAG.BIT_STRING)) {
      const tbs = a.children;
      if (tbs.length >= 6) return 'certificate';
      if (tbs.length >= 3 && isUniversal(tbs[0], TAG.INTEGER) && isUniversal(tbs[2], TAG.SEQUENCE))
        return 'csr';
    }
    return 'unknown';
  }
  if (first === TAG.OID) {
    try {
      if (oid(a, 'content type') === '1.2.840.113549.1.7.2') return 'pkcs7';
    } catch {
      return 'unknown';
    }
  }
  return 'unknown';
}

/** The certificates of a PKCS#7 SignedData (a .p7b bundle). */
function pkcs7Certs(node: Asn1Node): Buffer[] {
  const signedData = node.children[1]?.children[0];
  const certs = signedData?.children.find((n) => isContext(n, 0) && n.constructed);
  return certs ? certs.children.map((n) => n.encoded) : [];
}

function decodeDer(bytes: Buffer, where: Where, run: Run, viaBase64: boolean): Items {
  const items = emptyItems();
  let nodes: Asn1Node[];
  try {
    nodes = parseAll(bytes);
  } catch (err) {
    const what = viaBase64
      ? `Its Base64 decodes to ${bytes.length} bytes that are not`
      : 'It is binary data but not';
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} is in no format mtlskit reads (tried ${FORMATS_TRIED}). ${what} DER (${err instanceof Asn1Error ? err.message : 'unreadable'}).`,
      fixFor(where),
      run,
    );
  }
  for (const node of nodes) {
    const kind = classifyDer(node);
    switch (kind) {
      case 'certificate':
        parseCert(node.encoded, where, items, run);
        break;
      case 'pkcs12':
        items.pfx.push(node);
        break;
      case 'pkcs8':
      case 'pkcs1':
      case 'sec1':
      case 'encrypted-pkcs8':
        addKey({ kind, der: node.encoded }, where, items, run);
        break;
      case 'pkcs7':
        for (const der of pkcs7Certs(node)) parseCert(der, where, items, run);
        break;
      case 'public-key':
        items.publicKey = true;
        break;
      case 'csr':
        items.csr = true;
        break;
      default:
        fail(
          'DECODE_FAILED',
          where,
          `${where.label} is in no format mtlskit reads (tried ${FORMATS_TRIED}): it is DER, but not a certificate, private key, PKCS#12 or PKCS#7.`,
          fixFor(where),
          run,
        );
    }
  }
  return items;
}

/** How to make the Base64 of a file with tools every system has. */
const ENCODE_FILE = '`base64 -w0 FILE` on Linux, `base64 -i FILE` on macOS';

export function fixFor(where: Where): string {
  switch (where.field) {
    case 'cert':
      return `Store the client certificate as PEM (a BEGIN CERTIFICATE block) or as the Base64 of its PEM or DER file (${ENCODE_FILE}).`;
    case 'key':
      return `Store the private key as PEM (a BEGIN PRIVATE KEY block) or as the Base64 of its PEM or DER file (${ENCODE_FILE}).`;
    case 'ca':
      return 'Store the CA certificates as PEM or as the Base64 of their PEM file.';
    case 'pfx':
      return `Store the .p12/.pfx file as raw bytes or as the Base64 of the file (${ENCODE_FILE}).`;
    default:
      return 'Store a JSON object of cert/key/passphrase/ca fields, one PEM holding key and certificates, or a PKCS#12 file (raw or Base64).';
  }
}

function decodePem(text: string, where: Where, run: Run): Items {
  const items = emptyItems();
  let blocks: ReturnType<typeof readPemBlocks>;
  try {
    blocks = readPemBlocks(text);
  } catch (err) {
    const reason = err instanceof PemError ? err.message : 'it is not valid PEM';
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} holds PEM that mtlskit cannot read: ${reason}.`,
      'Store the whole file, BEGIN and END lines included; a value cut off by a size limit or a copy-paste looks like this.',
      run,
    );
  }
  const labels: string[] = [];
  for (const block of blocks) {
    labels.push(block.label);
    switch (block.label) {
      case 'CERTIFICATE':
      case 'X509 CERTIFICATE':
        parseCert(block.der, where, items, run);
        break;
      case 'TRUSTED CERTIFICATE': {
        // OpenSSL's "trusted" form: the certificate followed by trust settings.
        let first: Buffer = block.der;
        try {
          first = parseAll(block.der)[0]?.encoded ?? block.der;
        } catch {
          // Let the certificate parser report it.
        }
        parseCert(first, where, items, run);
        break;
      }
      case 'PRIVATE KEY':
        addKey({ kind: 'pkcs8', der: block.der }, where, items, run);
        break;
      case 'ENCRYPTED PRIVATE KEY':
        addKey({ kind: 'encrypted-pkcs8', der: block.der }, where, items, run);
        break;
      case 'RSA PRIVATE KEY':
      case 'EC PRIVATE KEY': {
        const type = block.label === 'RSA PRIVATE KEY' ? 'pkcs1' : 'sec1';
        const dekInfo = block.headers.get('dek-info');
        if (block.headers.get('proc-type')?.includes('ENCRYPTED') && dekInfo !== undefined) {
          addKey({ kind: 'traditional', der: block.der, dekInfo, type }, where, items, run);
        } else {
          addKey({ kind: type, der: block.der }, where, items, run);
        }
        break;
      }
      case 'PKCS7':
      case 'PKCS #7 SIGNED DATA':
      case 'CERTIFICATE CHAIN':
      case 'PKCS12': {
        const inner = decodeDer(block.der, where, run, false);
        checkCertCount(items.certs.length + inner.certs.length, where, run);
        for (const key of inner.keys) addKey(key, where, items, run);
        merge(items, { ...inner, keys: [] });
        break;
      }
      case 'OPENSSH PRIVATE KEY':
      case 'SSH2 ENCRYPTED PRIVATE KEY':
        fail(
          'DECODE_FAILED',
          where,
          `${where.label} holds an OpenSSH private key, which is not a TLS client key.`,
          'Use the private key whose CSR produced the certificate (PEM, BEGIN PRIVATE KEY); an SSH key can be converted with `ssh-keygen -p -m PKCS8 -f FILE`, but only helps if the certificate was issued for it.',
          run,
        );
        break;
      case 'DSA PRIVATE KEY':
        fail(
          'DECODE_FAILED',
          where,
          `${where.label} holds a DSA key, which TLS client authentication does not use.`,
          'Use an RSA, EC or Ed25519 key and a certificate issued for it.',
          run,
        );
        break;
      case 'CERTIFICATE REQUEST':
      case 'NEW CERTIFICATE REQUEST':
        items.csr = true;
        break;
      case 'PUBLIC KEY':
      case 'RSA PUBLIC KEY':
        items.publicKey = true;
        break;
      default:
      // EC PARAMETERS, X509 CRL and the like carry nothing a TLS client needs.
    }
  }
  if (items.certs.length + items.keys.length + items.pfx.length === 0 && !items.csr && !items.publicKey) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} holds PEM blocks (${[...new Set(labels)].join(', ') || 'none complete'}) but no certificate or private key.`,
      fixFor(where),
      run,
    );
  }
  return items;
}

/** The deepest nesting of `{`/`[` outside strings, stopping early once past `limit`. */
function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (ch === 0x7d || ch === 0x5d) depth--;
  }
  return max;
}

function decodeJson(text: string, where: Where, run: Run): Items {
  if (where.field !== 'bundle') {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} holds a JSON document, not a single ${where.field} value.`,
      'Give the whole JSON as the bundle (the source reference without a per-field name), or store only the PEM/Base64 value in this field.',
      run,
    );
  }
  if (jsonDepth(text, LIMITS.maxJsonDepth) > LIMITS.maxJsonDepth) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} is JSON nested deeper than ${LIMITS.maxJsonDepth} levels.`,
      'Store a flat JSON object of cert/key/passphrase/ca fields.',
      run,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input, which may be secret: it is not passed on.
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} starts like a JSON object but is not valid JSON.`,
      'Check the secret for a missing quote, brace or comma, or for unescaped newlines inside PEM strings (write them as \\n).',
      run,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    fail('DECODE_FAILED', where, `${where.label} is JSON but not an object.`, fixFor(where), run);
  }
  return { ...emptyItems(), json: parsed as Record<string, unknown> };
}

function decodeText(raw: string, where: Where, run: Run, depth: number): Items {
  // JSON first, before its `\n` escapes are undone for PEM: a JSON bundle holds PEM strings (also
  // when the whole bundle was stored as a JSON string, i.e. encoded twice).
  const unquoted = unquote(raw);
  if (unquoted.startsWith('{')) return decodeJson(unquoted, where, run);
  const text = normaliseText(unquoted);
  if (text === '') {
    fail('MISSING_FIELD', where, `${where.label} is empty.`, fixFor(where), run);
  }
  if (hasPem(text)) return decodePem(text, where, run);
  if (text.startsWith('{')) return decodeJson(text, where, run);
  if (/^(ssh-(rsa|dss|ed25519) |ecdsa-sha2-|sk-(ssh|ecdsa)-)/.test(text)) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} holds an SSH public key, not a TLS certificate or key.`,
      fixFor(where),
      run,
    );
  }
  const bytes = decodeBase64(text);
  if (bytes === undefined) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} is in no format mtlskit reads (tried ${FORMATS_TRIED}): it is not PEM, and not Base64 (it has characters outside the Base64 alphabet).`,
      fixFor(where),
      run,
    );
  }
  // Base64 of a text form (PEM, JSON, or Base64 again) is read as that text, a couple of levels deep.
  const head = bytes
    .subarray(0, 64)
    .toString('latin1')
    .replace(/^\uFEFF|^\xEF\xBB\xBF/, '')
    .trimStart();
  const looksText = /^(-----BEGIN|[{"]|[A-Za-z0-9+/_-]{16})/.test(head);
  if (depth < 2 && looksText && bytes[0] !== 0x30) {
    const inner = decodeUtf8(bytes);
    if (inner !== undefined) return decodeText(inner, where, run, depth + 1);
  }
  return decodeDer(bytes, where, run, true);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Size of a value in bytes (strings: UTF-16 code units, an upper bound's close enough for a cap). */
function sizeOf(value: FieldValue): number {
  return typeof value === 'string' ? value.length : value.byteLength;
}

export function decodeValue(value: unknown, where: Where, run: Run): Items {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} is ${value === null ? 'null' : `a ${typeof value}`}, not text or bytes.`,
      fixFor(where),
      run,
    );
  }
  if (sizeOf(value) > LIMITS.maxFieldBytes) {
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} is ${sizeOf(value).toLocaleString('en')} bytes, above mtlskit's limit of ${LIMITS.maxFieldBytes.toLocaleString('en')} per field.`,
      'A certificate, key or PKCS#12 is a few kilobytes: check that the right secret is referenced.',
      run,
    );
  }
  if (typeof value === 'string') return decodeText(value, where, run, 0);
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (bytes.length === 0) fail('MISSING_FIELD', where, `${where.label} is empty.`, fixFor(where), run);
  if (bytes[0] === 0x30) return decodeDer(bytes, where, run, false);
  const text = decodeUtf8(bytes);
  return text === undefined ? decodeDer(bytes, where, run, false) : decodeText(text, where, run, 0);
}
