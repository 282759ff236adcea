// The Google Secret Manager CredentialSource: reads a secret version holding the credential (a JSON
// bundle, one PEM, or a PKCS#12) with AccessSecretVersion, verifies the payload's CRC32C on every
// read, probes for rotation with GetSecretVersion (metadata, no payload), and writes renewals with
// AddSecretVersion. Staged renewal keeps the version applications use under the alias `current`
// (a source reading `latest` follows it once it exists) and marks the pending and previous versions
// in the secret's annotations, changed with UpdateSecret under the secret's etag. It fetches and
// never decodes. The Google client (google-gax, protobufs: slow to load) is imported on the first
// call, not when this module is.
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import {
  type CredentialMaterial,
  type CredentialSource,
  closedSourceError,
  type FieldValue,
  type Finding,
  MtlsError,
  REFERENCE_FIELDS,
  type SourceContext,
  type StageChange,
  type StoreOptions,
  type StoreResult,
  timeoutOption,
  withDeadline,
} from '@mtlskit/core/adapter';
import { checksumValue, crc32c } from './crc32c.js';
import { type GcpCallContext, stateAdvice, timeoutError, toMtlsError } from './errors.js';
import { isNameProblem, parseSecretName, regionalEndpoint, versionNumberOf } from './name.js';

/** Options of the client this source builds when none is given (`SecretManagerServiceClient`'s). */
export type GcpClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

/** What the source reads of a SecretVersion (metadata). */
export interface SecretVersionLike {
  name?: string | null;
  state?: unknown;
}

/** What the source reads and writes of a Secret's metadata (GetSecret, UpdateSecret). */
export interface SecretLike {
  name?: string | null;
  etag?: string | null;
  /** Alias → version number (int64: a decimal string from google-gax, a number or `Long` elsewhere). */
  versionAliases?: Record<string, unknown> | null;
  annotations?: Record<string, string> | null;
}

/** What the source writes with UpdateSecret: typed as the client's own request takes it. */
export interface SecretUpdate {
  name: string;
  etag?: string;
  versionAliases?: Record<string, number>;
  annotations?: Record<string, string>;
}

/** What the source reads of an AccessSecretVersion answer. */
export interface AccessResponseLike {
  name?: string | null;
  payload?: { data?: Uint8Array | string | null; dataCrc32c?: unknown } | null;
}

/** Per-call options the source passes: its deadline, and no retries inside the client. */
export interface GcpCallOptions {
  timeout: number;
  retry: { retryCodes: number[] };
}

/** One method of the client: a request and per-call options in, a promise of `[response, …]` out. */
export type GcpCall<Request, Response> = (
  request: Request,
  options?: GcpCallOptions,
) => Promise<[Response, ...unknown[]]>;

/**
 * The methods of a `SecretManagerServiceClient` the source calls. A client is used as given and
 * checked by shape, never with `instanceof`: the application's copy may be another version.
 */
export interface SecretManagerClientLike {
  accessSecretVersion: GcpCall<{ name: string }, AccessResponseLike>;
  getSecretVersion: GcpCall<{ name: string }, SecretVersionLike>;
  addSecretVersion: GcpCall<
    { parent: string; payload: { data: Uint8Array; dataCrc32c: number } },
    SecretVersionLike
  >;
  disableSecretVersion?: GcpCall<{ name: string }, SecretVersionLike>;
  /** Staged renewal reads the secret's aliases, annotations and etag. */
  getSecret?: GcpCall<{ name: string }, SecretLike>;
  /** Staged renewal moves the alias and changes the annotations, check-and-set on the etag. */
  updateSecret?: GcpCall<{ secret: SecretUpdate; updateMask: { paths: string[] } }, SecretLike>;
  /** Resolves credentials and builds the transport; the generated client calls it on each call. */
  initialize?(): Promise<unknown>;
  close?(): Promise<void>;
}

