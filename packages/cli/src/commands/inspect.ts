// `mtlskit inspect`: decode and validate a credential from any reference, a file or stdin, and say in
// plain words what it is and what is wrong with it. The exit code is the verdict, for cron and CI.
import type { KeyObject } from 'node:crypto';
import { KNOWN_SCHEMES } from '@mtlskit/core/adapter';
import { type CommandSpec, flag, integer, type Parsed, secretFromEnv, str, UsageError } from '../args.js';
import { EXIT, type ExitCode } from '../exit.js';
import { exists } from '../files.js';
import {
  clientAuthText,
  daysLeft,
  extendedKeyUsage,
  findingsText,
  isoDate,
  keyText,
  oneLine,
  publicKeyOf,
  table,
  validityText,
} from '../format.js';
import { type CliIo, pathFrom } from '../io.js';
import { type LoadedCredential, loadForInspection } from '../load.js';
import { mangopayPreset } from '../mangopay.js';

export const spec: CommandSpec = {
  name: 'inspect',
  summary: 'Decode and validate a client credential; print what it is and what to fix.',
  usage: [
    '[--source REF] [--warn-days N] [--json]',
    'FILE|- [--passphrase-env VAR] [--warn-days N] [--json]',
  ],
  details: [
    'Reads the credential a reference names (default: $MTLS_SOURCE, else env:, which reads MTLS_CERT and MTLS_KEY), or a file or directory (PEM with key and certificates, DER, PKCS#12, a JSON bundle, a directory with certificate.pem/private.key or tls.crt/tls.key), or stdin with `-`. A file holding only certificates is inspected without a key.',
    'Nothing secret is printed: not the key, not the passphrase.',
  ],
  options: {
    source: {
      type: 'string',
      value: 'REF',
      description:
        'Where the credential is: env:, file:DIR, aws-sm://…, azure-kv://…, gcp-sm://…, vault://… (default $MTLS_SOURCE, else env:).',
    },
    'passphrase-env': {
      type: 'string',
      value: 'VAR',
      description: 'Environment variable holding the passphrase of an encrypted key or PKCS#12.',
    },
    'warn-days': {
      type: 'string',
      value: 'N',
      description: 'Exit 3 when the certificate expires within N days (default 30).',
    },
    'client-id': {
      type: 'string',
      value: 'ID',
      description:
        'Also check the certificate is the one Mangopay issues for this ClientId (subject and SAN).',
    },
    production: {
      type: 'boolean',
      description: 'With --client-id: the production name (ID.prod.mangopay.com).',
    },
    json: { type: 'boolean', description: 'Print one JSON object instead of text.' },
  },
  positionals: [0, 1],
  exitCodes: [
    [0, 'healthy'],
    [1, 'invalid: the credential cannot be used (see the findings)'],
    [2, 'usage: wrong arguments, malformed reference, adapter package not installed'],
    [3, 'expiring within --warn-days'],
    [4, 'the source is unreachable, refused access, throttled, or the secret/file does not exist'],
  ],
  examples: [
    'mtlskit inspect                                   # $MTLS_SOURCE, else MTLS_CERT/MTLS_KEY',
    'mtlskit inspect --source "aws-sm://prod/mangopay-mtls?region=eu-west-1" --warn-days 45 --client-id myplatform',
    'mtlskit inspect client.p12 --passphrase-env P12_PASSWORD --json',
    'kubectl get secret mtls -o jsonpath="{.data.tls\\.crt}" | base64 -d | mtlskit inspect -',
  ],
};

export interface InspectReport {
  status: 'healthy' | 'expiring' | 'invalid';
  exitCode: ExitCode;
  source: string;
  sourceVersion?: string;
  subject: string;
  issuer: string;
  subjectAltName?: string;
  serialNumber: string;
  fingerprint256: string;
  key: { present: boolean; type?: string; size?: number; curve?: string };
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  clientAuth: boolean;
  extendedKeyUsage?: string[];
  chain: { subject: string; issuer: string; notAfter: string }[];
  ca: { subject: string; notAfter: string }[];
  findings: LoadedCredential['findings'];
}

function keyFacts(key: KeyObject): { type?: string; size?: number; curve?: string } {
  const d = key.asymmetricKeyDetails ?? {};
  const bits: Record<string, number> = {
    prime256v1: 256,
    secp384r1: 384,
    secp521r1: 521,
    ed25519: 256,
    ed448: 448,
  };
  const type = key.asymmetricKeyType;
  const size = d.modulusLength ?? (d.namedCurve ? bits[d.namedCurve] : type ? bits[type] : undefined);
  return { ...(type && { type }), ...(size && { size }), ...(d.namedCurve && { curve: d.namedCurve }) };
}

