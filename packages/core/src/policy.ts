// What decoding and validation may be told: the clock, the warning window, the identity to expect,
// how a JSON bundle names its fields. Defaults are written once, here.

/** The fields of a credential, as named in CredentialMaterial and in a JSON bundle. */
export type CredentialField = 'cert' | 'key' | 'passphrase' | 'ca' | 'pfx';

/** Options of decoding and validation. Every member is optional; defaults are given per member. */
export interface ValidationPolicy {
  /** The clock, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Warn (`EXPIRING_SOON`) when the certificate expires within this many days. Default 30. */
  warnDays?: number;
  /**
   * Require the clientAuth extended key usage. Only matters when the certificate has an EKU extension
   * at all (without one, every usage is allowed). Default true.
   */
  requireClientAuth?: boolean;
  /**
   * The identity the certificate must carry: its subject common name (exact string or RegExp), a DNS
   * name among its SANs, and/or its whole subject (e.g. `CN=x.sandbox.mangopay.com, O=Mangopay, C=LU`,
   * attributes in certificate order).
   */
  expectedIdentity?: { commonName?: string | RegExp; dnsName?: string; subject?: string };
  /**
   * CA certificates inside a PFX also become `ca` trust anchors for the server, as Node does with a
   * `pfx`; they stay in the chain that is sent. Default false: they are only chain.
   */
  pfxCaAsTrust?: boolean;
  /**
   * Field names in a JSON bundle. By default each field is found under its own name or a common
   * alias (case, `-`, `_` and `.` ignored): see {@link FIELD_ALIASES}.
   */
  fields?: Partial<Record<CredentialField, string>>;
  /** A passphrase from elsewhere; it takes precedence over one in the material. */
  passphrase?: string;
}

/**
 * Names under which a JSON bundle may hold each field, compared after lower-casing and removing
 * `-`, `_` and `.` (so `private_key`, `privateKey` and `Private-Key` are one name). Covers Kubernetes
 * TLS secrets (`tls.crt`, `tls.key`, `ca.crt`), Vault PKI (`certificate`, `private_key`) and the
 * usual hand-written variants.
 */
export const FIELD_ALIASES: Readonly<Record<CredentialField, readonly string[]>> = Object.freeze({
  cert: [
    'cert',
    'certificate',
    'crt',
    'tls.crt',
    'client_cert',
    'client_certificate',
    'cert_pem',
    'certificate_pem',
  ],
  key: ['key', 'private_key', 'tls.key', 'client_key', 'key_pem', 'private_key_pem'],
  passphrase: ['passphrase', 'password', 'key_passphrase', 'key_password', 'pfx_password'],
  ca: ['ca', 'ca.crt', 'ca_cert', 'ca_certificate', 'ca_bundle', 'ca_pem', 'trusted_ca'],
  pfx: ['pfx', 'p12', 'pkcs12'],
});

/** Lower-cases and drops `-`, `_`, `.`: the form bundle keys are compared in. */
export function normaliseFieldName(name: string): string {
  return name.toLowerCase().replace(/[-_.]/g, '');
}

/** A policy with its defaults applied. */
export interface ResolvedPolicy {
  now: () => number;
  warnDays: number;
  requireClientAuth: boolean;
  expectedIdentity: ValidationPolicy['expectedIdentity'];
  pfxCaAsTrust: boolean;
  /** For each field, the normalised names accepted in a JSON bundle, in order of preference. */
  bundleNames: Record<CredentialField, readonly string[]>;
  passphrase: string | undefined;
}

const DEFAULT_WARN_DAYS = 30;

/** Applies the defaults. */
export function resolvePolicy(policy: ValidationPolicy = {}): ResolvedPolicy {
  const bundleNames = {} as Record<CredentialField, readonly string[]>;
  for (const field of Object.keys(FIELD_ALIASES) as CredentialField[]) {
    const custom = policy.fields?.[field];
    bundleNames[field] = (custom === undefined ? FIELD_ALIASES[field] : [custom]).map(normaliseFieldName);
  }
  return {
    now: policy.now ?? Date.now,
    warnDays: policy.warnDays ?? DEFAULT_WARN_DAYS,
    requireClientAuth: policy.requireClientAuth ?? true,
    expectedIdentity: policy.expectedIdentity,
    pfxCaAsTrust: policy.pfxCaAsTrust ?? false,
    bundleNames,
    passphrase: policy.passphrase,
  };
}
