// The AWS Secrets Manager CredentialSource: reads a credential kept as one secret (a JSON bundle, one
// PEM, or a PKCS#12 in SecretBinary) or as one secret per field, probes for rotation with
// DescribeSecret, and writes renewals with PutSecretValue. It fetches and never decodes; the one
// exception is the pair check of one-secret-per-field mode, which borrows core's decoder.
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  PutSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import {
  type CredentialMaterial,
  type CredentialSource,
  closedSourceError,
  type FieldValue,
  type Finding,
  formatReference,
  MtlsError,
  REFERENCE_FIELDS,
  type SourceContext,
  type StageChange,
  type StoreOptions,
  type StoreResult,
  timeoutOption,
  withDeadline,
} from '@mtlskit/core/adapter';
import { decodeMaterial } from '@mtlskit/core/decode';
import { type AwsCallContext, timeoutError, toMtlsError } from './errors.js';
import { AWS_ARN } from './scheme.js';
import { VersionGuard } from './version-guard.js';

/** The credential fields that can each live in their own secret. */
export const AWS_FIELD_NAMES = REFERENCE_FIELDS;
export type AwsFieldName = (typeof REFERENCE_FIELDS)[number];

/**
 * Options of {@link awsSecretsManagerSource}: a `secretId` holding the credential (optionally with
 * `secrets.ca` / `secrets.passphrase` beside it), or `secrets` with one secret per field.
 */
export interface AwsSecretsManagerSourceOptions {
  /** The secret holding the whole credential: a name (`prod/mtls`, `/` allowed) or a full ARN. */
  secretId?: string;
  /**
   * One secret per field, e.g. `{ cert: 'prod/mtls/cert', key: 'prod/mtls/key' }`. Beside a
   * `secretId`, only `ca` and `passphrase` (kept apart from the bundle).
   */
  secrets?: Partial<Record<AwsFieldName, string>>;
  /** The staging label to read and probe. Default `AWSCURRENT` (`AWSPENDING` reads a staged renewal). */
  versionStage?: string;
  /** Always read this version of `secretId` instead of a staging label (no rotation then). */
  versionId?: string;
  /** A configured client to use as is (it is not destroyed by `close()`). Other client options are then ignored. */
  client?: SecretsManagerClient;
  /** Region; default: the region of an ARN secret id, else the SDK's chain (`AWS_REGION`, profile). */
  region?: string;
  /** Endpoint URL; default: the SDK's (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL`, then AWS's). */
  endpoint?: string;
  /** Credentials or a credential provider; default: the SDK's chain (env, profile, SSO, web identity, container, instance role). */
  credentials?: SecretsManagerClientConfig['credentials'];
  /**
   * Attempts per call inside the SDK, first included. Default: `AWS_MAX_ATTEMPTS` when the
   * environment sets it, else 2 — one quick retry for a network blip, then the error goes to the
   * resolver, whose backoff decides what happens next. Ignored with `client`.
   */
  maxAttempts?: number;
  /** Deadline of each call, SDK retries included, in milliseconds. Default 10,000. */
  timeoutMs?: number;
  /** The source id used in errors and logs. Default: the `aws-sm:` reference of these options. */
  id?: string;
  /**
   * Where the source reports, once, that DescribeSecret is denied and it probes with GetSecretValue
   * instead (code `AWS_DESCRIBE_SECRET_DENIED`; sent after the first such probe succeeded). Default
   * `process.emitWarning`.
   */
  onWarning?: (finding: Finding) => void;
}

/**
 * A CredentialSource over AWS Secrets Manager. The SDK client stays private: it holds the AWS
 * credentials, which must not be reachable from an object users log.
 */