export interface GcpSecretManagerSourceOptions {
  /**
   * The secret version holding the credential: `projects/P/secrets/S[/versions/V]` or the regional
   * `projects/P/locations/L/secrets/S[/versions/V]`. V is a number, `latest` (the default) or an alias.
   */
  name: string;
  /**
   * A configured `SecretManagerServiceClient` to use as is (`close()` leaves it open). Other client
   * options are then ignored; for a regional secret it must point at the regional endpoint.
   */
  client?: SecretManagerClientLike;
  /**
   * `grpc` (the default), or `rest`: HTTP/1.1 JSON (the client's `fallback` mode) for hosts where
   * gRPC cannot pass (proxies that do not speak HTTP/2). Ignored with `client`.
   */
  transport?: 'grpc' | 'rest';
  /**
   * Options for the client the source builds (`apiEndpoint`, `credentials`, `keyFilename`,
   * `projectId`…). Default: Application Default Credentials, and for a regional secret the endpoint
   * `secretmanager.L.rep.googleapis.com`. Ignored with `client`.
   */
  clientOptions?: GcpClientOptions;
  /** Deadline of each call, in milliseconds. Default 10,000. */
  timeoutMs?: number;
  /** The source id used in errors and logs. Default: the `gcp-sm://` reference of these options. */
  id?: string;
  /**
   * Where the source reports a payload that arrived without a CRC32C (`GCP_NO_CHECKSUM`, once per
   * version), and a refused GetSecretVersion that makes it probe by reading (`GCP_GET_VERSION_DENIED`,
   * once). Default `process.emitWarning`.
   */
  onWarning?: (finding: Finding) => void;
}

/** A CredentialSource over Google Secret Manager. The client stays private (it holds credentials). */
export interface GcpSecretManagerSource extends CredentialSource {
  readonly kind: 'static';
  version(ctx?: SourceContext): Promise<string>;
  store(material: CredentialMaterial, options?: StoreOptions): Promise<StoreResult>;
  storePending(material: CredentialMaterial, ctx?: SourceContext): Promise<StoreResult>;
  loadPending(ctx?: SourceContext): Promise<CredentialMaterial>;
  promote(version: string, ctx?: SourceContext): Promise<StageChange>;
  rollback(ctx?: SourceContext): Promise<StageChange>;
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** The alias naming the version applications use once a staged renewal made it; `latest` follows it. */
export const CURRENT_ALIAS = 'current';
/** The secret annotation holding the number of the pending version of a staged renewal. */
export const PENDING_ANNOTATION = 'mtlskit-pending';
/** The secret annotation holding the number of the version current before the last promotion. */
export const PREVIOUS_ANNOTATION = 'mtlskit-previous';
/** UpdateSecret attempts when the secret's etag changed meanwhile (another writer). */
const UPDATE_ATTEMPTS = 3;

function invalid(message: string, id: string): MtlsError {
  return new MtlsError('INVALID_OPTION', message, { sourceId: id });
}

/** The `gcp-sm://` reference of a resource name and transport. */
export function gcpReferenceOf(name: string, transport: 'grpc' | 'rest' = 'grpc'): string {
  return `gcp-sm://${name}${transport === 'rest' ? '?transport=rest' : ''}`;
}

function isClient(value: unknown): value is SecretManagerClientLike {
  const c = value as Partial<Record<keyof SecretManagerClientLike, unknown>> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.accessSecretVersion === 'function' &&
    typeof c.getSecretVersion === 'function' &&
    typeof c.addSecretVersion === 'function'
  );
}

const isEnabled = (state: unknown) => state === 'ENABLED' || state === 1;
const stateName = (state: unknown) =>
  typeof state === 'number'
    ? (['STATE_UNSPECIFIED', 'ENABLED', 'DISABLED', 'DESTROYED'][state] ?? String(state))
    : String(state);

function toText(value: FieldValue): string {
  return typeof value === 'string' ? value : Buffer.from(value).toString('base64');
}

/** The payload a store writes: the bundle as given, else a JSON object of the fields. */
function payloadOf(material: CredentialMaterial): Uint8Array | undefined {
  if (material.bundle !== undefined) {
    return typeof material.bundle === 'string' ? Buffer.from(material.bundle) : material.bundle;
  }
  const json: Record<string, string | string[]> = {};
  for (const field of REFERENCE_FIELDS) {
    const value = material[field];
    if (value === undefined) continue;
    json[field] = Array.isArray(value) ? value.map(toText) : toText(value);
  }
  return Object.keys(json).length === 0 ? undefined : Buffer.from(JSON.stringify(json));
}

