// The Azure Key Vault CredentialSource: reads one secret holding the credential (a JSON bundle, one
// PEM, or the secret behind a Key Vault certificate: a Base64 PFX or a key-first PEM, told apart by
// its content type), reports the version Key Vault's `id` names, and writes renewals with setSecret.
// It fetches and never decodes: the material goes to core as a `bundle` with its `contentType`.
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
export type SecretClientLike = Pick<SecretClient, 'getSecret' | 'setSecret'> & { readonly vaultUrl?: string };

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
  close(): Promise<void>;
}

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

  const context = (operation: AzureCallContext['operation'], version?: string): AzureCallContext => ({
    sourceId: id,
    operation,
    secret: name,
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

  async function read(signal: AbortSignal | undefined): Promise<CredentialMaterial & { version: string }> {
    const got = await call(context('getSecret', pinned), signal, (c, s) =>
      c.getSecret(name, { ...(pinned === undefined ? {} : { version: pinned }), abortSignal: s }),
    );
    const version = got.properties?.version ?? versionOfId(got.properties?.id);
    if (version === undefined) {
      throw new MtlsError(
        'SOURCE_UNAVAILABLE',
        `Key Vault's answer for secret "${name}" in ${vaultUrl} names no version (its id is not a secret identifier) — check that vaultUrl is a Key Vault`,
        { sourceId: id },
      );
    }
    if (typeof got.value !== 'string' || got.value === '') {
      throw new MtlsError(
        'MISSING_FIELD',
        `secret "${name}" in ${vaultUrl} (version ${version}) is empty — store the credential in it`,
        {
          sourceId: id,
        },
      );
    }
    const contentType = got.properties?.contentType;
    if (got.properties?.managed === true) checkExportable(got.value, contentType, version);
    return {
      bundle: got.value,
      ...(contentType ? { contentType } : {}),
      version,
      fetchedAt: new Date(),
    };
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
      return (await read(ctx.signal)).version;
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

    async close() {
      closed = true;
    },
  };
}
