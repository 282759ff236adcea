// Mangopay's naming, written once: the two environments, the host name a client certificate must
// carry for a ClientId in each, and the api-mtls base URLs every call (OAuth token included) goes to.
import { MtlsError } from '@mtlskit/core';

/** A Mangopay environment. */
export type MangopayEnvironment = 'sandbox' | 'production';

/** Which certificate Mangopay expects: a ClientId in an environment. */
export interface MangopayIdentity {
  /** The platform's Mangopay ClientId (as in the dashboard and the SDK's `clientId`). */
  clientId: string;
  /** `sandbox` or `production`. */
  environment: MangopayEnvironment;
}

/** The mTLS base URLs: every call, the OAuth token included, goes to these hosts. */
export const MANGOPAY_BASE_URLS: Readonly<Record<MangopayEnvironment, string>> = Object.freeze({
  sandbox: 'https://api-mtls.sandbox.mangopay.com',
  production: 'https://api-mtls.mangopay.com',
});

/** The hosts without mTLS (the SDK's defaults): they never ask for the client certificate. */
export const MANGOPAY_PLAIN_BASE_URLS: Readonly<Record<MangopayEnvironment, string>> = Object.freeze({
  sandbox: 'https://api.sandbox.mangopay.com',
  production: 'https://api.mangopay.com',
});

/** The label of each environment in a certificate's host name: `<ClientId>.<label>.mangopay.com`. */
export const CERTIFICATE_LABELS: Readonly<Record<MangopayEnvironment, string>> = Object.freeze({
  sandbox: 'sandbox',
  production: 'prod',
});

export const ENVIRONMENTS: readonly MangopayEnvironment[] = ['sandbox', 'production'];

/** The subject attributes after the CN, in the order the guide fixes. */
export const ORGANIZATION = 'Mangopay';
export const COUNTRY = 'LU';

// A ClientId becomes the first label of a DNS name: letters, digits, `-` and `_` (seen in older ids).
const CLIENT_ID = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

/**
 * Checks a Mangopay identity given in code (it may come from untyped configuration); throws
 * INVALID_OPTION naming the member and what to give.
 */
export function checkIdentity(identity: unknown, where = 'the Mangopay identity'): MangopayIdentity {
  if (typeof identity !== 'object' || identity === null) {
    throw new MtlsError(
      'INVALID_OPTION',
      `${where} is missing: give { clientId: 'your-client-id', environment: 'sandbox' | 'production' }.`,
    );
  }
  const { clientId, environment } = identity as Record<string, unknown>;
  if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) {
    const got = typeof clientId === 'string' ? `"${clientId}"` : String(clientId);
    throw new MtlsError(
      'INVALID_OPTION',
      `${where}: clientId ${got} is not a Mangopay ClientId (letters, digits, - and _, as it appears in the dashboard). It becomes the first label of the certificate's host name.`,
    );
  }
  if (environment !== 'sandbox' && environment !== 'production') {
    throw new MtlsError(
      'INVALID_OPTION',
      `${where}: environment ${JSON.stringify(environment) ?? 'undefined'} is neither 'sandbox' nor 'production'.`,
    );
  }
  return { clientId, environment };
}

/** The host name a client certificate carries (CN and SAN): `<ClientId>.sandbox.mangopay.com` or `<ClientId>.prod.mangopay.com`. */
export function mangopayCertificateName(identity: MangopayIdentity): string {
  const { clientId, environment } = checkIdentity(identity);
  return `${clientId}.${CERTIFICATE_LABELS[environment]}.mangopay.com`;
}

/** The ClientId and environment a certificate host name stands for, or undefined when it is not one. */
export function parseCertificateName(name: string): MangopayIdentity | undefined {
  const match = /^([^.]+)\.(sandbox|prod)\.mangopay\.com$/i.exec(name.trim());
  if (!match) return undefined;
  return {
    clientId: match[1] as string,
    environment: (match[2] as string).toLowerCase() === 'prod' ? 'production' : 'sandbox',
  };
}
