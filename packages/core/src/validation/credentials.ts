// The validated credential handed out by core: immutable, versioned, and safe to log. The private key
// lives in a private field; `util.inspect`, `JSON.stringify`, `String()` and object spread show only
// certificate facts. The PEM a TLS context needs comes from the non-enumerable `keyPem()` method.
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import type { DecodedMaterial } from '../decoding/decode.js';
import { describeKey } from '../decoding/keys.js';
import type { Finding, KeyType, MtlsCredentials } from '../types.js';
import { validity } from './validate.js';

/** Where the credentials came from, when they came from a source. */
export interface CredentialsOrigin {
  sourceId?: string;
  sourceVersion?: string;
}

/**
 * SHA-256 over every certificate — leaf, chain, CA — each tagged, by its SHA-256 fingerprint (the
 * digest of its DER, which node:crypto computed anyway), so no two different credentials share an
 * input. The key needs no part of its own: validation has proved it is the leaf's (KEY_MISMATCH
 * otherwise), and the leaf's DER holds its public key, so another key means another leaf. Exporting
 * the key, or reading any certificate's `raw` (which X509Certificate then keeps), is not needed.
 */
function computeVersion(
  leaf: X509Certificate,
  chain: readonly X509Certificate[],
  ca: readonly X509Certificate[],
): string {
  const h = createHash('sha256');
  h.update(`leaf ${leaf.fingerprint256}\n`);
  for (const c of chain) h.update(`chain ${c.fingerprint256}\n`);
  for (const c of ca) h.update(`ca ${c.fingerprint256}\n`);
  return h.digest('hex');
}

/** The certificates' PEM, one after the other (the certificate's own string when there is one). */
function pemOf(certs: readonly X509Certificate[]): string {
  return certs.length === 1 ? certs[0]!.toString() : certs.map((c) => c.toString()).join('');
}

/** One frozen empty list for every credential without intermediates, or findings: thousands share it. */
const NONE: readonly never[] = Object.freeze([]);

function frozenCopy<T>(items: readonly T[]): readonly T[] {
  return items.length === 0 ? NONE : Object.freeze([...items]);
}

/** A decoded, validated mTLS client credential. Build it with `loadCredentials()`. */
export class ValidatedCredentials implements MtlsCredentials {
  readonly #key: KeyObject;
  readonly leaf: X509Certificate;
  readonly chain: readonly X509Certificate[];
  readonly ca: readonly X509Certificate[];
  readonly fingerprint256: string;
  readonly version: string;
  readonly #notBefore: number;
  readonly #notAfter: number;
  readonly subject: string;
  readonly subjectAltName: string | undefined;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly keyType: KeyType;
  readonly keySize: number | undefined;
  readonly curve: string | undefined;
  readonly findings: readonly Finding[];
  readonly sourceId: string | undefined;
  readonly sourceVersion: string | undefined;

  constructor(
    decoded: Pick<DecodedMaterial, 'leaf' | 'chain' | 'key' | 'ca'>,
    findings: readonly Finding[],
    origin: CredentialsOrigin = {},
  ) {
    const { leaf, key } = decoded;
    this.#key = key;
    this.leaf = leaf;
    this.chain = frozenCopy(decoded.chain);
    this.ca = frozenCopy(decoded.ca);
    this.fingerprint256 = leaf.fingerprint256;
    this.version = computeVersion(leaf, this.chain, this.ca);
    const { notBefore, notAfter } = validity(leaf);
    this.#notBefore = notBefore;
    this.#notAfter = notAfter;
    this.subject = leaf.subject;
    this.subjectAltName = leaf.subjectAltName;
    this.issuer = leaf.issuer;
    this.serialNumber = leaf.serialNumber;
    const { keyType, keySize, curve } = describeKey(key);
    this.keyType = keyType;
    this.keySize = keySize;
    this.curve = curve;
    this.findings = frozenCopy(findings.map((f) => Object.freeze({ ...f })));
    this.sourceId = origin.sourceId;
    this.sourceVersion = origin.sourceVersion;
    Object.freeze(this);
  }

  // The PEM is asked for when a TLS context is built, not kept: X509Certificate keeps the PEM of each
  // certificate once made, so a credential with no intermediates holds one copy of its leaf's, and
  // credentials sharing a CA (decoding/shared-certs.ts) share its PEM too.
  /** Leaf followed by the intermediates, PEM: the `cert` option of a TLS context. */
  get certPem(): string {
    return pemOf([this.leaf, ...this.chain]);
  }

  /** The CA certificates, PEM, or undefined when none were given: the `ca` option of a TLS context. */
  get caPem(): string | undefined {
    return this.ca.length > 0 ? pemOf(this.ca) : undefined;
  }

  // Date objects are mutable even when frozen (setTime), so each read gets a fresh one.
  get notBefore(): Date {
    return new Date(this.#notBefore);
  }

  get notAfter(): Date {
    return new Date(this.#notAfter);
  }

  /** The private key (a KeyObject: its bytes are not shown by inspect or JSON). */
  get key(): KeyObject {
    return this.#key;
  }

  /** The private key as unencrypted PKCS#8 PEM, for building a SecureContext. Keep it out of logs. */
  keyPem(): string {
    return this.#key.export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  /** Public facts only. */
  toJSON(): Record<string, unknown> {
    return {
      subject: this.subject,
      subjectAltName: this.subjectAltName,
      issuer: this.issuer,
      serialNumber: this.serialNumber,
      fingerprint256: this.fingerprint256,
      version: this.version,
      notBefore: this.notBefore.toISOString(),
      notAfter: this.notAfter.toISOString(),
      keyType: this.keyType,
      keySize: this.keySize,
      curve: this.curve,
      chain: this.chain.map((c) => c.subject.replace(/\n/g, ', ')),
      ca: this.ca.map((c) => c.subject.replace(/\n/g, ', ')),
      findings: this.findings,
      sourceId: this.sourceId,
      sourceVersion: this.sourceVersion,
    };
  }

  toString(): string {
    const cn = this.subject.replace(/\n/g, ', ');
    return `MtlsCredentials(${cn}; ${this.keyType}${this.keySize ? ` ${this.keySize}` : ''}; not after ${this.notAfter.toISOString()}; sha256 ${this.fingerprint256})`;
  }

  [inspect.custom](
    depth: number,
    options: { stylize?: unknown },
    inspectFn: typeof inspect = inspect,
  ): string {
    if (depth < 0) return this.toString();
    return `MtlsCredentials ${inspectFn(this.toJSON(), { ...(options as object), depth: 3 })}`;
  }
}
