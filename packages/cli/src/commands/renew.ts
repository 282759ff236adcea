// `mtlskit renew start|complete|promote|rollback`: staged renewal in the store itself. The new key is
// made in memory and stored as the pending version (never on disk unless --key-out asks), the CSR
// goes out, the CA's certificate comes back and is checked against the pending key, the identity and
// clientAuth; `check --pending` tries it for real; promote makes it current, rollback goes back.
import { readFile } from 'node:fs/promises';
import { type CommandSpec, flag, list, type Parsed, str, UsageError } from '../args.js';
import { EXIT } from '../exit.js';
import { refuseOverwrite, writeNewFile } from '../files.js';
import { table } from '../format.js';
import { type CliIo, pathFrom } from '../io.js';
import { sourceFor } from '../load.js';
import { csrNameOf, mangopayPreset } from '../mangopay.js';
import { KEY_TYPES, type KeyType, parseSan, parseSubject } from '../names.js';
import type { RenewalIdentity } from '../renewal.js';

const STEPS = ['start', 'complete', 'promote', 'rollback'] as const;
type Step = (typeof STEPS)[number];

/** The options each step accepts (besides --source and --json). */
const ALLOWED: Record<Step, string[]> = {
  start: ['client-id', 'production', 'subject', 'san', 'key-type', 'out', 'key-out', 'force'],
  complete: ['cert', 'client-id', 'production', 'subject', 'san'],
  promote: ['version'],
  rollback: [],
};

export const spec: CommandSpec = {
  name: 'renew',
  summary: 'Staged renewal in the store: new key as a pending version, CSR, certificate, promote, rollback.',
  usage: [
    'start --source REF [--client-id ID [--production] | --subject DN [--san NAME]...] [--key-type TYPE] [--out CSR] [--key-out FILE] [--force] [--json]',
    'complete --source REF --cert FILE [--client-id ID [--production] | --subject DN [--san NAME]...] [--json]',
    'promote --source REF [--version ID] [--json]',
    'rollback --source REF [--json]',
  ],
  details: [
    'start: makes a new key in memory and stores it in REF as the pending version (AWS: the AWSPENDING label; Azure: a NAME-mtlskit-pending secret; Google: a version not yet aliased `current`; Vault KV: a version not yet marked mtlskit-current); the current version, which applications load, is untouched. Writes the CSR to --out (else prints it). The subject defaults to the current certificate’s; --client-id gives Mangopay’s naming. The key is written to disk only with --key-out.',
    'complete: checks the certificate the CA returned — it must belong to the pending key, carry the expected name (the current certificate’s CN and DNS SAN, or those of --client-id/--subject) and allow clientAuth — then stores key and certificate as the pending version.',
    'Then try it: mtlskit check --source REF --pending --url URL. promote: makes the pending version current (refused while it is incomplete or invalid); running resolvers load it on their next refresh. rollback: makes the previous version current again.',
  ],
  options: {
    source: {
      type: 'string',
      value: 'REF',
      description:
        'The store (default $MTLS_SOURCE): aws-sm://, azure-kv://, gcp-sm:// or vault:// (KV v2), e.g. aws-sm://prod/mtls.',
    },
    'client-id': {
      type: 'string',
      value: 'ID',
      description: 'Mangopay ClientId: the name is ID.sandbox.mangopay.com.',
    },
    production: { type: 'boolean', description: 'Mangopay production naming (ID.prod.mangopay.com).' },
    subject: {
      type: 'string',
      value: 'DN',
      description: 'Any subject, in certificate order: "CN=a, O=b, C=FR".',
    },
    san: {
      type: 'string',
      multiple: true,
      value: 'NAME',
      description: 'Subject alternative name (repeatable), with --subject.',
    },
    'key-type': {
      type: 'string',
      value: 'TYPE',
      description:
        'rsa2048 or ec-p256 (default: that of the current key, rsa2048 with --client-id/--subject).',
    },
    out: {
      type: 'string',
      value: 'FILE',
      description: 'start: write the CSR here (mode 0644) instead of printing it.',
    },
    'key-out': {
      type: 'string',
      value: 'FILE',
      description: 'start: also write the new key here (mode 0600). Not needed: the store holds it.',
    },
    force: { type: 'boolean', description: 'Replace existing --out/--key-out files.' },
    cert: {
      type: 'string',
      value: 'FILE',
      description: 'complete: the certificate the CA returned (PEM, leaf first).',
    },
    version: {
      type: 'string',
      value: 'ID',
      description: 'promote: only this pending version (the one you checked).',
    },
    json: { type: 'boolean', description: 'Print the result as JSON.' },
  },
  positionals: [1, 1],
  exitCodes: [
    [0, 'done'],
    [1, 'refused: the certificate does not fit, or the pending version is incomplete or invalid'],
    [2, 'usage, or a store that cannot hold a pending version'],
    [4, 'the store is unreachable, refused the call, or has no pending/previous version'],
  ],
  examples: [
    'mtlskit renew start --source aws-sm://prod/mtls --client-id myplatform --production --out renewal.csr',
    'mtlskit renew complete --source aws-sm://prod/mtls --cert certificate.pem',
    'mtlskit check --source aws-sm://prod/mtls --pending --url https://api-mtls.mangopay.com/v2.01/',
    'mtlskit renew promote --source aws-sm://prod/mtls',
    'mtlskit renew rollback --source aws-sm://prod/mtls',
  ],
};

