// Every Mangopay call under mTLS, the OAuth token included, must go to the api-mtls host of the
// certificate's environment: the plain hosts (the SDK's default) never ask for the certificate, and
// the other environment's host does not know it. A host outside mangopay.com (an emulator, a local
// proxy) is not judged.
import { type Finding, MtlsError } from '@mtlskit/core';
import {
  ENVIRONMENTS,
  MANGOPAY_BASE_URLS,
  MANGOPAY_PLAIN_BASE_URLS,
  type MangopayEnvironment,
} from './environment.js';

const hostOf = (url: string) => new URL(url).hostname;

/** The environment whose api-mtls host a base URL names, or undefined. */
export function environmentOfBaseUrl(baseUrl: string): MangopayEnvironment | undefined {
  let host: string;
  try {
    host = new URL(baseUrl).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  return ENVIRONMENTS.find((env) => hostOf(MANGOPAY_BASE_URLS[env]) === host);
}

/**
 * Findings on a base URL for a certificate of `environment`: errors when it is not https, when it is
 * Mangopay's plain (non-mTLS) host, the other environment's api-mtls host, or another mangopay.com
 * host. Empty for the right api-mtls host and for hosts outside mangopay.com.
 */
export function checkMangopayBaseUrl(baseUrl: string, environment: MangopayEnvironment): Finding[] {
  const expected = MANGOPAY_BASE_URLS[environment];
  const finding = (message: string, fix = `Use ${expected}.`): Finding[] => [
    { code: 'INVALID_OPTION', severity: 'error', field: 'baseUrl', message, fix },
  ];
  if (expected === undefined) {
    throw new MtlsError(
      'INVALID_OPTION',
      `environment ${JSON.stringify(environment)} is neither 'sandbox' nor 'production'.`,
    );
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return finding(`The Mangopay base URL "${String(baseUrl)}" is not a URL.`);
  }
  const host = url.hostname.toLowerCase();
  const mangopay = host === 'mangopay.com' || host.endsWith('.mangopay.com');
  if (url.protocol !== 'https:') {
    return finding(`The Mangopay base URL ${url.origin} is not https: mTLS needs TLS.`);
  }
  if (!mangopay) return [];
  if (host === hostOf(expected)) return [];
  const other = ENVIRONMENTS.find((env) => env !== environment) as MangopayEnvironment;
  if (host === hostOf(MANGOPAY_BASE_URLS[other])) {
    return finding(
      `The base URL ${url.origin} is Mangopay's ${other} mTLS host, but the certificate is for ${environment}: the handshake or the OAuth call fails there.`,
      `Use ${expected}, or the ${other} certificate.`,
    );
  }
  const plain = ENVIRONMENTS.find((env) => hostOf(MANGOPAY_PLAIN_BASE_URLS[env]) === host);
  if (plain !== undefined) {
    return finding(
      `The base URL ${url.origin} is Mangopay's host without mTLS (the SDK's default): it never asks for the client certificate, so calls made under proxy are refused.`,
      `Set baseUrl to ${MANGOPAY_BASE_URLS[plain]}${plain === environment ? '' : ` (or, for ${environment}, ${expected})`}: every call, the OAuth token included, goes there.`,
    );
  }
  return finding(`The base URL ${url.origin} is not one of Mangopay's mTLS API hosts.`);
}

/** What to do when a base URL fails the check: throw (default) or warn. */
export type BaseUrlCheck = 'throw' | 'warn' | 'off';

/** Applies {@link checkMangopayBaseUrl}: throws its first error (`throw`), or hands each to `onWarning` (`warn`). */
export function enforceBaseUrl(
  baseUrl: string,
  environment: MangopayEnvironment,
  mode: BaseUrlCheck,
  onWarning: (finding: Finding) => void,
): void {
  if (mode === 'off') return;
  const findings = checkMangopayBaseUrl(baseUrl, environment);
  const first = findings[0];
  if (first === undefined) return;
  if (mode === 'throw') {
    throw new MtlsError('INVALID_OPTION', `${first.message} ${first.fix}`, { field: 'baseUrl' });
  }
  for (const finding of findings) onWarning(finding);
}

/** The default warning sink: a process warning, which Node prints once per message. */
export function emitWarning(finding: Finding): void {
  process.emitWarning(`${finding.message} ${finding.fix}`, { code: `MTLSKIT_MANGOPAY_${finding.code}` });
}
