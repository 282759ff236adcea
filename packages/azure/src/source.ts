// The Azure Key Vault CredentialSource: reads one secret holding the credential (a JSON bundle, one
// PEM, or the secret behind a Key Vault certificate: a Base64 PFX or a key-first PEM, told apart by
// its content type), reports the version Key Vault's `id` names, and writes renewals with setSecret.
// It fetches and never decodes: the material goes to core as a `bundle` with its `contentType`.
// Staged renewal keeps the pending version in a companion secret, `NAME-mtlskit-pending`: a disabled
// version cannot be read back (Key Vault answers 403 SecretDisabled to every read of one), and an
// enabled one in the secret itself would be what every reader of the newest version gets.
import type { TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import {
  type CredentialMaterial,
  type CredentialSource,
  closedSourceError,
  type FieldValue,
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
import { type AzureCallContext, timeoutError, toMtlsError } from './errors.js';
// Defines the azure-kv: scheme, which the source's id is written in.
import { SECRET_NAME, SECRET_VERSION, VAULT_HOST, VAULT_NAME, vaultUrlOf } from './scheme.js';

/** The content types Key Vault gives the secret behind a certificate. */
export const PKCS12_CONTENT_TYPE = 'application/x-pkcs12';
export const PEM_CONTENT_TYPE = 'application/x-pem-file';

/**
 * What the source needs of a SecretClient. Structural on purpose: a client from another copy or
 * version of `@azure/keyvault-secrets` is used as given (never checked with `instanceof`).
 */
export type SecretClientLike = Pick<SecretClient, 'getSecret' | 'setSecret'> &
  Partial<Pick<SecretClient, 'updateSecretProperties' | 'listPropertiesOfSecretVersions'>> & {
    readonly vaultUrl?: string;
  };

/** Options of {@link azureKeyVaultSource}. */
export interface AzureKeyVaultSourceOptions {
  /** The secret's name (1-127 letters, digits and hyphens); a certificate's secret has the certificate's name. */
  name: string;
  /** Always read this version (32 hexadecimal digits) instead of the newest: no rotation then. */
  version?: string;
  /** The vault's URL, e.g. `https://myvault.vault.azure.net`. Default: from `vault`, else the client's. */
  vaultUrl?: string;
  /** The vault as a reference writes it: a name (`myvault` → `https://myvault.vault.azure.net`) or a host (`myvault.vault.azure.cn`). */
  vault?: string;
  /**
   * A configured SecretClient to use as is (its credential, retries and pipeline); other client
   * options are then ignored. Duck-typed: it may come from another copy of the SDK.
   */
  client?: SecretClientLike;
  /** The credential for a client built here. Default: `DefaultAzureCredential` (imported only then). */
  credential?: TokenCredential;
  /** Options of a client built here (proxy, `tlsOptions`, `disableChallengeResourceVerification`...). */
  clientOptions?: SecretClientOptions;
  /**
   * Retries per call inside the SDK, for a client built here. Default 1 — one quick retry for a
   * network blip or a 5xx, then the error goes to the resolver, whose backoff decides what happens next.
   */
  maxRetries?: number;
  /** Deadline of each call, SDK retries and token requests included, in milliseconds. Default 10,000. */
  timeoutMs?: number;
  /** The source id used in errors and logs. Default: the `azure-kv:` reference of these options. */
  id?: string;
}

/** Options of {@link AzureKeyVaultSource.store}. */
export interface AzureStoreOptions extends StoreOptions {
  /**
   * false writes the version disabled (staged): it exists but cannot be read until enabled. Any
   * `stage` also writes it disabled (Key Vault has no labels). Default true.
   */
  enabled?: boolean;
}

/** A CredentialSource over Azure Key Vault. The client and credential stay private. */
export interface AzureKeyVaultSource extends CredentialSource {
  readonly kind: 'static';
  version(ctx?: SourceContext): Promise<string>;
  store(material: CredentialMaterial, options?: AzureStoreOptions): Promise<StoreResult>;
  /** Writes `material` as the newest version of the companion secret `NAME-mtlskit-pending`. */
  storePending(material: CredentialMaterial, ctx?: SourceContext): Promise<StoreResult>;
  /** Reads the newest version of `NAME-mtlskit-pending`; SOURCE_NOT_FOUND when none is pending. */
  loadPending(ctx?: SourceContext): Promise<CredentialMaterial>;
  /** Copies pending version `version` into the secret as its new newest version, then disables it. */
  promote(version: string, ctx?: SourceContext): Promise<StageChange>;
  /** Copies the version current before the last promotion or rollback back as the newest version. */
  rollback(ctx?: SourceContext): Promise<StageChange>;
  close(): Promise<void>;
}

/** What staged renewal adds to a secret's name for the companion secret holding the pending version. */
export const PENDING_SUFFIX = '-mtlskit-pending';
/** Tags of renewal. On the companion's versions: the secret they renew. */
export const TAG_PENDING_OF = 'mtlskit-pending-of';
/** On a promoted (then disabled) pending version: the version of the secret it became. */
export const TAG_PROMOTED_TO = 'mtlskit-promoted-to';
/** On a version promote or rollback wrote: the version that was current before it (what a rollback returns to). */
export const TAG_PREVIOUS = 'mtlskit-previous';
/** On a version promote or rollback wrote: the version whose content it carries (pending or restored). */
export const TAG_COPY_OF = 'mtlskit-copy-of';

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RETRIES = 1;
const PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;

/** A bad option given in code. */
function invalid(message: string, id: string): MtlsError {
  return new MtlsError('INVALID_OPTION', message, { sourceId: id });
}

/** The `azure-kv:` reference of a vault URL, secret and version. */
export function azureReferenceOf(target: {
  vaultUrl: string;
  name: string;
  version?: string | undefined;
}): string {
  // A reference names the vault by name or host when that says it all, else by vaultUrl=.
  const host = target.vaultUrl.startsWith('https://') ? target.vaultUrl.slice('https://'.length) : '';
  const name = host.endsWith('.vault.azure.net') ? host.slice(0, -'.vault.azure.net'.length) : undefined;
  const vault = name !== undefined && VAULT_NAME.test(name) ? name : VAULT_HOST.test(host) ? host : '';
  return formatReference({
    scheme: 'azure-kv',
    slashes: true,
    path: `${vault}/${target.name}${target.version === undefined ? '' : `/${target.version}`}`,
    options: vault === '' ? { vaultUrl: target.vaultUrl } : {},
  });
}

function normalizeUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Where requests go, from the options (checked), or undefined to take the client's. */
function vaultUrlFrom(options: AzureKeyVaultSourceOptions, id: string): string | undefined {
  if (options.vaultUrl !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(options.vaultUrl);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !/^https?:$/.test(parsed.protocol)) {
      throw invalid(
        `vaultUrl "${options.vaultUrl}" is not a URL: give e.g. https://myvault.vault.azure.net`,
        id,
      );
    }
    return normalizeUrl(options.vaultUrl);
  }
  if (options.vault === undefined) return undefined;
  const { vault } = options;
  const valid = vault.includes('.') ? VAULT_HOST.test(vault) : VAULT_NAME.test(vault);
  if (!valid) {
    throw invalid(
      `vault "${vault}" is neither a Key Vault name (3-24 letters, digits and single hyphens, starting with a letter) nor a host name`,
      id,
    );
  }
  return vaultUrlOf(vault);
}

/** Key Vault's answer to a read of a disabled version (403, inner code SecretDisabled), from the SDK's error. */
function isDisabledError(err: unknown): boolean {
  const e = err as { statusCode?: unknown; details?: { error?: { innerError?: { code?: unknown } } } } | null;
  return e?.statusCode === 403 && e.details?.error?.innerError?.code === 'SecretDisabled';
}

/** One version as getSecret returned it. */
interface Fetched {
  value: string;
  version: string;
  contentType?: string;
  tags: Record<string, string>;
  managed: boolean;
}

function checkClient(client: unknown, id: string): SecretClientLike {
  const c = client as Partial<Record<'getSecret' | 'setSecret', unknown>> | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.getSecret !== 'function' ||
    typeof c.setSecret !== 'function'
  ) {
    throw invalid(`the client given for ${id} is not a SecretClient from @azure/keyvault-secrets`, id);
  }
  return client as SecretClientLike;
}

