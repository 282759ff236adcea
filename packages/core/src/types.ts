// The core vocabulary: where credentials come from (CredentialSource), what a source returns as
// stored (CredentialMaterial), and what core hands out once decoded and validated (MtlsCredentials).
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { MtlsErrorCode } from './errors.js';

/** A field value exactly as stored: text (PEM, Base64, JSON) or raw bytes (DER, PKCS#12). */
export type FieldValue = string | Uint8Array;

/** Per-call context given to a source. */
export interface SourceContext {
  /** Aborts the call; sources reject with the signal's reason (or an `AbortError`). */
  signal?: AbortSignal;
}

/**
 * The credential fields exactly as a source stored them. Sources never decode: core does.
 * Either separate fields (`cert`, `key`, ...), a `pfx`, or one `bundle`.
 */
export interface CredentialMaterial {
  /** Leaf certificate, optionally followed by intermediates. */
  cert?: FieldValue;
  /** Private key (PKCS#1, SEC1, PKCS#8, encrypted or not). */
  key?: FieldValue;
  /** Passphrase of an encrypted key or of the PKCS#12. */
  passphrase?: FieldValue;
  /** CA certificates to trust for the server (one value holding one or more certificates, or a list). */
  ca?: FieldValue | FieldValue[];
  /** PKCS#12 holding key and certificates. */
  pfx?: FieldValue;
  /** One value holding several fields: a JSON object of the fields above, a PEM with key and certificates, or a PKCS#12. */
  bundle?: FieldValue;
  /** Media type of `bundle` as the store reports it, e.g. Azure's `application/x-pkcs12` or `application/x-pem-file`. */
  contentType?: string;
  /** The store's version id of what was loaded, when it has one. */
  version?: string;
  /** When the source read the material. */
  fetchedAt?: Date;
}

/**
 * `static`: a stored credential; refetching only picks up a rotation someone else made.
 * `issuing`: each load mints a new certificate (e.g. Vault PKI).
 */
export type SourceKind = 'static' | 'issuing';

/** Options of {@link CredentialSource.store}. */
export interface StoreOptions extends SourceContext {
  /** A staging label for the new version (e.g. AWS `AWSPENDING`) instead of making it current. */
  stage?: string;
}

/** What {@link CredentialSource.store} reports. */
export interface StoreResult {
  /** The store's id of the version written. */
  version: string;
}

/** What {@link CredentialSource.promote} and {@link CredentialSource.rollback} report. */
export interface StageChange {
  /** The store's id of the version now current. */
  current: string;
  /** The version that was current just before (what a rollback returns to), when the store says. */
  previous?: string;
}

/**
 * Where a credential lives. Only `id` and `load` are required; everything else is an optional
 * capability the resolver and the CLI use when present.
 */
export interface CredentialSource {
  /** A stable, secret-free name for logs and errors, usually the reference (`aws-sm://prod/mtls`). */
  readonly id: string;
  /** `static` (the default when absent) or `issuing`. */
  readonly kind?: SourceKind;
  /** Reads the credential as stored. Rejects with an MtlsError. */
  load(ctx?: SourceContext): Promise<CredentialMaterial>;
  /** A cheap "has it changed?" probe: returns an id that changes exactly when the content does. */
  version?(ctx?: SourceContext): Promise<string>;
  /** Writes a new version (used by renewal). */
  store?(material: CredentialMaterial, options?: StoreOptions): Promise<StoreResult>;
  /**
   * Renewal: writes `material` as the pending version, beside the current one, which stays what
   * `load()` returns (AWS: a version labelled AWSPENDING). Replaces an earlier pending version.
   * Used twice by `mtlskit renew`: the new key alone (`start`), then key and certificate (`complete`).
   */
  storePending?(material: CredentialMaterial, ctx?: SourceContext): Promise<StoreResult>;
  /** Renewal: reads the pending version as stored (its `version` set). SOURCE_NOT_FOUND when there is none. */
  loadPending?(ctx?: SourceContext): Promise<CredentialMaterial>;
  /**
   * Renewal: makes the pending version `version` current, and clears the pending mark. Refuses with
   * SOURCE_NOT_FOUND when `version` is no longer the pending one (another renewal replaced it), so
   * what was checked is what gets promoted. Running resolvers pick it up on their next refresh.
   */
  promote?(version: string, ctx?: SourceContext): Promise<StageChange>;
  /**
   * Renewal: makes the version that was current before the last promotion current again (AWS: the
   * AWSPREVIOUS version). SOURCE_NOT_FOUND when there is none.
   */
  rollback?(ctx?: SourceContext): Promise<StageChange>;
  /** Calls `onChange` when the credential may have changed; returns a function that stops watching. */
  watch?(onChange: () => void): () => void;
  /** Releases clients, watchers and sockets. */
  close?(): Promise<void>;
  /**
   * Warnings found while reading (e.g. KEY_FILE_PERMISSIONS, AWS_DESCRIBE_SECRET_DENIED), as of the
   * last load: loadCredentials adds them to the credential's findings.
   */
  readonly warnings?: readonly Finding[];
}

