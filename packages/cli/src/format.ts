// How certificates and findings read in human output: one place, shared by inspect and check, so the
// same certificate looks the same in both. Plain text, aligned labels, no colour (pipes and logs).
import type { X509Certificate } from 'node:crypto';
import type { Finding } from '@mtlskit/core';

const DAY_MS = 86_400_000;
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  [EKU_CLIENT_AUTH]: 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

/** A distinguished name on one line, attributes in certificate order (`CN=a, O=b, C=c`). */
export function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

/** ISO date without milliseconds. */
export function isoDate(date: Date | number): string {
  return new Date(date).toISOString().replace('.000Z', 'Z');
}

/** Whole days from `now` to `date` (negative once past). */
export function daysLeft(date: Date, now: number): number {
  return Math.floor((date.getTime() - now) / DAY_MS);
}

/**
 * The extended key usages of a certificate by name, or undefined when it has no EKU extension (any
 * usage allowed). Node 20 lists them in `keyUsage`; later versions also as `extKeyUsage`.
 */
export function extendedKeyUsage(cert: X509Certificate): string[] | undefined {
  const c = cert as X509Certificate & { extKeyUsage?: string[] };
  const oids = c.extKeyUsage ?? (cert.keyUsage as string[] | undefined);
  return oids?.map((o) => EKU_NAMES[o] ?? o);
}

/** `yes`/`no` with the reason, as inspect prints it. */
export function clientAuthText(cert: X509Certificate): { allowed: boolean; text: string } {
  const eku = extendedKeyUsage(cert);
  if (eku === undefined) return { allowed: true, text: 'yes (no extended key usage extension: any use)' };
  const allowed = eku.includes('clientAuth') || eku.includes('anyExtendedKeyUsage');
  return { allowed, text: `${allowed ? 'yes' : 'NO'} (extended key usage: ${eku.join(', ') || 'none'})` };
}

/** "RSA 2048", "EC prime256v1", "Ed25519", from a public or private KeyObject's details. */
export function keyText(keyType: string | undefined, keySize: number | undefined, curve?: string): string {
  if (keyType === 'ec') return `EC ${curve ?? ''}${keySize ? ` (${keySize} bits)` : ''}`.trim();
  if (keyType === 'ed25519') return 'Ed25519';
  if (keyType === 'ed448') return 'Ed448';
  return `${(keyType ?? 'unknown').toUpperCase()}${keySize ? ` ${keySize}` : ''}`;
}

/** Public-key facts of a certificate (for a certificate without its private key, or a server's). */
export function publicKeyOf(cert: X509Certificate): { keyType?: string; keySize?: number; curve?: string } {
  const key = cert.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  const curve = d.namedCurve;
  const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };
  return {
    ...(key.asymmetricKeyType !== undefined && { keyType: key.asymmetricKeyType }),
    ...((d.modulusLength ?? (curve ? CURVE_BITS[curve] : undefined)) !== undefined && {
      keySize: d.modulusLength ?? CURVE_BITS[curve!],
    }),
    ...(curve !== undefined && { curve }),
  };
}

/** Label/value rows, labels padded to one column. */
export function table(rows: [string, string | undefined][]): string {
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(...shown.map(([l]) => l.length)) + 2;
  return shown
    .map(([label, value]) =>
      value
        .split('\n')
        .map((line, i) => (i === 0 ? label.padEnd(width) : ' '.repeat(width)) + line)
        .join('\n'),
    )
    .join('\n');
}

/** Findings, errors first, each with its fix. */
export function findingsText(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'Findings     none';
  const lines = ['Findings'];
  for (const f of findings) {
    lines.push(`  ${f.severity === 'error' ? 'ERROR  ' : 'warning'} ${f.code}: ${f.message}`);
    lines.push(`          fix: ${f.fix}`);
  }
  return lines.join('\n');
}

/** The validity line: `FROM → TO (N days left)`. */
export function validityText(notBefore: Date, notAfter: Date, now: number): string {
  const days = daysLeft(notAfter, now);
  const ago = Math.floor((now - notAfter.getTime()) / DAY_MS);
  const state =
    now < notBefore.getTime()
      ? 'not yet valid'
      : now > notAfter.getTime()
        ? `expired ${ago} day${ago === 1 ? '' : 's'} ago`
        : `${days} day${days === 1 ? '' : 's'} left`;
  return `${isoDate(notBefore)} → ${isoDate(notAfter)} (${state})`;
}
