// Validation: is decoded material usable as a TLS client credential, judged before the first request
// rather than by a server's alert afterwards. Each check yields findings with a code, a severity and a
// plain-English fix; errors make loadCredentials throw, warnings ride on the credentials.
import type { KeyObject, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { issuedBy, keyMatches } from '../decoding/chain.js';
import type { DecodedMaterial } from '../decoding/decode.js';
import { describeKey } from '../decoding/keys.js';
import { readStructure } from '../decoding/structure.js';
import { ERROR_CODES, MtlsError } from '../errors.js';
import type { Finding } from '../types.js';
import { type ResolvedPolicy, resolvePolicy, type ValidationPolicy, warnWindowMs } from './policy.js';

const DAY_MS = 86_400_000;

/** The fields the leaf and key came from (a finding's `field`), and how messages name them. */
interface Origin {
  leaf: string;
  key: string;
  /** E.g. "`cert`", or "the bundle's `tls.crt`" for a value taken from a JSON bundle. */
  labels: { leaf: string; key: string; ca: string };
}

const RENEW =
  'Renew it with your provider (a new key and CSR, then the issued certificate) and store the new certificate and key';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

/** Subject attributes in certificate order, as [NAME, value] (Node prints one per line). */
function subjectAttributes(subject: string): [string, string][] {
  return subject
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at).trim().toUpperCase(), line.slice(at + 1).trim()];
    });
}

/** Parses an expected subject written as `CN=a, O=b, C=c`, `/CN=a/O=b/C=c` or one attribute per line. */
function parseExpectedSubject(text: string): [string, string][] {
  const trimmed = text.trim();
  const parts = trimmed.startsWith('/')
    ? trimmed.slice(1).split('/')
    : trimmed.includes('\n')
      ? trimmed.split('\n')
      : trimmed.split(/(?<!\\),/);
  return parts
    .filter((p) => p.includes('='))
    .map((p) => {
      const at = p.indexOf('=');
      return [
        p.slice(0, at).trim().toUpperCase(),
        p
          .slice(at + 1)
          .trim()
          .replace(/\\,/g, ','),
      ];
    });
}

/** The common name of a certificate's subject, if it has one. */
export function commonName(cert: X509Certificate): string | undefined {
  return subjectAttributes(cert.subject).find(([k]) => k === 'CN')?.[1];
}

/** DNS names among a certificate's subject alternative names. */
export function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4).replace(/^"|"$/g, ''));
}

/** A short name for a certificate in messages: its CN, else its whole subject on one line. */
function certName(cert: X509Certificate): string {
  const cn = commonName(cert);
  return cn !== undefined ? `"${cn}"` : `"${cert.subject.replace(/\n/g, ', ')}"`;
}

function keyDescription(key: KeyObject): string {
  const { keyType, keySize, curve } = describeKey(key);
  if (keyType === 'ec') return `EC ${curve ?? ''}`.trim();
  if (keyType === 'rsa' || keyType === 'rsa-pss') return `${keyType.toUpperCase()} ${keySize ?? ''}`.trim();
  if (keyType === 'ed25519') return 'Ed25519';
  if (keyType === 'ed448') return 'Ed448';
  const bits = key.asymmetricKeyDetails?.modulusLength;
  return `${String(key.asymmetricKeyType ?? 'unknown').toUpperCase()}${bits === undefined ? '' : ` ${bits}`}`;
}

/** What isSelfSigned found, by certificate. */
const selfSigned = new WeakMap<X509Certificate, boolean>();

/**
 * Self-signed: its own issuer, by name and by signature (X509Certificate.checkIssued also wants
 * keyCertSign, which a pinned self-signed server certificate often lacks).
 */
function isSelfSigned(cert: X509Certificate): boolean {
  if (cert.subject !== cert.issuer) return false;
  // A signature check costs as much as parsing the certificate: one per certificate, and a CA that
  // many credentials share (decoding/shared-certs.ts) is checked once for all of them.
  let known = selfSigned.get(cert);
  if (known === undefined) {
    known = cert.verify(cert.publicKey);
    selfSigned.set(cert, known);
  }
  return known;
}

