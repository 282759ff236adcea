// A loopback Azure Key Vault (secrets) that the real `@azure/keyvault-secrets` SecretClient talks to:
// HTTPS with a certificate from the testkit CA, the 401 Bearer challenge every client starts with,
// secrets with 32-hex-digit versions, content types, disabled versions, certificate-backed secrets
// (`managed`, with a `kid`), and Key Vault's error shapes (`{"error":{"code","message","innererror"}}`).
// Operations: GetSecret, SetSecret, UpdateSecret (attributes, tags, content type of one version),
// ListSecretVersions (pages of at most 25, in the order of the version ids as Key Vault lists them,
// not by date); a request without a token is the `Challenge`.
import { randomUUID } from 'node:crypto';
import { TestCA } from '../ca.js';
import { corruptValue, type FaultSpec } from './faults.js';
import {
  type EmulatorCall,
  type EmulatorRequest,
  type EmulatorResponse,
  type HttpProtocol,
  type LoopbackEmulator,
  startHttpEmulator,
} from './http.js';
import { SecretStore, type SecretVersion } from './store.js';

/** The content types Key Vault gives the secret behind a certificate. */
export const PKCS12_CONTENT_TYPE = 'application/x-pkcs12';
export const PEM_CONTENT_TYPE = 'application/x-pem-file';

export interface AzureKeyVaultEmulatorOptions {
  /** The CA that issues the emulator's HTTPS certificate (default: a new one); give its `rootPem` to the client. */
  ca?: TestCA;
  /** The tenant named in the challenge's `authorization` URL. Default a fixed GUID. */
  tenantId?: string;
  /**
   * When set, only these bearer tokens are served; another token gets Key Vault's 401 with
   * `error="invalid_token"`, as a token for another tenant or audience does.
   */
  acceptTokens?: readonly string[];
}

/** How a test puts a secret in the vault. */
export interface AzurePutOptions {
  contentType?: string;
  /** Default true. A disabled version exists but every read of it is refused (403 `SecretDisabled`). */
  enabled?: boolean;
  tags?: Record<string, string>;
  /** Marks it as the secret behind a certificate (`managed: true`, a `kid`). */
  managed?: boolean;
  /** When the version was created (Key Vault reports whole seconds). Default now. */
  createdAt?: Date;
}

/** How {@link AzureKeyVaultEmulator.importCertificate} writes a certificate's secret. */
export interface AzureCertificateOptions {
  /** `pkcs12` (default, Base64 PFX with an empty password) or `pem` (key first, then the chain). */
  format?: 'pkcs12' | 'pem';
  /**
   * false: the key is not exportable, so the secret holds the certificates only (as Key Vault serves
   * it). Default true. A PFX without its key needs the openssl CLI.
   */
  exportable?: boolean;
}

/** What a certificate import needs: the testkit's IssuedCert fits. */
export interface CertificateToImport {
  keyPem: string;
  fullChainPem: string;
  pkcs12(passphrase: string, opts?: { algorithm?: 'openssl'; opensslArgs?: string[] }): Promise<Buffer>;
}

export interface AzureKeyVaultEmulator extends LoopbackEmulator {
  /** The root certificate that signed the emulator's HTTPS certificate: the client's `tlsOptions.ca`. */
  readonly caPem: string;
  readonly tenantId: string;
  /** Adds a version (creating the secret): the newest version is what a read without a version gets. */
  putSecret(name: string, value: string, options?: AzurePutOptions): SecretVersion;
  /**
   * Adds a version of a certificate's secret, as Key Vault does when a certificate is imported or
   * renewed: `managed`, content type `application/x-pkcs12` or `application/x-pem-file`.
   */
  importCertificate(
    name: string,
    cert: CertificateToImport,
    options?: AzureCertificateOptions,
  ): Promise<SecretVersion>;
  /** Enables or disables one version. */
  setEnabled(name: string, version: string, enabled: boolean): void;
  /** The tags of one version as Key Vault serves them now (updates included); undefined when it has none. */
  tagsOf(name: string, version: string): Record<string, string> | undefined;
  /** The secret identifier Key Vault returns as `id`: `https://127.0.0.1:PORT/secrets/NAME/VERSION`. */
  idOf(name: string, version: string): string;
}

const SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/;
const DEFAULT_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** Inner codes of Key Vault's 403s, each with the message Key Vault sends with it. */
const FORBIDDEN: Record<string, (call: EmulatorCall | undefined) => string> = {
  ForbiddenByRbac: (call) =>
    `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=00000000-0000-0000-0000-000000000001;oid=00000000-0000-0000-0000-000000000002\r\nAction: 'Microsoft.KeyVault/vaults/secrets/${call?.operation === 'SetSecret' ? 'setSecret' : 'getSecret'}/action'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000003/resourcegroups/rg/providers/microsoft.keyvault/vaults/emulator/secrets/${call?.secret ?? 'secret'}'\r\nAssignment: (not found)\r\nVault: emulator;location=westeurope\r\n`,
  AccessDenied: (call) =>
    `The user, group or application 'appid=00000000-0000-0000-0000-000000000001;oid=00000000-0000-0000-0000-000000000002' does not have secrets ${call?.operation === 'SetSecret' ? 'set' : 'get'} permission on key vault 'emulator;location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
  ForbiddenByFirewall: () =>
    'Client address is not authorized and caller is not a trusted service.\r\nClient address: 203.0.113.7\r\nCaller: appid=00000000-0000-0000-0000-000000000001;oid=00000000-0000-0000-0000-000000000002\r\nVault: emulator;location=westeurope',
  SecretDisabled: () => 'Operation get is not allowed on a disabled secret.',
};

class KeyVaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly inner?: string,
  ) {
    super(message);
  }
}

function errorResponse(
  status: number,
  code: string,
  message: string,
  inner?: string,
  headers?: Record<string, string>,
): EmulatorResponse {
  return {
    status,
    headers: { 'x-ms-request-id': randomUUID(), ...headers },
    body: { error: { code, message, ...(inner === undefined ? {} : { innererror: { code: inner } }) } },
  };
}

/** `/secrets/NAME`, `/secrets/NAME/`, `/secrets/NAME/VERSION`, `/secrets/NAME/versions`, decoded. */
function parsePath(url: URL): { name?: string; version?: string; list?: boolean } {
  const parts = url.pathname.split('/').map((p) => decodeURIComponent(p));
  if (parts[1] !== 'secrets' || parts.length < 3 || parts.length > 4) return {};
  // Key Vault's versions are 32 hexadecimal digits: `versions` is the list, never a version.
  if (parts[3] === 'versions') return { name: parts[2], list: true };
  return { name: parts[2], version: parts[3] || undefined };
}

/** Key Vault's largest page of a list (`maxresults` may ask for fewer). */
const PAGE_SIZE = 25;

function operationOf(request: EmulatorRequest): string {
  if (!request.headers.authorization) return 'Challenge';
  switch (request.method) {
    case 'GET':
      return parsePath(request.url).list ? 'ListSecretVersions' : 'GetSecret';
    case 'PUT':
      return 'SetSecret';
    case 'PATCH':
      return 'UpdateSecret';
    default:
      return `${request.method} ${request.url.pathname}`;
  }
}

const unixSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/** Starts the emulator on 127.0.0.1, port 0, serving HTTPS. `close()` it after the test. */
export async function startAzureKeyVaultEmulator(
  options: AzureKeyVaultEmulatorOptions = {},
): Promise<AzureKeyVaultEmulator> {
  const ca = options.ca ?? (await TestCA.create({ commonName: 'Azure Key Vault emulator CA' }));
  const server = await ca.issueServer({
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  const tenantId = options.tenantId ?? DEFAULT_TENANT;
  // Key Vault versions are 32 hexadecimal digits.
  const secrets = new SecretStore({ versionIds: () => randomUUID().replace(/-/g, '') });
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="https://vault.azure.net"`;
  let baseUrl = '';

  // What UpdateSecret changed of a version (tags, content type), by `NAME/VERSION`: the shared store
  // keeps the metadata a version was written with.
  const updates = new Map<string, Pick<AzurePutOptions, 'tags' | 'contentType'>>();

  const idOf = (name: string, version: string) => `${baseUrl}/secrets/${name}/${version}`;

  const metaOf = (name: string, version: SecretVersion): AzurePutOptions => ({
    ...(version.metadata as AzurePutOptions),
    ...updates.get(`${name}/${version.id}`),
  });

  /** A version as Key Vault describes it in a list or an update: everything but the value. */
  function itemOf(name: string, version: SecretVersion) {
    const meta = metaOf(name, version);
    return {
      id: idOf(name, version.id),
      ...(meta.contentType === undefined ? {} : { contentType: meta.contentType }),
      ...(meta.tags === undefined ? {} : { tags: meta.tags }),
      ...(meta.managed ? { managed: true } : {}),
      attributes: {
        enabled: version.enabled,
        created: unixSeconds(version.createdAt),
        updated: unixSeconds(version.createdAt),
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
    };
  }

  function bundleOf(name: string, version: SecretVersion, value: string) {
    const { managed, ...item } = itemOf(name, version);
    return {
      value,
      ...item,
      ...(managed ? { kid: `${baseUrl}/keys/${name}/${version.id}`, managed } : {}),
    };
  }

  function notFound(name: string, version?: string): KeyVaultError {
    return new KeyVaultError(
      404,
      'SecretNotFound',
      `A secret with (name/id) ${version === undefined ? name : `${name}/${version}`} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    );
  }

  /** The version a read names: by id, else the newest (Key Vault serves no older one in its place). */
  function versionFor(name: string, version: string | undefined, stale: boolean): SecretVersion {
    const secret = secrets.describe(name);
    if (!secret || secret.versions.length === 0) throw notFound(name);
    if (version !== undefined) {
      const found = secret.versions.find((v) => v.id === version);
      if (!found) throw notFound(name, version);
      return found;
    }
    const versions = secret.versions;
    return (stale ? versions.at(-2) : undefined) ?? versions.at(-1)!;
  }

  function requireName(name: string | undefined): string {
    if (name === undefined || !SECRET_NAME.test(name)) {
      throw new KeyVaultError(
        400,
        'BadParameter',
        "The request URI contains an invalid name: secret names may contain only '0-9', 'a-z', 'A-Z' and '-'.",
      );
    }
    return name;
  }

  function body(call: EmulatorCall): Record<string, unknown> {
    if (typeof call.body !== 'object' || call.body === null) {
      throw new KeyVaultError(400, 'BadParameter', 'The request body is not a JSON object.');
    }
    return call.body as Record<string, unknown>;
  }

  function attributesOf(b: Record<string, unknown>): { enabled?: boolean } {
    const attributes = b.attributes as { enabled?: unknown } | undefined;
    return typeof attributes?.enabled === 'boolean' ? { enabled: attributes.enabled } : {};
  }

  /** Tags as Key Vault takes them: at most 15, names up to 512 characters, values up to 256. */
  function tagsOf(b: Record<string, unknown>): Record<string, string> | undefined {
    if (b.tags === undefined || b.tags === null) return undefined;
    const entries = typeof b.tags === 'object' ? Object.entries(b.tags as object) : undefined;
    if (
      entries === undefined ||
      entries.length > 15 ||
      entries.some(([k, v]) => typeof v !== 'string' || k.length > 512 || v.length > 256)
    ) {
      throw new KeyVaultError(
        400,
        'BadParameter',
        'Tags must be at most 15 string values, names up to 512 characters and values up to 256.',
      );
    }
    return Object.fromEntries(entries) as Record<string, string>;
  }

  const operations: Record<string, (call: EmulatorCall) => unknown> = {
    GetSecret(call) {
      const { name, version } = parsePath(call.url);
      const found = versionFor(requireName(name), version, call.stale);
      if (!found.enabled)
        throw new KeyVaultError(403, 'Forbidden', FORBIDDEN.SecretDisabled!(call), 'SecretDisabled');
      const value = String(found.value);
      return bundleOf(name!, found, call.corrupt ? corruptValue(value) : value);
    },

    SetSecret(call) {
      const { name, version } = parsePath(call.url);
      if (version !== undefined) throw new KeyVaultError(405, 'MethodNotAllowed', 'PUT takes no version.');
      const b = body(call);
      if (typeof b.value !== 'string')
        throw new KeyVaultError(400, 'BadParameter', 'Property value is required.');
      if (Buffer.byteLength(b.value) > 25 * 1024) {
        throw new KeyVaultError(
          400,
          'BadParameter',
          'Secret value exceeds the maximum allowed size of 25600 bytes.',
        );
      }
      const tags = tagsOf(b);
      const put: AzurePutOptions = {
        ...(typeof b.contentType === 'string' ? { contentType: b.contentType } : {}),
        ...(tags === undefined ? {} : { tags }),
      };
      const stored = putSecret(requireName(name), b.value, { ...put, ...attributesOf(b) });
      return bundleOf(name!, stored, b.value);
    },

    // Key Vault updates one version (a PATCH without a version is refused): its attributes, and its
    // tags and content type when given (tags are replaced as a whole). It answers without the value.
    UpdateSecret(call) {
      const { name, version } = parsePath(call.url);
      if (version === undefined) throw new KeyVaultError(405, 'MethodNotAllowed', 'PATCH takes a version.');
      const found = versionFor(requireName(name), version, false);
      const b = body(call);
      const { enabled } = attributesOf(b);
      const tags = tagsOf(b);
      if (enabled !== undefined) secrets.setEnabled(name!, found.id, enabled);
      const key = `${name}/${found.id}`;
      if (tags !== undefined || typeof b.contentType === 'string') {
        updates.set(key, {
          ...updates.get(key),
          ...(tags === undefined ? {} : { tags }),
          ...(typeof b.contentType === 'string' ? { contentType: b.contentType } : {}),
        });
      }
      const updated = secrets.get(name!, { versionId: found.id })!;
      const { value: _, ...rest } = bundleOf(name!, updated, '');
      return rest;
    },

    // The versions' properties (no values), disabled ones included, a page at a time: Key Vault lists
    // them in the order of their ids, so the newest is found by `created`, not by position.
    ListSecretVersions(call) {
      const { name } = parsePath(call.url);
      const secret = secrets.describe(requireName(name));
      if (!secret) throw notFound(name!);
      const asked = Number(call.url.searchParams.get('maxresults') ?? PAGE_SIZE);
      if (!Number.isInteger(asked) || asked < 1 || asked > PAGE_SIZE) {
        throw new KeyVaultError(400, 'BadParameter', `maxresults must be between 1 and ${PAGE_SIZE}.`);
      }
      const sorted = [...secret.versions].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const from = Number(call.url.searchParams.get('$skiptoken') ?? 0) || 0;
      const page = sorted.slice(from, from + asked);
      const next = from + asked < sorted.length ? from + asked : undefined;
      return {
        value: page.map((v) => itemOf(name!, v)),
        nextLink:
          next === undefined
            ? null
            : `${baseUrl}/secrets/${name}/versions?api-version=7.6&maxresults=${asked}&$skiptoken=${next}`,
      };
    },
  };

  function putSecret(name: string, value: string, put: AzurePutOptions = {}): SecretVersion {
    const { enabled, createdAt, ...metadata } = put;
    // Key Vault has no labels: the newest version is the one a read without a version gets.
    const version = secrets.put(name, value, {
      labels: [],
      metadata: { ...metadata },
      ...(createdAt === undefined ? {} : { createdAt }),
    });
    if (enabled === false) secrets.setEnabled(name, version.id, false);
    return secrets.get(name, { versionId: version.id })!;
  }

  const protocol: HttpProtocol = {
    contentType: 'application/json; charset=utf-8',

    identify(request) {
      return { operation: operationOf(request), secret: parsePath(request.url).name };
    },

    // The first request of every client carries no token (and no body): Key Vault answers with the
    // challenge that says where to get one. A token outside `acceptTokens` is refused likewise.
    intercept(request) {
      const authorization = String(request.headers.authorization ?? '');
      if (authorization === '') return { status: 401, headers: { 'www-authenticate': challenge }, body: '' };
      const token = /^Bearer (.+)$/.exec(authorization)?.[1];
      if (
        token === undefined ||
        (options.acceptTokens !== undefined && !options.acceptTokens.includes(token))
      ) {
        return errorResponse(
          401,
          'Unauthorized',
          'AKV10032: Invalid issuer. Expected one of https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/, found https://sts.windows.net/00000000-0000-0000-0000-000000000000/.',
          undefined,
          { 'www-authenticate': `${challenge}, error="invalid_token"` },
        );
      }
      return undefined;
    },

    // A damaged or older value needs a read; the older one a read of the newest version of a secret
    // that has one before it.
    accepts(kind, call) {
      if (kind !== 'corrupt' && kind !== 'stale') return true;
      if (call.operation !== 'GetSecret') return false;
      if (kind === 'corrupt') return true;
      const { name, version } = parsePath(call.url);
      return (
        version === undefined && name !== undefined && (secrets.describe(name)?.versions.length ?? 0) > 1
      );
    },

    handle(call) {
      try {
        const operation = operations[call.operation];
        if (!operation)
          throw new KeyVaultError(405, 'MethodNotAllowed', `${call.method} is not supported here.`);
        return { status: 200, body: operation(call) };
      } catch (err) {
        if (err instanceof KeyVaultError) return errorResponse(err.status, err.code, err.message, err.inner);
        throw err;
      }
    },

    faultResponse(fault: FaultSpec, call: EmulatorCall | undefined) {
      switch (fault.kind) {
        case 'notFound': {
          const e = notFound(call?.secret ?? 'secret');
          return errorResponse(404, e.code, fault.message ?? e.message);
        }
        case 'denied':
          return errorResponse(
            403,
            'Forbidden',
            fault.message ?? FORBIDDEN.ForbiddenByRbac!(call),
            'ForbiddenByRbac',
          );
        case 'throttled':
          return errorResponse(
            429,
            'Throttled',
            fault.message ??
              'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
          );
        case 'error': {
          // A 403's inner code (ForbiddenByFirewall, AccessDenied, SecretDisabled...) is sent as Key Vault
          // does: code Forbidden, the inner code beside it, and Key Vault's message for it.
          const code = fault.code ?? 'InternalServerError';
          const forbidden = FORBIDDEN[code];
          if (forbidden)
            return errorResponse(fault.status ?? 403, 'Forbidden', fault.message ?? forbidden(call), code);
          return errorResponse(fault.status ?? 400, code, fault.message ?? `${code} (injected)`);
        }
        default:
          return errorResponse(
            fault.status ?? 500,
            'InternalServerError',
            fault.message ?? 'The service encountered an internal error. Please try again later.',
          );
      }
    },
  };

  const emulator = await startHttpEmulator(protocol, {
    secrets,
    tls: { cert: server.fullChainPem, key: server.keyPem },
  });
  baseUrl = emulator.url;
  return Object.assign(emulator, {
    caPem: ca.rootPem,
    tenantId,
    putSecret,
    async importCertificate(name: string, cert: CertificateToImport, opts: AzureCertificateOptions = {}) {
      const exportable = opts.exportable ?? true;
      if (opts.format === 'pem') {
        const value = exportable ? cert.keyPem + cert.fullChainPem : cert.fullChainPem;
        return putSecret(name, value, { contentType: PEM_CONTENT_TYPE, managed: true });
      }
      const pfx = exportable
        ? await cert.pkcs12('')
        : await cert.pkcs12('', { algorithm: 'openssl', opensslArgs: ['-nokeys'] });
      return putSecret(name, pfx.toString('base64'), { contentType: PKCS12_CONTENT_TYPE, managed: true });
    },
    setEnabled(name: string, version: string, enabled: boolean) {
      secrets.setEnabled(name, version, enabled);
    },
    tagsOf(name: string, version: string) {
      const found = secrets.get(name, { versionId: version });
      return found && metaOf(name, found).tags;
    },
    idOf,
  });
}
