// `mtlskit convert`: the same credential in another container. PEM certificate + key → PKCS#12 for
// Java and .NET (AES-256/PBKDF2 by default, 3DES with --legacy for old readers), and any input core
// reads — PKCS#12 of every generation, legacy RC2 included — → PEM files in the layout `file:DIR`
// reads. What is written is read back through core's decoder before the command reports success.
import type { KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MtlsError } from '@mtlskit/core';
import { decodeMaterial } from '@mtlskit/core/decode';
import { type CommandSpec, flag, type Parsed, secretFromEnv, str, UsageError } from '../args.js';
import { EXIT } from '../exit.js';
import { refuseOverwrite, writeNewFile } from '../files.js';
import { findingsText, oneLine, table } from '../format.js';
import { type CliIo, pathFrom } from '../io.js';
import { type LoadedCredential, type LoadRequest, loadForInspection } from '../load.js';

export const spec: CommandSpec = {
  name: 'convert',
  summary: 'Convert a credential: PEM certificate + key ⇄ PKCS#12 (modern or --legacy), any PKCS#12 → PEM.',
  usage: [
    '--to p12 (--cert FILE --key FILE [--chain FILE] | FILE | --source REF) [--passphrase-env VAR] --out FILE.p12 (--out-passphrase-env VAR | --insecure) [--legacy] [--name ALIAS] [--force] [--json]',
    '--to pem (FILE | --source REF) [--passphrase-env VAR] --out DIR [--out-passphrase-env VAR] [--force] [--json]',
  ],
  details: [
    'The input is anything inspect reads: --cert/--key files, one FILE (PEM bundle, PKCS#12 of any generation, a JSON bundle, a directory), or a reference. Its passphrase, if any, comes from --passphrase-env.',
    '--to p12 writes leaf, intermediates and key, encrypted with AES-256-CBC under PBKDF2-HMAC-SHA256 (2048 iterations) and an HMAC-SHA256 MAC: what OpenSSL 3 writes and Java 11.0.12+/17+ and current .NET read. --legacy writes PBE-SHA1-3DES with an HMAC-SHA1 MAC for Java 8 (before 8u301) and Windows Server 2016 or older. A PKCS#12 without a password needs --insecure.',
    '--to pem writes DIR/certificate.pem (leaf then intermediates), DIR/private.key (PKCS#8, mode 0600, AES-256 encrypted with --out-passphrase-env) and DIR/ca.pem when the input has CA certificates: the layout `file:DIR` reads.',
    'Files are written with mode 0600 and never over existing ones without --force. The result is read back with mtlskit’s decoder before success is reported.',
  ],
  options: {
    to: { type: 'string', value: 'p12|pem', description: 'Output format.' },
    cert: {
      type: 'string',
      value: 'FILE',
      description: 'Certificate PEM (leaf, optionally followed by intermediates); with --key.',
    },
    key: {
      type: 'string',
      value: 'FILE',
      description: 'Private key PEM (PKCS#1, SEC1 or PKCS#8, encrypted or not); with --cert.',
    },
    chain: { type: 'string', value: 'FILE', description: 'Intermediates PEM, when they are not in --cert.' },
    source: {
      type: 'string',
      value: 'REF',
      description: 'Read the credential from a reference instead of files.',
    },
    'passphrase-env': {
      type: 'string',
      value: 'VAR',
      description: 'Environment variable with the passphrase of the input.',
    },
    out: { type: 'string', value: 'PATH', description: 'Output file (p12) or directory (pem).' },
    'out-passphrase-env': {
      type: 'string',
      value: 'VAR',
      description: 'Environment variable with the password for the output.',
    },
    insecure: { type: 'boolean', description: 'Allow a PKCS#12 with an empty password.' },
    legacy: { type: 'boolean', description: 'PKCS#12 with 3DES and a SHA-1 MAC, for old Java/.NET.' },
    name: {
      type: 'string',
      value: 'ALIAS',
      description: "friendlyName of the entry (keytool's alias); default: the certificate's CN.",
    },
    force: { type: 'boolean', description: 'Replace existing output files.' },
    json: { type: 'boolean', description: 'Print the result as JSON.' },
  },
  positionals: [0, 1],
  exitCodes: [
    [0, 'written and read back'],
    [1, 'the input is invalid (e.g. a key that does not match the certificate)'],
    [2, 'usage, or an output file that exists (pass --force to replace it)'],
    [4, 'the source is unreachable, refused access, or the input does not exist'],
  ],
  examples: [
    'P12_PASSWORD=… mtlskit convert --to p12 --cert certificate.pem --key private.key --out client.p12 --out-passphrase-env P12_PASSWORD',
    'mtlskit convert --to p12 --source aws-sm://prod/mtls --out client.p12 --out-passphrase-env P12_PASSWORD --legacy',
    'mtlskit convert --to pem old-export.pfx --passphrase-env PFX_PASSWORD --out ./mtls',
  ],
};

