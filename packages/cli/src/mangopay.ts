// Mangopay's naming as the commands use it. @mtlskit/mangopay owns the naming (the CSR preset, the
// certificate host names, the base URLs); this module turns it into what the CLI needs: the name a
// --client-id stands for (init, renew, inspect), and the host classification behind check's warnings.
import { MtlsError } from '@mtlskit/core';
import {
  MANGOPAY_BASE_URLS,
  MANGOPAY_PLAIN_BASE_URLS,
  type MangopayCsrPreset,
  type MangopayEnvironment,
  mangopayCsrPreset,
} from '@mtlskit/mangopay';
import { UsageError } from './args.js';

/** The preset for `--client-id ID [--production]`; an ID that cannot be a ClientId is a usage error. */
export function mangopayPreset(clientId: string, production: boolean): MangopayCsrPreset {
  try {
    return mangopayCsrPreset({ clientId, environment: production ? 'production' : 'sandbox' });
  } catch (err) {
    if (!MtlsError.is(err) || err.code !== 'INVALID_OPTION') throw err;
    throw new UsageError(
      `--client-id "${clientId}" is not a Mangopay ClientId (letters, digits, - and _; it becomes a DNS name).`,
    );
  }
}

/** A preset's subject and SAN in the form the CLI's CSR writer takes them. */
export function csrNameOf(preset: MangopayCsrPreset): { subject: [string, string][]; san: string[] } {
  return {
    subject: preset.subject.map(([k, v]): [string, string] => [k, v]),
    san: (preset.dnsNames ?? []).map((dns) => `DNS:${dns}`),
  };
}

const ENVIRONMENTS = Object.keys(MANGOPAY_BASE_URLS) as MangopayEnvironment[];
const hostOf = (url: string) => new URL(url).hostname;

/** The Mangopay environment of an API host (`api-mtls.sandbox.mangopay.com` → sandbox). */
export function environmentOfHost(host: string): MangopayEnvironment | undefined {
  const h = host.toLowerCase();
  return ENVIRONMENTS.find(
    (env) => h === hostOf(MANGOPAY_BASE_URLS[env]) || h === hostOf(MANGOPAY_PLAIN_BASE_URLS[env]),
  );
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
  const plain = ENVIRONMENTS.find((env) => host === hostOf(MANGOPAY_PLAIN_BASE_URLS[env]));
  if (plain === undefined) return { mangopay: true, mtls: false };
  const suggestion = new URL(url.href);
  suggestion.hostname = hostOf(MANGOPAY_BASE_URLS[plain]);
  return { mangopay: true, mtls: false, suggestion: suggestion.href };
}
