// What decoding and validation may be told: the clock, the warning window, the identity to expect,
// how a JSON bundle names its fields. Defaults are written once, here, and a policy of the wrong
// shape (it may come from untyped JSON) is an MtlsError rather than a TypeError or a skipped check.
import { MtlsError } from '../errors.js';
import type { Finding, MtlsCredentials } from '../types.js';

/** The fields of a credential, as named in CredentialMaterial and in a JSON bundle. */
export type CredentialField = 'cert' | 'key' | 'passphrase' | 'ca' | 'pfx';

/** Options of decoding and validation. Every member is optional; defaults are given per member. */
export interface ValidationPolicy {
  /** The clock, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * Warn (`EXPIRING_SOON`) when the certificate expires within this many days. Default: the smaller
   * of 30 days and a third of the certificate's lifetime (so a 30-day certificate, renewed at two
   * thirds as cert-manager does, does not warn from its first load).
   */
  warnDays?: number;
  /**
   * Require a certificate usable for TLS client authentication, by OpenSSL's rule: the clientAuth
   * extended key usage when there is an EKU extension (without one, every usage is allowed), and
   * digitalSignature or keyAgreement when there is a key usage extension. Default true; false only for
   * a server known to accept such a certificate anyway.
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
  /**
   * Checks of your own, run after core's on every credential validated with this policy
   * (`loadCredentials`, each load of a resolver, `validateCredentials`): their error findings refuse
   * the credential as core's do (the first one thrown as an MtlsError of its code), their warnings
   * ride on the credentials' `findings`. `now` is the time the validity dates were judged at.
   */
  check?: (credentials: CheckedParts, context: { now: number }) => readonly Finding[];
}

/** What a policy's `check` is given: the decoded parts of the credential. */
export type CheckedParts = Pick<MtlsCredentials, 'leaf' | 'chain' | 'key' | 'ca'>;

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
  /** As given; undefined: the default window of {@link warnWindowMs}. */
  warnDays: number | undefined;
  requireClientAuth: boolean;
  expectedIdentity: ValidationPolicy['expectedIdentity'];
  pfxCaAsTrust: boolean;
  /** For each field, the normalised names accepted in a JSON bundle, in order of preference. */
  bundleNames: Record<CredentialField, readonly string[]>;
  passphrase: string | undefined;
  check: ValidationPolicy['check'];
}

const DEFAULT_WARN_DAYS = 30;
const DAY_MS = 86_400_000;

/**
 * The `EXPIRING_SOON` window of a certificate valid from `notBefore` to `notAfter` (ms), in ms:
 * `warnDays` when given, else the smaller of 30 days and a third of its lifetime. cert-manager renews
 * at two thirds of a lifetime by default, so a healthy short-lived certificate never warns. One rule
 * for validation and for the resolver's `expiring` event.
 */
export function warnWindowMs(warnDays: number | undefined, notBefore: number, notAfter: number): number {
  if (warnDays !== undefined) return warnDays * DAY_MS;
  return Math.min(DEFAULT_WARN_DAYS * DAY_MS, Math.max(0, (notAfter - notBefore) / 3));
}

