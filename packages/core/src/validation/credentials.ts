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

function lengthPrefixed(hash: ReturnType<typeof createHash>, tag: string, bytes: Uint8Array): void {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  hash.update(tag).update(len).update(bytes);
}

/**
 * SHA-256 over every part, each tagged and length-prefixed so no two different credentials share an
 * input: leaf, chain and CA certificates (DER), the public key, and a hash of the private key (so the
 * version changes with the key while the key bytes themselves never feed an output anyone can see).
 */
function computeVersion(
  leaf: X509Certificate,
  chain: readonly X509Certificate[],
  key: KeyObject,
  ca: readonly X509Certificate[],
): string {
  const h = createHash('sha256');
  lengthPrefixed(h, 'leaf', leaf.raw);
  for (const c of chain) lengthPrefixed(h, 'chain', c.raw);
  const publicDer = leaf.publicKey.export({ type: 'spki', format: 'der' });
  const privateDigest = createHash('sha256')
    .update(key.export({ type: 'pkcs8', format: 'der' }))
    .digest();
  lengthPrefixed(h, 'pub', publicDer);
  lengthPrefixed(h, 'priv', privateDigest);
  for (const c of ca) lengthPrefixed(h, 'ca', c.raw);
  return h.digest('hex');
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
  /** Leaf followed by the intermediates, PEM: the `cert` option of a TLS context. */
  readonly certPem: string;
  /** The CA certificates, PEM, or undefined when none were given: the `ca` option of a TLS context. */
  readonly caPem: string | undefined;

  constructor(
    decoded: Pick<DecodedMaterial, 'leaf' | 'chain' | 'key' | 'ca'>,
    findings: readonly Finding[],
    origin: CredentialsOrigin = {},
  ) {
    const { leaf, key } = decoded;
    this.#key = key;
    this.leaf = leaf;
    this.chain = Object.freeze([...decoded.chain]);
    this.ca = Object.freeze([...decoded.ca]);
    this.fingerprint256 = leaf.fingerprint256;
    this.version = computeVersion(leaf, this.chain, key, this.ca);
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
    this.findings = Object.freeze(findings.map((f) => Object.freeze({ ...f })));
    this.sourceId = origin.sourceId;
    this.sourceVersion = origin.sourceVersion;
    this.certPem = [leaf, ...this.chain].map((c) => c.toString()).join('');
    this.caPem = this.ca.length > 0 ? this.ca.map((c) => c.toString()).join('') : undefined;
    Object.freeze(this);
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
