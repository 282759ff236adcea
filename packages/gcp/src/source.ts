// The Google Secret Manager CredentialSource: reads a secret version holding the credential (a JSON
// bundle, one PEM, or a PKCS#12) with AccessSecretVersion, verifies the payload's CRC32C on every
// read, probes for rotation with GetSecretVersion (metadata, no payload), and writes renewals with
// AddSecretVersion. It fetches and never decodes. The Google client (google-gax, protobufs: slow to
// load) is imported on the first call, not when this module is.
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

type Call<Request, Response> = (
  request: Request,
  options?: GcpCallOptions,
) => Promise<[Response, ...unknown[]]>;

/**
 * The methods of a `SecretManagerServiceClient` the source calls. A client is used as given and
 * checked by shape, never with `instanceof`: the application's copy may be another version.
 */
export interface SecretManagerClientLike {
  accessSecretVersion: Call<{ name: string }, AccessResponseLike>;
  getSecretVersion: Call<{ name: string }, SecretVersionLike>;
  addSecretVersion: Call<
    { parent: string; payload: { data: Uint8Array; dataCrc32c: number } },
    SecretVersionLike
  >;
  disableSecretVersion?: Call<{ name: string }, SecretVersionLike>;
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
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

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
 * resolver keeps the last good credentials.
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
        `the payload of version ${version} of ${target.secretName} does not match its CRC32C checksum (damaged on the way) — it was refused and the last good credentials stay in use; the read is retried`,
        // Damage in transit, unlike a vault's decryption failure, is worth another read.
        { sourceId: id, retryable: true },
      );
    }
  }

  /** AccessSecretVersion: the payload, checked against its CRC32C, and the version number served. */
  async function access(signal: AbortSignal | undefined): Promise<CredentialMaterial & { version: string }> {
    const [answer] = await call(context('AccessSecretVersion'), signal, (c) =>
      c.accessSecretVersion({ name: target.versionName }, callOptions),
    );
    const version = versionOf(answer?.name, target.version);
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
  function isPermissionDenied(err: unknown): boolean {
    const code = (
      MtlsError.is(err, 'ACCESS_DENIED') ? (err.cause as { code?: unknown } | undefined) : undefined
    )?.code;
    return code === 7 || code === 403;
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

  return {
    id,
    kind: 'static',

    async version(ctx: SourceContext = {}) {
      if (getDenied) return (await access(ctx.signal)).version;
      let meta: SecretVersionLike | undefined;
      try {
        [meta] = await call(context('GetSecretVersion'), ctx.signal, (c) =>
          c.getSecretVersion({ name: target.versionName }, callOptions),
        );
      } catch (err) {
        if (!isPermissionDenied(err)) throw err;
        // Remembered only once reading works: when access is refused as well, the policy is being
        // fixed and the next probe asks GetSecretVersion again.
        const read = await access(ctx.signal);
        getDenied = true;
        warnGetDenied();
        return read.version;
      }
      const version = versionOf(meta?.name, target.version);
      if (meta?.state !== undefined && meta.state !== null && !isEnabled(meta.state)) {
        // Announced as it is, a version a load cannot read would fail every load: say so here.
        throw new MtlsError(
          'SOURCE_NOT_FOUND',
          stateAdvice(`${target.secretName}/versions/${version}`, stateName(meta.state)),
          { sourceId: id },
        );
      }
      return version;
    },

    load(ctx: SourceContext = {}) {
      return access(ctx.signal);
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
      const data = payloadOf(material);
      if (data === undefined) {
        throw new MtlsError(
          'MISSING_FIELD',
          `nothing to store in ${target.secretName}: the material has no certificate, key or bundle`,
          {
            sourceId: id,
          },
        );
      }
      const [added] = await call(context('AddSecretVersion', target.secretName), storeOptions.signal, (c) =>
        c.addSecretVersion(
          { parent: target.secretName, payload: { data, dataCrc32c: crc32c(data) } },
          callOptions,
        ),
      );
      const version = versionOf(added?.name, '');
      if (staged) {
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
      }
      return { version };
    },

    async close() {
      if (closed) return;
      closed = true;
      if (!owned || client === undefined) return;
      const built = await client.catch(() => undefined);
      await built?.close?.();
    },
  };
}