function toText(value: FieldValue): string {
  return typeof value === 'string' ? value : Buffer.from(value).toString('base64');
}

/** What setSecret writes for some material: its bundle as is, or its fields as a JSON bundle. */
function secretOf(material: CredentialMaterial): { value: string; contentType?: string } | undefined {
  if (material.bundle !== undefined) {
    const contentType =
      material.contentType ?? (typeof material.bundle === 'string' ? undefined : PKCS12_CONTENT_TYPE);
    return { value: toText(material.bundle), ...(contentType === undefined ? {} : { contentType }) };
  }
  const only = REFERENCE_FIELDS.filter((f) => material[f] !== undefined);
  // A PFX alone without a password is what Key Vault itself keeps behind a certificate.
  if (only.length === 1 && only[0] === 'pfx')
    return { value: toText(material.pfx!), contentType: PKCS12_CONTENT_TYPE };
  const json: Record<string, string | string[]> = {};
  for (const field of only) {
    const value = material[field]!;
    json[field] = Array.isArray(value) ? value.map(toText) : toText(value as FieldValue);
  }
  return only.length === 0 ? undefined : { value: JSON.stringify(json) };
}

/** The version a secret identifier names: `https://VAULT/secrets/NAME/VERSION`. */
function versionOfId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const parts = id.split('?')[0]!.split('/');
  return parts[parts.length - 3] === 'secrets' ? parts.at(-1) || undefined : undefined;
}

