// `mtlskit init`: seed steps 1–2 — a private key (mode 0600, never overwritten unless told) and the CSR
// to hand to the CA. Mangopay naming by default; --subject/--san for any other CA.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { MangopayCsrPreset, MangopayEnvironment } from '@mtlskit/mangopay';
import { type CommandSpec, flag, list, type Parsed, secretFromEnv, str, UsageError } from '../args.js';
import { createKeyAndCsr, createKeyAndMangopayCsr } from '../csr.js';
import { EXIT } from '../exit.js';
import { refuseOverwrite, writeNewFile } from '../files.js';
import { table } from '../format.js';
import { type CliIo, pathFrom } from '../io.js';
import { csrNameOf, mangopayPreset } from '../mangopay.js';
import { KEY_TYPES, type KeyType, parseSan, parseSubject } from '../names.js';

export const KEY_FILE = 'private.key';
export const CSR_FILE = 'certificate.csr';

export const spec: CommandSpec = {
  name: 'init',
  summary: 'Create a private key (mode 0600) and a CSR: Mangopay naming by default, any subject on request.',
  usage: [
    '--client-id ID [--production] [--out DIR] [--passphrase-env VAR] [--force] [--json]',
    '--subject DN [--san NAME]... [--key-type rsa2048|ec-p256] [--out DIR] [--passphrase-env VAR] [--force] [--json]',
  ],
  details: [
    `Writes DIR/${KEY_FILE} (PKCS#8 PEM, mode 0600; encrypted with AES-256 when --passphrase-env is given) and DIR/${CSR_FILE}. With --client-id the CSR is what Mangopay's OpenSSL commands produce: subject CN=<ID>.sandbox.mangopay.com, O=Mangopay, C=LU (in that order; .prod.mangopay.com with --production), SAN DNS of the same name, extendedKeyUsage clientAuth, RSA 2048, SHA-256. Upload the CSR in the Dashboard, save the certificate as DIR/certificate.pem, then \`mtlskit inspect DIR\`.`,
    'An existing key is never overwritten without --force: it may be the only copy of the key a live certificate belongs to.',
  ],
  options: {
    'client-id': {
      type: 'string',
      value: 'ID',
      description: 'Mangopay ClientId: the CN and SAN become ID.sandbox.mangopay.com.',
    },
    production: { type: 'boolean', description: 'Mangopay production naming (ID.prod.mangopay.com).' },
    subject: {
      type: 'string',
      value: 'DN',
      description: 'Any other subject, in certificate order: "CN=a, O=b, C=FR" or "/CN=a/O=b/C=FR".',
    },
    san: {
      type: 'string',
      multiple: true,
      value: 'NAME',
      description:
        'Subject alternative name (repeatable): DNS:name, IP:addr, email:addr, URI:uri or a bare DNS name.',
    },
    'key-type': {
      type: 'string',
      value: 'TYPE',
      description: 'rsa2048 (default; what Mangopay requires) or ec-p256 (for CAs that accept it).',
    },
    out: {
      type: 'string',
      value: 'DIR',
      description: 'Directory for the files (default: the current directory; created with mode 0700).',
    },
    'passphrase-env': {
      type: 'string',
      value: 'VAR',
      description: 'Encrypt the key with the passphrase in this environment variable.',
    },
    force: { type: 'boolean', description: `Replace an existing ${KEY_FILE}.` },
    json: { type: 'boolean', description: 'Print the result as JSON.' },
  },
  positionals: [0, 0],
  exitCodes: [
    [0, 'key and CSR written'],
    [1, 'the files could not be written (permissions, disk)'],
    [2, 'usage, or private.key already exists (pass --force to replace it)'],
  ],
  examples: [
    'mtlskit init --client-id myplatform                       # sandbox, ./private.key + ./certificate.csr',
    'mtlskit init --client-id myplatform --production --out ./mtls-prod',
    'mtlskit init --subject "CN=client-7.example.com, O=Example, C=FR" --san client-7.example.com --key-type ec-p256',
  ],
};

function keyTypeOf(parsed: Parsed): KeyType {
  const v = str(parsed, 'key-type') ?? 'rsa2048';
  if (!KEY_TYPES.includes(v as KeyType))
    throw new UsageError(`--key-type must be ${KEY_TYPES.join(' or ')}, not "${v}".`);
  return v as KeyType;
}