/** The verdict and every fact inspect shows, as one object (also the --json output). */
export function report(c: LoadedCredential, warnDays: number, now = Date.now()): InspectReport {
  const errors = c.findings.some((f) => f.severity === 'error');
  const notAfter = new Date(c.leaf.validTo);
  const expiring =
    !errors && (c.findings.some((f) => f.code === 'EXPIRING_SOON') || daysLeft(notAfter, now) < warnDays);
  const status = errors ? 'invalid' : expiring ? 'expiring' : 'healthy';
  const pub = publicKeyOf(c.leaf);
  const key = c.key ? keyFacts(c.key) : { type: pub.keyType, size: pub.keySize, curve: pub.curve };
  const eku = extendedKeyUsage(c.leaf);
  return {
    status,
    exitCode: errors ? EXIT.INVALID : expiring ? EXIT.EXPIRING : EXIT.OK,
    source: c.sourceId,
    ...(c.sourceVersion !== undefined && { sourceVersion: c.sourceVersion }),
    subject: oneLine(c.leaf.subject),
    issuer: oneLine(c.leaf.issuer),
    ...(c.leaf.subjectAltName !== undefined && { subjectAltName: c.leaf.subjectAltName }),
    serialNumber: c.leaf.serialNumber,
    fingerprint256: c.leaf.fingerprint256,
    key: { present: c.key !== undefined, ...withoutUndefined(key) },
    notBefore: isoDate(new Date(c.leaf.validFrom)),
    notAfter: isoDate(notAfter),
    daysLeft: daysLeft(notAfter, now),
    clientAuth: clientAuthText(c.leaf).allowed,
    ...(eku !== undefined && { extendedKeyUsage: eku }),
    chain: c.chain.map((x) => ({
      subject: oneLine(x.subject),
      issuer: oneLine(x.issuer),
      notAfter: isoDate(new Date(x.validTo)),
    })),
    ca: c.ca.map((x) => ({ subject: oneLine(x.subject), notAfter: isoDate(new Date(x.validTo)) })),
    findings: c.findings,
  };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const STATUS_TEXT: Record<InspectReport['status'], string> = {
  healthy: 'healthy',
  expiring: 'usable, but expiring soon (exit 3)',
  invalid: 'INVALID: this credential cannot be used (exit 1)',
};

export function humanReport(
  r: InspectReport,
  c: LoadedCredential,
  warnDays: number,
  now = Date.now(),
): string {
  const keyLine = `${keyText(r.key.type, r.key.size, r.key.curve)}${r.key.present ? '' : ' (certificate only: no private key in the input, key pairing not checked)'}`;
  const chain =
    r.chain.length === 0
      ? 'none (the leaf alone is sent; fine when the server trusts its issuer directly)'
      : r.chain.map((x, i) => `${i + 1}. ${x.subject} (until ${x.notAfter})`).join('\n');
  const ca = r.ca.length === 0 ? undefined : r.ca.map((x) => `${x.subject} (until ${x.notAfter})`).join('\n');
  return `${table([
    ['Source', `${r.source}${r.sourceVersion ? ` (version ${r.sourceVersion})` : ''}`],
    ['Subject', r.subject],
    ['Issuer', r.issuer],
    ['SAN', r.subjectAltName ?? 'none'],
    ['Serial', r.serialNumber],
    ['SHA-256', r.fingerprint256],
    ['Key', keyLine],
    ['Valid', validityText(new Date(c.leaf.validFrom), new Date(c.leaf.validTo), now)],
    ['clientAuth', clientAuthText(c.leaf).text],
    ['Chain', chain],
    ['Server CA', ca],
  ])}\n\n${findingsText(r.findings)}\n\nStatus       ${STATUS_TEXT[r.status]}${r.status === 'healthy' ? ` (more than ${warnDays} days left)` : ''}\n`;
}

export async function run(parsed: Parsed, io: CliIo): Promise<number> {
  const file = parsed.positionals[0];
  const reference = str(parsed, 'source');
  if (file !== undefined && reference !== undefined) {
    throw new UsageError('Give either --source REF or a FILE, not both.');
  }
  const scheme = file === undefined ? undefined : /^([a-z][a-z0-9-]*):/i.exec(file)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme in KNOWN_SCHEMES && !(await exists(pathFrom(io, file!)))) {
    throw new UsageError(`"${file}" looks like a reference, not a file: write --source ${file}`);
  }
  const warnDays = integer(parsed, 'warn-days', 30, 0, 3650);
  const clientId = str(parsed, 'client-id');
  if (clientId === undefined && flag(parsed, 'production'))
    throw new UsageError('--production goes with --client-id.');
  const preset = clientId === undefined ? undefined : mangopayPreset(clientId, flag(parsed, 'production'));
  const passphrase = secretFromEnv(parsed, 'passphrase-env', io.env);
  const loaded = await loadForInspection(
    {
      ...(reference !== undefined && { reference }),
      ...(file !== undefined && { file }),
      ...(passphrase !== undefined && { passphrase }),
      ...(preset !== undefined && {
        expectedIdentity: { subject: preset.subjectText, dnsName: preset.commonName },
      }),
      warnDays,
    },
    io,
  );
  const now = Date.now();
  const r = report(loaded, warnDays, now);
  io.out(flag(parsed, 'json') ? `${JSON.stringify(r, null, 2)}\n` : humanReport(r, loaded, warnDays, now));
  return r.exitCode;
}
