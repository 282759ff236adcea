// @mtlskit/cli/renewal: staged certificate renewal as a library, the steps `mtlskit renew` runs. The
// new key is made in memory and goes straight into the store as the pending version; the certificate
// is checked against that key, the expected identity and clientAuth before it joins it; promotion
// makes the checked version current (running resolvers pick it up on their next refresh), rollback
// returns to the one before. Works with any source that has the renewal capabilities of
// CredentialSource (storePending, loadPending, promote, rollback): docs/renewal.md.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import {
  type CredentialMaterial,
  type CredentialSource,
  type FieldValue,
  MtlsError,
  type SourceContext,
  type StageChange,
  type ValidationPolicy,
  validateCredentials,
} from '@mtlskit/core';
import { decodeMaterial } from '@mtlskit/core/decode';
import { createKeyAndCsr } from './csr.js';
import type { KeyType } from './names.js';

export type { KeyType } from './names.js';

/** A source that can stage, promote and roll back versions. */
export type RenewableSource = CredentialSource &
  Required<Pick<CredentialSource, 'storePending' | 'loadPending' | 'promote' | 'rollback'>>;

/** What the CSR asks for: subject attributes in certificate order, and subject alternative names. */
export interface RenewalIdentity {
  subject: [string, string][];
  /** `DNS:name`, `IP:addr`, `email:addr`, `URI:uri`. */
  san: string[];
}

/** What the new certificate must carry: its CN and a DNS SAN (what core's identity check compares). */
export interface ExpectedIdentity {
  commonName?: string;
  dnsName?: string;
}

/** Facts of a certificate, secret-free, for reports. */
export interface CertificateFacts {
  subject: string;
  subjectAltName: string | undefined;
  notAfter: string;
  fingerprint256: string;
}

/** Refuses a source without the renewal capabilities (INVALID_OPTION: it cannot work as configured). */
export function renewable(source: CredentialSource): RenewableSource {
  const missing = (['storePending', 'loadPending', 'promote', 'rollback'] as const).filter(
    (m) => typeof source[m] !== 'function',
  );
  if (missing.length > 0) {
    throw new MtlsError(
      'INVALID_OPTION',
      `${source.id} cannot hold a pending version (its source has no ${missing.join(', ')}): staged renewal works with aws-sm://, azure-kv://, gcp-sm:// and vault:// (KV v2) references to a whole credential`,
      { sourceId: source.id },
    );
  }
  return source as RenewableSource;
}

/** A CredentialSource reading the pending version of `source`: for a check, or a resolver trying it out. */
export function pendingSource(source: CredentialSource): CredentialSource {
  const r = renewable(source);
  return { id: `${source.id} (pending)`, load: (ctx) => r.loadPending(ctx) };
}

function factsOf(cert: X509Certificate): CertificateFacts {
  return {
    subject: cert.subject.split('\n').join(', '),
    subjectAltName: cert.subjectAltName,
    notAfter: new Date(cert.validTo).toISOString(),
    fingerprint256: cert.fingerprint256,
  };
}

/** The current credential's leaf, decoded (and its key type), or undefined when the store has none yet. */
async function currentLeaf(source: CredentialSource, ctx: SourceContext) {
  let material: CredentialMaterial;
  try {
    material = await source.load(ctx);
  } catch (err) {
    if (MtlsError.is(err, 'SOURCE_NOT_FOUND')) return undefined;
    throw err;
  }
  return { decoded: decodeMaterial(material), material };
}

/** The subject and SANs of a certificate, in the form a CSR takes them. */
export function identityOf(cert: X509Certificate): RenewalIdentity {
  const subject = cert.subject
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l): [string, string] => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
  const san = (cert.subjectAltName ?? '')
    .split(', ')
    .map((e) => e.replace(/^IP Address:/, 'IP:'))
    .filter((e) => /^(DNS|IP|email|URI):/.test(e));
  return { subject, san };
}

/** What to compare a new certificate with: the CN and first DNS SAN of an identity. */
export function expectedOf(identity: RenewalIdentity): ExpectedIdentity {
  const commonName = identity.subject.find(([k]) => k.toUpperCase() === 'CN')?.[1];
  const dnsName = identity.san.find((s) => s.startsWith('DNS:'))?.slice(4);
  return { ...(commonName && { commonName }), ...(dnsName && { dnsName }) };
}