/**
 * A `static` CredentialSource reading one Azure Key Vault secret with the real SDK.
 *
 * Each load and each `version()` is one getSecret: Key Vault has no read of the current version
 * cheaper than the value itself. The version is the one named by the `id` Key Vault returns
 * (rotation is a new version). A certificate's secret (`application/x-pkcs12`: Base64 PFX, usually
 * with an empty password; `application/x-pem-file`: the key, then the chain) is handed to core as a
 * bundle with its content type; one whose key is not exportable is refused with a clear error.
 * While the newest version is disabled (Key Vault then refuses it and serves no other), the current
 * version is the newest enabled one: a list of the versions' properties, then a getSecret of it.
 * Staged renewal (storePending, loadPending, promote, rollback) is described at the top of this file
 * and in docs/renewal.md.
 */
export function azureKeyVaultSource(options: AzureKeyVaultSourceOptions): AzureKeyVaultSource {
  const early = options.id ?? 'azure-kv:';
  if (typeof options.name !== 'string' || !SECRET_NAME.test(options.name)) {
    throw invalid(
      `name "${String(options.name)}" is not a Key Vault secret name: 1-127 letters, digits and hyphens`,
      early,
    );
  }
  if (options.version !== undefined && !SECRET_VERSION.test(options.version)) {
    throw invalid(
      `version "${options.version}" is not a Key Vault secret version: the 32-character id Key Vault assigned`,
      early,
    );
  }
  const injected = options.client === undefined ? undefined : checkClient(options.client, early);
  const configured = vaultUrlFrom(options, early);
  const clientUrl = typeof injected?.vaultUrl === 'string' ? normalizeUrl(injected.vaultUrl) : undefined;
  if (configured !== undefined && clientUrl !== undefined && configured !== clientUrl) {
    throw invalid(`the client given is for ${clientUrl}, not ${configured}: give one vault`, early);
  }
  const vaultUrl = configured ?? clientUrl;
  if (vaultUrl === undefined) {
    throw invalid(
      'no vault given: set vaultUrl (e.g. https://myvault.vault.azure.net) or vault (a vault name)',
      early,
    );
  }
  const name = options.name;
  const pinned = options.version;
  const id = options.id ?? azureReferenceOf({ vaultUrl, name, version: pinned });
  const timeoutMs = timeoutOption(options.timeoutMs, DEFAULT_TIMEOUT_MS, id);
  const maxRetries =
    options.maxRetries ?? options.clientOptions?.retryOptions?.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!(Number.isInteger(maxRetries) && maxRetries >= 0)) {
    throw invalid(`maxRetries must be a whole number of at least 0, got ${maxRetries}`, id);
  }

  let closed = false;
  let client: Promise<SecretClientLike> | undefined = injected && Promise.resolve(injected);

  async function buildClient(): Promise<SecretClientLike> {
    let credential = options.credential;
    if (credential === undefined) {
      // Loaded only when needed: an application that passes a client or a credential never loads it.
      const { DefaultAzureCredential } = await import('@azure/identity');
      try {
        credential = new DefaultAzureCredential();
      } catch (err) {
        const said = err instanceof Error ? err.message.split('\n')[0] : String(err);
        throw new MtlsError(
          'ACCESS_DENIED',
          `DefaultAzureCredential could not be set up for ${id} (${said}) — check the AZURE_* environment variables (AZURE_TOKEN_CREDENTIALS names one credential, "dev" or "prod"), or pass a credential`,
          { sourceId: id, cause: err },
        );
      }
    }
    return new SecretClient(vaultUrl!, credential, {
      ...options.clientOptions,
      retryOptions: { ...options.clientOptions?.retryOptions, maxRetries },
    });
  }

  function clientOf(): Promise<SecretClientLike> {
    client ??= buildClient().catch((err: unknown) => {
      client = undefined;
      throw err;
    });
    return client;
  }

  function assertOpen(): void {
    if (closed) throw closedSourceError(id);
  }

  /**
   * Runs one SDK call under the caller's signal and the deadline. Rejects with the caller's abort
   * reason, a timeout error, or the mapped SDK error — even when the SDK ignores its signal.
   */
  async function call<T>(
    ctx: AzureCallContext,
    signal: AbortSignal | undefined,
    run: (c: SecretClientLike, s: AbortSignal) => Promise<T>,
  ): Promise<T> {
    assertOpen();
    return withDeadline(async (s) => run(await clientOf(), s), {
      signal,
      timeoutMs,
      onTimeout: () => timeoutError(ctx, timeoutMs),
      onError: (err) => toMtlsError(err, ctx),
    });
  }

  const pendingName = `${name}${PENDING_SUFFIX}`;

  const context = (
    operation: AzureCallContext['operation'],
    version?: string,
    secret: string = name,
  ): AzureCallContext => ({
    sourceId: id,
    operation,
    secret,
    vaultUrl,
    version,
  });

  /** Refuses a certificate's secret that holds no private key: the certificate's key is not exportable. */
  function checkExportable(value: string, contentType: string | undefined, version: string): void {
    let hasKey: boolean;
    if (contentType === PEM_CONTENT_TYPE) hasKey = PRIVATE_KEY.test(value);
    else {
      try {
        decodeMaterial({ bundle: value, ...(contentType === undefined ? {} : { contentType }) });
        hasKey = true;
      } catch (err) {
        // Only a missing key is this case; anything else is core's to report when it decodes.
        hasKey = !(MtlsError.is(err, 'MISSING_FIELD') && err.field === 'key');
      }
    }
    if (hasKey) return;
    throw new MtlsError(
      'MISSING_FIELD',
      `the certificate behind secret "${name}" in ${vaultUrl} (version ${version}) holds no private key: its key is not exportable, so Key Vault keeps it for operations inside the vault only — create or import the certificate with an exportable key (exportable: true in the key properties of its policy) to use it for mTLS`,
      { sourceId: id, field: 'key' },
    );
  }

  /**
   * One getSecret of `secret` (its newest version without `version`), or `disabled` when Key Vault
   * answers that the version asked for is disabled (403 SecretDisabled).
   */
  async function fetchVersion(
    signal: AbortSignal | undefined,
    secret: string,
    version: string | undefined,
  ): Promise<Fetched | 'disabled'> {
    const got = await call(context('getSecret', version, secret), signal, (c, s) =>
      c
        .getSecret(secret, { ...(version === undefined ? {} : { version }), abortSignal: s })
        .catch((err: unknown) => {
          if (isDisabledError(err)) return 'disabled' as const;
          throw err;
        }),
    );
    if (got === 'disabled') return got;
    const found = got.properties?.version ?? versionOfId(got.properties?.id);
    if (found === undefined) {
      throw new MtlsError(
        'SOURCE_UNAVAILABLE',
        `Key Vault's answer for secret "${secret}" in ${vaultUrl} names no version (its id is not a secret identifier) — check that vaultUrl is a Key Vault`,
        { sourceId: id },
      );
    }
    if (typeof got.value !== 'string' || got.value === '') {
      throw new MtlsError(
        'MISSING_FIELD',
        `secret "${secret}" in ${vaultUrl} (version ${found}) is empty — store the credential in it`,
        { sourceId: id },
      );
    }
    const contentType = got.properties?.contentType;
    return {
      value: got.value,
      version: found,
      ...(contentType ? { contentType } : {}),
      tags: { ...got.properties?.tags },
      managed: got.properties?.managed === true,
    };
  }

  /** The error of a disabled version that has no enabled one to stand for it. */
  function disabledError(version: string | undefined): MtlsError {
    return toMtlsError(
      {
        statusCode: 403,
        message: 'Operation get is not allowed on a disabled secret.',
        details: { error: { innerError: { code: 'SecretDisabled' } } },
      },
      context('getSecret', version),
    );
  }

  /**
   * The newest enabled version of the secret by creation date, for when its newest version is
   * disabled (Key Vault then serves no other in its place): one list of the versions' properties,
   * a page per 25 versions, no values. Undefined when every version is disabled.
   */
  async function newestEnabled(signal: AbortSignal | undefined): Promise<string | undefined> {
    const listed = await call(context('listPropertiesOfSecretVersions'), signal, async (c, s) => {
      if (typeof c.listPropertiesOfSecretVersions !== 'function') {
        throw invalid(
          `the client given for ${id} cannot list secret versions (no listPropertiesOfSecretVersions): give a SecretClient of @azure/keyvault-secrets 4.x`,
          id,
        );
      }
      const all: { version: string; created: number; enabled: boolean }[] = [];
      for await (const p of c.listPropertiesOfSecretVersions(name, { abortSignal: s })) {
        const version = p.version ?? versionOfId(p.id);
        if (version !== undefined) {
          all.push({ version, created: p.createdOn?.getTime() ?? 0, enabled: p.enabled !== false });
        }
      }
      return all;
    });
    let best: { version: string; created: number } | undefined;
    for (const v of listed) if (v.enabled && (best === undefined || v.created >= best.created)) best = v;
    return best?.version;
  }

  /**
   * The current version: the newest (one getSecret, as always), or — when the newest is disabled,
   * e.g. withdrawn by hand — the newest enabled one (a list, then with `value` a getSecret of it).
   */
  async function current(signal: AbortSignal | undefined, value: boolean): Promise<Fetched | string> {
    const got = await fetchVersion(signal, name, pinned);
    if (got !== 'disabled') return got;
    if (pinned !== undefined) throw disabledError(pinned);
    const version = await newestEnabled(signal);
    if (version === undefined) throw disabledError(undefined);
    if (!value) return version;
    const older = await fetchVersion(signal, name, version);
    // Disabled between the list and the read: the next load looks again.
    if (older === 'disabled') throw disabledError(version);
    return older;
  }

  // Whether the last read of the secret found the secret behind a Key Vault certificate: renewal
  // then goes through Key Vault's own certificate operations, not setSecret.
  let lastManaged = false;

  async function read(signal: AbortSignal | undefined): Promise<CredentialMaterial & { version: string }> {
    const got = (await current(signal, true)) as Fetched;
    lastManaged = got.managed;
    if (got.managed) checkExportable(got.value, got.contentType, got.version);
    return {
      bundle: got.value,
      ...(got.contentType ? { contentType: got.contentType } : {}),
      version: got.version,
      fetchedAt: new Date(),
    };
  }

  /** Refuses renewal on a source that cannot stage (INVALID_OPTION), before any call. */
  function renewal(operation: string): void {
    assertOpen();
    if (pinned !== undefined) {
      throw invalid(
        `${operation} needs ${id} to read the newest version of "${name}", not the fixed version ${pinned}: drop the version from the reference`,
        id,
      );
    }
    if (pendingName.length > 127) {
      throw invalid(
        `${operation} keeps the pending version in the secret "${name}${PENDING_SUFFIX}", which is longer than Key Vault's 127 characters: renew a secret whose name has at most ${127 - PENDING_SUFFIX.length}`,
        id,
      );
    }
  }

  function refuseManaged(operation: string): never {
    throw invalid(
      `${operation}: "${name}" in ${vaultUrl} is the secret behind a Key Vault certificate, which only Key Vault's certificate operations change — renew the certificate in Key Vault (az keyvault certificate create with a CSR, then az keyvault certificate pending merge), or keep the credential in a plain secret`,
      id,
    );
  }

  function noVersion(what: string, fix: string): MtlsError {
    return new MtlsError('SOURCE_NOT_FOUND', `${id} has ${what} — ${fix}`, { sourceId: id });
  }

  /** The pending version (the newest of the companion secret), or why there is none. */
  async function pending(signal: AbortSignal | undefined): Promise<Fetched | 'none' | 'promoted'> {
    try {
      const got = await fetchVersion(signal, pendingName, undefined);
      return got === 'disabled' ? 'promoted' : got;
    } catch (err) {
      if (MtlsError.is(err, 'SOURCE_NOT_FOUND')) return 'none';
      throw err;
    }
  }

  const NO_PENDING = 'start a renewal first (mtlskit renew start)';

  /** Writes a version of `secret` and returns its id. */
  async function write(
    secret: string,
    value: { value: string; contentType?: string | undefined },
    tags: Record<string, string> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const written = await call(context('setSecret', undefined, secret), signal, (c, s) =>
      c.setSecret(secret, value.value, {
        ...(value.contentType === undefined ? {} : { contentType: value.contentType }),
        ...(tags === undefined ? {} : { tags }),
        enabled: true,
        abortSignal: s,
      }),
    );
    const version = written.properties?.version ?? versionOfId(written.properties?.id);
    if (version === undefined) {
      throw new MtlsError(
        'SOURCE_UNAVAILABLE',
        `Key Vault's answer to setSecret on secret "${secret}" in ${vaultUrl} names no version`,
        { sourceId: id },
      );
    }
    return version;
  }

  /** The current version, or undefined when the secret does not exist yet (a first issue). */
  async function currentOrNone(signal: AbortSignal | undefined): Promise<Fetched | undefined> {
    try {
      return (await current(signal, true)) as Fetched;
    } catch (err) {
      if (MtlsError.is(err, 'SOURCE_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  return {
    id,
    kind: 'static',

    async version(ctx: SourceContext = {}) {
      if (pinned !== undefined) {
        // A version's content never changes: nothing to ask.
        assertOpen();
        ctx.signal?.throwIfAborted();
        return pinned;
      }
      const got = await current(ctx.signal, false);
      return typeof got === 'string' ? got : got.version;
    },

    load(ctx: SourceContext = {}) {
      return read(ctx.signal);
    },

    async store(material: CredentialMaterial, storeOptions: AzureStoreOptions = {}) {
      if (pinned !== undefined) {
        throw invalid(`${id} reads the fixed version ${pinned}: drop the version to store new ones`, id);
      }
      const secret = secretOf(material);
      if (secret === undefined) {
        throw new MtlsError(
          'MISSING_FIELD',
          `nothing to store in ${id}: the material has no certificate, key or bundle`,
          {
            sourceId: id,
          },
        );
      }
      const enabled = storeOptions.enabled ?? storeOptions.stage === undefined;
      const written = await call(context('setSecret'), storeOptions.signal, (c, s) =>
        c.setSecret(name, secret.value, {
          ...(secret.contentType === undefined ? {} : { contentType: secret.contentType }),
          enabled,
          abortSignal: s,
        }),
      );
      const version = written.properties?.version ?? versionOfId(written.properties?.id);
      if (version === undefined) {
        throw new MtlsError(
          'SOURCE_UNAVAILABLE',
          `Key Vault's answer to setSecret on ${id} names no version`,
          {
            sourceId: id,
          },
        );
      }
      return { version };
    },

    async storePending(material: CredentialMaterial, ctx: SourceContext = {}) {
      renewal('storing a pending version');
      if (lastManaged) refuseManaged('storing a pending version');
      const secret = secretOf(material);
      if (secret === undefined) {
        throw new MtlsError(
          'MISSING_FIELD',
          `nothing to store as the pending version of ${id}: the material has no certificate, key or bundle`,
          { sourceId: id },
        );
      }
      return { version: await write(pendingName, secret, { [TAG_PENDING_OF]: name }, ctx.signal) };
    },

    async loadPending(ctx: SourceContext = {}) {
      renewal('reading the pending version');
      const got = await pending(ctx.signal);
      if (got === 'none') throw noVersion(`no pending version (no secret "${pendingName}")`, NO_PENDING);
      if (got === 'promoted') {
        throw noVersion(`no pending version (the last one, in "${pendingName}", was promoted)`, NO_PENDING);
      }
      return {
        bundle: got.value,
        ...(got.contentType ? { contentType: got.contentType } : {}),
        version: got.version,
        fetchedAt: new Date(),
      };
    },

    async promote(version: string, ctx: SourceContext = {}) {
      renewal('promoting the pending version');
      // Checked before any call: a promotion this client could not finish must not start.
      if (typeof (await clientOf()).updateSecretProperties !== 'function') {
        throw invalid(
          `the client given for ${id} cannot update secret properties (no updateSecretProperties), which promote needs: give a SecretClient of @azure/keyvault-secrets 4.x`,
          id,
        );
      }
      const got = await pending(ctx.signal);
      if (got === 'none' || got === 'promoted' || got.version !== version) {
        throw noVersion(
          typeof got === 'string'
            ? `no pending version, so version ${version} cannot be promoted`
            : `version ${got.version} pending, not ${version} (another renewal replaced it)`,
          'check the pending version again (mtlskit check --pending) and promote that one',
        );
      }
      const before = await currentOrNone(ctx.signal);
      if (before?.managed) refuseManaged('promoting the pending version');
      // A promote cut short after its write (the pending version still enabled) is finished, not repeated.
      const promoted =
        before !== undefined && before.tags[TAG_COPY_OF] === version
          ? before.version
          : await write(
              name,
              got,
              { ...(before && { [TAG_PREVIOUS]: before.version }), [TAG_COPY_OF]: version },
              ctx.signal,
            );
      const previous = promoted === before?.version ? before.tags[TAG_PREVIOUS] : before?.version;
      await call(context('updateSecretProperties', version, pendingName), ctx.signal, (c, s) =>
        c.updateSecretProperties!(pendingName, version, {
          enabled: false,
          tags: { [TAG_PENDING_OF]: name, [TAG_PROMOTED_TO]: promoted },
          abortSignal: s,
        }),
      );
      return { current: promoted, ...(previous !== undefined && { previous }) };
    },

    async rollback(ctx: SourceContext = {}) {
      renewal('rolling back');
      const now = await currentOrNone(ctx.signal);
      const back = now?.tags[TAG_PREVIOUS];
      if (now === undefined || back === undefined) {
        throw noVersion(
          `no previous version to return to (its newest version has no ${TAG_PREVIOUS} tag)`,
          'a rollback follows a promotion (mtlskit renew promote)',
        );
      }
      const old = await fetchVersion(ctx.signal, name, back).catch((err: unknown) => {
        if (!MtlsError.is(err, 'SOURCE_NOT_FOUND')) throw err;
        throw noVersion(
          `no version ${back} to return to (it was purged)`,
          'promote the version you want instead, or write it again',
        );
      });
      if (old === 'disabled') throw disabledError(back);
      const restored = await write(
        name,
        old,
        { [TAG_PREVIOUS]: now.version, [TAG_COPY_OF]: back },
        ctx.signal,
      );
      return { current: restored, previous: now.version };
    },

    async close() {
      closed = true;
    },
  };
}