/** Severity of a validation finding: errors throw, warnings ride on the credentials. */
export type FindingSeverity = 'error' | 'warning';

/** One result of validation, in plain English. */
export interface Finding {
  /** An MtlsError code for errors; a warning code such as `EXPIRING_SOON` for warnings. */
  code:
    | MtlsErrorCode
    | 'EXPIRING_SOON'
    | 'CA_EXPIRED'
    | 'CA_NOT_ROOT'
    | 'KEY_FILE_PERMISSIONS'
    | 'AWS_DESCRIBE_SECRET_DENIED'
    | 'CHECKSUM_MISSING'
    | 'TLS_VERIFY_DISABLED'
    | 'LEGACY_PKCS12'
    | 'WEAK_KEY'
    | 'WEAK_SIGNATURE'
    | (string & {});
  /** `error`: the credential cannot be used; `warning`: it can, but something needs attention. */
  severity: FindingSeverity;
  /** What is wrong. */
  message: string;
  /** What to do about it. */
  fix: string;
  /** The field concerned, when there is one. */
  field?: string;
}

/** Key algorithm of the private key. */
export type KeyType = 'rsa' | 'rsa-pss' | 'ec' | 'ed25519' | 'ed448';

/**
 * A decoded, validated credential. Immutable. `util.inspect`, `JSON.stringify` and `String()` show
 * the certificate's facts and never the key or passphrase.
 */
export interface MtlsCredentials {
  /** The client (leaf) certificate. */
  readonly leaf: X509Certificate;
  /** Intermediates, in order from the leaf's issuer upwards. */
  readonly chain: readonly X509Certificate[];
  /** The private key matching `leaf`. */
  readonly key: KeyObject;
  /** CA certificates to trust for the server, when given. */
  readonly ca: readonly X509Certificate[];
  /** SHA-256 fingerprint of the leaf, colon-separated upper-case hex (as `X509Certificate.fingerprint256`). */
  readonly fingerprint256: string;
  /** Changes whenever any part (leaf, chain, key, CA) changes. */
  readonly version: string;
  /** Start of the leaf's validity (whole seconds, as the certificate states it). */
  readonly notBefore: Date;
  /** End of the leaf's validity (whole seconds): past it, servers refuse the certificate. */
  readonly notAfter: Date;
  /**
   * The leaf's subject distinguished name as `X509Certificate.subject` gives it: one `KEY=value` per
   * line, in certificate order (`CN=client-42.sandbox.mangopay.com\nO=Mangopay\nC=LU`).
   */
  readonly subject: string;
  /**
   * The leaf's subject alternative names as `X509Certificate.subjectAltName` gives them
   * (`DNS:client-42.example.com, IP Address:10.0.0.1`); undefined when the certificate has none.
   */
  readonly subjectAltName: string | undefined;
  /** The distinguished name of the leaf's issuer, in the same format as {@link subject}. */
  readonly issuer: string;
  /** The leaf's serial number, upper-case hex without separators (as `X509Certificate.serialNumber`). */
  readonly serialNumber: string;
  /** Algorithm of the private key (and so of the leaf's public key). */
  readonly keyType: KeyType;
  /** Key size in bits: the modulus for RSA, the curve's size for EC, 256 for Ed25519, 448 for Ed448. */
  readonly keySize: number | undefined;
  /** Named curve for EC keys (`prime256v1`, `secp384r1`, ...); undefined for other key types. */
  readonly curve: string | undefined;
  /** Warnings found by validation (errors throw instead). */
  readonly findings: readonly Finding[];
  /** The id of the source it came from, when loaded from one. */
  readonly sourceId: string | undefined;
  /** The source's version id of the material, when it reported one. */
  readonly sourceVersion: string | undefined;
}