function date(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** notBefore/notAfter of a certificate in ms (Node 20 has no validFromDate/validToDate). */
export function validity(cert: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

function checkKey(leaf: X509Certificate, key: KeyObject, origin: Origin, out: Finding[]): void {
  if (keyMatches(leaf, key)) return;
  const keyDesc = keyDescription(key);
  const certDesc = keyDescription(leaf.publicKey);
  const kinds =
    keyDesc.split(' ')[0] === certDesc.split(' ')[0]
      ? ''
      : ` (an ${keyDesc} key with an ${certDesc} certificate)`;
  out.push({
    code: 'KEY_MISMATCH',
    severity: 'error',
    field: origin.key,
    message: `The private key in ${origin.labels.key} does not belong to the certificate ${certName(leaf)} in ${origin.labels.leaf}${kinds}.`,
    fix: 'Use the private key the certificate’s CSR was generated with; after a renewal, store the new certificate and its new key together.',
  });
}

function checkChain(
  leaf: X509Certificate,
  chain: readonly X509Certificate[],
  origin: Origin,
  out: Finding[],
): void {
  for (let i = 0; i < chain.length; i++) {
    const child = i === 0 ? leaf : chain[i - 1]!;
    const parent = chain[i]!;
    if (!issuedBy(child, parent)) {
      const strays = chain.slice(i).map(certName).join(', ');
      out.push({
        code: 'CHAIN_INVALID',
        severity: 'error',
        field: origin.leaf,
        message: `The certificate chain in ${origin.labels.leaf} cannot be put in order: ${strays} did not issue ${certName(child)} or any certificate above it.`,
        fix: 'Send only the client certificate and the intermediates that issued it; remove unrelated certificates or add the missing intermediate.',
      });
      return;
    }
    if (!parent.ca) {
      out.push({
        code: 'CHAIN_INVALID',
        severity: 'error',
        field: origin.leaf,
        message: `${certName(parent)} in ${origin.labels.leaf} signed ${certName(child)} but is not a CA certificate (no basicConstraints CA:TRUE).`,
        fix: 'Use the intermediate CA certificates your provider publishes.',
      });
      return;
    }
  }
}

function checkDates(
  leaf: X509Certificate,
  chain: readonly X509Certificate[],
  ca: readonly X509Certificate[],
  policy: ResolvedPolicy,
  now: number,
  origin: Origin,
  out: Finding[],
): void {
  const field = origin.leaf;
  const label = origin.labels.leaf;
  const { notBefore, notAfter } = validity(leaf);
  if (now < notBefore) {
    out.push({
      code: 'NOT_YET_VALID',
      severity: 'error',
      field,
      message: `The certificate ${certName(leaf)} in ${label} is not valid before ${date(notBefore)}.`,
      fix: 'Wait until then, or check this machine’s clock; a server rejects it until that time.',
    });
  } else if (now > notAfter) {
    out.push({
      code: 'EXPIRED',
      severity: 'error',
      field,
      message: `The certificate ${certName(leaf)} in ${label} expired on ${date(notAfter)}.`,
      fix: `${RENEW}.`,
    });
  } else if (notAfter - now < warnWindowMs(policy.warnDays, notBefore, notAfter)) {
    const days = Math.floor((notAfter - now) / DAY_MS);
    out.push({
      code: 'EXPIRING_SOON',
      severity: 'warning',
      field,
      message: `The certificate ${certName(leaf)} in ${label} expires on ${date(notAfter)}, in ${days} day${days === 1 ? '' : 's'}.`,
      fix: `${RENEW} before then.`,
    });
  }
  for (const cert of chain) {
    const v = validity(cert);
    if (now > v.notAfter || now < v.notBefore) {
      out.push({
        code: now > v.notAfter ? 'EXPIRED' : 'NOT_YET_VALID',
        severity: 'error',
        field,
        message: `The intermediate certificate ${certName(cert)} in ${label} is ${now > v.notAfter ? `expired since ${date(v.notAfter)}` : `not valid before ${date(v.notBefore)}`}.`,
        fix: 'Replace the intermediates with the current ones from your provider.',
      });
    }
  }
  for (const cert of ca) {
    if (now > validity(cert).notAfter) {
      out.push({
        code: 'CA_EXPIRED',
        severity: 'warning',
        field: 'ca',
        message: `The CA certificate ${certName(cert)} in ${origin.labels.ca} expired on ${date(validity(cert).notAfter)}.`,
        fix: 'Replace it with the current CA certificate of the server you call.',
      });
    }
  }
}

/**
 * Node verifies a server only up to a self-signed certificate among its trust anchors (OpenSSL without
 * X509_V_FLAG_PARTIAL_CHAIN): a `ca` of intermediates alone fails every request.
 */
function checkTrustAnchors(ca: readonly X509Certificate[], origin: Origin, out: Finding[]): void {
  if (ca.length === 0 || ca.some(isSelfSigned)) return;
  out.push({
    code: 'CA_NOT_ROOT',
    severity: 'warning',
    field: 'ca',
    message: `${origin.labels.ca} holds no root (self-signed) certificate, only ${ca.map(certName).join(', ')}: Node trusts a server only through a root in it, so every request fails with UNABLE_TO_GET_ISSUER_CERT (unless caMode 'append' adds a system root above it).`,
    fix: 'Add the root CA certificate above these (the last certificate `openssl s_client -showcerts` prints for the server) to ca.',
  });
}

const ekuNames = (eku: readonly string[]) => eku.map((o) => EKU_NAMES[o] ?? o).join(', ') || 'none';

/**
 * OpenSSL verifies a client certificate's chain for the SSL client purpose: an intermediate whose
 * extended key usage excludes clientAuth (a hierarchy meant for server certificates) fails the
 * handshake for every certificate under it.
 */
function checkChainUsage(chain: readonly X509Certificate[], origin: Origin, out: Finding[]): void {
  for (const ca of chain) {
    const eku = ca.keyUsage as string[] | undefined;
    if (eku === undefined || eku.includes(EKU_CLIENT_AUTH)) continue;
    out.push({
      code: 'NO_CLIENT_AUTH',
      severity: 'error',
      field: origin.leaf,
      message: `The intermediate ${certName(ca)} in ${origin.labels.leaf} limits every certificate under it to ${ekuNames(eku)}: servers built on OpenSSL refuse a client certificate issued below it (unsupported certificate purpose).`,
      fix: 'Get the client certificate from a CA hierarchy meant for client authentication (its intermediates either carry no extended key usage or include clientAuth); hierarchies for server certificates are not.',
    });
  }
}

function checkUsage(leaf: X509Certificate, policy: ResolvedPolicy, origin: Origin, out: Finding[]): void {
  if (!policy.requireClientAuth) return;
  // Node 20 lists the extended key usage OIDs in `keyUsage` (undefined when there is no EKU extension).
  const eku = leaf.keyUsage as string[] | undefined;
  if (eku !== undefined && !eku.includes(EKU_CLIENT_AUTH)) {
    const names = ekuNames(eku);
    out.push({
      code: 'NO_CLIENT_AUTH',
      severity: 'error',
      field: origin.leaf,
      message: `The certificate ${certName(leaf)} in ${origin.labels.leaf} is not allowed for client authentication: its extended key usage is ${names}.`,
      fix: 'Request a certificate with extendedKeyUsage=clientAuth (in the CSR: `-addext extendedKeyUsage=clientAuth`); servers reject this one with alert 43.',
    });
    return;
  }
  // OpenSSL's rule for a TLS client certificate (X509_PURPOSE_SSL_CLIENT): a key usage extension must
  // allow digitalSignature or keyAgreement, a Netscape certificate type must allow sslClient. Without
  // them the handshake ends in a bare "socket hang up".
  const { keyUsage, netscapeType } = readStructure(leaf);
  const missing =
    keyUsage !== undefined && (keyUsage & (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT)) === 0
      ? `its key usage is ${keyUsageNames(keyUsage)}, without digitalSignature`
      : netscapeType !== undefined && (netscapeType & NS_SSL_CLIENT) === 0
        ? 'its Netscape certificate type excludes SSL client'
        : undefined;
  if (missing === undefined) return;
  out.push({
    code: 'NO_CLIENT_AUTH',
    severity: 'error',
    field: origin.leaf,
    message: `The certificate ${certName(leaf)} in ${origin.labels.leaf} is not allowed for client authentication: ${missing}; TLS servers built on OpenSSL end the handshake.`,
    fix: 'Request a certificate whose key usage includes digitalSignature (in the CSR: `-addext keyUsage=critical,digitalSignature`), with extendedKeyUsage=clientAuth.',
  });
}

function checkIdentity(leaf: X509Certificate, policy: ResolvedPolicy, origin: Origin, out: Finding[]): void {
  const expected = policy.expectedIdentity;
  if (!expected) return;
  const fix =
    'Use the certificate issued for this client, or correct the expected identity (e.g. the client id or environment).';
  const cn = commonName(leaf);
  if (expected.commonName !== undefined) {
    const want = expected.commonName;
    const ok =
      cn !== undefined &&
      (typeof want === 'string'
        ? cn === want
        : new RegExp(want.source, want.flags.replace(/[gy]/g, '')).test(cn));
    if (!ok) {
      out.push({
        code: 'IDENTITY_MISMATCH',
        severity: 'error',
        field: origin.leaf,
        message: `The certificate in ${origin.labels.leaf} has ${cn === undefined ? 'no common name' : `common name "${cn}"`}, expected ${typeof want === 'string' ? `"${want}"` : `one matching ${want}`}.`,
        fix,
      });
    }
  }
  if (expected.dnsName !== undefined) {
    const names = dnsNames(leaf);
    if (!names.some((n) => n.toLowerCase() === expected.dnsName!.toLowerCase())) {
      out.push({
        code: 'IDENTITY_MISMATCH',
        severity: 'error',
        field: origin.leaf,
        message: `The certificate in ${origin.labels.leaf} has no DNS name "${expected.dnsName}" among its subject alternative names (${names.join(', ') || 'none'}).`,
        fix,
      });
    }
  }
  if (expected.subject !== undefined) {
    const want = parseExpectedSubject(expected.subject);
    const have = subjectAttributes(leaf.subject);
    const key = (a: [string, string][]) => a.map(([k, v]) => `${k}=${v}`);
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    const wantKeys = key(want);
    const haveKeys = key(have);
    // OpenSSL prints a subject in certificate order, RFC 4514 (Java, .NET) in reverse: both are this subject.
    if (!same(wantKeys, haveKeys) && !same([...wantKeys].reverse(), haveKeys)) {
      const reordered = same([...wantKeys].sort(), [...haveKeys].sort());
      out.push({
        code: 'IDENTITY_MISMATCH',
        severity: 'error',
        field: origin.leaf,
        message: `The certificate in ${origin.labels.leaf} has subject "${haveKeys.join(', ')}", expected "${wantKeys.join(', ')}"${reordered ? ' (same attributes, in another order)' : ''}.`,
        fix,
      });
    }
  }
}

/** Signatures over a hash that OpenSSL 3 builds refuse at their default security level (SHA-1: Node 20's). */
const WEAK_SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'MD2',
  '1.2.840.113549.1.1.3': 'MD4',
  '1.2.840.113549.1.1.4': 'MD5',
  '1.2.840.113549.1.1.5': 'SHA-1',
  '1.3.14.3.2.29': 'SHA-1',
  '1.2.840.10045.4.1': 'SHA-1',
  '1.2.840.10040.4.3': 'SHA-1',
};

const KU_DIGITAL_SIGNATURE = 0x80;
const KU_KEY_AGREEMENT = 0x08;
const NS_SSL_CLIENT = 0x80;
const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
];

