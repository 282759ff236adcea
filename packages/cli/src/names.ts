// Subject and SAN syntax for `init`, checked without loading the X.509 library (so a usage error costs
// nothing): OpenSSL's `-subj` attribute names, and OpenSSL's string types per attribute.
import { isIP } from 'node:net';
import type { JsonGeneralName } from '@peculiar/x509';

export type KeyType = 'rsa2048' | 'ec-p256';
export const KEY_TYPES: readonly KeyType[] = ['rsa2048', 'ec-p256'];

/** Attribute names as OpenSSL's `-subj` accepts them, with their OIDs. */
export const ATTRIBUTE_OIDS: Record<string, string> = {
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  SERIALNUMBER: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  TITLE: '2.5.4.12',
  GN: '2.5.4.42',
  DNQUALIFIER: '2.5.4.46',
  ORGANIZATIONIDENTIFIER: '2.5.4.97',
  EMAILADDRESS: '1.2.840.113549.1.9.1',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
};

/** OpenSSL's ASN1_STRING_TABLE: these attributes have a fixed string type whatever the mask. */
export const PRINTABLE = new Set(['2.5.4.6', '2.5.4.5', '2.5.4.46']);
export const IA5 = new Set(['1.2.840.113549.1.9.1', '0.9.2342.19200300.100.1.25']);

/** Parses `/CN=a/O=b/C=c` (OpenSSL's -subj) or `CN=a, O=b, C=c`, keeping the order written. */
export function parseSubject(text: string): [string, string][] {
  const trimmed = text.trim();
  const parts = trimmed.startsWith('/') ? trimmed.slice(1).split(/(?<!\\)\//) : trimmed.split(/(?<!\\),/);
  const out: [string, string][] = [];
  for (const part of parts) {
    const at = part.indexOf('=');
    if (at <= 0) throw new SyntaxError(`"${part.trim()}" is not NAME=value`);
    const name = part.slice(0, at).trim().toUpperCase();
    const value = part
      .slice(at + 1)
      .trim()
      .replace(/\\([,/])/g, '$1');
    if (!(name in ATTRIBUTE_OIDS)) {
      throw new SyntaxError(
        `unknown attribute ${part.slice(0, at).trim()} (known: ${Object.keys(ATTRIBUTE_OIDS).join(', ')})`,
      );
    }
    if (value === '') throw new SyntaxError(`${name} is empty`);
    if (ATTRIBUTE_OIDS[name] === '2.5.4.6' && !/^[A-Za-z]{2}$/.test(value)) {
      throw new SyntaxError(`C must be a two-letter country code, not "${value}"`);
    }
    out.push([name, value]);
  }
  if (out.length === 0) throw new SyntaxError('no attribute');
  return out;
}

function generalName(entry: string): JsonGeneralName {
  const at = entry.indexOf(':');
  const kind = at > 0 ? entry.slice(0, at).toLowerCase() : '';
  const value = at > 0 ? entry.slice(at + 1) : entry;
  switch (kind) {
    case 'dns':
      return { type: 'dns', value };
    case 'ip':
      if (isIP(value) === 0) throw new SyntaxError(`"${value}" is not an IP address`);
      return { type: 'ip', value };
    case 'email':
      return { type: 'email', value };
    case 'uri':
      return { type: 'url', value };
    default:
      if (isIP(entry) !== 0) return { type: 'ip', value: entry };
      if (!/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(entry)) {
        throw new SyntaxError(
          `"${entry}" is not a DNS name (write DNS:, IP:, email: or URI: before other kinds)`,
        );
      }
      return { type: 'dns', value: entry };
  }
}

/** The SAN entries, checked (throws SyntaxError naming the bad one). */
export function parseSan(entries: string[]): JsonGeneralName[] {
  return entries
    .flatMap((e) => e.split(','))
    .map((e) => e.trim())
    .filter(Boolean)
    .map(generalName);
}
