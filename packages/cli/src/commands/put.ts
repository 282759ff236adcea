// `mtlskit put REF`: store a credential as a new version in any source that can write (`store()`:
// AWS Secrets Manager today), after checking it is usable, then read it back through the reference
// to prove the application will load exactly that certificate.
import { type CredentialMaterial, MtlsError } from '@mtlskit/core';
import { type CommandSpec, flag, type Parsed, secretFromEnv, str, UsageError } from '../args.js';
import { EXIT } from '../exit.js';
import { findingsText, isoDate, oneLine, table } from '../format.js';
import type { CliIo } from '../io.js';
import { type LoadRequest, loadForInspection, sourceFor } from '../load.js';

export const spec: CommandSpec = {
  name: 'put',
  summary: 'Store a credential as a new version in a secrets manager, after validating it.',
  usage: [
    'REF (--from FILE|DIR | --cert FILE --key FILE | --source REF) [--passphrase-env VAR] [--stage LABEL] [--json]',
  ],
  details: [
    'Reads the credential (as inspect does) and refuses one with errors: a key that does not match, an expired certificate, no clientAuth. Writes leaf + intermediates as `cert`, the key as unencrypted PKCS#8 `key` and any CA as `ca` through the source’s store() — for aws-sm://NAME one JSON bundle, a new version made AWSCURRENT (or labelled --stage, e.g. AWSPENDING). Then loads REF again and checks the fingerprint.',
    'The private key goes to the store unencrypted, as applications read it: protect the secret with the store’s own access control and encryption.',
  ],
  options: {
    from: {
      type: 'string',
      value: 'PATH',
      description: 'A file (PEM bundle, PKCS#12, JSON) or a directory (certificate.pem + private.key).',
    },
    cert: { type: 'string', value: 'FILE', description: 'Certificate PEM; with --key.' },
    key: { type: 'string', value: 'FILE', description: 'Private key PEM; with --cert.' },
    source: {
      type: 'string',
      value: 'REF',
      description: 'Copy from another reference (e.g. from a file: into a vault).',
    },
    'passphrase-env': {
      type: 'string',
      value: 'VAR',
      description: 'Environment variable with the passphrase of the input.',
    },
    stage: {
      type: 'string',
      value: 'LABEL',
      description: 'Store as a staged version (e.g. AWSPENDING) instead of the current one.',
    },
    json: { type: 'boolean', description: 'Print the result as JSON.' },
  },
  positionals: [1, 1],
  exitCodes: [
    [0, 'stored and read back'],
    [1, 'the credential is invalid, or what was read back differs'],
    [2, 'usage, or a reference whose source cannot store'],
    [4, 'the store is unreachable or refused the write'],
  ],
  examples: [
    'mtlskit put "aws-sm://prod/mangopay-mtls?region=eu-west-1" --from ./mtls',
    'mtlskit put aws-sm://prod/mtls --cert certificate.pem --key private.key --stage AWSPENDING',
  ],
};

function inputOf(parsed: Parsed): Omit<LoadRequest, 'warnDays'> {
  const from = str(parsed, 'from');
  const cert = str(parsed, 'cert');
  const key = str(parsed, 'key');
  const source = str(parsed, 'source');
  const given = [from !== undefined, cert !== undefined || key !== undefined, source !== undefined].filter(
    Boolean,
  ).length;
  if (given !== 1)
    throw new UsageError(
      'Give the credential to store once: --from PATH, --cert FILE --key FILE, or --source REF.',
    );
  if (from !== undefined) return { file: from };
  if (source !== undefined) return { reference: source };
  if (cert === undefined || key === undefined) throw new UsageError('--cert and --key go together.');
  return { pair: { cert, key } };
}

export async function run(parsed: Parsed, io: CliIo): Promise<number> {
  const target = parsed.positionals[0]!;
  const input = inputOf(parsed);
  const passphrase = secretFromEnv(parsed, 'passphrase-env', io.env);
  const stage = str(parsed, 'stage');
  const loaded = await loadForInspection(
    { ...input, ...(passphrase !== undefined && { passphrase }), warnDays: 30 },
    io,
  );
  if (loaded.key === undefined) {
    throw new MtlsError(
      'MISSING_FIELD',
      `${loaded.sourceId} holds certificates but no private key; give the key too (--cert with --key).`,
      { field: 'key' },
    );
  }
  const errors = loaded.findings.filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    io.err(`${findingsText(errors)}\n`);
    throw new MtlsError(
      errors[0]!.code as 'KEY_MISMATCH',
      `Not stored: ${errors[0]!.message} ${errors[0]!.fix}`,
    );
  }
  const material: CredentialMaterial = {
    cert: [loaded.leaf, ...loaded.chain].map((c) => c.toString()).join(''),
    key: loaded.key.export({ type: 'pkcs8', format: 'pem' }) as string,
    ...(loaded.ca.length > 0 && { ca: loaded.ca.map((c) => c.toString()).join('') }),
  };
  const destination = await sourceFor({ reference: target, warnDays: 30 }, io, []);
  let version: string;
  try {
    if (typeof destination.store !== 'function') {
      throw new UsageError(
        `${destination.id} cannot be written by mtlskit (its source has no store()); put writes to a secrets manager such as aws-sm://NAME.`,
      );
    }
    io.progress(`storing a new version in ${destination.id}`);
    ({ version } = await destination.store(material, stage === undefined ? {} : { stage }));
  } finally {
    await destination.close?.();
  }
  // Read back what the application will read (a staged version is not current: skip the check then).
  let verified: boolean | undefined;
  if (stage === undefined) {
    const back = await loadForInspection({ reference: target, warnDays: 30 }, io);
    verified = back.leaf.fingerprint256 === loaded.leaf.fingerprint256;
    if (!verified)
      throw new MtlsError(
        'INTEGRITY_FAILED',
        `${destination.id} was written (version ${version}) but reads back another certificate (${back.leaf.fingerprint256}); another writer may have stored a newer version.`,
      );
  }
  const result = {
    stored: destination.id,
    version,
    ...(stage !== undefined && { stage }),
    subject: oneLine(loaded.leaf.subject),
    notAfter: isoDate(new Date(loaded.leaf.validTo)),
    fingerprint256: loaded.leaf.fingerprint256,
    readBack: verified ?? 'skipped (staged version)',
    findings: loaded.findings,
  };
  if (flag(parsed, 'json')) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else {
    io.out(
      `${table([
        ['Stored', `${result.stored} (version ${version}${stage ? `, stage ${stage}` : ''})`],
        ['Subject', result.subject],
        ['Not after', result.notAfter],
        ['SHA-256', result.fingerprint256],
        [
          'Read back',
          verified === undefined
            ? 'skipped: a staged version is not what applications load'
            : 'the reference loads this certificate',
        ],
      ])}\n${loaded.findings.length > 0 ? `\n${findingsText(loaded.findings)}\n` : ''}`,
    );
  }
  return EXIT.OK;
}