function keyUsageNames(bits: number): string {
  return KEY_USAGE_NAMES.filter((_, i) => (bits & (0x80 >> i)) !== 0).join(', ') || 'empty';
}

/** The weak hash a certificate is signed with (MD5, SHA-1...), or undefined. */
function weakSignatureHash(cert: X509Certificate): string | undefined {
  const { signatureOid } = readStructure(cert);
  const hash = signatureOid === undefined ? undefined : WEAK_SIGNATURE_HASHES[signatureOid];
  // OpenSSL never judges the signature of a self-signed certificate (a SHA-1 root is common in chains).
  return hash === undefined || isSelfSigned(cert) ? undefined : hash;
}

/** Why OpenSSL might refuse a certificate's own key: below 2048-bit RSA, a curve under 256 bits or unknown, DSA. */
function smallKey(cert: X509Certificate, key: KeyObject | undefined): string | undefined {
  // The private key that matches a certificate describes its public key too (and is described once).
  const { keyType, keySize } = describeKey(key !== undefined && keyMatches(cert, key) ? key : cert.publicKey);
  if (keyType === 'ed25519' || keyType === 'ed448') return undefined;
  if ((keyType === 'rsa' || keyType === 'rsa-pss') && keySize !== undefined && keySize >= 2048)
    return undefined;
  if (keyType === 'ec' && keySize !== undefined && keySize >= 256) return undefined;
  return `its key is ${keyDescription(cert.publicKey)}`;
}

