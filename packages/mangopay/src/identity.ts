// Is this the certificate Mangopay expects for a ClientId and environment? Each check is a flat
// function from the certificate to findings (core's Finding: a code, a severity, a plain-English fix),
// so the list is empty exactly when the certificate is the one the guide describes. Errors are what
// makes Mangopay refuse the certificate or map it to another account; warnings are departures from
// the guide that Mangopay may or may not accept.
import type { X509Certificate } from 'node:crypto';
import type { Finding, MtlsCredentials, ValidationPolicy } from '@mtlskit/core';
import {
  CERTIFICATE_LABELS,
  COUNTRY,
  checkIdentity,
  type MangopayIdentity,
  mangopayCertificateName,
  ORGANIZATION,
  parseCertificateName,
} from './environment.js';
import { mangopayCsrPreset } from './preset.js';

const DAY_MS = 86_400_000;
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Options of {@link checkMangopayIdentity}. */
export interface MangopayCheckOptions extends MangopayIdentity {
  /** EXPIRING_SOON within this many days of notAfter. Default 30. */
  warnDays?: number;
  /** The clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** What the checks read: validated credentials, or any object with the leaf certificate. */
export type CheckedCredentials = Pick<MtlsCredentials, 'leaf'>;

/** Subject attributes in certificate order, as [NAME, value] (Node prints one per line). */
function attributesOf(cert: X509Certificate): [string, string][] {
  return cert.subject
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at).trim().toUpperCase(), line.slice(at + 1).trim()];
    });
}

function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).replace(/^"|"$/g, ''));
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const describeEnvironment = (identity: MangopayIdentity) =>
  `${identity.environment} (${CERTIFICATE_LABELS[identity.environment]})`;

/**
 * The subject the guide's Windows command gives under Git Bash: MSYS rewrites `-subj "//CN=…\O=…\C=…"`
 * and OpenSSL reads one attribute, `CN=x.sandbox.mangopay.com\O=Mangopay\C=LU` (the separators may
 * come out as `\`, `/` or nothing).
 */
const RUN_TOGETHER = /^(.*?mangopay\.com)\s*[\\/]*\s*O\s*=\s*([^\\/]*?)\s*[\\/]*\s*C\s*=\s*(.*)$/i;

