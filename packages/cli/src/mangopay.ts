// Mangopay's naming, kept in one small module of the CLI (init's default subject, check's host
// warning). @mtlskit/mangopay owns these presets for applications; this copy exists so the CLI does not
// depend on it yet, and is meant to be replaced by it.
//
// The reference is the OpenSSL command from Mangopay's mTLS guide:
//   openssl genrsa -out private.key 2048
//   openssl req -new -key private.key -out certificate.csr \
//     -subj "/CN=<ClientId>.sandbox.mangopay.com/O=Mangopay/C=LU" \
//     -addext "subjectAltName=DNS:<ClientId>.sandbox.mangopay.com" -addext "extendedKeyUsage=clientAuth"
// (production: <ClientId>.prod.mangopay.com). OpenSSL writes the subject in the order given.

export type MangopayEnvironment = 'sandbox' | 'production';

const DOMAIN: Record<MangopayEnvironment, string> = {
  sandbox: 'sandbox.mangopay.com',
  production: 'prod.mangopay.com',
};

/** The mTLS base URLs (the hosts with `api-mtls` that require the client certificate). */
export const MANGOPAY_MTLS_BASE_URL: Record<MangopayEnvironment, string> = {
  sandbox: 'https://api-mtls.sandbox.mangopay.com',
  production: 'https://api-mtls.mangopay.com',
};

/** A ClientId as it may appear in a DNS name. */
export const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** The identity Mangopay expects in the CSR and certificate for a ClientId. */
export function mangopayIdentity(
  clientId: string,
  environment: MangopayEnvironment = 'sandbox',
): { commonName: string; subject: [string, string][]; dnsName: string } {
  const commonName = `${clientId}.${DOMAIN[environment]}`;
  return {
    commonName,
    subject: [
      ['CN', commonName],
      ['O', 'Mangopay'],
      ['C', 'LU'],
    ],
    dnsName: commonName,
  };
}

/** The Mangopay environment a certificate's common name was issued for, if it follows the naming. */
export function environmentOfName(commonName: string | undefined): MangopayEnvironment | undefined {
  const cn = commonName?.toLowerCase() ?? '';
  return (Object.keys(DOMAIN) as MangopayEnvironment[]).find((env) => cn.endsWith(`.${DOMAIN[env]}`));
}

/** The Mangopay environment of an API host (`api-mtls.sandbox.mangopay.com` → sandbox). */
export function environmentOfHost(host: string): MangopayEnvironment | undefined {
  const h = host.toLowerCase();
  if (h === 'api.sandbox.mangopay.com' || h === 'api-mtls.sandbox.mangopay.com') return 'sandbox';
  if (h === 'api.mangopay.com' || h === 'api-mtls.mangopay.com') return 'production';
  return undefined;
}

/**
 * What a URL is to Mangopay: not a Mangopay host, an `api-mtls` host, or a Mangopay API host without
 * `api-mtls` (where the client certificate is not asked for), with the URL to use instead.
 */
export function mangopayHost(
  url: URL,
): { mangopay: false } | { mangopay: true; mtls: boolean; suggestion?: string } {
  const host = url.hostname.toLowerCase();
  if (host !== 'mangopay.com' && !host.endsWith('.mangopay.com')) return { mangopay: false };
  if (host.startsWith('api-mtls.')) return { mangopay: true, mtls: true };
  if (host === 'api.mangopay.com' || host === 'api.sandbox.mangopay.com') {
    const suggestion = new URL(url.href);
    suggestion.hostname = host.replace(/^api\./, 'api-mtls.');
    return { mangopay: true, mtls: false, suggestion: suggestion.href };
  }
  return { mangopay: true, mtls: false };
}