/** The OpenSSL error codes of a security-level refusal: a key too small, a signature hash too weak. */
const SECURITY_LEVEL_ERRORS = new Set([
  'ERR_SSL_EE_KEY_TOO_SMALL',
  'ERR_SSL_CA_KEY_TOO_SMALL',
  'ERR_SSL_CA_MD_TOO_WEAK',
]);

/**
 * Findings for an OpenSSL refusal of a certificate chain, e.g. from `tls.createSecureContext`:
 * WEAK_CREDENTIAL for a security-level refusal, DECODE_FAILED for anything else.
 */
export function tlsRefusal(
  err: unknown,
  what: string,
  field: string,
): Finding & { code: 'WEAK_CREDENTIAL' | 'DECODE_FAILED'; field: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const reason = String((err as Error | null)?.message ?? err).replace(/^error:[0-9A-F]+:[^:]*::/, '');
  const openssl = `this Node's OpenSSL ${process.versions.openssl}`;
  if (typeof code === 'string' && SECURITY_LEVEL_ERRORS.has(code)) {
    return {
      code: 'WEAK_CREDENTIAL',
      severity: 'error',
      field,
      message: `${what}: ${openssl} refuses it at its security level (${reason}); every connection would fail.`,
      fix: 'Have the certificate reissued for a new RSA 2048 (or EC P-256) key, signed with SHA-256 by a CA whose own key is as strong; store the new certificate and key together.',
    };
  }
  return {
    code: 'DECODE_FAILED',
    severity: 'error',
    field,
    message: `${what}: ${openssl} refuses to build a TLS context from it (${reason}).`,
    fix: 'Check that the certificate, its chain and the key are ones OpenSSL reads (openssl x509 -in cert.pem -noout -text shows what it sees).',
  };
}