function checkSubject(cert: X509Certificate, identity: MangopayIdentity, out: Finding[]): void {
  const expected = mangopayCertificateName(identity);
  const attributes = attributesOf(cert);
  const cns = attributes.filter(([type]) => type === 'CN').map(([, value]) => value);
  const cn = cns[0];
  const preset = mangopayCsrPreset(identity);
  if (cn === undefined) {
    out.push({
      code: 'IDENTITY_MISMATCH',
      severity: 'error',
      field: 'cert',
      message: `The certificate has no common name; Mangopay expects CN=${expected}.`,
      fix: `Create a new key and CSR with subject "${preset.subjectText}" (mtlskit init --client-id ${identity.clientId}${identity.environment === 'production' ? ' --production' : ''}) and have Mangopay issue the certificate.`,
    });
    return;
  }
  const runTogether = RUN_TOGETHER.exec(cn);
  if (runTogether && attributes.length === 1) {
    out.push({
      code: 'IDENTITY_MISMATCH',
      severity: 'error',
      field: 'cert',
      message: `The certificate's subject is one attribute, CN="${cn}": O=Mangopay and C=LU ran into the common name. This is what the guide's Windows OpenSSL command produces under Git Bash, which rewrites the -subj argument; Mangopay reads the whole string as the host name and it matches no ClientId.`,
      fix: `Make a new key and CSR (mtlskit init --client-id ${identity.clientId}${identity.environment === 'production' ? ' --production' : ''}, or in Git Bash: MSYS_NO_PATHCONV=1 openssl req … -subj "${preset.opensslSubject}") and have Mangopay issue a new certificate; check the CSR first with: openssl req -in request.csr -noout -subject (it must print subject=${preset.subjectText}).`,
    });
    return;
  }
  if (!sameName(cn, expected)) {
    const found = parseCertificateName(cn);
    let why: string;
    if (found === undefined) why = 'which is not a Mangopay client certificate name';
    else if (found.environment !== identity.environment && sameName(found.clientId, identity.clientId))
      why = `which is the name for ${describeEnvironment(found)}, not ${describeEnvironment(identity)}`;
    else if (found.environment !== identity.environment)
      why = `which is for ClientId "${found.clientId}" in ${found.environment}, not "${identity.clientId}" in ${identity.environment}`;
    else why = `which is for ClientId "${found.clientId}", not "${identity.clientId}"`;
    out.push({
      code: 'IDENTITY_MISMATCH',
      severity: 'error',
      field: 'cert',
      message: `The certificate's common name is "${cn}", ${why}; Mangopay expects ${expected}.`,
      fix: `Use the certificate Mangopay issued for ClientId ${identity.clientId} in ${identity.environment}, or correct the clientId / environment you configured.`,
    });
    return;
  }
  const order = attributes.map(([type, value]) => `${type}=${value}`).join(', ');
  const wanted = [`CN=${cn}`, `O=${ORGANIZATION}`, `C=${COUNTRY}`].join(', ');
  if (order !== wanted) {
    out.push({
      code: 'SUBJECT_NOT_AS_GUIDE',
      severity: 'warning',
      field: 'cert',
      message: `The certificate's subject is "${order}"; Mangopay's guide asks for "${wanted}", in that order.`,
      fix: `At the next renewal, make the CSR with subject "${preset.subjectText}" (mtlskit init writes it so).`,
    });
  }
}

function checkAltNames(cert: X509Certificate, identity: MangopayIdentity, out: Finding[]): void {
  const expected = mangopayCertificateName(identity);
  const names = dnsNamesOf(cert);
  if (names.some((dns) => sameName(dns, expected))) return;
  if (names.length === 0) {
    out.push({
      code: 'SAN_MISSING',
      severity: 'warning',
      field: 'cert',
      message: `The certificate has no subject alternative name; Mangopay's guide asks for DNS:${expected}.`,
      fix: `At the next renewal, add -addext "subjectAltName=DNS:${expected}" to the CSR (mtlskit init does).`,
    });
    return;
  }
  out.push({
    code: 'IDENTITY_MISMATCH',
    severity: 'error',
    field: 'cert',
    message: `The certificate's subject alternative names (${names.map((n) => `DNS:${n}`).join(', ')}) do not include DNS:${expected}.`,
    fix: `Use the certificate issued for ClientId ${identity.clientId} in ${identity.environment}, whose CSR asked for subjectAltName=DNS:${expected}.`,
  });
}

function checkClientAuth(cert: X509Certificate, out: Finding[]): void {
  // Node 20 lists the extended key usage OIDs in `keyUsage` (undefined without the extension).
  const eku = cert.keyUsage as string[] | undefined;
  if (eku?.includes(CLIENT_AUTH)) return;
  out.push(
    eku === undefined
      ? {
          code: 'CLIENT_AUTH_NOT_STATED',
          severity: 'warning',
          field: 'cert',
          message:
            "The certificate has no extended key usage; Mangopay's guide asks for extendedKeyUsage=clientAuth (OpenSSL accepts a certificate without one for any use).",
          fix: 'At the next renewal, add -addext "extendedKeyUsage=clientAuth" to the CSR (mtlskit init does).',
        }
      : {
          code: 'NO_CLIENT_AUTH',
          severity: 'error',
          field: 'cert',
          message: `The certificate's extended key usage (${eku.join(', ')}) excludes clientAuth: the mTLS handshake fails.`,
          fix: 'Make a new CSR with -addext "extendedKeyUsage=clientAuth" (mtlskit init does) and have Mangopay issue a new certificate.',
        },
  );
}

