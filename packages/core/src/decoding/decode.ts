// Decoding: CredentialMaterial exactly as stored -> one leaf certificate, its chain, the private key
// and CA certificates. Each field is read in whatever form it arrived (PEM, Base64 of PEM or DER, DER
// bytes, PKCS#12, PKCS#7, a JSON bundle, PEM mangled by environment variables), then the pieces are
// pooled: the leaf is the certificate the key belongs to, and the rest is ordered into its chain.
// Decoding only fails on what it cannot read; whether the result is *usable* (key match, dates, EKU,
// chain) is validation's job, so `mtlskit inspect` can report every problem at once.
import { type KeyObject, X509Certificate } from 'node:crypto';
import { MtlsError, type MtlsErrorCode } from '../errors.js';
import type { CredentialMaterial, FieldValue, Finding } from '../types.js';
import {
  type CredentialField,
  normaliseFieldName,
  type ResolvedPolicy,
  resolvePolicy,
  type ValidationPolicy,
} from '../validation/policy.js';
import { Asn1Error, type Asn1Node, isContext, isUniversal, oid, parseAll, TAG } from './asn1.js';
import { dedupe, keyMatches, orderChain, pickLeaf } from './chain.js';
import { KeyError, type KeyItem, openKey } from './keys.js';
import { type LegacyCiphers, loadLegacyCiphersSync } from './legacy-ciphers.js';
import { LIMITS } from './limits.js';
import { IterationBudget, PbeError } from './pbe.js';
import { decodeBase64, hasPem, normaliseText, PemError, readPemBlocks, unquote } from './pem.js';
import { looksLikePkcs12, readPkcs12 } from './pkcs12.js';

/** What decoding found: readable, not yet validated. */
export interface DecodedMaterial {
  /** The client certificate: the one the key belongs to (or, when none is, the lowest of the chain). */
  readonly leaf: X509Certificate;
  /** The leaf's issuers in order, followed by any certificate that does not fit (validation reports it). */
  readonly chain: readonly X509Certificate[];
  readonly key: KeyObject;
  /** CA certificates to trust for the server. */
  readonly ca: readonly X509Certificate[];
  /** Warnings from decoding itself, e.g. a legacy PKCS#12. */
  readonly findings: readonly Finding[];
  /** The fields the leaf and the key were found in (`cert`, `key`, `pfx`, `bundle`), for findings. */
  readonly origin?: {
    readonly leaf: string;
    readonly key: string;
    /** How messages name those fields, e.g. "the bundle's `tls.crt`" (default: the field in backticks). */
    readonly labels?: { readonly leaf: string; readonly key: string; readonly ca: string };
  };
}

/** Internal options of a decode run. */
export interface DecodeOptions {
  sourceId?: string;
  /** Returns RC2/DES or throws LegacyCiphersNeeded (the async path then loads them and retries). */
  legacy: () => LegacyCiphers;
  /** Derived keys kept across a retry, so that the retry does not spend the derivations again. */
  derivations?: Map<string, Buffer>;
}

type Role = CredentialField | 'bundle';

/** Where a value came from: the canonical field, and how to name it in a message. */
interface Where {
  field: Role;
  label: string;
}

/** What one value held, before any passphrase is used. */
interface Items {
  certs: X509Certificate[];
  keys: KeyItem[];
  pfx: Asn1Node[];
  json?: Record<string, unknown>;
  csr?: boolean;
  publicKey?: boolean;
}

interface Run {
  policy: ResolvedPolicy;
  opts: DecodeOptions;
  budget: IterationBudget;
  findings: Finding[];
}

const FORMATS_TRIED = 'PEM, Base64 of PEM, Base64 of DER, DER, PKCS#12, PKCS#7';

function fail(code: MtlsErrorCode, where: Where, problem: string, fix: string, run: Run): never {
  throw new MtlsError(code, `${problem} ${fix}`, { field: where.field, sourceId: run.opts.sourceId });
}