/**
 * Key size and signature hash. A certificate of a weak key, or signed with MD5 or SHA-1, is tried on
 * this Node's OpenSSL as a connection will use it (only then: it costs about a millisecond): refused,
 * it is WEAK_CREDENTIAL, which otherwise would only show as an OpenSSL error on the first request;
 * accepted, WEAK_KEY / WEAK_SIGNATURE warn that other OpenSSL builds (Node 24's, for RSA 1024;
 * Node 20's, for SHA-1) refuse it.
 */
function checkStrength(
  leaf: X509Certificate,
  key: KeyObject,
  chain: readonly X509Certificate[],
  origin: Origin,
  out: Finding[],
): void {
  const certs = [leaf, ...chain];
  const weak = certs
    .map((cert) => ({
      cert,
      small: smallKey(cert, cert === leaf ? key : undefined),
      hash: weakSignatureHash(cert),
    }))
    .filter((w) => w.small !== undefined || w.hash !== undefined);
  if (weak.length === 0) return;
  const named = (w: (typeof weak)[number]) =>
    `${w.cert === leaf ? 'certificate' : 'intermediate'} ${certName(w.cert)}`;
  try {
    tls.createSecureContext({ cert: certs.map((c) => c.toString()).join('\n') });
  } catch (err) {
    const what = weak.map((w) => {
      const reasons = [w.small, w.hash && `it is signed with ${w.hash}`].filter(Boolean).join(', ');
      return `the ${named(w)} (${reasons})`;
    });
    out.push(tlsRefusal(err, `In ${origin.labels.leaf}, ${what.join('; ')}`, origin.leaf));
    return;
  }
  for (const w of weak) {
    const name = `The ${named(w)} in ${origin.labels.leaf}`;
    if (w.small !== undefined) {
      out.push({
        code: 'WEAK_KEY',
        severity: 'warning',
        field: w.cert === leaf ? origin.key : origin.leaf,
        message: `${name}: ${w.small}; many servers, and OpenSSL builds at security level 2 (Node 24's), refuse keys weaker than RSA 2048 or EC P-256.`,
        fix: 'Generate a new RSA 2048 (or EC P-256) key and have the certificate reissued for it.',
      });
    }
    if (w.hash !== undefined) {
      out.push({
        code: 'WEAK_SIGNATURE',
        severity: 'warning',
        field: origin.leaf,
        message: `${name}: it is signed with ${w.hash}; some OpenSSL builds (Node 20's) refuse such certificates, and so do many servers.`,
        fix: 'Have the certificate reissued, signed with SHA-256.',
      });
    }
  }
}