/** Errors that do not stop a conversion: an expired certificate can still be converted (and renewed). */
const CONVERTIBLE = new Set([
  'EXPIRED',
  'NOT_YET_VALID',
  'NO_CLIENT_AUTH',
  'IDENTITY_MISMATCH',
  'WEAK_CREDENTIAL',
]);

function inputOf(parsed: Parsed): Omit<LoadRequest, 'warnDays' | 'passphrase'> {
  const cert = str(parsed, 'cert');
  const key = str(parsed, 'key');
  const file = parsed.positionals[0];
  const source = str(parsed, 'source');
  const given = [cert !== undefined || key !== undefined, file !== undefined, source !== undefined].filter(
    Boolean,
  ).length;
  if (given !== 1)
    throw new UsageError('Give the input once: --cert FILE --key FILE, or one FILE, or --source REF.');
  if (cert !== undefined || key !== undefined) {
    if (cert === undefined || key === undefined) throw new UsageError('--cert and --key go together.');
    const chain = str(parsed, 'chain');
    return { pair: { cert, key, ...(chain !== undefined && { chain }) } };
  }
  return file !== undefined ? { file } : { reference: source! };
}

export async function run(parsed: Parsed, io: CliIo): Promise<number> {
  const to = str(parsed, 'to');
  if (to !== 'p12' && to !== 'pem') throw new UsageError('--to must be p12 or pem.');
  const outArg = str(parsed, 'out');
  if (outArg === undefined)
    throw new UsageError(
      `--out is required (${to === 'p12' ? 'the .p12 file to write' : 'the directory to write'}).`,
    );
  const input = inputOf(parsed);
  const passphrase = secretFromEnv(parsed, 'passphrase-env', io.env);
  const outPassphrase = secretFromEnv(parsed, 'out-passphrase-env', io.env);
  if (to === 'p12' && outPassphrase === undefined && !flag(parsed, 'insecure')) {
    throw new UsageError(
      'A PKCS#12 needs a password: give --out-passphrase-env VAR (or --insecure for an empty one).',
    );
  }
  if (to === 'pem' && (flag(parsed, 'legacy') || flag(parsed, 'insecure')))
    throw new UsageError('--legacy and --insecure go with --to p12.');
  const force = flag(parsed, 'force');
  const out = pathFrom(io, outArg);

  const loaded = await loadForInspection(
    { ...input, ...(passphrase !== undefined && { passphrase }), warnDays: 0 },
    io,
  );
  const key = loaded.key;
  if (key === undefined) {
    throw new MtlsError(
      'MISSING_FIELD',
      `${loaded.sourceId} holds certificates but no private key: a conversion needs both. Give the key with --key FILE.`,
      { field: 'key' },
    );
  }
  const blocking = loaded.findings.filter((f) => f.severity === 'error' && !CONVERTIBLE.has(f.code));
  if (blocking.length > 0) {
    io.err(`${findingsText(blocking)}\n`);
    throw new MtlsError(
      blocking[0]!.code as 'KEY_MISMATCH',
      `The input cannot be converted: ${blocking[0]!.message} ${blocking[0]!.fix}`,
    );
  }

  const legacy = flag(parsed, 'legacy');
  const written =
    to === 'p12'
      ? await writeP12(loaded, key, out, outPassphrase ?? '', { force, legacy, name: str(parsed, 'name') })
      : await writePem(loaded, key, out, outPassphrase, force);
  io.out(
    flag(parsed, 'json')
      ? `${JSON.stringify(summary(loaded, to, written, legacy), null, 2)}\n`
      : human(loaded, to, written, legacy),
  );
  return EXIT.OK;
}

