// A loopback Google Secret Manager that the real `@google-cloud/secret-manager` client talks to over
// both of its transports: gRPC (a `@grpc/grpc-js` server built from the client package's own
// protos.json) and the REST fallback (HTTP/1.1 JSON, `GET /v1/{name}:access`). Both ports serve one
// store, one fault queue and one request log. Versions are numbered and have a state (ENABLED,
// DISABLED, DESTROYED); `latest` is the newest version whatever its state, as in Google's service;
// answers name the project by its number where the request had the id; every payload carries its
// CRC32C. A secret carries version aliases (`versionAliases`, read through `versions/ALIAS` by
// GetSecretVersion and AccessSecretVersion), annotations and an etag; UpdateSecret changes the fields
// its update mask names, refused with FAILED_PRECONDITION when the etag given is not the secret's.
// Operations: AccessSecretVersion, GetSecretVersion, AddSecretVersion, CreateSecret, GetSecret,
// UpdateSecret, EnableSecretVersion, DisableSecretVersion, DestroySecretVersion.
import { createRequire } from 'node:module';
import { createServer, type Socket } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { listenOnLoopback } from '../loopback.js';
import { corruptValue, type FaultKind, type FaultSpec } from './faults.js';
import {
  type EmulatorCall,
  type EmulatorRequest,
  type EmulatorResponse,
  type HttpProtocol,
  type LoopbackEmulator,
  startHttpEmulator,
} from './http.js';
import { SecretStore, type SecretValue, type SecretVersion } from './store.js';

export interface GcpSecretManagerEmulatorOptions {
  /** The project id requests may name. Default `mtlskit-test`. */
  projectId?: string;
  /** Its number, which answers use in resource names (as Google's do). Default `123456789012`. */
  projectNumber?: string;
}

/**
 * Options of the real `SecretManagerServiceClient` (and of gcpSecretManagerSource's `clientOptions`)
 * that reach an emulator: gRPC as plain HTTP/2 (insecure channel credentials), or REST over plain
 * HTTP with a pass-through auth client. `universeDomain` keeps the client from looking up default
 * credentials.
 */
export interface GcpEmulatorClientOptions {
  apiEndpoint: string;
  port: number;
  universeDomain: string;
  /** gRPC: google-gax's own `grpc.credentials.createInsecure()`. */
  sslCreds?: unknown;
  /** REST: plain HTTP. */
  protocol?: 'http';
  /** REST: the auth client (default google-gax's `PassThroughClient`, which adds no credentials). */
  authClient?: object;
}

/** The Secret fields beside its versions that UpdateSecret changes. */
export interface GcpSecretMetadata {
  /** Alias → version number. */
  versionAliases: Record<string, number>;
  annotations: Record<string, string>;
  /** Changes on every UpdateSecret (quoted, as Google's). */
  etag: string;
}

/** A version's state, as the API names it. */
export type GcpVersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

export interface GcpSecretManagerEmulator extends LoopbackEmulator {
  /** The REST port is `port` (and `url`); this is the gRPC one (plain HTTP/2, no TLS). */
  readonly grpcPort: number;
  readonly projectId: string;
  readonly projectNumber: string;
  /**
   * Adds a version to a secret (creating the secret). `secret` is a secret id of the default project
   * (`prod-mtls`) or a resource name (`projects/P/secrets/S`, `projects/P/locations/L/secrets/S`).
   */
  putSecret(secret: string, value: SecretValue, options?: { state?: GcpVersionState }): SecretVersion;
  /** Sets the state of a version (a destroyed version stays destroyed). */
  setState(secret: string, version: number, state: GcpVersionState): void;
  /** A secret's version aliases, annotations and etag, as GetSecret reports them. */
  metadataOf(secret: string): GcpSecretMetadata;
  /** Sets a secret's aliases and/or annotations (each replaced whole when given), as UpdateSecret does. */
  setMetadata(
    secret: string,
    change: { versionAliases?: Record<string, number>; annotations?: Record<string, string> },
  ): void;
  /** The key the emulator files a secret under, in the store and in the log: `projects/ID/…/secrets/S`. */
  keyOf(secret: string): string;
  /** Client options that point the real Google client at this emulator over `transport`. */
  clientOptions(transport: 'grpc' | 'rest', authClient?: object): GcpEmulatorClientOptions;
}