export interface AwsSecretsManagerSource extends CredentialSource {
  readonly kind: 'static';
  version(ctx?: SourceContext): Promise<string>;
  store(material: CredentialMaterial, options?: StoreOptions): Promise<StoreResult>;
  storePending(material: CredentialMaterial, ctx?: SourceContext): Promise<StoreResult>;
  loadPending(ctx?: SourceContext): Promise<CredentialMaterial>;
  promote(version: string, ctx?: SourceContext): Promise<StageChange>;
  rollback(ctx?: SourceContext): Promise<StageChange>;
  close(): Promise<void>;
}

const DEFAULT_STAGE = 'AWSCURRENT';
/** The staging labels of renewal: what Secrets Manager's own rotation uses. */
const PENDING = 'AWSPENDING';
const PREVIOUS = 'AWSPREVIOUS';
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_ATTEMPTS = 2;

/** What one GetSecretValue returned. */
interface ReadResult {
  value: FieldValue;
  versionId: string;
  createdAt: number;
  /** Whether the source knew this version before this read (had read it, or stood by it). */
  seenBefore: boolean;
}

/**
 * What a probe announced for one secret: the version carrying the stage, and the other labelled ones
 * (none known when DescribeSecret is denied and the probe read the stage instead).
 */
interface Probe {
  current: string;
  older: ReadonlySet<string>;
  /** The probe read `current` and the source had not seen it before: its creation date says nothing yet. */
  firstSeen?: boolean;
}

interface Target {
  /** `bundle`, or the field this secret holds. */
  slot: 'bundle' | AwsFieldName;
  secretId: string;
}

function invalid(message: string, id: string): MtlsError {
  return new MtlsError('INVALID_OPTION', message, { sourceId: id });
}

/** The `aws-sm:` reference these options stand for, written by core's reference formatter. */
export function awsReferenceOf(options: AwsSecretsManagerSourceOptions): string {
  const refOptions: Record<string, string> = {};
  for (const field of AWS_FIELD_NAMES) {
    const id = options.secrets?.[field];
    if (id !== undefined) refOptions[field] = id;
  }
  if (options.region) refOptions.region = options.region;
  return formatReference({
    scheme: 'aws-sm',
    slashes: true,
    path: options.secretId ?? '',
    options: refOptions,
  });
}

function targetsOf(options: AwsSecretsManagerSourceOptions, id: string): Target[] {
  const secrets = options.secrets ?? {};
  const unknown = Object.keys(secrets).filter((f) => !(AWS_FIELD_NAMES as readonly string[]).includes(f));
  if (unknown.length > 0) {
    throw invalid(`unknown field ${unknown.join(', ')} in secrets: use ${AWS_FIELD_NAMES.join(', ')}`, id);
  }
  const has = (f: AwsFieldName) => secrets[f] !== undefined;
  const targets: Target[] = [];
  if (options.secretId !== undefined) {
    if (options.secretId.trim() === '')
      throw invalid('secretId is empty: give a secret name or full ARN', id);
    const clash = (['cert', 'key', 'pfx'] as const).filter(has);
    if (clash.length > 0) {
      throw invalid(
        `secretId names one secret holding the credential, so secrets.${clash[0]} conflicts with it: give either secretId (with at most ca and passphrase in secrets) or one secret per field`,
        id,
      );
    }
    targets.push({ slot: 'bundle', secretId: options.secretId });
  } else {
    if (!has('pfx') && !(has('cert') && has('key'))) {
      throw invalid(
        'no secret given: set secretId (e.g. "prod/mtls"), or secrets naming both cert and key (or a pfx), e.g. { cert: "prod/mtls/cert", key: "prod/mtls/key" }',
        id,
      );
    }
    if (options.versionId !== undefined) {
      throw invalid(
        'versionId applies to one secret (secretId), not to one secret per field: use versionStage',
        id,
      );
    }
  }
  for (const field of AWS_FIELD_NAMES) {
    const secretId = secrets[field];
    if (secretId === undefined) continue;
    if (secretId.trim() === '') throw invalid(`the secret id for ${field} is empty`, id);
    targets.push({ slot: field, secretId });
  }
  return targets;
}