/** Writes the PKCS#12, after reading it back through core's decoder. */
async function writeP12(
  loaded: LoadedCredential,
  key: KeyObject,
  out: string,
  password: string,
  opts: { force: boolean; legacy: boolean; name: string | undefined },
): Promise<string[]> {
  await refuseOverwrite([out], opts.force);
  const { writePkcs12 } = await import('../pkcs12.js');
  const bytes = await writePkcs12(loaded.leaf, loaded.chain, key, password, {
    algorithm: opts.legacy ? 'legacy' : 'aes256',
    ...(opts.name !== undefined && { friendlyName: opts.name }),
  });
  const back = decodeMaterial({ pfx: bytes, passphrase: password });
  if (back.leaf.fingerprint256 !== loaded.leaf.fingerprint256 || back.chain.length !== loaded.chain.length) {
    throw new Error('the PKCS#12 written does not read back as the input (please report this)');
  }
  await writeNewFile(out, bytes, opts.force);
  return [out];
}

/** Writes certificate.pem, private.key (0600) and ca.pem into `out`, after reading them back. */
async function writePem(
  loaded: LoadedCredential,
  key: KeyObject,
  out: string,
  passphrase: string | undefined,
  force: boolean,
): Promise<string[]> {
  const files = {
    cert: join(out, 'certificate.pem'),
    key: join(out, 'private.key'),
    ca: join(out, 'ca.pem'),
  };
  const targets = [files.cert, files.key, ...(loaded.ca.length > 0 ? [files.ca] : [])];
  await refuseOverwrite(targets, force);
  const certPem = [loaded.leaf, ...loaded.chain].map((c) => c.toString()).join('');
  const keyPem = key.export(
    passphrase === undefined
      ? { type: 'pkcs8', format: 'pem' }
      : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
  ) as string;
  const back = decodeMaterial({
    cert: certPem,
    key: keyPem,
    ...(passphrase !== undefined && { passphrase }),
  });
  if (back.leaf.fingerprint256 !== loaded.leaf.fingerprint256) {
    throw new Error('the PEM written does not read back as the input (please report this)');
  }
  await mkdir(out, { recursive: true, mode: 0o700 });
  await writeNewFile(files.cert, certPem, force, 0o644);
  await writeNewFile(files.key, keyPem, force);
  if (loaded.ca.length > 0)
    await writeNewFile(files.ca, loaded.ca.map((c) => c.toString()).join(''), force, 0o644);
  return targets;
}

function summary(c: LoadedCredential, to: string, written: string[], legacy: boolean) {
  return {
    to,
    written,
    ...(to === 'p12' && {
      encryption: legacy
        ? 'PBE-SHA1-3DES, HMAC-SHA1 MAC'
        : 'PBES2 AES-256-CBC PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC',
    }),
    subject: oneLine(c.leaf.subject),
    fingerprint256: c.leaf.fingerprint256,
    chain: c.chain.length,
    findings: c.findings,
  };
}

function human(c: LoadedCredential, to: string, written: string[], legacy: boolean): string {
  const s = summary(c, to, written, legacy);
  const notes = c.findings;
  return `${table([
    ['Wrote', written.join('\n')],
    ['Encryption', s.encryption],
    ['Subject', s.subject],
    ['Chain', `${s.chain} intermediate${s.chain === 1 ? '' : 's'}`],
  ])}\n${notes.length > 0 ? `\n${findingsText(notes)}\n` : ''}`;
}
