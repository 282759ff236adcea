// Turns validated credentials into what TLS clients consume: one SecureContext (certificate chain,
// private key, server CAs, TLS 1.2 as the floor) shared by every client of a resolver, and the plain
// `cert`/`key`/`ca` options for clients that take nothing else.
import { readFileSync } from 'node:fs';
import tls, { type SecureContext } from 'node:tls';
import { MtlsError } from '../errors.js';
import type { ValidatedCredentials } from '../validation/credentials.js';
import { tlsRefusal } from '../validation/validate.js';

/** `replace`: the credential's CA is the only trust anchor (Node's default). `append`: it is added to the system roots. */
export type CaMode = 'replace' | 'append';

export const MIN_TLS_VERSION = 'TLSv1.2' as const;

/** Options for clients that only take plain TLS options (got's `https`, `tls.connect`...). */
export interface PlainTlsOptions {
  /** Leaf followed by intermediates, PEM. */
  cert: string;
  /** Unencrypted PKCS#8 PEM. */
  key: string;
  /** Server trust anchors; absent when the credential carries no CA (the system roots apply). */
  ca?: string | string[];
  minVersion: typeof MIN_TLS_VERSION;
}

let systemRoots: string[] | undefined;

// What Node trusts when no `ca` is given: its bundled roots plus NODE_EXTRA_CA_CERTS. Node >= 22.15
// says so itself; older versions only expose the bundled list, so the extra file is read here.
function defaultRoots(): string[] {
  if (systemRoots) return systemRoots;
  const getCACertificates = (tls as { getCACertificates?: (type?: string) => string[] }).getCACertificates;
  if (typeof getCACertificates === 'function') {
    systemRoots = [...getCACertificates('default')];
    return systemRoots;
  }
  const roots = [...tls.rootCertificates];
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (extra) {
    try {
      const text = readFileSync(extra, 'utf8');
      roots.push(...(text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []));
    } catch {
      // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; so do we (by not adding it).
    }
  }
  systemRoots = roots;
  return roots;
}

/** The `ca` option for the credential under `caMode`, or undefined to keep Node's default roots. */
function trustAnchors(credentials: ValidatedCredentials, caMode: CaMode): string | string[] | undefined {
  const ca = credentials.caPem;
  if (ca === undefined) return undefined;
  return caMode === 'append' ? [...defaultRoots(), ca] : ca;
}

/**
 * Builds the SecureContext every connection of one identity uses. Prebuilt so that no client is ever
 * given the key as an option (NODE_DEBUG=https prints agent options, and pools are keyed by them).
 */
export function buildSecureContext(
  credentials: ValidatedCredentials,
  caMode: CaMode,
  pem?: ContextPem,
): SecureContext {
  try {
    return tls.createSecureContext(plainTlsOptions(credentials, caMode, pem));
  } catch (err) {
    // Validation tried every certificate that looked weak on this OpenSSL; this is what is left.
    const refusal = tlsRefusal(err, `The certificate ${credentials.fingerprint256}`, 'cert');
    throw new MtlsError(refusal.code, `${refusal.message} ${refusal.fix}`, {
      sourceId: credentials.sourceId,
      field: refusal.field,
      cause: err,
    });
  }
}

/**
 * The key, and the leaf with its chain, as PEM written from the DER a load decoded (the resolver,
 * straight after it): no export of the key, and no PEM that the leaf's X509Certificate would keep.
 */
export interface ContextPem {
  key?: string;
  cert?: string;
}

/**
 * Plain TLS options for the credential (the key included, so never put them in an Agent's options).
 * `pem`: what the caller has as PEM already.
 */
export function plainTlsOptions(
  credentials: ValidatedCredentials,
  caMode: CaMode,
  pem?: ContextPem,
): PlainTlsOptions {
  const ca = trustAnchors(credentials, caMode);
  return {
    cert: pem?.cert ?? credentials.certPem,
    key: pem?.key ?? credentials.keyPem(),
    ...(ca === undefined ? {} : { ca }),
    minVersion: MIN_TLS_VERSION,
  };
}