/** `AWS_MAX_ATTEMPTS`, the SDK's environment setting for attempts per call, when it is set. */
function maxAttemptsFromEnv(id: string): number | undefined {
  const raw = process.env.AWS_MAX_ATTEMPTS;
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw invalid(
      `AWS_MAX_ATTEMPTS=${raw} in the environment must be a whole number of at least 1: fix or unset it, or pass maxAttempts`,
      id,
    );
  }
  return value;
}

function buildClient(
  options: AwsSecretsManagerSourceOptions,
  targets: readonly Target[],
  maxAttempts: number,
): SecretsManagerClient {
  // Only what the user set is passed, so everything else comes from the SDK's own chain. An ARN says
  // where its secret lives, which beats a process-wide AWS_REGION.
  const config: SecretsManagerClientConfig = { maxAttempts };
  const region = options.region ?? targets.map((t) => AWS_ARN.exec(t.secretId)?.[2]).find(Boolean);
  if (region !== undefined) config.region = region;
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  return new SecretsManagerClient(config);
}

function secretValueOf(out: GetSecretValueCommandOutput): FieldValue | undefined {
  if (out.SecretString !== undefined) return out.SecretString;
  return out.SecretBinary;
}

function toText(value: FieldValue): string {
  return typeof value === 'string' ? value : Buffer.from(value).toString('base64');
}

/** What a bundle secret holds when given fields: a JSON object of them, less those `kept` in their own secrets. */
function bundleOf(material: CredentialMaterial, kept: readonly string[]): FieldValue | undefined {
  if (material.bundle !== undefined) return material.bundle;
  const json: Record<string, string | string[]> = {};
  for (const field of AWS_FIELD_NAMES) {
    const value = material[field];
    if (value === undefined || kept.includes(field)) continue;
    json[field] = Array.isArray(value) ? value.map(toText) : toText(value);
  }
  return Object.keys(json).length === 0 ? undefined : JSON.stringify(json);
}

/**
 * A `static` CredentialSource reading AWS Secrets Manager with the real SDK.
 *
 * Loads read the configured stage (AWSCURRENT) and report the version id read. Secrets Manager is
 * eventually consistent: right after a rotation, a read may still be served an older version than
 * the one `version()` has just announced. A load that follows a probe never returns content older
 * than the announced VersionId (it reads that version by id instead), because the resolver files
 * what it loads under the probe's id. A probe that reports a step back from the version the source
 * stands by (one created before it, or one it already replaced: a replica behind a rotation)
 * announces the version it stands by instead, unless the next probe reports the same step back again
 * (an operator's rollback, then accepted). Any other version is announced at once, whatever its
 * creation date (a rollback to a version never read, a promoted AWSPENDING). With one secret per
 * field, the fields are read together and checked to belong to each other; on a mismatch (a
 * rotation caught halfway) they are read once more. docs/adapters/aws.md explains why this never
 * pairs fields of two versions.
 */