function emptyItems(): Items {
  return { certs: [], keys: [], pfx: [] };
}

function merge(into: Items, from: Items): void {
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

/** Parses one certificate; a failure is DECODE_FAILED for a leaf position, CHAIN_INVALID for a CA or later one. */
function parseCert(der: Buffer, where: Where, items: Items, run: Run): void {
  checkCertCount(items.certs.length + 1, where, run);
  try {
    const cert = new X509Certificate(der);
    // X509Certificate parses some parts lazily: read them now, so a damaged one fails here, not later.
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
    items.certs.push(cert);
  } catch {
    const position = items.certs.length + 1;
    const asChain = where.field === 'ca' || position > 1;
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
function addKey(item: KeyItem, where: Where, items: Items, run: Run): void {
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

function fixFor(where: Where): string {
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

function decodeUtf8(bytes: Uint8Array): string | undefined {
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

function decodeValue(value: unknown, where: Where, run: Run): Items {
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

function passphraseText(value: unknown, where: Where, run: Run): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) {
    const text = decodeUtf8(value);
    if (text !== undefined) return text;
  }
  fail('DECODE_FAILED', where, `${where.label} is not text.`, 'Store the passphrase as a UTF-8 string.', run);
}

/**
 * The candidates to try for a given passphrase: without a trailing newline first (read from a file,
 * the usual case), then as given. Each costs a key derivation.
 */
function passphraseCandidates(passphrase: string | undefined): string[] {
  if (passphrase === undefined) return [];
  const trimmed = passphrase.replace(/\r?\n$/, '');
  return trimmed === passphrase ? [passphrase] : [trimmed, passphrase];
}

interface FieldValues {
  cert?: unknown;
  key?: unknown;
  passphrase?: unknown;
  ca?: unknown;
  pfx?: unknown;
  bundleItems?: Items;
  /** Labels of the fields that came from a JSON bundle, for messages. */
  labels: Partial<Record<CredentialField, string>>;
}

/** Picks each field out of a JSON bundle, by configured name or alias. */
function fieldsFromJson(json: Record<string, unknown>, run: Run): FieldValues {
  const byName = new Map<string, string>();
  for (const k of Object.keys(json)) {
    const n = normaliseFieldName(k);
    if (!byName.has(n)) byName.set(n, k);
  }
  const out: FieldValues = { labels: {} };
  for (const field of Object.keys(run.policy.bundleNames) as CredentialField[]) {
    for (const name of run.policy.bundleNames[field]) {
      const key = byName.get(name);
      if (key !== undefined && json[key] !== undefined && json[key] !== null) {
        out[field] = json[key];
        out.labels[field] = `the bundle's \`${key}\``;
        break;
      }
    }
  }
  if (out.cert === undefined && out.key === undefined && out.pfx === undefined) {
    const keys = Object.keys(json)
      .slice(0, 12)
      .map((k) => (k.length > 40 ? `${k.slice(0, 40)}…` : k));
    fail(
      'MISSING_FIELD',
      { field: 'bundle', label: 'bundle' },
      `The JSON bundle has no certificate, key or PKCS#12 field (its keys: ${keys.join(', ') || 'none'}).`,
      'Name them cert/key/passphrase/ca (or certificate, private_key, tls.crt, tls.key, …), or map your names with policy.fields.',
      run,
    );
  }
  return out;
}

function collectFields(material: CredentialMaterial, run: Run): FieldValues {
  let fromBundle: FieldValues = { labels: {} };
  const contentType: unknown = material.contentType;
  if (contentType !== undefined && typeof contentType !== 'string') {
    fail(
      'DECODE_FAILED',
      { field: 'bundle', label: 'bundle' },
      `The contentType of the bundle is ${contentType === null ? 'null' : `a ${typeof contentType}`}, not text.`,
      'Give contentType as a string such as application/x-pkcs12 or application/x-pem-file, or leave it out.',
      run,
    );
  }
  if (material.bundle !== undefined) {
    const where: Where = {
      field: 'bundle',
      label: contentType ? `bundle (${contentType.slice(0, 60)})` : 'bundle',
    };
    const items = decodeValue(material.bundle, where, run);
    if (items.json) fromBundle = fieldsFromJson(items.json, run);
    else fromBundle.bundleItems = items;
  }
  // Fields given on their own take precedence over the same field inside a bundle.
  const pick = <F extends CredentialField>(f: F) => (material[f] !== undefined ? material[f] : fromBundle[f]);
  const labels: Partial<Record<CredentialField, string>> = {};
  for (const f of ['cert', 'key', 'passphrase', 'ca', 'pfx'] as const) {
    labels[f] = material[f] !== undefined ? `\`${f}\`` : (fromBundle.labels[f] ?? `\`${f}\``);
  }
  return {
    cert: pick('cert'),
    key: pick('key'),
    passphrase: pick('passphrase'),
    ca: pick('ca'),
    pfx: pick('pfx'),
    bundleItems: fromBundle.bundleItems,
    labels,
  };
}

function openPfx(node: Asn1Node, where: Where, passphrases: string[], run: Run, into: Items): void {
  // An unencrypted file has the empty password (or, in PKCS#12's own terms, none): tried last, so a
  // passphrase given for it is ignored rather than an error. Each candidate costs a full derivation.
  const candidates: (string | null)[] = [...new Set([...passphrases, '']), null];
  let contents: ReturnType<typeof readPkcs12>;
  try {
    contents = readPkcs12(node, candidates, { budget: run.budget, legacy: run.opts.legacy });
  } catch (err) {
    if (err instanceof PbeError) {
      if (err.reason === 'bad-decrypt') {
        if (passphrases.every((p) => p === '')) {
          fail(
            'WRONG_PASSPHRASE',
            where,
            `The PKCS#12 in ${where.label} is protected by a password and ${passphrases.length === 0 ? 'no passphrase was given' : 'the passphrase given is empty'}.`,
            'Set passphrase (MTLS_PASSPHRASE, or `passphrase` in the bundle) to the password the file was exported with.',
            run,
          );
        }
        fail(
          'WRONG_PASSPHRASE',
          where,
          `The passphrase does not open the PKCS#12 in ${where.label} (its integrity check fails: a wrong passphrase, or a damaged file).`,
          'Give the password the file was exported with; check for a trailing space or a passphrase meant for another file.',
          run,
        );
      }
      if (err.reason === 'limit') {
        fail(
          'DECODE_FAILED',
          where,
          `The PKCS#12 in ${where.label} was refused: ${err.message}.`,
          'Re-export it with a usual iteration count (OpenSSL uses 2048: `openssl pkcs12 -export -iter 2048 …`).',
          run,
        );
      }
      if (err.reason === 'unsupported') {
        fail(
          'DECODE_FAILED',
          where,
          `The PKCS#12 in ${where.label} uses ${err.message}, which mtlskit cannot read.`,
          'Re-export it with AES: `openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC …` (the OpenSSL 3 default).',
          run,
        );
      }
    }
    if (err instanceof Asn1Error || err instanceof PbeError) {
      fail(
        'DECODE_FAILED',
        where,
        `The PKCS#12 in ${where.label} is damaged (${err.message}).`,
        'Export the .p12/.pfx again, and store it as raw bytes or Base64 without editing.',
        run,
      );
    }
    throw err;
  }
  if (contents.legacy) {
    run.findings.push({
      code: 'LEGACY_PKCS12',
      severity: 'warning',
      field: where.field,
      message: `The PKCS#12 in ${where.label} uses legacy encryption (${[...new Set(contents.schemes)].join('; ')}) that OpenSSL 3 refuses by default.`,
      fix: 'Re-export it with AES: `openssl pkcs12 -legacy -in old.p12 -nodes | openssl pkcs12 -export -out new.p12` (OpenSSL 3 defaults to AES-256).',
    });
  }
  for (const der of contents.certs) parseCert(der, where, into, run);
  for (const der of contents.keys) addKey({ kind: 'pkcs8', der }, where, into, run);
}

function keyFailure(err: unknown, where: Where, run: Run): never {
  if (!(err instanceof KeyError)) throw err;
  switch (err.reason) {
    case 'needs-passphrase':
    case 'empty-passphrase':
      fail(
        'WRONG_PASSPHRASE',
        where,
        `The private key in ${where.label} is encrypted and needs a passphrase, but ${err.reason === 'empty-passphrase' ? 'the passphrase given is empty' : 'none was given'}.`,
        'Set passphrase (MTLS_PASSPHRASE, or `passphrase` in the bundle) to the key’s passphrase.',
        run,
      );
      break;
    case 'bad-decrypt':
      fail(
        'WRONG_PASSPHRASE',
        where,
        `The passphrase does not decrypt the private key in ${where.label} (a wrong passphrase, or a damaged key).`,
        'Give the passphrase the key was encrypted with; check for a trailing space or newline, or a passphrase meant for another key.',
        run,
      );
      break;
    case 'limit':
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} was refused: ${err.message}.`,
        'Re-encrypt it with usual settings: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem`.',
        run,
      );
      break;
    case 'unsupported':
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} is encrypted with ${err.message}, which mtlskit cannot read.`,
        'Re-encrypt it with AES: `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem`.',
        run,
      );
      break;
    case 'key-type':
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} cannot be used: ${err.message}.`,
        'Use an RSA, EC or Ed25519 key and a certificate issued for it.',
        run,
      );
      break;
    default:
      fail(
        'DECODE_FAILED',
        where,
        `The private key in ${where.label} is damaged (${err.message}).`,
        'Store the key file exactly as generated; it may be truncated or edited.',
        run,
      );
  }
}

/** Checks that each field holds what its name promises, before any passphrase is spent. */
function checkRoles(items: Partial<Record<Role, Items>>, labels: Record<Role, string>, run: Run): void {
  const cert = items.cert;
  if (cert && cert.certs.length === 0 && cert.pfx.length === 0) {
    const where: Where = { field: 'cert', label: labels.cert };
    if (cert.keys.length > 0) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a private key, not a certificate.`,
        'Put the certificate (BEGIN CERTIFICATE) in cert and the private key in key — are the two swapped?',
        run,
      );
    }
    if (cert.csr) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a certificate signing request (CSR), not a certificate.`,
        'Submit the CSR to your provider and store the certificate it returns.',
        run,
      );
    }
    fail('DECODE_FAILED', where, `${where.label} holds no certificate.`, fixFor(where), run);
  }
  const key = items.key;
  if (key && key.keys.length === 0 && key.pfx.length === 0) {
    const where: Where = { field: 'key', label: labels.key };
    if (key.certs.length > 0) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a certificate, not a private key.`,
        'Put the private key (BEGIN PRIVATE KEY) in key and the certificate in cert — are the two swapped?',
        run,
      );
    }
    if (key.publicKey) {
      fail(
        'DECODE_FAILED',
        where,
        `${where.label} holds a public key, not a private key.`,
        'Store the private key the CSR was generated with (BEGIN PRIVATE KEY); a public key cannot sign.',
        run,
      );
    }
    fail('DECODE_FAILED', where, `${where.label} holds no private key.`, fixFor(where), run);
  }
  const ca = items.ca;
  if (ca && (ca.keys.length > 0 || ca.pfx.length > 0)) {
    fail(
      'DECODE_FAILED',
      { field: 'ca', label: labels.ca },
      `${labels.ca} holds a private key or PKCS#12; it takes only CA certificates.`,
      'Remove the key from it (and if that secret was shared, treat the key as exposed).',
      run,
    );
  }
  if (ca && ca.certs.length === 0) {
    fail(
      'CHAIN_INVALID',
      { field: 'ca', label: labels.ca },
      `${labels.ca} holds no certificate.`,
      fixFor({ field: 'ca', label: '' }),
      run,
    );
  }
}