/** The google-gax the Google client uses (its grpc and auth library), not one of the testkit's own. */
interface Gax {
  grpc: { credentials: { createInsecure(): unknown } };
  googleAuthLibrary: { PassThroughClient: new () => object };
}

/** CRC32C (Castagnoli), bit by bit: deliberately not the table method of the adapter, so each checks the other. */
export function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** gRPC status codes used here. */
const CODE = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const CODE_NAMES = new Map<number, string>(Object.entries(CODE).map(([name, code]) => [code, name]));

/** How Google's REST surface spells a gRPC code as an HTTP status. */
const HTTP_STATUS: Record<number, number> = {
  [CODE.CANCELLED]: 499,
  [CODE.INVALID_ARGUMENT]: 400,
  [CODE.DEADLINE_EXCEEDED]: 504,
  [CODE.NOT_FOUND]: 404,
  [CODE.ALREADY_EXISTS]: 409,
  [CODE.PERMISSION_DENIED]: 403,
  [CODE.RESOURCE_EXHAUSTED]: 429,
  [CODE.FAILED_PRECONDITION]: 400,
  [CODE.UNIMPLEMENTED]: 501,
  [CODE.INTERNAL]: 500,
  [CODE.UNAVAILABLE]: 503,
  [CODE.UNAUTHENTICATED]: 401,
};
const CODE_OF_HTTP = new Map<number, number>([
  [400, CODE.INVALID_ARGUMENT],
  [401, CODE.UNAUTHENTICATED],
  [403, CODE.PERMISSION_DENIED],
  [404, CODE.NOT_FOUND],
  [409, CODE.ALREADY_EXISTS],
  [429, CODE.RESOURCE_EXHAUSTED],
  [501, CODE.UNIMPLEMENTED],
  [503, CODE.UNAVAILABLE],
  [504, CODE.DEADLINE_EXCEEDED],
]);

class GcpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The IAM permission each method needs, for the messages of `denied` faults. */
const PERMISSIONS: Record<string, string> = {
  AccessSecretVersion: 'secretmanager.versions.access',
  GetSecretVersion: 'secretmanager.versions.get',
  AddSecretVersion: 'secretmanager.versions.add',
  EnableSecretVersion: 'secretmanager.versions.enable',
  DisableSecretVersion: 'secretmanager.versions.disable',
  DestroySecretVersion: 'secretmanager.versions.destroy',
  CreateSecret: 'secretmanager.secrets.create',
  GetSecret: 'secretmanager.secrets.get',
  UpdateSecret: 'secretmanager.secrets.update',
};

/** Google's grammar of a version alias; `latest` and `NEW` are reserved. */
const ALIAS = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
/** Google's grammar of an annotation key. */
const ANNOTATION_KEY = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
/** The fields of a Secret the emulator's UpdateSecret changes (snake_case, as gRPC masks write them). */
const UPDATABLE = ['version_aliases', 'annotations'] as const;

const STATE_NUMBER: Record<GcpVersionState, number> = { ENABLED: 1, DISABLED: 2, DESTROYED: 3 };

/** A resource name taken apart: the secret's key (project id form) and the version segment, if any. */
interface Parsed {
  key: string;
  version?: string;
}

/** What one call asks, whichever transport carried it. */
interface Request {
  operation: string;
  /** `name` or `parent` of the request. */
  resource: string;
  /** AddSecretVersion: the payload; CreateSecret: the secret id. */
  payload?: { data: Buffer; dataCrc32c?: string | undefined };
  secretId?: string;
  /** UpdateSecret: the Secret given (its name is `resource`) and the paths of the update mask. */
  secret?: Record<string, unknown>;
  updateMask?: string[];
}

/** How a `corrupt` fault damages an access: `code: 'checksum'` a wrong checksum, `'noChecksum'` none. */
type Damage = 'data' | 'checksum' | 'noChecksum' | undefined;

function damageOf(fault: FaultSpec | undefined): Damage {
  if (fault?.kind !== 'corrupt') return undefined;
  if (fault.code === 'checksum' || fault.code === 'noChecksum') return fault.code;
  return 'data';
}

const timestamp = (date: Date) => ({
  seconds: String(Math.floor(date.getTime() / 1000)),
  nanos: (date.getTime() % 1000) * 1e6,
});