/**
 * A `static` CredentialSource reading Google Secret Manager with the real client.
 *
 * A load reads the named version and reports the version number Google answered with (`latest`
 * resolved). Secret Manager is strongly consistent, so the number `version()` announces is the one
 * the next load reads. A payload whose CRC32C does not match is refused (`INTEGRITY_FAILED`), and the
 * resolver keeps the last good credentials. A source reading `latest` follows the alias `current`
 * once the secret has it (staged renewal: `storePending`, `promote`, `rollback`).
 */
export function gcpSecretManagerSource(options: GcpSecretManagerSourceOptions): GcpSecretManagerSource {
  const transport = options.transport ?? 'grpc';
  const early = options.id ?? 'gcp-sm:';
  if (typeof options.name !== 'string')
    throw invalid('name is required: projects/P/secrets/S[/versions/V]', early);
  const parsed = parseSecretName(options.name);
  if (isNameProblem(parsed)) throw invalid(`${parsed.problem} — ${parsed.fix}`, early);
  const target = parsed;
  const id = options.id ?? gcpReferenceOf(target.versionName, transport);
  if (transport !== 'grpc' && transport !== 'rest')
    throw invalid(`transport must be grpc or rest, got ${String(transport)}`, id);
  const timeoutMs = timeoutOption(options.timeoutMs, DEFAULT_TIMEOUT_MS, id);
  if (options.client !== undefined && !isClient(options.client)) {
    throw invalid(
      `the client given for ${id} is not a SecretManagerServiceClient from @google-cloud/secret-manager (it needs accessSecretVersion, getSecretVersion and addSecretVersion)`,
      id,
    );
  }
  const onWarning =
    options.onWarning ??
    ((f: Finding) =>
      process.emitWarning(`${f.message} ${f.fix}`, { type: 'MtlskitWarning', code: `MTLSKIT_${f.code}` }));

  const owned = options.client === undefined;
  let client: Promise<SecretManagerClientLike> | undefined = owned
    ? undefined
    : Promise.resolve(options.client!);
  let closed = false;
  const callOptions: GcpCallOptions = { timeout: timeoutMs, retry: { retryCodes: [] } };
  /** Versions already reported as arriving without a checksum. */
  const warnedNoChecksum = new Set<string>();

  function clientOf(): Promise<SecretManagerClientLike> {
    client ??= import('@google-cloud/secret-manager').then(({ SecretManagerServiceClient }) => {
      const config: GcpClientOptions = {
        ...(target.location !== undefined && { apiEndpoint: regionalEndpoint(target.location) }),
        ...options.clientOptions,
        fallback: transport === 'rest',
      };
      return new SecretManagerServiceClient(config) as unknown as SecretManagerClientLike;
    });
    return client;
  }

  /**
   * Runs one client call under the source's deadline and the caller's signal. The deadline starts
   * once the client is built: importing it takes seconds on a cold start and is no network wait (an
   * abort still ends the wait). The client offers no cancellation: an abandoned call ends at its
   * own deadline (`timeout`). Its own retries are off (`retryCodes: []`): its default backs off from
   * 2 s for up to 600 s on UNAVAILABLE, which would hold a refresh for minutes; the resolver retries.
   */
  async function call<T>(
    ctx: GcpCallContext,
    signal: AbortSignal | undefined,
    run: (c: SecretManagerClientLike) => Promise<T>,
  ): Promise<T> {
    if (closed) throw closedSourceError(id);
    const onError = (err: unknown) => toMtlsError(err, ctx);
    const c = await withDeadline(clientOf, { signal, onTimeout: () => undefined, onError });
    return withDeadline(
      async () => {
        await ready(c);
        return run(c);
      },
      { signal, timeoutMs, onTimeout: () => timeoutError(ctx, timeoutMs), onError },
    );
  }

  /**
   * Initializes the client before a method is called. Each generated method starts with
   * `this.initialize().catch((err) => { throw err; })`, which leaves an unhandled rejection — a
   * crash under Node's default — whenever initialization fails (no Application Default
   * Credentials, the metadata server not answering yet). Initialized here first, a failure is an
   * error of this call, and no method runs. The client keeps a failed initialization for good, so
   * a client the source built is dropped and built again on the next call.
   */
  async function ready(c: SecretManagerClientLike): Promise<void> {
    if (typeof c.initialize !== 'function') return;
    try {
      await c.initialize();
    } catch (err) {
      if (owned && !closed) {
        client = undefined;
        c.close?.().catch(() => {});
      }
      throw err;
    }
  }

  const context = (operation: string, name = target.versionName): GcpCallContext => ({
    sourceId: id,
    operation,
    name,
  });

  /** The version number of an answer's name; the one asked for when the answer names none. */
  function versionOf(name: unknown, asked: string): string {
    const number = versionNumberOf(name);
    if (number !== undefined) return number;
    if (/^\d+$/.test(asked)) return asked;
    throw new MtlsError(
      'SOURCE_UNAVAILABLE',
      `Secret Manager answered ${asked} of ${target.secretName} without naming the version it served — check that the endpoint is Secret Manager`,
      { sourceId: id },
    );
  }

  function verify(data: Uint8Array, given: unknown, version: string): void {
    const expected = checksumValue(given);
    if (expected === undefined) {
      if (warnedNoChecksum.has(version)) return;
      warnedNoChecksum.add(version);
      try {
        onWarning({
          code: 'GCP_NO_CHECKSUM',
          severity: 'warning',
          message: `Secret Manager sent version ${version} of ${target.secretName} without a CRC32C checksum, so ${id} could not verify it arrived intact.`,
          fix: 'Check that the endpoint is Secret Manager itself (Google sends a checksum with every payload), not a proxy or emulator that drops it.',
        });
      } catch {
        // A throwing warning handler must not fail the load.
      }
      return;
    }
    if (crc32c(data) !== expected) {
      throw new MtlsError(
        'INTEGRITY_FAILED',
        `the payload of version ${version} of ${target.secretName} does not match its CRC32C checksum (damaged on the way) — it was refused; read it again (a resolver retries, serving its last good credential meanwhile); if it persists, something on the way rewrites the answer`,
        // Damage in transit, unlike a vault's decryption failure, is worth another read.
        { sourceId: id, retryable: true },
      );
    }
  }

  /** A version of the secret: its resource name and the version segment asked for. */
  interface Ask {
    name: string;
    asked: string;
  }
  const askOf = (version: string): Ask => ({
    name: `${target.secretName}/versions/${version}`,
    asked: version,
  });
  const TARGET: Ask = { name: target.versionName, asked: target.version };
  const LATEST = askOf('latest');
  const ALIASED = askOf(CURRENT_ALIAS);

  /** AccessSecretVersion: the payload, checked against its CRC32C, and the version number served. */
  async function access(
    ask: Ask,
    signal: AbortSignal | undefined,
  ): Promise<CredentialMaterial & { version: string }> {
    const [answer] = await call(context('AccessSecretVersion', ask.name), signal, (c) =>
      c.accessSecretVersion({ name: ask.name }, callOptions),
    );
    const version = versionOf(answer?.name, ask.asked);
    const raw = answer?.payload?.data;
    if (raw === undefined || raw === null) {
      throw new MtlsError(
        'MISSING_FIELD',
        `version ${version} of ${target.secretName} has no payload — add a version holding the credential`,
        { sourceId: id },
      );
    }
    // Bytes on both transports; proto3 JSON (Base64) if a client hands the wire form through.
    const data = typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw;
    verify(data, answer?.payload?.dataCrc32c, version);
    return { bundle: data, version, fetchedAt: new Date() };
  }

  // roles/secretmanager.secretAccessor, the usual grant, allows AccessSecretVersion but not
  // GetSecretVersion (secretmanager.versions.get): the probe then reads the version instead, for the
  // life of the source, and says once how to make it cheap again.
  let getDenied = false;
  let warnedGetDenied = false;
  /** The gRPC or HTTP status of the Google error behind an MtlsError of one of `codes`. */
  function causeCode(err: unknown, ...codes: Parameters<typeof MtlsError.is>[1][]): unknown {
    return (MtlsError.is(err, ...codes) ? (err.cause as { code?: unknown } | undefined) : undefined)?.code;
  }
  function isPermissionDenied(err: unknown): boolean {
    const code = causeCode(err, 'ACCESS_DENIED');
    return code === 7 || code === 403;
  }
  /** Google answered NOT_FOUND: no such secret, version or alias (not a version in the wrong state). */
  function isNotFound(err: unknown): boolean {
    const code = causeCode(err, 'SOURCE_NOT_FOUND');
    return code === 5 || code === 404;
  }
  /**
   * Google's answer for `versions/current` of a secret without that alias: NOT_FOUND (what the
   * emulator answers), or INVALID_ARGUMENT, taken the same way since the secret's name has just been
   * read with `latest` and only the alias can be what Google found invalid.
   */
  function isNoAlias(err: unknown): boolean {
    const invalid = causeCode(err, 'INVALID_REFERENCE');
    return isNotFound(err) || invalid === 3 || invalid === 400;
  }
  /** UpdateSecret refused for its etag: the secret changed since it was read. */
  function isEtagConflict(err: unknown): boolean {
    const cause = MtlsError.is(err)
      ? (err.cause as { code?: unknown; message?: unknown } | undefined)
      : undefined;
    const message = typeof cause?.message === 'string' ? cause.message : '';
    return (
      (cause?.code === 9 || (cause?.code === 400 && /FAILED_PRECONDITION/.test(message))) &&
      /etag/i.test(message)
    );
  }
  function warnGetDenied(): void {
    if (warnedGetDenied) return;
    warnedGetDenied = true;
    try {
      onWarning({
        code: 'GCP_GET_VERSION_DENIED',
        severity: 'warning',
        message: `Google refused secretmanager.versions.get on ${target.secretName}, so ${id} now notices rotations by reading the secret payload (AccessSecretVersion) on every refresh.`,
        fix: 'Grant roles/secretmanager.viewer on the secret beside roles/secretmanager.secretAccessor and restart the process (the source does not ask again): the probe then reads metadata only.',
      });
    } catch {
      // A throwing warning handler must not fail the probe.
    }
  }

  /** The version number `ask` names now: GetSecretVersion (metadata), or a read where that is denied. */
  async function probe(ask: Ask, signal: AbortSignal | undefined): Promise<string> {
    if (getDenied) return (await access(ask, signal)).version;
    let meta: SecretVersionLike | undefined;
    try {
      [meta] = await call(context('GetSecretVersion', ask.name), signal, (c) =>
        c.getSecretVersion({ name: ask.name }, callOptions),
      );
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      // Remembered only once reading works: when access is refused as well, the policy is being
      // fixed and the next probe asks GetSecretVersion again.
      const read = await access(ask, signal);
      getDenied = true;
      warnGetDenied();
      return read.version;
    }
    const version = versionOf(meta?.name, ask.asked);
    if (meta?.state !== undefined && meta.state !== null && !isEnabled(meta.state)) {
      // Announced as it is, a version a load cannot read would fail every load: say so here.
      throw new MtlsError(
        'SOURCE_NOT_FOUND',
        stateAdvice(`${target.secretName}/versions/${version}`, stateName(meta.state)),
        { sourceId: id },
      );
    }
    return version;
  }

  // A source reading `latest` follows the alias `current` once the secret has it (a staged renewal
  // made it): the newest version may then be a pending one. Asking for the alias on every call
  // would cost a secret never renewed one more call each time; instead the alias is asked for only
  // when `latest` names a version not yet checked. A renewal creates the alias before it adds its
  // pending version, so while `latest` names a version checked without alias, no pending version
  // can exist. Once the alias is seen, it is read directly, until Google says it is gone.
  const follows = target.version === 'latest';
  let aliasSeen = false;
  /** A `latest` version number seen while the secret had no alias `current`. */
  let checkedLatest: string | undefined;

  /** Runs `step` on the alias, or answers undefined when the secret has no such alias. */
  async function viaAlias<T>(step: (ask: Ask) => Promise<T>): Promise<T | undefined> {
    try {
      const got = await step(ALIASED);
      aliasSeen = true;
      return got;
    } catch (err) {
      if (!isNoAlias(err)) throw err;
      aliasSeen = false;
      return undefined;
    }
  }

  /** What a source reading `latest` reads: the alias when the secret has it, else `latest`. */
  async function following<T extends string | { version: string }>(
    step: (ask: Ask) => Promise<T>,
  ): Promise<T> {
    if (aliasSeen) {
      const got = await viaAlias(step);
      if (got !== undefined) return got;
    }
    const latest = await step(LATEST);
    const number = typeof latest === 'string' ? latest : latest.version;
    if (number === checkedLatest) return latest;
    const aliased = await viaAlias(step);
    if (aliased !== undefined) return aliased;
    checkedLatest = number;
    return latest;
  }

  const renameFix = `use gcp-sm://${target.secretName} (latest, which follows the alias ${CURRENT_ALIAS} once a renewal made it) or …/versions/ALIAS`;

  /** The alias renewal moves: `current` for a source reading latest, else the alias it reads. */
  function renewalAlias(operation: string, c?: SecretManagerClientLike): string {
    if (/^\d+$/.test(target.version)) {
      throw invalid(
        `${operation} needs ${id} to read latest or an alias, not the fixed version ${target.version}: ${renameFix}`,
        id,
      );
    }
    if (c !== undefined && (typeof c.getSecret !== 'function' || typeof c.updateSecret !== 'function')) {
      throw invalid(
        `${operation} needs a client with getSecret and updateSecret, as SecretManagerServiceClient has: the client given for ${id} lacks them`,
        id,
      );
    }
    return follows ? CURRENT_ALIAS : target.version;
  }

  /** A secret's metadata as renewal reads it. */
  interface Meta {
    etag: string | undefined;
    aliases: Record<string, string>;
    annotations: Record<string, string>;
  }

  /** GetSecret, once the client is known to have what renewal calls (checked before any call). */
  async function readMeta(operation: string, signal: AbortSignal | undefined): Promise<Meta> {
    const [secret] = await call(context('GetSecret', target.secretName), signal, (c) => {
      renewalAlias(operation, c);
      return c.getSecret!({ name: target.secretName }, callOptions);
    });
    const aliases: Record<string, string> = {};
    for (const [alias, number] of Object.entries(secret?.versionAliases ?? {}))
      aliases[alias] = String(number);
    return {
      etag: typeof secret?.etag === 'string' && secret.etag !== '' ? secret.etag : undefined,
      aliases,
      annotations: { ...secret?.annotations },
    };
  }

  /** What one renewal step writes: the whole alias and/or annotation maps (UpdateSecret replaces them). */
  interface MetaChange {
    aliases?: Record<string, string>;
    annotations?: Record<string, string>;
  }

  /**
   * Reads the secret's metadata, lets `plan` check it and say what to write, and writes it with
   * UpdateSecret under the etag read: a change made meanwhile by someone else fails the write
   * (FAILED_PRECONDITION), and the step is planned again on what is there now.
   */
  async function updateMeta<R>(
    operation: string,
    signal: AbortSignal | undefined,
    plan: (meta: Meta) => Promise<{ change: MetaChange | undefined; result: R }>,
  ): Promise<R> {
    renewalAlias(operation);
    for (let attempt = 1; ; attempt++) {
      const meta = await readMeta(operation, signal);
      const { change, result } = await plan(meta);
      if (change === undefined) return result;
      const paths = [
        ...(change.aliases === undefined ? [] : ['version_aliases']),
        ...(change.annotations === undefined ? [] : ['annotations']),
      ];
      try {
        await call(context('UpdateSecret', target.secretName), signal, (cl) =>
          cl.updateSecret!(
            {
              secret: {
                name: target.secretName,
                ...(meta.etag !== undefined && { etag: meta.etag }),
                ...(change.aliases !== undefined && {
                  versionAliases: Object.fromEntries(
                    Object.entries(change.aliases).map(([a, n]) => [a, Number(n)]),
                  ),
                }),
                ...(change.annotations !== undefined && { annotations: change.annotations }),
              },
              updateMask: { paths },
            },
            callOptions,
          ),
        );
        return result;
      } catch (err) {
        if (!isEtagConflict(err)) throw err;
        if (attempt >= UPDATE_ATTEMPTS) {
          throw new MtlsError(
            'SOURCE_UNAVAILABLE',
            `${operation} on ${target.secretName} lost ${UPDATE_ATTEMPTS} times to other changes of the secret (its etag kept changing) — nothing was changed; run it again once the other writer is done`,
            { sourceId: id, cause: err },
          );
        }
      }
    }
  }

  function noVersion(what: string, fix: string): MtlsError {
    return new MtlsError('SOURCE_NOT_FOUND', `${target.secretName} has ${what} — ${fix}`, { sourceId: id });
  }

  function payloadOrFail(material: CredentialMaterial): Uint8Array {
    const data = payloadOf(material);
    if (data === undefined) {
      throw new MtlsError(
        'MISSING_FIELD',
        `nothing to store in ${target.secretName}: the material has no certificate, key or bundle`,
        { sourceId: id },
      );
    }
    return data;
  }

  /** AddSecretVersion: the new version's number. */
  async function addVersion(data: Uint8Array, signal: AbortSignal | undefined): Promise<string> {
    const [added] = await call(context('AddSecretVersion', target.secretName), signal, (c) =>
      c.addSecretVersion(
        { parent: target.secretName, payload: { data, dataCrc32c: crc32c(data) } },
        callOptions,
      ),
    );
    return versionOf(added?.name, '');
  }

  const source: GcpSecretManagerSource = {
    id,
    kind: 'static',

    async version(ctx: SourceContext = {}) {
      if (!follows) return probe(TARGET, ctx.signal);
      return following((ask) => probe(ask, ctx.signal));
    },

    load(ctx: SourceContext = {}) {
      if (!follows) return access(TARGET, ctx.signal);
      return following((ask) => access(ask, ctx.signal));
    },

    async store(material: CredentialMaterial, storeOptions: StoreOptions = {}) {
      const staged = storeOptions.stage !== undefined;
      // What the source reads must be what the store writes (or, staged, must not be the new version).
      if (!staged && target.version !== 'latest') {
        throw invalid(
          `${id} reads version ${target.version}, so a new version would never be read: read latest to store, or store staged (disabled) and move ${target.version} to it`,
          id,
        );
      }
      if (staged && target.version === 'latest') {
        throw invalid(
          `${id} reads latest, and a staged (disabled) newest version makes latest unreadable (Secret Manager resolves latest to the newest version whatever its state): read a version number or alias to stage renewals`,
          id,
        );
      }
      const data = payloadOrFail(material);
      if (!staged) {
        // A secret renewed before is read through its alias: the new version must take it.
        const aliased = await viaAlias((ask) => probe(ask, storeOptions.signal)).catch((err: unknown) => {
          if (isPermissionDenied(err)) return undefined;
          throw err;
        });
        const version = await addVersion(data, storeOptions.signal);
        if (aliased === undefined) return { version };
        try {
          await updateMeta('moving the alias to the stored version', storeOptions.signal, async (meta) => ({
            change: { aliases: { ...meta.aliases, [CURRENT_ALIAS]: version } },
            result: undefined,
          }));
        } catch (err) {
          const e = MtlsError.is(err) ? err : undefined;
          throw new MtlsError(
            e?.code ?? 'SOURCE_UNAVAILABLE',
            `version ${version} was added to ${target.secretName}, but applications read the alias ${CURRENT_ALIAS} (version ${aliased}), which could not be moved to it — move it (gcloud secrets update ${target.secret} --update-version-aliases=${CURRENT_ALIAS}=${version}): ${e?.message ?? String(err)}`,
            { sourceId: id, cause: err },
          );
        }
        return { version };
      }
      const version = await addVersion(data, storeOptions.signal);
      const name = `${target.secretName}/versions/${version}`;
      try {
        await call(context('DisableSecretVersion', name), storeOptions.signal, (c) => {
          if (typeof c.disableSecretVersion !== 'function')
            throw new TypeError('the client has no disableSecretVersion');
          return c.disableSecretVersion({ name }, callOptions);
        });
      } catch (err) {
        const e = MtlsError.is(err) ? err : undefined;
        throw new MtlsError(
          e?.code ?? 'SOURCE_UNAVAILABLE',
          `version ${version} was added to ${target.secretName} but could not be disabled, so it is ENABLED now — disable it (gcloud secrets versions disable ${version} --secret=${target.secret}): ${e?.message ?? 'the client cannot disable versions'}`,
          { sourceId: id, cause: err },
        );
      }
      return { version };
    },

    async storePending(material: CredentialMaterial, ctx: SourceContext = {}) {
      const operation = 'storing a pending version';
      const alias = renewalAlias(operation);
      const data = payloadOrFail(material);
      // The alias must name the version applications use before a new version becomes latest: a
      // source reading latest then follows the alias (see `following`).
      await updateMeta(operation, ctx.signal, async (meta) => {
        if (meta.aliases[alias] !== undefined) return { change: undefined, result: undefined };
        if (alias !== CURRENT_ALIAS) {
          throw noVersion(
            `no alias ${alias}, which ${id} reads`,
            `give it the version applications use (gcloud secrets update ${target.secret} --update-version-aliases=${alias}=VERSION), then start again`,
          );
        }
        const current = await probe(LATEST, ctx.signal);
        if (meta.annotations[PENDING_ANNOTATION] === current) {
          throw noVersion(
            `no alias ${alias}, and its newest version ${current} is the pending version of an unfinished renewal`,
            `give the alias to the version applications use (gcloud secrets update ${target.secret} --update-version-aliases=${alias}=VERSION), then start again`,
          );
        }
        return { change: { aliases: { ...meta.aliases, [alias]: current } }, result: undefined };
      });
      const version = await addVersion(data, ctx.signal);
      try {
        await updateMeta(operation, ctx.signal, async (meta) => ({
          change: { annotations: { ...meta.annotations, [PENDING_ANNOTATION]: version } },
          result: undefined,
        }));
      } catch (err) {
        const e = MtlsError.is(err) ? err : undefined;
        throw new MtlsError(
          e?.code ?? 'SOURCE_UNAVAILABLE',
          `version ${version} was added to ${target.secretName} but could not be marked pending (annotation ${PENDING_ANNOTATION}), so nothing reads it — start the renewal again (it adds another version; destroy ${version} with gcloud secrets versions destroy ${version} --secret=${target.secret}): ${e?.message ?? String(err)}`,
          { sourceId: id, cause: err },
        );
      }
      return { version };
    },

    async loadPending(ctx: SourceContext = {}) {
      const operation = 'reading the pending version';
      renewalAlias(operation);
      const meta = await readMeta(operation, ctx.signal);
      const pending = meta.annotations[PENDING_ANNOTATION];
      if (pending === undefined) {
        throw noVersion(
          `no pending version (annotation ${PENDING_ANNOTATION})`,
          'start a renewal first (mtlskit renew start)',
        );
      }
      if (!/^\d+$/.test(pending)) {
        throw noVersion(
          `an annotation ${PENDING_ANNOTATION} that names no version (${JSON.stringify(pending.slice(0, 40))})`,
          'start the renewal again (mtlskit renew start)',
        );
      }
      return access(askOf(pending), ctx.signal);
    },

    async promote(version: string, ctx: SourceContext = {}) {
      const operation = 'promoting the pending version';
      const alias = renewalAlias(operation);
      const change = await updateMeta(operation, ctx.signal, async (meta) => {
        const pending = meta.annotations[PENDING_ANNOTATION];
        if (pending !== version) {
          throw noVersion(
            pending === undefined
              ? `no pending version (annotation ${PENDING_ANNOTATION}), so version ${version} cannot be promoted`
              : `version ${pending} pending, not ${version} (another renewal replaced it)`,
            'check the pending version again (mtlskit check --pending) and promote that one',
          );
        }
        const before = meta.aliases[alias];
        const previous = before === version ? undefined : before;
        const annotations = { ...meta.annotations };
        delete annotations[PENDING_ANNOTATION];
        if (previous !== undefined) annotations[PREVIOUS_ANNOTATION] = previous;
        const result: StageChange = { current: version, ...(previous !== undefined && { previous }) };
        return { change: { aliases: { ...meta.aliases, [alias]: version }, annotations }, result };
      });
      if (follows) aliasSeen = true;
      return change;
    },

    async rollback(ctx: SourceContext = {}) {
      const operation = 'rolling back';
      const alias = renewalAlias(operation);
      return updateMeta(operation, ctx.signal, async (meta) => {
        const back = meta.annotations[PREVIOUS_ANNOTATION];
        const current = meta.aliases[alias];
        if (back === undefined || back === current) {
          throw noVersion(
            `no previous version (annotation ${PREVIOUS_ANNOTATION}) to return to`,
            'a rollback follows a promotion (mtlskit renew promote)',
          );
        }
        const annotations = { ...meta.annotations };
        if (current === undefined) delete annotations[PREVIOUS_ANNOTATION];
        else annotations[PREVIOUS_ANNOTATION] = current;
        const result: StageChange = { current: back, ...(current !== undefined && { previous: current }) };
        return { change: { aliases: { ...meta.aliases, [alias]: back }, annotations }, result };
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      if (!owned || client === undefined) return;
      const built = await client.catch(() => undefined);
      await built?.close?.();
    },
  };
  return source;
}