function checkKey(cert: X509Certificate, out: Finding[]): void {
  const key = cert.publicKey;
  const type = key.asymmetricKeyType;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (type === 'rsa' && bits === 2048) return;
  const what =
    type === 'rsa'
      ? `RSA ${bits}`
      : type === 'ec'
        ? `EC ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim()
        : String(type);
  const weak = type === 'rsa' && bits !== undefined && bits < 2048;
  out.push({
    code: weak ? 'WEAK_CREDENTIAL' : 'KEY_NOT_RSA_2048',
    severity: weak ? 'error' : 'warning',
    field: 'key',
    message: `The certificate's key is ${what}; Mangopay's guide asks for RSA 2048${weak ? ', and servers refuse keys below it' : ''}.`,
    fix: 'Generate a new RSA 2048 key (openssl genrsa -out private.key 2048, or mtlskit init) and have a certificate issued for it.',
  });
}

function checkDates(cert: X509Certificate, options: MangopayCheckOptions, out: Finding[]): void {
  const now = (options.now ?? Date.now)();
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const renew =
    'Renew it: a new key and CSR (mtlskit init, or mtlskit renew to stage them in your vault), the certificate from the Mangopay dashboard, then store both together';
  if (now < notBefore) {
    out.push({
      code: 'NOT_YET_VALID',
      severity: 'error',
      field: 'cert',
      message: `The certificate is not valid before ${new Date(notBefore).toISOString()}.`,
      fix: "Wait until then, or check this machine's clock.",
    });
  } else if (now > notAfter) {
    out.push({
      code: 'EXPIRED',
      severity: 'error',
      field: 'cert',
      message: `The certificate expired on ${day(notAfter)}; Mangopay refuses it.`,
      fix: `${renew}.`,
    });
  } else {
    const warnDays = options.warnDays ?? 30;
    const left = Math.floor((notAfter - now) / DAY_MS);
    if (notAfter - now < warnDays * DAY_MS) {
      out.push({
        code: 'EXPIRING_SOON',
        severity: 'warning',
        field: 'cert',
        message: `The certificate expires on ${day(notAfter)}, in ${left} day${left === 1 ? '' : 's'}.`,
        fix: `${renew} before then.`,
      });
    }
  }
}

/**
 * Findings on a client certificate for Mangopay's mTLS API: common name and SAN for the ClientId and
 * environment (with a plain-English diagnosis of the subject Git Bash makes of the guide's Windows
 * command), subject order, clientAuth, RSA 2048, and the days left before notAfter. Empty when the
 * certificate is the one Mangopay expects. Errors first.
 */
export function checkMangopayIdentity(
  credentials: CheckedCredentials,
  options: MangopayCheckOptions,
): Finding[] {
  const identity = checkIdentity(options, 'checkMangopayIdentity');
  const cert = credentials.leaf;
  const out: Finding[] = [];
  checkSubject(cert, identity, out);
  checkAltNames(cert, identity, out);
  checkClientAuth(cert, out);
  checkKey(cert, out);
  checkDates(cert, options, out);
  return [...out.filter((f) => f.severity === 'error'), ...out.filter((f) => f.severity !== 'error')];
}

/**
 * A core validation policy that makes any resolver or `loadCredentials` refuse (IDENTITY_MISMATCH) a
 * certificate whose common name is not the ClientId's in the environment. For the full
 * Mangopay diagnosis on every load, use createMangopayResolver.
 */
export function mangopayPolicy(identity: MangopayIdentity, policy: ValidationPolicy = {}): ValidationPolicy {
  const commonName = mangopayCertificateName(checkIdentity(identity, 'mangopayPolicy'));
  return {
    ...policy,
    expectedIdentity: { commonName: new RegExp(`^${commonName.replace(/\./g, '\\.')}$`, 'i') },
  };
}