export function awsSecretsManagerSource(options: AwsSecretsManagerSourceOptions): AwsSecretsManagerSource {
  // Options are checked before the id is written from them: a malformed one has no reference yet.
  const targets = targetsOf(options, options.id ?? 'aws-sm:');
  const id = options.id ?? awsReferenceOf(options);
  const stage = options.versionStage ?? DEFAULT_STAGE;
  const timeoutMs = timeoutOption(options.timeoutMs, DEFAULT_TIMEOUT_MS, id);
  if (
    options.maxAttempts !== undefined &&
    !(Number.isInteger(options.maxAttempts) && options.maxAttempts >= 1)
  ) {
    throw invalid(`maxAttempts must be a whole number of at least 1, got ${options.maxAttempts}`, id);
  }
  // The option, else the SDK's own setting from the environment, else ours: the SDK would read
  // AWS_MAX_ATTEMPTS itself, but only when no maxAttempts is passed, and it would refuse a bad value
  // at the first call rather than here. An injected client keeps its own setting.
  const owned = options.client === undefined;
  const client =
    options.client ??
    buildClient(options, targets, options.maxAttempts ?? maxAttemptsFromEnv(id) ?? DEFAULT_MAX_ATTEMPTS);
  let closed = false;
  // What the last version() announced, per target, for the load that follows it at once (see
  // readTarget). Dropped when the event loop moves on: the resolver starts its load in the same turn
  // as its probe, and a load started later (a forced refresh) must not be steered by a probe that
  // may be out of date by then. A forced refresh the resolver chains right after a probe does take it
  // (same turn); readTarget only compares with it, and the creation dates favour a newer version.
  let announced: Map<Target['slot'], Probe> | undefined;

  async function call<T>(
    ctx: AwsCallContext,
    signal: AbortSignal | undefined,
    run: (s: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (closed) throw closedSourceError(id);
    // Past timeoutMs the call is abandoned (its SDK request aborted, so not retried either), and
    // the caller's abort rejects at once with its reason.
    return withDeadline(run, {
      signal,
      timeoutMs,
      onTimeout: () => timeoutError(ctx, timeoutMs),
      onError: (err) => toMtlsError(err, ctx),
    });
  }

  const context = (t: Target, operation: string, version?: string): AwsCallContext => ({
    sourceId: id,
    operation,
    secretId: t.secretId,
    field: t.slot === 'bundle' ? undefined : t.slot,
    version,
  });

  // Secrets whose DescribeSecret AWS refused (the IAM policy allows GetSecretValue only): probed by
  // reading the value instead, for the life of the source. Remembered once such a probe succeeded,
  // and reported once per source (`warned`), after the version() call that succeeded that way.
  const describeDenied = new Set<Target['slot']>();
  let warned = false;
  const onWarning =
    options.onWarning ??
    ((f: Finding) =>
      process.emitWarning(`${f.message} ${f.fix}`, { type: 'MtlskitWarning', code: `MTLSKIT_${f.code}` }));

  function isDescribeRefused(err: unknown): boolean {
    // Only the action being refused: bad or expired credentials would fail GetSecretValue as well.
    return (
      MtlsError.is(err, 'ACCESS_DENIED') &&
      (err.cause as { name?: unknown } | undefined)?.name === 'AccessDeniedException'
    );
  }

  function warnDescribeDenied(): void {
    if (warned || describeDenied.size === 0) return;
    warned = true;
    const denied = targets.filter((t) => describeDenied.has(t.slot));
    const names = denied.map((t) => `"${t.secretId}"`).join(', ');
    const field = denied.length === 1 && denied[0]!.slot !== 'bundle' ? denied[0]!.slot : undefined;
    try {
      onWarning({
        code: 'AWS_DESCRIBE_SECRET_DENIED',
        severity: 'warning',
        message: `AWS refused secretsmanager:DescribeSecret on ${denied.length === 1 ? 'secret' : 'secrets'} ${names}, so ${id} now notices rotations by reading the secret value (GetSecretValue) on every refresh.`,
        fix: 'Allow secretsmanager:DescribeSecret on the secret (the IAM policy in the @mtlskit/aws README) and restart the process (the source does not ask again): the probe then reads no secret value, and costs no kms:Decrypt with a customer managed KMS key.',
        ...(field === undefined ? {} : { field }),
      });
    } catch {
      // A throwing warning handler must not fail the probe.
    }
  }

  // What each secret's probes announced and reads returned, to recognise a lagging replica.
  const guard = new VersionGuard<Target['slot']>();

  /** The probe without DescribeSecret: reads the stage and announces the version it got. */
  async function probeByReading(t: Target, signal: AbortSignal | undefined): Promise<Probe> {
    const got = await read(t, undefined, signal);
    // What was read is not handed to a load: a load started after the probe (a forced refresh in the
    // same turn) reads again, so a rotation done meanwhile is not missed.
    return { current: got.versionId, older: new Set(), firstSeen: !got.seenBefore };
  }

  async function probe(t: Target, signal: AbortSignal | undefined): Promise<Probe> {
    if (t.slot === 'bundle' && options.versionId !== undefined)
      return { current: options.versionId, older: new Set() };
    const started = guard.probeStarting(t.slot);
    const found = await probeUnscreened(t, signal);
    return { ...found, current: guard.screen(t.slot, found.current, started, found.firstSeen === true) };
  }

  async function probeUnscreened(t: Target, signal: AbortSignal | undefined): Promise<Probe> {
    if (describeDenied.has(t.slot)) return probeByReading(t, signal);
    const ctx = context(t, 'DescribeSecret');
    let out: Awaited<ReturnType<typeof describeSecret>>;
    try {
      out = await describeSecret(t, ctx, signal);
    } catch (err) {
      if (!isDescribeRefused(err)) throw err;
      // Remembered only once reading works: when GetSecretValue is refused as well, the policy is
      // being fixed and the next probe asks DescribeSecret again.
      const found = await probeByReading(t, signal);
      describeDenied.add(t.slot);
      return found;
    }
    const labelled = Object.entries(out.VersionIdsToStages ?? {});
    const current = labelled.find(([, stages]) => stages?.includes(stage))?.[0];
    if (current === undefined) {
      throw new MtlsError(
        'SOURCE_NOT_FOUND',
        `secret "${t.secretId}" has no version labelled ${stage} — store a value (aws secretsmanager put-secret-value) or choose another versionStage`,
        { sourceId: id, field: ctx.field },
      );
    }
    return { current, older: new Set(labelled.map(([v]) => v).filter((v) => v !== current)) };
  }

  function describeSecret(t: Target, ctx: AwsCallContext, signal: AbortSignal | undefined) {
    return call(ctx, signal, (s) =>
      client.send(new DescribeSecretCommand({ SecretId: t.secretId }), { abortSignal: s }),
    );
  }

  async function read(
    t: Target,
    versionId: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ReadResult> {
    const ctx = context(t, 'GetSecretValue', versionId ?? stage);
    const input =
      versionId === undefined
        ? { SecretId: t.secretId, VersionStage: stage }
        : { SecretId: t.secretId, VersionId: versionId };
    const out = await call(ctx, signal, (s) =>
      client.send(new GetSecretValueCommand(input), { abortSignal: s }),
    );
    const value = secretValueOf(out);
    if (value === undefined || out.VersionId === undefined) {
      throw new MtlsError(
        'MISSING_FIELD',
        `secret "${t.secretId}" has no SecretString or SecretBinary in version ${out.VersionId ?? stage} — store the credential in it`,
        { sourceId: id, field: ctx.field },
      );
    }
    const seenBefore = guard.knows(t.slot, out.VersionId);
    const got = { value, versionId: out.VersionId, createdAt: out.CreatedDate?.getTime() ?? 0, seenBefore };
    guard.noteRead(t.slot, got.versionId, got.createdAt);
    return got;
  }

  function combine(parts: { t: Target; versionId: string }[]): string {
    if (parts.length === 1 && parts[0]!.t.slot === 'bundle') return parts[0]!.versionId;
    return parts.map((p) => `${p.t.slot}:${p.versionId}`).join(',');
  }

  async function readTarget(t: Target, hint: Probe | undefined, signal: AbortSignal | undefined) {
    if (t.slot === 'bundle' && options.versionId !== undefined) return read(t, options.versionId, signal);
    // By stage first, not by id: one call in the usual case, and it works under IAM policies that
    // allow GetSecretValue only with a secretsmanager:VersionStage condition.
    const got = await read(t, undefined, signal);
    if (hint === undefined || got.versionId === hint.current) return got;
    // Another version than the probe announced. One the probe listed is older: a replica behind the
    // rotation. One it did not list is either deprecated (older still) or written since the probe;
    // the creation dates, both AWS's, tell which. What the load returns instead of the announced
    // version is what the resolver files: the source stands by it from now on.
    let pinned: ReadResult;
    try {
      pinned = await read(t, hint.current, signal);
    } catch (err) {
      if (!MtlsError.is(err, 'SOURCE_NOT_FOUND')) throw err;
      throw new MtlsError(
        'SOURCE_UNAVAILABLE',
        `secret "${t.secretId}" announced version ${hint.current}, which cannot be read yet (AWS has not finished replicating the rotation) — it is retried`,
        { sourceId: id, field: t.slot === 'bundle' ? undefined : t.slot, cause: err },
      );
    }
    if (hint.older.has(got.versionId) || !(got.createdAt > pinned.createdAt)) return pinned;
    guard.accept(t.slot, got.versionId);
    return got;
  }

  async function readAll(
    hints: Map<Target['slot'], Probe> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ material: CredentialMaterial; parts: { t: Target; versionId: string }[] }> {
    const results = await Promise.all(
      targets.map(async (t) => ({ t, ...(await readTarget(t, hints?.get(t.slot), signal)) })),
    );
    const material: CredentialMaterial = { version: combine(results), fetchedAt: new Date() };
    for (const r of results) material[r.t.slot] = r.value;
    return { material, parts: results };
  }

  // What a rotation caught halfway can break: only what lives in two different secrets. The key and
  // certificate are apart in one-secret-per-field mode; the key and its passphrase when the passphrase
  // has a secret of its own. A CA is not tied to the key, and a passphrase from another reference
  // (`?passphrase=env:…`) joins the material only after load() returns (core's withPassphrase).
  const pairing: ('KEY_MISMATCH' | 'WRONG_PASSPHRASE')[] = [];
  if (targets.some((t) => t.slot === 'key')) pairing.push('KEY_MISMATCH');
  if (targets.some((t) => t.slot === 'passphrase')) pairing.push('WRONG_PASSPHRASE');

  /**
   * A pairing problem (key of another certificate, passphrase of another key) between the secrets
   * read, if any. What cannot be checked here (an encrypted key whose passphrase comes from elsewhere)
   * or does not involve two secrets is accepted: core decodes and validates the final material.
   */
  function pairingProblem(material: CredentialMaterial): MtlsError | undefined {
    if (pairing.length === 0) return undefined;
    let decoded: ReturnType<typeof decodeMaterial>;
    try {
      decoded = decodeMaterial(material);
    } catch (err) {
      // Only a pairing failure can be a rotation caught halfway; other problems are core's to report.
      return MtlsError.is(err, ...pairing) ? err : undefined;
    }
    if (!pairing.includes('KEY_MISMATCH') || decoded.leaf.checkPrivateKey(decoded.key)) return undefined;
    return new MtlsError('KEY_MISMATCH', 'the private key does not belong to the certificate', {
      sourceId: id,
      field: 'key',
    });
  }

  /**
   * The one secret renewal works on: a bundle secret read at AWSCURRENT, with no field kept apart
   * (moving three labels on three secrets could not be done at once).
   */
  function renewalTarget(operation: string): Target {
    const t = targets[0]!;
    const problem =
      t.slot !== 'bundle' || targets.length > 1
        ? 'one secret per field (or a ca/passphrase kept in a secret of its own)'
        : options.versionId !== undefined
          ? `the fixed version ${options.versionId}`
          : stage !== DEFAULT_STAGE
            ? `the staging label ${stage}`
            : undefined;
    if (problem !== undefined) {
      throw invalid(
        `${operation} needs ${id} to name one secret holding the whole credential at AWSCURRENT, not ${problem}: use aws-sm://SECRET_ID without versionId, versionStage or per-field secrets`,
        id,
      );
    }
    return t;
  }

  /** The versions carrying each label, from DescribeSecret. */
  async function labels(t: Target, signal: AbortSignal | undefined): Promise<Map<string, string>> {
    const out = await describeSecret(t, context(t, 'DescribeSecret'), signal);
    const holders = new Map<string, string>();
    for (const [versionId, stages] of Object.entries(out.VersionIdsToStages ?? {})) {
      for (const label of stages ?? []) holders.set(label, versionId);
    }
    return holders;
  }

  /** Moves `label` onto `to` (off the version holding it, if any), or only off `from` when `to` is absent. */
  async function moveLabel(
    t: Target,
    label: string,
    move: { to?: string; from?: string },
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await call(context(t, 'UpdateSecretVersionStage', label), signal, (s) =>
      client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: t.secretId,
          VersionStage: label,
          ...(move.to !== undefined && { MoveToVersionId: move.to }),
          ...(move.from !== undefined && { RemoveFromVersionId: move.from }),
        }),
        { abortSignal: s },
      ),
    );
  }

  function noVersion(t: Target, what: string, fix: string): MtlsError {
    return new MtlsError('SOURCE_NOT_FOUND', `secret "${t.secretId}" has ${what} — ${fix}`, {
      sourceId: id,
    });
  }

  const source: AwsSecretsManagerSource = {
    id,
    kind: 'static',

    async version(ctx: SourceContext = {}) {
      const parts = await Promise.all(targets.map(async (t) => ({ t, probe: await probe(t, ctx.signal) })));
      warnDescribeDenied();
      const seen = new Map(parts.map((p) => [p.t.slot, p.probe]));
      announced = seen;
      setImmediate(() => {
        if (announced === seen) announced = undefined;
      });
      return combine(parts.map((p) => ({ t: p.t, versionId: p.probe.current })));
    },

    async load(ctx: SourceContext = {}) {
      const hints = announced;
      announced = undefined;
      let read = await readAll(hints, ctx.signal);
      // The second read goes by stage: the announced versions may themselves be a rotation caught
      // halfway (new certificate, old key), and reading them again would fail the same way.
      if (pairingProblem(read.material)) {
        read = await readAll(undefined, ctx.signal);
        const mismatch = pairingProblem(read.material);
        if (mismatch) {
          const fix =
            mismatch.code === 'WRONG_PASSPHRASE'
              ? 'store the passphrase that opens the key'
              : 'update them so the key matches the certificate';
          throw new MtlsError(
            mismatch.code,
            `the secrets of ${id} do not belong together (read twice): ${mismatch.message} — ${fix}`,
            { sourceId: id, field: mismatch.field, cause: mismatch },
          );
        }
      }
      guard.settle(read.parts.map((p) => ({ key: p.t.slot, versionId: p.versionId })));
      return read.material;
    },

    async store(material: CredentialMaterial, storeOptions: StoreOptions = {}) {
      const bundled = targets[0]?.slot === 'bundle';
      const homeless = AWS_FIELD_NAMES.filter(
        (f) => material[f] !== undefined && !targets.some((t) => t.slot === f) && !bundled,
      );
      if (homeless.length > 0 || (!bundled && material.bundle !== undefined)) {
        const what = [...homeless, ...(material.bundle === undefined || bundled ? [] : ['bundle'])];
        throw new MtlsError(
          'INVALID_OPTION',
          `${id} has no secret for ${what.join(', ')}: add one per field to secrets, or store into a single-secret source`,
          { sourceId: id, field: homeless[0] },
        );
      }
      if (bundled && options.versionId !== undefined) {
        throw invalid(
          `${id} reads the fixed version ${options.versionId}: drop versionId to store new versions`,
          id,
        );
      }
      // Everything is checked before the first write, so a refused store writes nothing.
      const writes: { t: Target; value: FieldValue }[] = [];
      for (const t of targets) {
        const value =
          t.slot === 'bundle'
            ? bundleOf(
                material,
                targets.map((x) => x.slot),
              )
            : material[t.slot];
        if (Array.isArray(value)) {
          throw new MtlsError(
            'INVALID_OPTION',
            `the ${t.slot} secret "${t.secretId}" holds one value: join the CA certificates into one PEM first`,
            { sourceId: id, field: t.slot },
          );
        }
        if (value !== undefined) writes.push({ t, value });
        else if (t.slot !== 'passphrase' && t.slot !== 'ca') {
          throw new MtlsError(
            'MISSING_FIELD',
            `nothing to store in secret "${t.secretId}": the material has no ${t.slot === 'bundle' ? 'certificate, key or bundle' : t.slot}`,
            { sourceId: id, field: t.slot === 'bundle' ? undefined : t.slot },
          );
        }
      }
      const written: { t: Target; versionId: string }[] = [];
      for (const { t, value } of writes) {
        const ctx = context(t, 'PutSecretValue', storeOptions.stage);
        const out = await call(ctx, storeOptions.signal, (s) =>
          client.send(
            new PutSecretValueCommand({
              SecretId: t.secretId,
              ...(typeof value === 'string' ? { SecretString: value } : { SecretBinary: value }),
              ...(storeOptions.stage === undefined ? {} : { VersionStages: [storeOptions.stage] }),
            }),
            { abortSignal: s },
          ),
        );
        written.push({ t, versionId: out.VersionId ?? '' });
      }
      return { version: combine(written) };
    },

    async storePending(material: CredentialMaterial, ctx: SourceContext = {}) {
      renewalTarget('storing a pending version');
      return source.store(material, { stage: PENDING, ...(ctx.signal && { signal: ctx.signal }) });
    },

    async loadPending(ctx: SourceContext = {}) {
      const t = renewalTarget('reading the pending version');
      const out = await call(context(t, 'GetSecretValue', PENDING), ctx.signal, (s) =>
        client.send(new GetSecretValueCommand({ SecretId: t.secretId, VersionStage: PENDING }), {
          abortSignal: s,
        }),
      ).catch((err: unknown) => {
        if (!MtlsError.is(err, 'SOURCE_NOT_FOUND')) throw err;
        throw noVersion(t, 'no pending version (AWSPENDING)', 'start a renewal first (mtlskit renew start)');
      });
      const value = secretValueOf(out);
      if (value === undefined || out.VersionId === undefined) {
        throw noVersion(t, 'an empty AWSPENDING version', 'start the renewal again (mtlskit renew start)');
      }
      return { bundle: value, version: out.VersionId, fetchedAt: new Date() };
    },

    async promote(version: string, ctx: SourceContext = {}) {
      const t = renewalTarget('promoting the pending version');
      const held = await labels(t, ctx.signal);
      const pending = held.get(PENDING);
      if (pending !== version) {
        throw noVersion(
          t,
          pending === undefined
            ? `no pending version (AWSPENDING), so version ${version} cannot be promoted`
            : `version ${pending} pending, not ${version} (another renewal replaced it)`,
          'check the pending version again (mtlskit check --pending) and promote that one',
        );
      }
      const previous = held.get(DEFAULT_STAGE);
      if (previous !== version) {
        await moveLabel(t, DEFAULT_STAGE, { to: version, ...(previous && { from: previous }) }, ctx.signal);
      }
      // AWSPREVIOUS now marks the version replaced (Secrets Manager moves it with AWSCURRENT).
      await moveLabel(t, PENDING, { from: version }, ctx.signal);
      return { current: version, ...(previous !== undefined && { previous }) };
    },

    async rollback(ctx: SourceContext = {}) {
      const t = renewalTarget('rolling back');
      const held = await labels(t, ctx.signal);
      const back = held.get(PREVIOUS);
      const current = held.get(DEFAULT_STAGE);
      if (back === undefined || back === current) {
        throw noVersion(
          t,
          'no previous version (AWSPREVIOUS) to return to',
          'a rollback follows a promotion (mtlskit renew promote)',
        );
      }
      await moveLabel(t, DEFAULT_STAGE, { to: back, ...(current && { from: current }) }, ctx.signal);
      return { current: back, ...(current !== undefined && { previous: current }) };
    },

    async close() {
      if (closed) return;
      closed = true;
      if (owned) client.destroy();
    },
  };
  return source;
}