export interface StartOptions extends SourceContext {
  /** The CSR's subject and SANs; default those of the current certificate (a renewal keeps its name). */
  identity?: RenewalIdentity;
  /** Default: with `identity`, rsa2048; without, the current key's type (EC P-256 stays EC). */
  keyType?: KeyType;
}

export interface StartResult {
  /** The store's id of the pending version (the key alone). */
  version: string;
  /** The CSR to hand to the CA. */
  csrPem: string;
  identity: RenewalIdentity;
  keyType: KeyType;
  /** The new key, in memory: written nowhere but the store unless the caller does. */
  privateKey: KeyObject;
}

/** Step 1: a new key, stored as the pending version (the current one untouched), and its CSR. */
export async function startRenewal(
  source: CredentialSource,
  options: StartOptions = {},
): Promise<StartResult> {
  const r = renewable(source);
  const ctx = options.signal ? { signal: options.signal } : {};
  let identity = options.identity;
  let keyType = options.keyType;
  if (identity === undefined) {
    const current = await currentLeaf(r, ctx);
    if (current === undefined) {
      throw new MtlsError(
        'SOURCE_NOT_FOUND',
        `${r.id} has no current certificate to take the name from: give the subject (--client-id, or --subject and --san)`,
        { sourceId: r.id },
      );
    }
    identity = identityOf(current.decoded.leaf);
    keyType ??= current.decoded.key.asymmetricKeyType === 'ec' ? 'ec-p256' : 'rsa2048';
  }
  keyType ??= 'rsa2048';
  const { privateKey, csrPem } = await createKeyAndCsr({
    keyType,
    subject: identity.subject,
    san: identity.san,
  });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const { version } = await r.storePending({ key }, ctx);
  return { version, csrPem, identity, keyType, privateKey };
}

function text(value: FieldValue): string {
  return typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
}

/** The fields of stored material: its own, or those of a JSON bundle. */
function fieldsOf(material: CredentialMaterial): Record<string, unknown> {
  if (material.bundle === undefined) return material as Record<string, unknown>;
  const raw = text(material.bundle).trim();
  if (raw.startsWith('{')) {
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      // not JSON after all: a PEM, handled below
    }
  }
  return { key: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/.exec(raw)?.[0] };
}

/** The pending version's private key. */
function pendingKey(sourceId: string, material: CredentialMaterial): KeyObject {
  const key = fieldsOf(material).key;
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw new MtlsError(
      'MISSING_FIELD',
      `the pending version of ${sourceId} holds no private key: start the renewal again (mtlskit renew start)`,
      { sourceId, field: 'key' },
    );
  }
  try {
    return createPrivateKey(typeof key === 'string' ? key : Buffer.from(key));
  } catch (err) {
    throw new MtlsError(
      'DECODE_FAILED',
      `the pending version of ${sourceId} holds a key that does not parse: start the renewal again (mtlskit renew start)`,
      { sourceId, field: 'key', cause: err },
    );
  }
}

function certificates(sourceId: string, cert: FieldValue): X509Certificate[] {
  const pem = text(cert).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  try {
    if (pem) return pem.map((b) => new X509Certificate(b));
    return [new X509Certificate(Buffer.from(cert))];
  } catch (err) {
    throw new MtlsError(
      'DECODE_FAILED',
      'the certificate given is neither PEM nor DER: give the file the CA returned (PEM, leaf first)',
      { sourceId, field: 'cert', cause: err },
    );
  }
}

/**
 * Decodes and validates `material` with `expected`, and throws its first error: KEY_MISMATCH,
 * IDENTITY_MISMATCH, NO_CLIENT_AUTH, EXPIRED, ...
 */
