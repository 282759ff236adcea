// Turns validated credentials into what TLS clients consume: one SecureContext (certificate chain,
// private key, server CAs, TLS 1.2 as the floor) shared by every client of a resolver, and the plain
// `cert`/`key`/`ca` options for clients that take nothing else.
import { readFileSync } from 'node:fs';
import tls, { type SecureContext } from 'node:tls';
import { MtlsError } from '../errors.js';
import type { MtlsCredentials } from '../types.js';

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

// The PEM views teammates add to MtlsCredentials; the X509Certificate and KeyObject fields give the
// same bytes when a credential object lacks them.
type PemViews = { certPem?: string; caPem?: string; keyPem?: () => string };

const withNewline = (pem: string): string => (pem.endsWith('\n') ? pem : `${pem}\n`);

/** The leaf and its intermediates, PEM, in order. */
export function certificateChainPem(credentials: MtlsCredentials): string {
  const views = credentials as MtlsCredentials & PemViews;
  if (typeof views.certPem === 'string' && views.certPem !== '') return views.certPem;
  return [credentials.leaf, ...credentials.chain].map((c) => withNewline(c.toString())).join('');
}

/** The private key as unencrypted PKCS#8 PEM (for a SecureContext; never logged). */
export function privateKeyPem(credentials: MtlsCredentials): string {
  const views = credentials as MtlsCredentials & PemViews;
  if (typeof views.keyPem === 'function') return views.keyPem();
  return credentials.key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** The credential's CA certificates, PEM, or undefined when it has none. */
export function caPem(credentials: MtlsCredentials): string | undefined {
  const views = credentials as MtlsCredentials & PemViews;
  if (typeof views.caPem === 'string') return views.caPem === '' ? undefined : views.caPem;
  if (credentials.ca.length === 0) return undefined;
  return credentials.ca.map((c) => withNewline(c.toString())).join('');
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
export function trustAnchors(credentials: MtlsCredentials, caMode: CaMode): string | string[] | undefined {
  const ca = caPem(credentials);
  if (ca === undefined) return undefined;
  return caMode === 'append' ? [...defaultRoots(), ca] : ca;
}

/**
 * Builds the SecureContext every connection of one identity uses. Prebuilt so that no client is ever
 * given the key as an option (NODE_DEBUG=https prints agent options, and pools are keyed by them).
 */
export function buildSecureContext(credentials: MtlsCredentials, caMode: CaMode): SecureContext {
  const ca = trustAnchors(credentials, caMode);
  try {
    return tls.createSecureContext({
      cert: certificateChainPem(credentials),
      key: privateKeyPem(credentials),
      ...(ca === undefined ? {} : { ca }),
      minVersion: MIN_TLS_VERSION,
    });
  } catch (err) {
    throw new MtlsError(
      'DECODE_FAILED',
      `OpenSSL refused to build a TLS context from the certificate (${credentials.fingerprint256}) and key ` +
        `(${(err as Error).message}); check that the certificate, key and CA in the source are PEM or DER that OpenSSL reads`,
      { sourceId: credentials.sourceId, field: 'cert', cause: err },
    );
  }
}

/** Plain TLS options for the credential (the key included, so never put them in an Agent's options). */
export function plainTlsOptions(credentials: MtlsCredentials, caMode: CaMode): PlainTlsOptions {
  const ca = trustAnchors(credentials, caMode);
  return {
    cert: certificateChainPem(credentials),
    key: privateKeyPem(credentials),
    ...(ca === undefined ? {} : { ca }),
    minVersion: MIN_TLS_VERSION,
  };
}