/** What the CSR is for: Mangopay naming from --client-id, or --subject/--san as given. */
function requestOf(parsed: Parsed): {
  subject: [string, string][];
  san: string[];
  mangopay?: { environment: MangopayEnvironment; preset: MangopayCsrPreset };
} {
  const clientId = str(parsed, 'client-id');
  const subject = str(parsed, 'subject');
  const san = list(parsed, 'san');
  if (clientId !== undefined && subject !== undefined) {
    throw new UsageError('Give --client-id (Mangopay naming) or --subject (any CA), not both.');
  }
  if (clientId !== undefined) {
    const production = flag(parsed, 'production');
    const preset = mangopayPreset(clientId, production);
    if (san.length > 0)
      throw new UsageError('--san goes with --subject; with --client-id the SAN is the Mangopay name.');
    return { ...csrNameOf(preset), mangopay: { environment: production ? 'production' : 'sandbox', preset } };
  }
  if (subject === undefined)
    throw new UsageError('Give --client-id ID (Mangopay) or --subject DN (any other CA).');
  if (flag(parsed, 'production')) throw new UsageError('--production goes with --client-id.');
  try {
    const attributes = parseSubject(subject);
    parseSan(san);
    return { subject: attributes, san };
  } catch (err) {
    throw new UsageError(
      `${err instanceof SyntaxError ? '' : 'Invalid '}${(err as Error).message} in --subject/--san.`.replace(
        /^./,
        (c) => c.toUpperCase(),
      ),
    );
  }
}

export async function run(parsed: Parsed, io: CliIo): Promise<number> {
  const request = requestOf(parsed);
  const keyType = keyTypeOf(parsed);
  const passphrase = secretFromEnv(parsed, 'passphrase-env', io.env);
  const dir = pathFrom(io, str(parsed, 'out') ?? '.');
  const keyPath = join(dir, KEY_FILE);
  const csrPath = join(dir, CSR_FILE);
  const force = flag(parsed, 'force');
  await refuseOverwrite([keyPath], force, 'It may be the key of a certificate in use');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, csrPem } = request.mangopay
    ? await createKeyAndMangopayCsr(keyType, request.mangopay.preset)
    : await createKeyAndCsr({ keyType, subject: request.subject, san: request.san });
  const keyPem = privateKey.export(
    passphrase === undefined
      ? { type: 'pkcs8', format: 'pem' }
      : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
  ) as string;
  await writeNewFile(keyPath, keyPem, force);
  await writeNewFile(csrPath, csrPem, true, 0o644);

  const subject = request.subject.map(([k, v]) => `${k}=${v}`).join(', ');
  const san = request.san.join(', ');
  if (flag(parsed, 'json')) {
    io.out(
      `${JSON.stringify({ key: keyPath, csr: csrPath, keyType, encrypted: passphrase !== undefined, subject, subjectAltName: san, extendedKeyUsage: ['clientAuth'] }, null, 2)}\n`,
    );
    return EXIT.OK;
  }
  const next = request.mangopay
    ? [
        `1. In the Mangopay Dashboard (${request.mangopay.environment}), request an mTLS certificate with ${csrPath}.`,
        `2. Save the certificate it gives you as ${join(dir, 'certificate.pem')}.`,
        `3. Check it: mtlskit inspect ${dir}   then   mtlskit check --source file:${dir} --url ${request.mangopay.preset.baseUrl}/v2.01/`,
        `4. Store it for your app (e.g. mtlskit put aws-sm://… --from ${dir}), or Base64 it: mtlskit encode ${join(dir, 'certificate.pem')}`,
      ]
    : [
        `1. Send ${csrPath} to your CA.`,
        `2. Save the certificate as ${join(dir, 'certificate.pem')}, then: mtlskit inspect ${dir}`,
      ];
  io.out(
    `${table([
      [
        'Private key',
        `${keyPath} (${keyType === 'rsa2048' ? 'RSA 2048' : 'EC P-256'}, mode 0600${passphrase ? ', encrypted' : ''})`,
      ],
      ['CSR', csrPath],
      ['Subject', subject],
      ['SAN', san || 'none'],
      ['EKU', 'clientAuth'],
    ])}\n\nKeep the private key secret: it never leaves this machine unless you store it somewhere.\nNext:\n${next.map((l) => `  ${l}`).join('\n')}\n`,
  );
  return EXIT.OK;
}