/** The proto3 JSON form of a message the gRPC side answers with (int64 as text, bytes Base64, enums as asked). */
function toJson(value: unknown, intEnums: boolean): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map((v) => toJson(v, intEnums));
  if (typeof value !== 'object' || value === null) return value;
  const o = value as Record<string, unknown>;
  if (typeof o.seconds === 'string' && typeof o.nanos === 'number' && Object.keys(o).length === 2) {
    return new Date(Number(o.seconds) * 1000 + o.nanos / 1e6).toISOString();
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    out[k] = k === 'state' && intEnums ? STATE_NUMBER[v as GcpVersionState] : toJson(v, intEnums);
  }
  return out;
}

const REST_PATH =
  /^\/v1\/(projects\/[^/:]+(?:\/locations\/[^/:]+)?\/secrets(?:\/[^/:]+(?:\/versions\/[^/:]+)?)?)(?::([a-zA-Z]+))?$/;

/** Starts the emulator on 127.0.0.1: REST on `port`, gRPC on `grpcPort`. `close()` it after the test. */
export async function startGcpSecretManagerEmulator(
  options: GcpSecretManagerEmulatorOptions = {},
): Promise<GcpSecretManagerEmulator> {
  const projectId = options.projectId ?? 'mtlskit-test';
  const projectNumber = options.projectNumber ?? '123456789012';
  const secrets = new SecretStore({ versionIds: 'counter' });
  /** State of versions that are not ENABLED, by `key/versions/N`; the store only knows enabled or not. */
  const states = new Map<string, GcpVersionState>();
  /** Aliases, annotations and etag revision of each secret, by key. */
  const meta = new Map<
    string,
    { aliases: Map<string, number>; annotations: Map<string, string>; revision: number }
  >();
  const metaOf = (key: string) => {
    let m = meta.get(key);
    if (!m) {
      m = { aliases: new Map(), annotations: new Map(), revision: 1 };
      meta.set(key, m);
    }
    return m;
  };
  const etagOf = (key: string) => `"${(0x5e000000 + metaOf(key).revision * 7919).toString(16)}"`;

  function keyOf(secret: string): string {
    const full = secret.includes('/') ? secret : `projects/${projectId}/secrets/${secret}`;
    return full.replace(/^projects\/([^/]+)/, (_, p: string) =>
      p === projectNumber ? `projects/${projectId}` : `projects/${p}`,
    );
  }
  /** Names in answers carry the project number. */
  const publicName = (key: string) =>
    key.replace(/^projects\/([^/]+)/, (_, p: string) =>
      p === projectId ? `projects/${projectNumber}` : `projects/${p}`,
    );

  function parse(resource: string, withVersion: boolean): Parsed {
    const m = /^(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+)(?:\/versions\/([^/]+))?$/.exec(
      resource,
    );
    if (!m || withVersion !== (m[2] !== undefined)) {
      throw new GcpError(
        CODE.INVALID_ARGUMENT,
        `Invalid resource field value in the request: ${JSON.stringify(resource)}.`,
      );
    }
    return { key: keyOf(m[1]!), ...(m[2] !== undefined && { version: m[2] }) };
  }

  function requireSecret(key: string) {
    const secret = secrets.describe(key);
    if (!secret)
      throw new GcpError(CODE.NOT_FOUND, `Secret [${publicName(key)}] not found or has no versions.`);
    return secret;
  }

  function findVersion(p: Parsed): SecretVersion {
    const secret = requireSecret(p.key);
    const aliased = p.version === undefined ? undefined : meta.get(p.key)?.aliases.get(p.version);
    const number = aliased === undefined ? p.version : String(aliased);
    const version =
      p.version === 'latest'
        ? secret.versions.at(-1)
        : secret.versions.find((v) => String(v.number) === number);
    if (!version) {
      if (p.version === 'latest' || /^\d+$/.test(p.version ?? '')) {
        throw new GcpError(
          CODE.NOT_FOUND,
          secret.versions.length === 0
            ? `Secret [${publicName(p.key)}] not found or has no versions.`
            : `Secret Version [${publicName(`${p.key}/versions/${p.version}`)}] not found.`,
        );
      }
      throw new GcpError(CODE.NOT_FOUND, `Alias [${p.version}] not found for secret [${publicName(p.key)}].`);
    }
    return version;
  }

  const versionKey = (key: string, v: SecretVersion) => `${key}/versions/${v.number}`;
  const stateOf = (key: string, v: SecretVersion): GcpVersionState =>
    states.get(versionKey(key, v)) ?? (v.enabled ? 'ENABLED' : 'DISABLED');

  function describeVersion(key: string, v: SecretVersion) {
    const state = stateOf(key, v);
    return {
      name: publicName(versionKey(key, v)),
      createTime: timestamp(v.createdAt),
      ...(state === 'DESTROYED' && { destroyTime: timestamp(v.createdAt) }),
      state,
      etag: `"${v.number}-${state.toLowerCase()}"`,
      clientSpecifiedPayloadChecksum: v.metadata.clientChecksum === true,
    };
  }

  function setState(secret: string, number: number, state: GcpVersionState): void {
    const key = keyOf(secret);
    const v = findVersion({ key, version: String(number) });
    if (stateOf(key, v) === 'DESTROYED' && state !== 'DESTROYED') {
      throw new GcpError(
        CODE.FAILED_PRECONDITION,
        `Secret Version [${publicName(versionKey(key, v))}] is in DESTROYED state.`,
      );
    }
    secrets.setEnabled(key, v.id, state === 'ENABLED');
    if (state === 'ENABLED') states.delete(versionKey(key, v));
    else states.set(versionKey(key, v), state);
  }

  const bytesOf = (value: SecretValue) =>
    typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);

  const operations: Record<string, (r: Request, damage: Damage) => unknown> = {
    AccessSecretVersion(r, damage) {
      const p = parse(r.resource, true);
      const v = findVersion(p);
      const state = stateOf(p.key, v);
      if (state !== 'ENABLED') {
        throw new GcpError(
          CODE.FAILED_PRECONDITION,
          `Secret Version [${publicName(versionKey(p.key, v))}] is in ${state} state.`,
        );
      }
      const data = bytesOf(v.value);
      const crc = crc32cBitwise(data);
      return {
        name: publicName(versionKey(p.key, v)),
        payload: {
          data: damage === 'data' ? corruptValue(data) : data,
          ...(damage !== 'noChecksum' && {
            dataCrc32c: String(damage === 'checksum' ? (crc ^ 0x5a5a5a5a) >>> 0 : crc),
          }),
        },
      };
    },

    GetSecretVersion(r) {
      const p = parse(r.resource, true);
      return describeVersion(p.key, findVersion(p));
    },

    AddSecretVersion(r) {
      const { key } = parse(r.resource, false);
      requireSecretExists(key);
      const data = r.payload?.data;
      if (data === undefined) throw new GcpError(CODE.INVALID_ARGUMENT, 'Payload is required.');
      const given = r.payload?.dataCrc32c;
      if (given !== undefined && given !== String(crc32cBitwise(data))) {
        throw new GcpError(CODE.INVALID_ARGUMENT, 'Checksum of the payload does not match data_crc32c.');
      }
      const v = secrets.put(key, new Uint8Array(data), { metadata: { clientChecksum: given !== undefined } });
      return describeVersion(key, v);
    },

    CreateSecret(r) {
      const parent = r.resource;
      if (!/^projects\/[^/]+(?:\/locations\/[^/]+)?$/.test(parent) || !r.secretId) {
        throw new GcpError(CODE.INVALID_ARGUMENT, 'parent and secretId are required.');
      }
      const key = keyOf(`${parent}/secrets/${r.secretId}`);
      if (secrets.has(key))
        throw new GcpError(CODE.ALREADY_EXISTS, `Secret [${publicName(key)}] already exists.`);
      const s = secrets.create(key);
      return { name: publicName(key), createTime: timestamp(s.createdAt), replication: { automatic: {} } };
    },

    GetSecret(r) {
      const { key } = parse(r.resource, false);
      requireSecretExists(key);
      return describeSecret(key);
    },

    UpdateSecret(r) {
      const { key } = parse(r.resource, false);
      requireSecretExists(key);
      const paths = (r.updateMask ?? []).map((path) => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
      if (paths.length === 0) throw new GcpError(CODE.INVALID_ARGUMENT, 'update_mask is required.');
      const unknown = paths.filter((path) => !(UPDATABLE as readonly string[]).includes(path));
      if (unknown.length > 0) {
        throw new GcpError(
          CODE.UNIMPLEMENTED,
          `The emulator updates ${UPDATABLE.join(' and ')} only, not ${unknown.join(', ')}.`,
        );
      }
      const given = r.secret ?? {};
      if (typeof given.etag === 'string' && given.etag !== '' && given.etag !== etagOf(key)) {
        throw new GcpError(
          CODE.FAILED_PRECONDITION,
          `The etag provided in the request does not match the etag of Secret [${publicName(key)}].`,
        );
      }
      const change: { versionAliases?: Record<string, number>; annotations?: Record<string, string> } = {};
      if (paths.includes('version_aliases')) {
        change.versionAliases = {};
        for (const [alias, value] of Object.entries(mapOf(given.versionAliases))) {
          change.versionAliases[alias] = Number(value);
        }
      }
      if (paths.includes('annotations')) {
        change.annotations = {};
        for (const [k, value] of Object.entries(mapOf(given.annotations)))
          change.annotations[k] = String(value);
      }
      applyMetadata(key, change);
      return describeSecret(key);
    },

    EnableSecretVersion: (r) => changeState(r, 'ENABLED'),
    DisableSecretVersion: (r) => changeState(r, 'DISABLED'),
    DestroySecretVersion: (r) => changeState(r, 'DESTROYED'),
  };

  function describeSecret(key: string) {
    const s = secrets.describe(key)!;
    const m = metaOf(key);
    return {
      name: publicName(key),
      createTime: timestamp(s.createdAt),
      replication: { automatic: {} },
      etag: etagOf(key),
      ...(m.aliases.size > 0 && {
        versionAliases: Object.fromEntries([...m.aliases].map(([a, n]) => [a, String(n)])),
      }),
      ...(m.annotations.size > 0 && { annotations: Object.fromEntries(m.annotations) }),
    };
  }

  /** A proto map as either wire hands it over: an object (absent or null when empty). */
  function mapOf(value: unknown): Record<string, unknown> {
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  }

  /** Checks and applies new aliases and/or annotations (each replaced whole), and moves the etag. */
  function applyMetadata(
    key: string,
    change: { versionAliases?: Record<string, number>; annotations?: Record<string, string> },
  ): void {
    const m = metaOf(key);
    if (change.versionAliases !== undefined) {
      const aliases = new Map<string, number>();
      for (const [alias, number] of Object.entries(change.versionAliases)) {
        if (!ALIAS.test(alias) || alias === 'latest' || alias === 'NEW') {
          throw new GcpError(CODE.INVALID_ARGUMENT, `Invalid version alias: ${JSON.stringify(alias)}.`);
        }
        const v = Number.isSafeInteger(number)
          ? requireSecret(key).versions.find((x) => x.number === number)
          : undefined;
        if (!v) {
          throw new GcpError(
            CODE.INVALID_ARGUMENT,
            `Version alias ${alias} refers to version ${String(number)}, which does not exist in Secret [${publicName(key)}].`,
          );
        }
        if (stateOf(key, v) === 'DESTROYED') {
          throw new GcpError(
            CODE.FAILED_PRECONDITION,
            `Secret Version [${publicName(versionKey(key, v))}] is in DESTROYED state and cannot be given an alias.`,
          );
        }
        aliases.set(alias, number);
      }
      m.aliases = aliases;
    }
    if (change.annotations !== undefined) {
      let size = 0;
      for (const [k, value] of Object.entries(change.annotations)) {
        if (!ANNOTATION_KEY.test(k)) {
          throw new GcpError(CODE.INVALID_ARGUMENT, `Invalid annotation key: ${JSON.stringify(k)}.`);
        }
        size += Buffer.byteLength(k) + Buffer.byteLength(value);
      }
      if (size >= 16 * 1024) {
        throw new GcpError(CODE.INVALID_ARGUMENT, 'The total size of annotations must be less than 16KiB.');
      }
      m.annotations = new Map(Object.entries(change.annotations));
    }
    m.revision += 1;
  }

  function requireSecretExists(key: string): void {
    if (!secrets.has(key)) throw new GcpError(CODE.NOT_FOUND, `Secret [${publicName(key)}] not found.`);
  }

  function changeState(r: Request, state: GcpVersionState) {
    const p = parse(r.resource, true);
    const v = findVersion(p);
    setState(p.key, v.number, state);
    return describeVersion(p.key, findVersion({ key: p.key, version: String(v.number) }));
  }

  /** The secret a call names, as the store and the log key it. */
  function secretOf(resource: string): string | undefined {
    const m = /^(projects\/[^/]+(?:\/locations\/[^/]+)?\/secrets\/[^/]+)/.exec(resource);
    return m ? keyOf(m[1]!) : undefined;
  }

  /** Which fault kinds a call can show: damage needs a value; the gRPC side cannot send malformed JSON. */
  const canShow = (kind: FaultKind, operation: string, transport: 'grpc' | 'rest') =>
    kind === 'corrupt'
      ? operation === 'AccessSecretVersion'
      : kind !== 'stale' && (kind !== 'malformed' || transport === 'rest');

  /** The gRPC code and message of an error fault. */
  function faultError(fault: FaultSpec, call: { operation: string; secret?: string | undefined }): GcpError {
    const resource = call.secret === undefined ? '' : publicName(call.secret);
    switch (fault.kind) {
      case 'notFound':
        return new GcpError(
          CODE.NOT_FOUND,
          fault.message ?? `Secret [${resource}] not found or has no versions.`,
        );
      case 'denied': {
        const permission = PERMISSIONS[call.operation] ?? 'secretmanager.versions.access';
        return new GcpError(
          CODE.PERMISSION_DENIED,
          fault.message ??
            `Permission '${permission}' denied for resource '${resource}' (or it may not exist).`,
        );
      }
      case 'throttled':
        return new GcpError(
          CODE.RESOURCE_EXHAUSTED,
          fault.message ??
            "Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project'.",
        );
      case 'error':
        return new GcpError(
          fault.status ?? CODE.INTERNAL,
          fault.message ?? `${fault.code ?? 'INTERNAL'} (injected)`,
        );
      default:
        return new GcpError(
          fault.status ?? CODE.UNAVAILABLE,
          fault.message ?? 'The service is currently unavailable.',
        );
    }
  }

  // ---- REST (HTTP/1.1 JSON), on the framework's HTTP emulator ----

  function restRequest(request: EmulatorRequest): Request & { known: boolean } {
    const m = REST_PATH.exec(request.url.pathname);
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
      string,
      unknown
    >;
    const resource = m?.[1] ?? request.url.pathname;
    const verb = m?.[2];
    const isVersion = /\/versions\/[^/]+$/.test(resource);
    const isSecret = /\/secrets\/[^/]+$/.test(resource);
    let operation: string | undefined;
    if (request.method === 'GET' && verb === 'access' && isVersion) operation = 'AccessSecretVersion';
    else if (request.method === 'GET' && verb === undefined && isVersion) operation = 'GetSecretVersion';
    else if (request.method === 'GET' && verb === undefined && isSecret) operation = 'GetSecret';
    else if (request.method === 'PATCH' && verb === undefined && isSecret) operation = 'UpdateSecret';
    else if (request.method === 'POST' && verb === 'addVersion' && isSecret) operation = 'AddSecretVersion';
    else if (request.method === 'POST' && verb === undefined && resource.endsWith('/secrets'))
      operation = 'CreateSecret';
    else if (request.method === 'POST' && isVersion && verb !== undefined)
      operation = {
        enable: 'EnableSecretVersion',
        disable: 'DisableSecretVersion',
        destroy: 'DestroySecretVersion',
      }[verb];
    const payload = body.payload as { data?: unknown; dataCrc32c?: unknown } | undefined;
    return {
      known: operation !== undefined,
      operation: operation ?? `${request.method} ${request.url.pathname}`,
      resource: operation === 'CreateSecret' ? resource.slice(0, -'/secrets'.length) : resource,
      ...(payload !== undefined && {
        payload: {
          data: Buffer.from(typeof payload.data === 'string' ? payload.data : '', 'base64'),
          dataCrc32c: payload.dataCrc32c === undefined ? undefined : String(payload.dataCrc32c),
        },
      }),
      ...(operation === 'CreateSecret' && {
        secretId: request.url.searchParams.get('secretId') ?? undefined,
      }),
      ...(operation === 'UpdateSecret' && {
        secret: body,
        updateMask: (request.url.searchParams.get('updateMask') ?? '').split(',').filter(Boolean),
      }),
    };
  }

  function restError(err: GcpError): EmulatorResponse {
    const status = HTTP_STATUS[err.code] ?? 500;
    return {
      status,
      body: { error: { code: status, message: err.message, status: CODE_NAMES.get(err.code) ?? 'UNKNOWN' } },
    };
  }

  const protocol: HttpProtocol = {
    contentType: 'application/json; charset=UTF-8',
    identify(request) {
      const r = restRequest(request);
      return { operation: r.operation, secret: secretOf(r.resource) };
    },
    accepts: (kind, call) => canShow(kind, call.operation, 'rest'),
    handle(call: EmulatorCall) {
      const r = restRequest(call);
      try {
        const run = operations[r.operation];
        if (!r.known || !run)
          throw new GcpError(CODE.UNIMPLEMENTED, `Method ${r.operation} is not implemented.`);
        const intEnums = /enum-encoding=int/.test(call.url.searchParams.get('$alt') ?? '');
        return { status: 200, body: toJson(run(r, damageOf(call.fault)), intEnums) };
      } catch (err) {
        if (err instanceof GcpError) return restError(err);
        throw err;
      }
    },
    faultResponse(fault, call) {
      // A status given with `error`/`serverError` is an HTTP status on this side.
      const err = faultError({ ...fault, status: undefined }, call ?? { operation: 'unknown' });
      const answer = restError(err);
      if (fault.status !== undefined && (fault.kind === 'error' || fault.kind === 'serverError')) {
        const code =
          CODE_OF_HTTP.get(fault.status) ?? (fault.status >= 500 ? CODE.INTERNAL : CODE.INVALID_ARGUMENT);
        return {
          status: fault.status,
          body: {
            error: {
              code: fault.status,
              message: err.message,
              status: fault.code ?? CODE_NAMES.get(code) ?? 'UNKNOWN',
            },
          },
        };
      }
      return answer;
    },
  };

  const emulator = await startHttpEmulator(protocol, { secrets });

  // ---- gRPC, sharing the store, the fault queue and the log ----

  const require = createRequire(import.meta.url);
  const grpcJs = require('@grpc/grpc-js') as typeof grpc;
  const protoLoader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
  let protos: Record<string, unknown>;
  try {
    protos = require('@google-cloud/secret-manager/build/protos/protos.json');
  } catch (err) {
    await emulator.close();
    throw new Error(
      'the GCP emulator serves the protos of @google-cloud/secret-manager: install it beside @mtlskit/testkit',
      { cause: err },
    );
  }
  const definition = protoLoader.fromJSON(protos, {
    keepCase: false,
    longs: String,
    enums: String,
    bytes: Buffer,
    defaults: false,
    oneofs: true,
  });
  const loaded = grpcJs.loadPackageDefinition(definition) as unknown as {
    google: { cloud: { secretmanager: { v1: { SecretManagerService: grpc.ServiceClientConstructor } } } };
  };
  const service = loaded.google.cloud.secretmanager.v1.SecretManagerService.service;

  const closing = new AbortController();
  const sockets = new Map<string, Socket>();

  function hold(ms: number | undefined, call: grpc.ServerUnaryCall<unknown, unknown>): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        call.off('cancelled', done);
        closing.signal.removeEventListener('abort', done);
        resolve();
      }
      call.once('cancelled', done);
      closing.signal.addEventListener('abort', done, { once: true });
    });
  }

  function grpcHandler(operation: string) {
    return async (
      call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ): Promise<void> => {
      const body = call.request;
      const payload = body.payload as { data?: Buffer; dataCrc32c?: string } | undefined;
      const secret = body.secret as Record<string, unknown> | undefined;
      const mask = body.updateMask as { paths?: string[] } | undefined;
      const r: Request = {
        operation,
        resource: String(body.name ?? body.parent ?? secret?.name ?? ''),
        ...(secret !== undefined && { secret, updateMask: mask?.paths ?? [] }),
        ...(payload !== undefined && {
          payload: { data: payload.data ?? Buffer.alloc(0), dataCrc32c: payload.dataCrc32c },
        }),
        ...(typeof body.secretId === 'string' && { secretId: body.secretId }),
      };
      const identity = { operation, secret: secretOf(r.resource) };
      const fault = emulator.faults.take(identity, (kind) => canShow(kind, operation, 'grpc'));
      // `ADDRESS:PORT` of the client's socket, the key of `sockets`.
      const peer = call.getPeer();
      const entry = emulator.log.record({
        ...identity,
        method: 'POST',
        path: `/google.cloud.secretmanager.v1.SecretManagerService/${operation}`,
        headers: call.metadata.getMap() as Record<string, string>,
        body,
        remoteAddress: peer.slice(0, peer.lastIndexOf(':')),
        fault: fault?.kind,
      });
      const answer = (code: number, err?: GcpError, value?: unknown) => {
        entry.status = code;
        if (err) callback({ code: err.code, details: err.message });
        else callback(null, value);
      };
      switch (fault?.kind) {
        case 'reset': {
          const socket = sockets.get(peer);
          if (socket) socket.resetAndDestroy();
          return;
        }
        case 'slow':
          await hold(fault.delayMs, call);
          if (call.cancelled || closing.signal.aborted) return;
          break;
        case 'notFound':
        case 'denied':
        case 'throttled':
        case 'serverError':
        case 'error': {
          const err = faultError(fault, identity);
          answer(err.code, err);
          return;
        }
        default:
          break;
      }
      try {
        const value = operations[operation]!(r, damageOf(fault));
        answer(0, undefined, value);
      } catch (err) {
        const e =
          err instanceof GcpError ? err : new GcpError(CODE.INTERNAL, `emulator failed: ${String(err)}`);
        answer(e.code, e);
      }
    };
  }

  const server = new grpcJs.Server();
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(service)) {
    handlers[method] = operations[method]
      ? grpcHandler(method)
      : (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
          callback({
            code: CODE.UNIMPLEMENTED,
            details: `Method ${method} is not implemented by the emulator.`,
          });
  }
  server.addService(service, handlers);
  // Connections are accepted here and handed to gRPC, so a `reset` fault can cut the one a call came on.
  const injector = server.createConnectionInjector(grpcJs.ServerCredentials.createInsecure());
  const listener = createServer((socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(peer, socket);
    socket.once('close', () => sockets.delete(peer));
    injector.injectConnection(socket);
  });
  const grpcPort = await listenOnLoopback(listener);

  const closeRest = emulator.close.bind(emulator);
  let closed: Promise<void> | undefined;
  return Object.assign(emulator, {
    grpcPort,
    projectId,
    projectNumber,
    putSecret(secret: string, value: SecretValue, put: { state?: GcpVersionState } = {}) {
      const key = keyOf(secret);
      const v = secrets.put(key, value, { metadata: { clientChecksum: false } });
      if (put.state !== undefined && put.state !== 'ENABLED') setState(key, v.number, put.state);
      return secrets.get(key, { versionId: v.id })!;
    },
    setState,
    keyOf,
    metadataOf(secret: string): GcpSecretMetadata {
      const key = keyOf(secret);
      requireSecretExists(key);
      const m = metaOf(key);
      return {
        versionAliases: Object.fromEntries(m.aliases),
        annotations: Object.fromEntries(m.annotations),
        etag: etagOf(key),
      };
    },
    setMetadata(
      secret: string,
      change: { versionAliases?: Record<string, number>; annotations?: Record<string, string> },
    ) {
      const key = keyOf(secret);
      requireSecretExists(key);
      applyMetadata(key, change);
    },
    clientOptions(transport: 'grpc' | 'rest', authClient?: object): GcpEmulatorClientOptions {
      const gax = require(
        require.resolve('google-gax', { paths: [require.resolve('@google-cloud/secret-manager')] }),
      ) as Gax;
      const common = { apiEndpoint: '127.0.0.1', universeDomain: 'googleapis.com' };
      return transport === 'grpc'
        ? { ...common, port: grpcPort, sslCreds: gax.grpc.credentials.createInsecure() }
        : {
            ...common,
            port: emulator.port,
            protocol: 'http',
            authClient: authClient ?? new gax.googleAuthLibrary.PassThroughClient(),
          };
    },
    close() {
      closed ??= (async () => {
        closing.abort();
        injector.destroy();
        server.forceShutdown();
        for (const socket of sockets.values()) socket.destroy();
        await new Promise<void>((resolve) => listener.close(() => resolve()));
        await closeRest();
      })();
      return closed;
    },
  });
}