/**
 * Judges decoded material: key matches the leaf, chain in order and made of CAs, dates (with an
 * EXPIRING_SOON warning window), clientAuth EKU, expected identity, key strength. Returns every
 * finding, errors first; decoding's own warnings (e.g. LEGACY_PKCS12) are included.
 */
export function validateCredentials(decoded: Validatable, policy?: ValidationPolicy): Finding[] {
  return validateResolved(decoded, resolvePolicy(policy));
}

/** What validateCredentials judges: the decoded leaf, chain, key and CA (decodeMaterial returns them). */
export type Validatable = Pick<DecodedMaterial, 'leaf' | 'chain' | 'key' | 'ca'> &
  Partial<Pick<DecodedMaterial, 'findings' | 'origin'>>;

/** {@link validateCredentials} with the policy already resolved (loadCredentials resolves it once). */
export function validateResolved(decoded: Validatable, p: ResolvedPolicy): Finding[] {
  const leaf = decoded.origin?.leaf ?? 'cert';
  const key = decoded.origin?.key ?? 'key';
  const origin: Origin = {
    leaf,
    key,
    labels: decoded.origin?.labels ?? { leaf: `\`${leaf}\``, key: `\`${key}\``, ca: '`ca`' },
  };
  const out: Finding[] = [];
  const now = p.now();
  checkKey(decoded.leaf, decoded.key, origin, out);
  checkChain(decoded.leaf, decoded.chain, origin, out);
  checkDates(decoded.leaf, decoded.chain, decoded.ca, p, now, origin, out);
  checkTrustAnchors(decoded.ca, origin, out);
  checkUsage(decoded.leaf, p, origin, out);
  if (p.requireClientAuth) checkChainUsage(decoded.chain, origin, out);
  checkIdentity(decoded.leaf, p, origin, out);
  checkStrength(decoded.leaf, decoded.key, decoded.chain, origin, out);
  out.push(...(decoded.findings ?? []));
  if (p.check !== undefined) out.push(...ownChecks(p.check, decoded, now));
  return [...out.filter((f) => f.severity === 'error'), ...out.filter((f) => f.severity !== 'error')];
}

/** The findings of a policy's own `check`, which must be an array of them. */
function ownChecks(
  check: NonNullable<ResolvedPolicy['check']>,
  decoded: Validatable,
  now: number,
): Finding[] {
  const { leaf, chain, key, ca } = decoded;
  const findings: unknown = check({ leaf, chain, key, ca }, { now });
  if (!Array.isArray(findings)) {
    throw new MtlsError(
      'INVALID_OPTION',
      `The validation policy's check() returned ${findings === null ? 'null' : typeof findings}, not an array of findings. Return [] when all is well.`,
    );
  }
  // An error finding is thrown as an MtlsError of its code: it must be one.
  const unknown = (findings as Finding[]).find(
    (f) => f?.severity === 'error' && !Object.hasOwn(ERROR_CODES, f.code),
  );
  if (unknown !== undefined) {
    throw new MtlsError(
      'INVALID_OPTION',
      `The validation policy's check() returned an error finding of code ${JSON.stringify(unknown.code)}, which is no MtlsError code. Give errors a code of ERROR_CODES (e.g. IDENTITY_MISMATCH); warnings may have any code.`,
    );
  }
  return findings as Finding[];
}

/**
 * Throws the first error among `findings` as an MtlsError (its message followed by its fix, and the
 * codes of any further errors). Returns the warnings.
 */
export function assertNoErrors(findings: readonly Finding[], sourceId?: string): Finding[] {
  const errors = findings.filter((f) => f.severity === 'error');
  const first = errors[0];
  if (first) {
    const more =
      errors.length > 1
        ? ` (Also: ${errors
            .slice(1)
            .map((f) => f.code)
            .join(', ')}.)`
        : '';
    throw new MtlsError(first.code as MtlsError['code'], `${first.message} ${first.fix}${more}`, {
      field: first.field,
      sourceId,
    });
  }
  return findings.filter((f) => f.severity !== 'error');
}