/** The identity given on the command line, if any: Mangopay naming from --client-id, or --subject/--san. */
function identityOf(parsed: Parsed): RenewalIdentity | undefined {
  const clientId = str(parsed, 'client-id');
  const subject = str(parsed, 'subject');
  const san = list(parsed, 'san');
  if (clientId !== undefined && subject !== undefined)
    throw new UsageError('Give --client-id (Mangopay naming) or --subject (any CA), not both.');
  if (clientId !== undefined) {
    const preset = mangopayPreset(clientId, flag(parsed, 'production'));
    if (san.length > 0)
      throw new UsageError('--san goes with --subject; with --client-id the SAN is the Mangopay name.');
    return csrNameOf(preset);
  }
  if (flag(parsed, 'production')) throw new UsageError('--production goes with --client-id.');
  if (subject === undefined) {
    if (san.length > 0) throw new UsageError('--san goes with --subject.');
    return undefined;
  }
  try {
    const attributes = parseSubject(subject);
    parseSan(san);
    return { subject: attributes, san };
  } catch (err) {
    throw new UsageError(`Invalid --subject/--san: ${(err as Error).message}.`);
  }
}

function stepOf(parsed: Parsed): Step {
  const step = parsed.positionals[0] as Step;
  if (!STEPS.includes(step))
    throw new UsageError(`Unknown step "${parsed.positionals[0]}". Steps: ${STEPS.join(', ')}.`);
  const stray = Object.keys(parsed.values).filter(
    (o) => parsed.values[o] !== undefined && !['source', 'json', 'help', ...ALLOWED[step]].includes(o),
  );
  if (stray.length > 0) throw new UsageError(`--${stray[0]} does not go with renew ${step}.`);
  return step;
}

function keyTypeOf(parsed: Parsed): KeyType | undefined {
  const v = str(parsed, 'key-type');
  if (v !== undefined && !KEY_TYPES.includes(v as KeyType))
    throw new UsageError(`--key-type must be ${KEY_TYPES.join(' or ')}, not "${v}".`);
  return v as KeyType | undefined;
}

function print(
  io: CliIo,
  parsed: Parsed,
  result: Record<string, unknown>,
  rows: [string, string | undefined][],
  next?: string,
): void {
  if (flag(parsed, 'json')) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else io.out(`${table(rows)}\n${next ? `\n${next}\n` : ''}`);
}