function invalid(option: string, problem: string, fix: string): never {
  throw new MtlsError('INVALID_OPTION', `The validation policy's ${option} ${problem}. ${fix}`);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function optional(
  policy: Record<string, unknown>,
  name: string,
  type: 'function' | 'boolean' | 'string' | 'object',
  fix: string,
): void {
  const value = policy[name];
  if (value === undefined) return;
  const ok =
    type === 'object'
      ? typeof value === 'object' && value !== null && !Array.isArray(value)
      : typeof value === type;
  if (!ok) invalid(name, `is ${describe(value)}, not ${type === 'object' ? 'an object' : `a ${type}`}`, fix);
}

/** Checks the shape of a policy (it may come from untyped JSON or JavaScript); throws INVALID_OPTION. */
function checkPolicy(policy: unknown): asserts policy is ValidationPolicy {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    invalid(
      'value',
      `is ${describe(policy)}, not an object`,
      'Pass an object such as { warnDays: 30 }, or nothing.',
    );
  }
  const p = policy as Record<string, unknown>;
  optional(
    p,
    'now',
    'function',
    'Give a function returning milliseconds since the epoch, e.g. () => Date.now().',
  );
  optional(p, 'requireClientAuth', 'boolean', 'Give true or false.');
  optional(p, 'pfxCaAsTrust', 'boolean', 'Give true or false.');
  optional(p, 'passphrase', 'string', 'Give the passphrase as a string.');
  optional(p, 'check', 'function', 'Give a function (credentials, { now }) returning an array of findings.');
  if (
    p.warnDays !== undefined &&
    !(typeof p.warnDays === 'number' && p.warnDays >= 0 && p.warnDays < Infinity)
  ) {
    invalid(
      'warnDays',
      `is ${typeof p.warnDays === 'number' ? String(p.warnDays) : describe(p.warnDays)}`,
      'Give a number of days, 0 or more (default: 30, or a third of the lifetime of a shorter-lived certificate).',
    );
  }
  optional(p, 'expectedIdentity', 'object', 'Give an object with commonName, dnsName and/or subject.');
  const identity = (p.expectedIdentity ?? {}) as Record<string, unknown>;
  const cn = identity.commonName;
  if (cn !== undefined && typeof cn !== 'string' && !(cn instanceof RegExp)) {
    invalid('expectedIdentity.commonName', `is ${describe(cn)}`, 'Give a string or a RegExp.');
  }
  for (const name of ['dnsName', 'subject'] as const) {
    if (identity[name] !== undefined && typeof identity[name] !== 'string') {
      invalid(`expectedIdentity.${name}`, `is ${describe(identity[name])}, not a string`, 'Give a string.');
    }
  }
  optional(
    p,
    'fields',
    'object',
    'Give an object mapping cert/key/passphrase/ca/pfx to the names in your JSON bundle.',
  );
  const fields = (p.fields ?? {}) as Record<string, unknown>;
  for (const field of Object.keys(FIELD_ALIASES)) {
    const name = fields[field];
    if (name !== undefined && (typeof name !== 'string' || name === '')) {
      invalid(
        `fields.${field}`,
        typeof name === 'string' ? 'is empty' : `is ${describe(name)}, not a string`,
        `Give the name your JSON bundle uses for ${field}, e.g. "tls.crt".`,
      );
    }
  }
}

/** For each field, the normalised names a JSON bundle may use for it: the custom one, or the aliases. */
function bundleNamesOf(
  fields: ValidationPolicy['fields'],
): Readonly<Record<CredentialField, readonly string[]>> {
  const bundleNames = {} as Record<CredentialField, readonly string[]>;
  for (const field of Object.keys(FIELD_ALIASES) as CredentialField[]) {
    const custom = fields?.[field];
    bundleNames[field] = Object.freeze(
      (custom === undefined ? FIELD_ALIASES[field] : [custom]).map(normaliseFieldName),
    );
  }
  return Object.freeze(bundleNames);
}

let aliases: Readonly<Record<CredentialField, readonly string[]>> | undefined;
/** The names without custom fields: made once, shared by every policy (thousands of resolvers). */
function defaultBundleNames(): Readonly<Record<CredentialField, readonly string[]>> {
  aliases ??= bundleNamesOf(undefined);
  return aliases;
}

/** Applies the defaults. Throws MtlsError (INVALID_OPTION) for a policy of the wrong shape. */
export function resolvePolicy(given?: ValidationPolicy | null): ResolvedPolicy {
  // null (e.g. an absent key of a JSON configuration) is no policy, like undefined.
  const policy: unknown = given ?? {};
  checkPolicy(policy);
  const bundleNames = policy.fields === undefined ? defaultBundleNames() : bundleNamesOf(policy.fields);
  const now = policy.now ?? Date.now;
  return {
    now: () => currentTime(now),
    warnDays: policy.warnDays,
    requireClientAuth: policy.requireClientAuth ?? true,
    expectedIdentity: policy.expectedIdentity,
    pfxCaAsTrust: policy.pfxCaAsTrust ?? false,
    bundleNames,
    passphrase: policy.passphrase,
    check: policy.check,
  };
}

/**
 * The policy's clock, read once per validation: a Date is accepted too. A clock that throws or gives
 * no finite time is an error, never a silently skipped date check.
 */
function currentTime(now: () => unknown): number {
  let value: unknown;
  try {
    value = now();
  } catch (err) {
    throw new MtlsError(
      'INVALID_OPTION',
      "The validation policy's now() threw. Give a function returning milliseconds since the epoch, e.g. () => Date.now().",
      { cause: err },
    );
  }
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    const what = typeof ms === 'number' ? String(ms) : describe(ms);
    throw new MtlsError(
      'INVALID_OPTION',
      `The validation policy's now() returned ${what}, not a time; the validity dates cannot be checked. Give a function returning milliseconds since the epoch, e.g. () => Date.now().`,
    );
  }
  return ms;
}