/** The decode run itself; `opts.legacy` decides how RC2/DES are obtained. */
export function decodeWith(
  material: CredentialMaterial,
  policy: ResolvedPolicy,
  opts: DecodeOptions,
): DecodedMaterial {
  const run: Run = {
    policy,
    opts,
    budget: new IterationBudget(opts.derivations),
    findings: [],
  };
  if (typeof material !== 'object' || material === null) {
    fail(
      'MISSING_FIELD',
      { field: 'cert', label: 'the material' },
      'No credential material was given.',
      'Pass an object with cert and key (or pfx, or bundle), or a CredentialSource.',
      run,
    );
  }
  const fields = collectFields(material, run);
  const labels: Record<Role, string> = {
    cert: fields.labels.cert ?? '`cert`',
    key: fields.labels.key ?? '`key`',
    passphrase: fields.labels.passphrase ?? '`passphrase`',
    ca: fields.labels.ca ?? '`ca`',
    pfx: fields.labels.pfx ?? '`pfx`',
    bundle: 'bundle',
  };

  const items: Partial<Record<Role, Items>> = {};
  for (const field of ['cert', 'key', 'pfx'] as const) {
    if (fields[field] !== undefined)
      items[field] = decodeValue(fields[field], { field, label: labels[field] }, run);
  }
  if (fields.ca !== undefined) {
    const values = Array.isArray(fields.ca) ? fields.ca : [fields.ca];
    const ca = emptyItems();
    values.forEach((v, i) => {
      const label = values.length > 1 ? `${labels.ca} (entry ${i + 1})` : labels.ca;
      merge(ca, decodeValue(v, { field: 'ca', label }, run));
    });
    items.ca = ca;
  }
  if (fields.bundleItems) items.bundle = fields.bundleItems;
  checkRoles(items, labels, run);

  const passphraseValue = policy.passphrase ?? fields.passphrase;
  const passphrases = passphraseCandidates(
    passphraseValue === undefined
      ? undefined
      : passphraseText(passphraseValue, { field: 'passphrase', label: labels.passphrase }, run),
  );

  // PKCS#12 files, wherever they were found, open into certificates and keys of their own.
  const fromPfx = emptyItems();
  const pfxRole = new Map<X509Certificate | KeyItem, Role>();
  for (const role of ['pfx', 'bundle', 'cert', 'key'] as const) {
    for (const node of items[role]?.pfx ?? []) {
      const opened = emptyItems();
      openPfx(node, { field: role, label: labels[role] }, passphrases, run, opened);
      for (const x of [...opened.certs, ...opened.keys]) pfxRole.set(x, role);
      merge(fromPfx, opened);
    }
  }

  // The key: from `key` when given, else from the PKCS#12, the bundle, or a PEM in `cert` holding both.
  const keySources: [Role, KeyItem[]][] = [
    ['key', items.key?.keys ?? []],
    [fromPfx.keys[0] ? (pfxRole.get(fromPfx.keys[0]) ?? 'pfx') : 'pfx', fromPfx.keys],
    ['bundle', items.bundle?.keys ?? []],
    ['cert', items.cert?.keys ?? []],
  ];
  const [keyRole, keyItems] = keySources.find(([, list]) => list.length > 0) ?? ['key', []];
  const certs = dedupe([
    ...(items.cert?.certs ?? []),
    ...(items.bundle?.certs ?? []),
    ...fromPfx.certs,
    ...(items.key?.certs ?? []),
  ]);
  if (certs.length === 0) {
    fail(
      'MISSING_FIELD',
      { field: 'cert', label: labels.cert },
      'No client certificate was found: cert is absent and no bundle or PKCS#12 holds one.',
      'Store the certificate your provider issued in the cert field (with env: and default names, MTLS_CERT or MTLS_CERT_FILE), or a PKCS#12 in pfx.',
      run,
    );
  }
  if (keyItems.length === 0) {
    fail(
      'MISSING_FIELD',
      { field: 'key', label: labels.key },
      'No private key was found: key is absent and no bundle or PKCS#12 holds one.',
      'Store the private key the certificate was issued for in the key field (with env: and default names, MTLS_KEY or MTLS_KEY_FILE), or a PKCS#12 in pfx.',
      run,
    );
  }
  // The role a certificate was found in (a PKCS#12 counts as the field that held it).
  const roleOf = (c: X509Certificate): Role =>
    items.cert?.certs.includes(c)
      ? 'cert'
      : items.bundle?.certs.includes(c)
        ? 'bundle'
        : (pfxRole.get(c) ?? 'key');
  if (certs.length > LIMITS.maxChainCertificates) {
    // Ordering n certificates into a chain costs up to n² signature checks: refused before any.
    const roles = [...new Set(certs.map(roleOf))];
    const where: Where = { field: roles[0]!, label: roles.map((r) => labels[r]).join(' and ') };
    fail(
      'DECODE_FAILED',
      where,
      `${where.label} hold${roles.length > 1 ? '' : 's'} ${certs.length} different certificates for the client certificate and its chain, above mtlskit's limit of ${LIMITS.maxChainCertificates}.`,
      'Keep only the client certificate and the intermediates that issued it; CA certificates to trust belong in ca.',
      run,
    );
  }
  const keyWhere: Where = { field: keyRole, label: labels[keyRole] };
  // Several keys (a PKCS#12 with spares, a PEM with two): the first one a certificate belongs to.
  // Each may cost a key derivation, so opening stops at that one.
  const keys: KeyObject[] = [];
  let key: KeyObject | undefined;
  for (const item of keyItems) {
    let opened: KeyObject;
    try {
      opened = openKey(item, passphrases, { budget: run.budget, legacy: opts.legacy });
    } catch (err) {
      keyFailure(err, keyWhere, run);
    }
    keys.push(opened);
    if (certs.some((c) => keyMatches(c, opened))) {
      key = opened;
      break;
    }
  }
  key ??= keys[0]!;
  const leaf = pickLeaf(certs, key)!;
  const chain = orderChain(leaf, certs);
  // Trusting a PFX's CA certificates does not stop them being sent: the server still needs the
  // intermediates (Node's own `pfx` option does both too).
  const pfxCas = policy.pfxCaAsTrust ? fromPfx.certs.filter((c) => c.ca && c !== leaf) : [];
  const ca = dedupe([...(items.ca?.certs ?? []), ...pfxCas]);
  const leafRole = roleOf(leaf);
  return {
    leaf,
    chain,
    key,
    ca,
    findings: run.findings,
    origin: {
      leaf: leafRole,
      key: keyRole,
      labels: { leaf: labels[leafRole], key: labels[keyRole], ca: labels.ca },
    },
  };
}

/**
 * Decodes material as stored into a leaf certificate, its chain, the private key and CA certificates,
 * without judging them (see {@link validateCredentials}). Synchronous: a legacy PKCS#12 loads the
 * RC2/DES ciphers with `require`. Throws MtlsError (DECODE_FAILED, MISSING_FIELD, WRONG_PASSPHRASE,
 * CHAIN_INVALID for a CA certificate that does not parse).
 */
export function decodeMaterial(material: CredentialMaterial, policy?: ValidationPolicy): DecodedMaterial {
  return decodeWith(material, resolvePolicy(policy), { legacy: loadLegacyCiphersSync });
}