export async function run(parsed: Parsed, io: CliIo): Promise<number> {
  const step = stepOf(parsed);
  const identity = step === 'start' || step === 'complete' ? identityOf(parsed) : undefined;
  const keyType = keyTypeOf(parsed);
  const out = str(parsed, 'out');
  const keyOut = str(parsed, 'key-out');
  const certFile = str(parsed, 'cert');
  if (step === 'complete' && certFile === undefined)
    throw new UsageError('renew complete needs --cert FILE.');
  const force = flag(parsed, 'force');
  await refuseOverwrite(
    [out, keyOut].filter((p) => p !== undefined).map((p) => pathFrom(io, p)),
    force,
  );
  const cert =
    certFile === undefined
      ? undefined
      : await readFile(pathFrom(io, certFile)).catch((err: NodeJS.ErrnoException) => {
          throw new UsageError(`--cert ${certFile} cannot be read (${err.code ?? 'error'}).`);
        });
  const reference = str(parsed, 'source');
  const source = await sourceFor({ ...(reference !== undefined && { reference }), warnDays: 30 }, io, []);
  // The X.509 library loads only when a step runs: help and usage errors stay fast.
  const renewal = await import('../renewal.js');
  try {
    io.progress(`renew ${step}: ${source.id}`);
    if (step === 'start') {
      const r = await renewal.startRenewal(source, {
        ...(identity && { identity }),
        ...(keyType && { keyType }),
      });
      if (out !== undefined) await writeNewFile(pathFrom(io, out), r.csrPem, force, 0o644);
      if (keyOut !== undefined)
        await writeNewFile(
          pathFrom(io, keyOut),
          r.privateKey.export({ type: 'pkcs8', format: 'pem' }),
          force,
        );
      const subject = r.identity.subject.map(([k, v]) => `${k}=${v}`).join(', ');
      const result = {
        source: source.id,
        pendingVersion: r.version,
        subject,
        subjectAltName: r.identity.san.join(', '),
        keyType: r.keyType,
        ...(out !== undefined ? { csrFile: pathFrom(io, out) } : { csr: r.csrPem }),
        ...(keyOut !== undefined && { keyFile: pathFrom(io, keyOut) }),
      };
      if (out === undefined && !flag(parsed, 'json')) {
        io.out(r.csrPem);
        io.err(`The new key is stored in ${source.id} as pending version ${r.version}; the CSR is above.\n`);
        return EXIT.OK;
      }
      print(
        io,
        parsed,
        result,
        [
          ['Pending', `${source.id} (version ${r.version}; the current version is untouched)`],
          ['CSR', out === undefined ? undefined : pathFrom(io, out)],
          ['Subject', subject],
          ['SAN', result.subjectAltName || 'none'],
          [
            'Key',
            `${r.keyType}, ${keyOut === undefined ? 'in the store only' : `also in ${keyOut} (mode 0600)`}`,
          ],
        ],
        `Next: have the CA sign the CSR, then mtlskit renew complete --source ${source.id} --cert FILE`,
      );
      return EXIT.OK;
    }
    if (step === 'complete') {
      const { expectedOf } = renewal;
      const r = await renewal.completeRenewal(
        source,
        cert!,
        identity ? { expected: expectedOf(identity) } : {},
      );
      print(
        io,
        parsed,
        { source: source.id, pendingVersion: r.version, ...r.certificate },
        [
          ['Pending', `${source.id} (version ${r.version}: key and certificate)`],
          ['Subject', r.certificate.subject],
          ['Not after', r.certificate.notAfter],
          ['SHA-256', r.certificate.fingerprint256],
        ],
        `Next: mtlskit check --source ${source.id} --pending --url URL, then mtlskit renew promote --source ${source.id}`,
      );
      return EXIT.OK;
    }
    if (step === 'promote') {
      const version = str(parsed, 'version');
      const r = await renewal.promoteRenewal(source, version === undefined ? {} : { version });
      print(
        io,
        parsed,
        { source: source.id, ...r },
        [
          ['Current', `${source.id} (version ${r.current})`],
          ['Previous', r.previous],
          ['Subject', r.certificate.subject],
          ['SHA-256', r.certificate.fingerprint256],
        ],
        `Running resolvers load it on their next refresh. To go back: mtlskit renew rollback --source ${source.id}`,
      );
      return EXIT.OK;
    }
    const r = await renewal.rollbackRenewal(source);
    print(
      io,
      parsed,
      { source: source.id, ...r },
      [
        ['Current', `${source.id} (version ${r.current}, the one before the promotion)`],
        ['Replaced', r.previous],
      ],
      'Running resolvers load it on their next refresh.',
    );
    return EXIT.OK;
  } finally {
    await source.close?.();
  }
}