function requireValid(
  sourceId: string,
  material: CredentialMaterial,
  expected: ExpectedIdentity | undefined,
) {
  const policy: ValidationPolicy = expected ? { expectedIdentity: expected } : {};
  const decoded = decodeMaterial(material, policy);
  const error = validateCredentials(decoded, policy).find((f) => f.severity === 'error');
  if (error) {
    throw new MtlsError(error.code as 'KEY_MISMATCH', `${error.message} — ${error.fix}`, {
      sourceId,
      ...(error.field && { field: error.field }),
    });
  }
  return decoded;
}

export interface CompleteOptions extends SourceContext {
  /** What the certificate must be issued for; default the current certificate's CN and DNS SAN. */
  expected?: ExpectedIdentity;
}

export interface CompleteResult {
  /** The store's id of the pending version now holding key and certificate. */
  version: string;
  certificate: CertificateFacts;
}

/**
 * Step 2: the certificate the CA returned joins the pending key, after checks: it must belong to
 * the pending key (KEY_MISMATCH), carry the expected identity (IDENTITY_MISMATCH) and allow client
 * authentication (NO_CLIENT_AUTH), and be valid now. The current CA, if any, is kept.
 */
export async function completeRenewal(
  source: CredentialSource,
  cert: FieldValue,
  options: CompleteOptions = {},
): Promise<CompleteResult> {
  const r = renewable(source);
  const ctx = options.signal ? { signal: options.signal } : {};
  const pending = await r.loadPending(ctx);
  const key = pendingKey(r.id, pending);
  const [leaf, ...chain] = certificates(r.id, cert);
  if (leaf === undefined || !leaf.checkPrivateKey(key)) {
    throw new MtlsError(
      'KEY_MISMATCH',
      `the certificate given does not belong to the pending key of ${r.id}: give the certificate issued for the CSR of the last \`mtlskit renew start\` (a newer start replaced the key)`,
      { sourceId: r.id, field: 'cert' },
    );
  }
  const current = await currentLeaf(r, ctx);
  const expected = options.expected ?? (current ? expectedOf(identityOf(current.decoded.leaf)) : undefined);
  if (expected === undefined) {
    throw new MtlsError(
      'INVALID_OPTION',
      `${r.id} has no current certificate to compare the new one with: say which name it must carry (--client-id, or --subject and --san)`,
      { sourceId: r.id },
    );
  }
  const ca = current?.decoded.ca.map((c) => c.toString()).join('');
  const material: CredentialMaterial = {
    cert: [leaf, ...chain].map((c) => c.toString()).join(''),
    key: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    ...(ca && { ca }),
  };
  requireValid(r.id, material, expected);
  const { version } = await r.storePending(material, ctx);
  return { version, certificate: factsOf(leaf) };
}

/** The pending credential, decoded and validated: what a promotion would hand to running clients. */
export async function loadPending(source: CredentialSource, ctx: SourceContext = {}) {
  const r = renewable(source);
  const material = await r.loadPending(ctx);
  const fields = fieldsOf(material);
  if (fields.cert === undefined && material.cert === undefined) {
    throw new MtlsError(
      'MISSING_FIELD',
      `the pending version of ${r.id} has its key but no certificate yet: finish it first (mtlskit renew complete --cert FILE)`,
      { sourceId: r.id, field: 'cert' },
    );
  }
  const decoded = requireValid(r.id, material, undefined);
  return { version: material.version ?? '', certificate: factsOf(decoded.leaf) };
}

export interface PromoteOptions extends SourceContext {
  /** Promote only this pending version (the one checked), refusing any other. */
  version?: string;
}

/**
 * Step 3: the pending version becomes current, once it is whole and valid. Running resolvers load it
 * on their next refresh (or watch event).
 */
export async function promoteRenewal(
  source: CredentialSource,
  options: PromoteOptions = {},
): Promise<StageChange & { certificate: CertificateFacts }> {
  const r = renewable(source);
  const ctx = options.signal ? { signal: options.signal } : {};
  const pending = await loadPending(r, ctx);
  const version = options.version ?? pending.version;
  const change = await r.promote(version, ctx);
  return { ...change, certificate: pending.certificate };
}

/** Returns to the version that was current before the last promotion. */
export async function rollbackRenewal(
  source: CredentialSource,
  ctx: SourceContext = {},
): Promise<StageChange> {
  return renewable(source).rollback(ctx);
}
