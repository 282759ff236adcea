// A loopback HashiCorp Vault that the real `node-vault` client talks to: KV v1 and v2 (versions,
// metadata, `custom_metadata` written with `POST /metadata/PATH` and returned by every data and
// metadata read as Vault >= 1.9 does, check-and-set on data writes, soft delete), mount detection (`sys/internal/ui/mounts/PATH`), nested
// mounts, namespaces (`X-Vault-Namespace` or a path prefix), tokens with leases, TTL and max TTL,
// `auth/token/lookup-self` and `renew-self`, AppRole and Kubernetes login, ACL policies, a sealed
// state (503) and standby redirects (307), all with Vault's `{errors:[…]}` bodies.
// Time is the real clock: tests use TTLs of a few seconds.
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import type { TestCA } from '../ca.js';
import type { TestKeyType } from '../keys.js';
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

/** A KV secret's fields, as Vault stores them (JSON values, usually strings). */
export type VaultSecretData = Record<string, unknown>;

export type VaultCapability = 'create' | 'read' | 'update' | 'delete' | 'list' | 'patch' | 'sudo' | 'deny';

/**
 * An ACL policy: path patterns (namespace-relative, Vault syntax: a trailing `*` matches any
 * suffix, `+` one segment) to capabilities. `'root'` allows everything. Every token may also look
 * itself up and renew itself (Vault's `default` policy).
 */
export type VaultPolicy = 'root' | Record<string, readonly VaultCapability[]>;

export interface VaultMountOptions {
  /** KV version. Default 2. */
  version?: 1 | 2;
  namespace?: string;
  /** KV v2: every write must carry `options.cas`. */
  casRequired?: boolean;
}

export interface VaultTokenOptions {
  /** The token id; default a fresh `hvs.…`. */
  id?: string;
  /** Seconds; 0 = never expires (a root token). Default 768 h. */
  ttl?: number;
  /** Explicit max TTL in seconds (0 = the system's). */
  maxTtl?: number;
  renewable?: boolean;
  policy?: VaultPolicy;
  namespace?: string;
}

export interface VaultAppRoleOptions {
  /** Default a UUID. */
  roleId?: string;
  /** Secret ids accepted; default one fresh UUID. Empty with `bindSecretId: false`. */
  secretIds?: string[];
  bindSecretId?: boolean;
  /** Token TTL and max TTL in seconds (defaults 768 h and the system's). */
  tokenTtl?: number;
  tokenMaxTtl?: number;
  tokenRenewable?: boolean;
  policy?: VaultPolicy;
  /** Auth mount path; default `approle`. */
  mount?: string;
  namespace?: string;
}

export interface VaultKubernetesRoleOptions {
  /** Service-account JWTs this role accepts (the emulator's stand-in for a TokenReview). */
  jwts: string[];
  tokenTtl?: number;
  tokenMaxTtl?: number;
  tokenRenewable?: boolean;
  policy?: VaultPolicy;
  /** Auth mount path; default `kubernetes`. */
  mount?: string;
  namespace?: string;
}

export interface VaultPkiRoleOptions {
  /** Default TTL in seconds when the request names none. Default 3600. */
  ttl?: number;
  /** The longest TTL the role signs, in seconds; a longer request is capped. Default 32 days. */
  maxTtl?: number;
  /** How far notBefore is set back, in seconds (Vault's `not_before_duration`). Default 30. */
  notBeforeDuration?: number;
  /** Key type Vault generates for `issue`. Default `ec-p256`. */
  keyType?: TestKeyType;
}

export interface VaultEmulatorOptions {
  /** Serve HTTPS with this certificate (`TestCA.issueServer()`). */
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
  /** KV mounts made at start; default `secret` (KV v2) in the root namespace. */
  mounts?: Array<{ path: string } & VaultMountOptions>;
  /** Namespaces (Vault Enterprise), e.g. `['team-a', 'team-a/child']`. */
  namespaces?: string[];
  /** The root token's id. Default a fresh `hvs.…`. */
  rootToken?: string;
  /** The system max lease TTL in seconds. Default 32 days. */
  maxLeaseTtl?: number;
  /** The default token TTL in seconds. Default 768 h. */
  defaultLeaseTtl?: number;
  /**
   * Act as Vault before 1.9, whose KV v2 has no `custom_metadata`: answers carry no such key, and a
   * metadata write ignores the field with Vault's warning. Default false.
   */
  withoutCustomMetadata?: boolean;
}

export interface VaultTokenInfo {
  id: string;
  accessor: string;
  namespace: string;
  policy: VaultPolicy;
  renewable: boolean;
  /** Creation TTL in seconds. */
  ttl: number;
  issuedAt: number;
  /** When it stops working (ms since epoch); undefined = never. */
  expiresAt: number | undefined;
  /** The latest it can be renewed to. */
  maxExpiresAt: number | undefined;
  revoked: boolean;
  /** How it was obtained: `token`, `approle`, `kubernetes`. */
  via: string;
}

export interface VaultEmulator extends LoopbackEmulator {
  readonly rootToken: string;
  /** Mounts a KV engine at `path` (nested paths allowed). */
  mount(path: string, options?: VaultMountOptions): void;
  /** Creates a namespace (its parent must exist). */
  addNamespace(path: string): void;
  /**
   * Writes a new version of the secret at `path` (`MOUNT/…`, full path inside the namespace) — the
   * rotation a test performs. KV v1 keeps only the latest.
   */
  putSecret(path: string, data: VaultSecretData, options?: { namespace?: string }): SecretVersion;
  /** KV v2: soft-deletes versions (default the current one); KV v1: deletes the secret. */
  deleteSecret(path: string, options?: { namespace?: string; versions?: number[] }): void;
  /** Removes the secret and every version (KV v2 metadata delete). */
  destroySecret(path: string, options?: { namespace?: string }): void;
  /** KV v2: the secret's `custom_metadata` (null when never written), as `GET /metadata/PATH` answers it. */
  customMetadata(path: string, options?: { namespace?: string }): Record<string, string> | null;
  /** KV v2: replaces the secret's `custom_metadata`, as `vault kv metadata put -custom-metadata` does. */
  setCustomMetadata(path: string, custom: Record<string, string>, options?: { namespace?: string }): void;
  /** The store's key of a secret: `[NAMESPACE/]PATH`. */
  secretName(path: string, namespace?: string): string;
  createToken(options?: VaultTokenOptions): string;
  revokeToken(id: string): void;
  token(id: string): VaultTokenInfo | undefined;
  addAppRole(name: string, options?: VaultAppRoleOptions): { roleId: string; secretIds: string[] };
  addKubernetesRole(name: string, options: VaultKubernetesRoleOptions): void;
  /** Mounts a PKI engine whose certificates `ca` signs (its issuing CA and chain are answered too). */
  enablePki(mount: string, ca: TestCA, options?: { namespace?: string }): void;
  /** A role of a PKI mount: `MOUNT/sign/NAME` and `MOUNT/issue/NAME`. */
  addPkiRole(mount: string, name: string, options?: VaultPkiRoleOptions & { namespace?: string }): void;
  /** 503 `Vault is sealed` for every call until `unseal()`. */
  seal(): void;
  unseal(): void;
  /**
   * Act as a standby: answer every call with a 307 to the same path on `activeUrl` (undefined:
   * active again).
   */
  redirectTo(activeUrl: string | undefined): void;
}

const DAY = 24 * 3600;

class VaultFailure extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
    readonly extra: Record<string, unknown> = {},
  ) {
    super(errors[0] ?? `status ${status}`);
  }
}

const PERMISSION_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';
const denied = (message = PERMISSION_DENIED) => new VaultFailure(403, [message]);

function newToken(): string {
  return `hvs.${randomBytes(18).toString('base64url')}`;
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

/** Vault's patterns: exact, trailing `*` prefix, `+` one segment. */
function patternMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const body = glob ? pattern.slice(0, -1) : pattern;
  const pSegs = body.split('/');
  const segs = path.split('/');
  for (let i = 0; i < pSegs.length; i++) {
    const p = pSegs[i]!;
    const s = segs[i];
    const last = i === pSegs.length - 1;
    if (s === undefined) return glob && last && p === '';
    if (last && glob) return p === '+' ? true : s.startsWith(p);
    if (p !== '+' && p !== s) return false;
  }
  return glob || segs.length === pSegs.length;
}

/** The capabilities a policy grants on a path: the most specific matching pattern decides. */
function capabilitiesOf(policy: VaultPolicy, path: string): readonly VaultCapability[] {
  if (policy === 'root') return ['create', 'read', 'update', 'delete', 'list', 'patch', 'sudo'];
  const matching = Object.keys(policy).filter((p) => patternMatches(p, path));
  if (matching.length === 0) return [];
  // More specific: an exact pattern, then the longer one.
  matching.sort((a, b) => Number(a.endsWith('*')) - Number(b.endsWith('*')) || b.length - a.length);
  const caps = policy[matching[0]!] ?? [];
  return caps.includes('deny') ? [] : caps;
}

/** Vault's `hasMountAccess`: any capability on any path under the mount. */
function hasMountAccess(policy: VaultPolicy, mountPath: string): boolean {
  if (policy === 'root') return true;
  return Object.entries(policy).some(([pattern, caps]) => {
    if (caps.length === 0 || caps.includes('deny')) return false;
    const prefix = pattern.replace(/\*$/, '').split('+')[0]!;
    return prefix.startsWith(mountPath) || mountPath.startsWith(prefix);
  });
}

interface Mount {
  path: string; // with trailing slash
  namespace: string;
  version: 1 | 2;
  casRequired: boolean;
  accessor: string;
  uuid: string;
}

interface Token extends VaultTokenInfo {}

interface Role {
  kind: 'approle' | 'kubernetes';
  name: string;
  mount: string;
  namespace: string;
  roleId: string;
  secretIds: Set<string>;
  bindSecretId: boolean;
  jwts: Set<string>;
  tokenTtl: number;
  tokenMaxTtl: number;
  tokenRenewable: boolean;
  policy: VaultPolicy;
}

/** Where a request goes once its namespace is known. */
interface Routed {
  namespace: string;
  /** The API path after `/v1/`, relative to the namespace, without a trailing slash. */
  path: string;
}

type KvOperation =
  | 'ReadSecret'
  | 'ReadMetadata'
  | 'WriteMetadata'
  | 'WriteSecret'
  | 'DeleteSecret'
  | 'DestroySecret';

interface KvTarget {
  mount: Mount;
  operation: KvOperation;
  /** The secret's path inside the mount. */
  secretPath: string;
}

interface PkiMount {
  path: string;
  namespace: string;
  ca: TestCA;
  roles: Map<string, Required<VaultPkiRoleOptions>>;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};

/** A Vault duration (`72h`, `1h30m`, `90`, or a number of seconds) in seconds; NaN when malformed. */
export function parseVaultDuration(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || !/^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d)?)+$/.test(value))
    return Number.NaN;
  let total = 0;
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)?/g)) {
    total += Number(n) * (DURATION_UNITS[unit ?? 's'] ?? 1);
  }
  return total;
}

function rfc3339(ms: number | Date): string {
  return new Date(ms).toISOString();
}

/** Starts the emulator on 127.0.0.1, port 0. Point node-vault's `endpoint` at `url`. */
export async function startVaultEmulator(options: VaultEmulatorOptions = {}): Promise<VaultEmulator> {
  const maxLeaseTtl = options.maxLeaseTtl ?? 32 * DAY;
  const defaultLeaseTtl = options.defaultLeaseTtl ?? 32 * DAY;
  const secrets = new SecretStore({ versionIds: 'counter' });
  const namespaces = new Set<string>(['']);
  const mounts: Mount[] = [];
  const tokens = new Map<string, Token>();
  const roles: Role[] = [];
  let sealed = false;
  let activeUrl: string | undefined;
  const pkis: PkiMount[] = [];

  const secretName = (path: string, namespace = ''): string => {
    const ns = trimSlashes(namespace);
    return ns === '' ? trimSlashes(path) : `${ns}/${trimSlashes(path)}`;
  };

  function addNamespace(path: string): void {
    const ns = trimSlashes(path);
    const parent = ns.includes('/') ? ns.slice(0, ns.lastIndexOf('/')) : '';
    if (!namespaces.has(parent)) throw new Error(`namespace ${parent} does not exist`);
    namespaces.add(ns);
  }
  for (const ns of options.namespaces ?? []) addNamespace(ns);

  function mount(path: string, mountOptions: VaultMountOptions = {}): void {
    const namespace = trimSlashes(mountOptions.namespace ?? '');
    if (!namespaces.has(namespace)) throw new Error(`namespace ${namespace} does not exist`);
    const full = `${trimSlashes(path)}/`;
    if (
      mounts.some((m) => m.namespace === namespace && (full.startsWith(m.path) || m.path.startsWith(full)))
    ) {
      throw new Error(`mount ${full} overlaps an existing mount`);
    }
    mounts.push({
      path: full,
      namespace,
      version: mountOptions.version ?? 2,
      casRequired: mountOptions.casRequired ?? false,
      accessor: `kv_${randomBytes(4).toString('hex')}`,
      uuid: randomUUID(),
    });
  }
  for (const m of options.mounts ?? [{ path: 'secret' }]) mount(m.path, m);

  function mountOf(namespace: string, path: string): Mount | undefined {
    const candidates = mounts.filter((m) => m.namespace === namespace && `${path}/`.startsWith(m.path));
    return candidates.sort((a, b) => b.path.length - a.path.length)[0];
  }

  function createToken(tokenOptions: VaultTokenOptions = {}, via = 'token'): string {
    const id = tokenOptions.id ?? newToken();
    const now = Date.now();
    const ttl = tokenOptions.ttl ?? defaultLeaseTtl;
    const explicitMax = tokenOptions.maxTtl ?? 0;
    const max = ttl === 0 ? 0 : explicitMax > 0 ? Math.min(explicitMax, maxLeaseTtl) : maxLeaseTtl;
    tokens.set(id, {
      id,
      accessor: randomBytes(12).toString('base64url'),
      namespace: trimSlashes(tokenOptions.namespace ?? ''),
      policy: tokenOptions.policy ?? 'root',
      renewable: tokenOptions.renewable ?? ttl > 0,
      ttl,
      issuedAt: now,
      expiresAt: ttl === 0 ? undefined : now + Math.min(ttl, max) * 1000,
      maxExpiresAt: ttl === 0 ? undefined : now + max * 1000,
      revoked: false,
      via,
    });
    return id;
  }
  const rootToken = createToken({ id: options.rootToken, ttl: 0, policy: 'root' });

  const isLive = (t: Token | undefined): t is Token =>
    t !== undefined && !t.revoked && (t.expiresAt === undefined || Date.now() < t.expiresAt);

  /** The token of a request, valid in its namespace (a parent namespace's token works in children). */
  function authenticate(call: EmulatorCall, routed: Routed): Token {
    const header = call.headers['x-vault-token'];
    const id = Array.isArray(header) ? header[0] : header;
    if (id === undefined || id === '') throw denied();
    const token = tokens.get(id);
    if (!isLive(token)) throw denied(INVALID_TOKEN);
    const inside =
      token.namespace === '' ||
      routed.namespace === token.namespace ||
      routed.namespace.startsWith(`${token.namespace}/`);
    if (!inside) throw denied(INVALID_TOKEN);
    return token;
  }

  function authorize(token: Token, path: string, needed: readonly VaultCapability[]): void {
    const caps = capabilitiesOf(token.policy, path);
    if (!needed.some((c) => caps.includes(c))) throw denied();
  }

  /** Splits the namespace off a request: the header, then any namespace named at the start of the path. */
  function route(request: EmulatorRequest): Routed | undefined {
    const raw = request.url.pathname;
    if (!raw.startsWith('/v1/')) return undefined;
    const header = request.headers['x-vault-namespace'];
    let namespace = trimSlashes((Array.isArray(header) ? header[0] : header) ?? '');
    let path = trimSlashes(
      raw
        .slice(4)
        .split('/')
        .map((s) => decodeURIComponent(s))
        .join('/'),
    );
    for (;;) {
      const first = path.split('/')[0] ?? '';
      const candidate = namespace === '' ? first : `${namespace}/${first}`;
      if (first === '' || !namespaces.has(candidate) || mountOf(namespace, path) !== undefined) break;
      namespace = candidate;
      path = path.slice(first.length + 1);
    }
    return { namespace, path };
  }

  /** The KV operation and secret a path names, or undefined when it is not under a KV mount. */
  function kvTarget(method: string, routed: Routed): KvTarget | undefined {
    const m = mountOf(routed.namespace, routed.path);
    if (!m) return undefined;
    const rest = routed.path.slice(m.path.length);
    if (m.version === 1) {
      const operation: KvOperation =
        method === 'GET' ? 'ReadSecret' : method === 'DELETE' ? 'DeleteSecret' : 'WriteSecret';
      return { mount: m, operation, secretPath: rest };
    }
    const slash = rest.indexOf('/');
    const kind = slash < 0 ? rest : rest.slice(0, slash);
    const secretPath = slash < 0 ? '' : rest.slice(slash + 1);
    const byKind: Record<string, KvOperation | undefined> = {
      data: method === 'GET' ? 'ReadSecret' : method === 'DELETE' ? 'DeleteSecret' : 'WriteSecret',
      metadata:
        method === 'GET'
          ? 'ReadMetadata'
          : method === 'DELETE'
            ? 'DestroySecret'
            : method === 'POST' || method === 'PUT'
              ? 'WriteMetadata'
              : undefined,
      delete: method === 'POST' || method === 'PUT' ? 'DeleteSecret' : undefined,
      destroy: method === 'POST' || method === 'PUT' ? 'DestroySecret' : undefined,
    };
    const operation = byKind[kind];
    return operation === undefined ? undefined : { mount: m, operation, secretPath };
  }

  function identify(request: EmulatorRequest): { operation: string; secret?: string } {
    const routed = route(request);
    if (!routed) return { operation: `${request.method} ${request.url.pathname}` };
    const p = routed.path;
    if (p.startsWith('sys/internal/ui/mounts')) {
      return {
        operation: 'DetectMount',
        secret: secretName(p.slice(22).replace(/^\//, ''), routed.namespace),
      };
    }
    if (p === 'sys/health' || p === 'sys/seal-status') return { operation: 'Health' };
    if (p === 'auth/token/lookup-self') return { operation: 'LookupSelf' };
    if (p === 'auth/token/renew-self') return { operation: 'RenewSelf' };
    if (p.startsWith('auth/') && p.endsWith('/login')) {
      const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
        string,
        unknown
      >;
      const onMount = roles.filter((r) => `auth/${r.mount}/login` === p && r.namespace === routed.namespace);
      const kind = onMount[0]?.kind ?? (typeof body.jwt === 'string' ? 'kubernetes' : 'approle');
      const name =
        kind === 'kubernetes'
          ? String(body.role ?? '')
          : onMount.find((r) => r.roleId === body.role_id)?.name;
      return { operation: kind === 'kubernetes' ? 'KubernetesLogin' : 'AppRoleLogin', secret: name };
    }
    const pki = pkiTarget(request.method, routed);
    if (pki) {
      return {
        operation: pki.mode === 'sign' ? 'PkiSign' : 'PkiIssue',
        secret: secretName(`${pki.pki.path}/${pki.role}`, routed.namespace),
      };
    }
    const kv = kvTarget(request.method, routed);
    if (kv) {
      return {
        operation: kv.operation,
        secret: secretName(`${kv.mount.path}${kv.secretPath}`, routed.namespace),
      };
    }
    return { operation: `${request.method} ${p}` };
  }

  // --- KV --------------------------------------------------------------------------------------

  /**
   * Each secret's `custom_metadata` (KV v2), kept apart from its versions as Vault keeps it in the
   * key metadata: absent (answered `null`) until a metadata write sets it, replaced whole by each
   * `POST /metadata/PATH` that carries it. A metadata write may create a secret with no version.
   */
  const customMetadata = new Map<string, Record<string, string>>();
  const customOf = (name: string) => {
    const held = customMetadata.get(name);
    return held === undefined ? null : { ...held };
  };

  /** Vault's validation of `custom_metadata` (path_metadata.go: 64 keys, 128/512 bytes, printable). */
  function parseCustomMetadata(raw: unknown): Record<string, string> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new VaultFailure(400, [
        `1 error occurred:\n\t* error converting input ${JSON.stringify(raw)} for field "custom_metadata": '' expected a map, got '${Array.isArray(raw) ? 'slice' : typeof raw}'\n\n`,
      ]);
    }
    const prefix = 'custom_metadata validation failed';
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v === 'object' && v !== null) {
        throw new VaultFailure(400, [
          `${prefix}: '' expected type 'string', got unconvertible type '${Array.isArray(v) ? '[]interface {}' : 'map[string]interface {}'}'`,
        ]);
      }
      out[k] = v === null ? '' : String(v);
    }
    const keys = Object.keys(out);
    if (keys.length > 64) {
      throw new VaultFailure(400, [
        `${prefix}: payload must contain at most 64 keys, provided ${keys.length}`,
      ]);
    }
    const errors: string[] = [];
    const printable = (t: string) => [...t].every((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f);
    for (const [k, v] of Object.entries(out)) {
      const kl = Buffer.byteLength(k);
      const vl = Buffer.byteLength(v);
      if (kl === 0 || kl > 128) {
        errors.push(`${prefix}: length of key ${JSON.stringify(k)} is ${kl} but must be 0 < len(key) <= 128`);
      }
      if (vl === 0 || vl > 512) {
        errors.push(
          `${prefix}: length of value for key ${JSON.stringify(k)} is ${vl} but must be 0 < len(value) <= 512`,
        );
      }
      if (!printable(k)) errors.push(`${prefix}: key ${JSON.stringify(k)} contains unprintable characters`);
      if (!printable(v))
        errors.push(`${prefix}: value for key ${JSON.stringify(k)} contains unprintable characters`);
    }
    if (errors.length > 0) {
      throw new VaultFailure(400, [
        `${errors.length} error${errors.length === 1 ? '' : 's'} occurred:\n${errors.map((e) => `\t* ${e}\n`).join('')}\n`,
      ]);
    }
    return out;
  }

  const legacy = options.withoutCustomMetadata === true;
  const versionMeta = (name: string, v: SecretVersion) => ({
    created_time: rfc3339(v.createdAt),
    ...(legacy ? {} : { custom_metadata: customOf(name) }),
    deletion_time: v.enabled ? '' : String(v.metadata.deletedAt ?? ''),
    destroyed: false,
    version: v.number,
  });

  function dataOf(v: SecretVersion, corrupt: boolean): VaultSecretData {
    const data = JSON.parse(String(v.value)) as VaultSecretData;
    if (!corrupt) return data;
    return Object.fromEntries(
      Object.entries(data).map(([k, value]) => [k, typeof value === 'string' ? corruptValue(value) : value]),
    );
  }

  /** Soft-deleted versions are kept disabled, with the deletion time in their metadata. */
  const deletedAt = new Map<string, string>();

  function softDelete(name: string, numbers: readonly number[]): void {
    const secret = secrets.describe(name);
    if (!secret) return;
    for (const v of secret.versions) {
      if (!numbers.includes(v.number) || !v.enabled) continue;
      secrets.setEnabled(name, v.id, false);
      deletedAt.set(`${name}#${v.number}`, rfc3339(Date.now()));
    }
  }

  const deletionTime = (name: string, v: SecretVersion) =>
    v.enabled ? '' : (deletedAt.get(`${name}#${v.number}`) ?? rfc3339(Date.now()));

  function writeVersion(
    m: Mount,
    name: string,
    data: VaultSecretData,
    cas: number | undefined,
  ): SecretVersion {
    const current = secrets.latest(name);
    if (m.version === 2) {
      if (m.casRequired && cas === undefined) {
        throw new VaultFailure(400, ['check-and-set parameter required for this call']);
      }
      if (cas !== undefined && cas !== (current?.number ?? 0)) {
        throw new VaultFailure(400, ['check-and-set parameter did not match the current version']);
      }
    }
    if (m.version === 1 && secrets.has(name)) {
      // KV v1 keeps one value: the store's versions still count writes, only the latest is served.
      const stored = secrets.describe(name)!;
      for (const v of stored.versions) if (v.enabled) secrets.setEnabled(name, v.id, false);
    }
    return secrets.put(name, JSON.stringify(data));
  }

  function kvCall(call: EmulatorCall, routed: Routed, token: Token, kv: KvTarget): EmulatorResponse {
    const { mount: m, secretPath, operation } = kv;
    const name = secretName(`${m.path}${secretPath}`, routed.namespace);
    const needed: VaultCapability[] =
      operation === 'ReadSecret' || operation === 'ReadMetadata'
        ? ['read']
        : operation === 'WriteSecret'
          ? secrets.latest(name) === undefined
            ? ['create']
            : ['update']
          : operation === 'WriteMetadata'
            ? secrets.latest(name) === undefined && !customMetadata.has(name)
              ? ['create']
              : ['update']
            : ['delete', 'update'];
    authorize(token, routed.path, needed);
    if (secretPath === '') throw new VaultFailure(404, []);
    const body = (typeof call.body === 'object' && call.body !== null ? call.body : {}) as Record<
      string,
      unknown
    >;

    if (m.version === 1) {
      if (operation === 'ReadSecret') {
        const v = secrets.latest(name);
        if (!v?.enabled) throw new VaultFailure(404, []);
        return ok({ data: dataOf(v, call.corrupt), lease_duration: maxLeaseTtl });
      }
      if (operation === 'WriteSecret') {
        writeVersion(m, name, body, undefined);
        return { status: 204 };
      }
      secrets.delete(name);
      return { status: 204 };
    }

    switch (operation) {
      case 'ReadSecret': {
        const stored = secrets.describe(name);
        const asked = call.url.searchParams.get('version');
        const number = asked === null || asked === '0' ? undefined : Number(asked);
        let v =
          number === undefined ? stored?.versions.at(-1) : stored?.versions.find((x) => x.number === number);
        if (call.stale && number === undefined && stored && stored.versions.length > 1)
          v = stored.versions.at(-2);
        if (!v) throw new VaultFailure(404, []);
        if (!v.enabled) {
          throw new VaultFailure(404, [], {
            data: { data: null, metadata: { ...versionMeta(name, v), deletion_time: deletionTime(name, v) } },
          });
        }
        return ok({ data: { data: dataOf(v, call.corrupt), metadata: versionMeta(name, v) } });
      }
      case 'ReadMetadata': {
        const stored = secrets.describe(name);
        const custom = customOf(name);
        if ((!stored || stored.versions.length === 0) && custom === null) throw new VaultFailure(404, []);
        const versions = Object.fromEntries(
          (stored?.versions ?? []).map((v) => [
            String(v.number),
            { created_time: rfc3339(v.createdAt), deletion_time: deletionTime(name, v), destroyed: false },
          ]),
        );
        return ok({
          data: {
            cas_required: m.casRequired,
            created_time: rfc3339(stored?.createdAt ?? Date.now()),
            current_version: stored?.versions.at(-1)?.number ?? 0,
            ...(legacy ? {} : { custom_metadata: custom }),
            delete_version_after: '0s',
            max_versions: 0,
            oldest_version: 0,
            updated_time: rfc3339(stored?.updatedAt ?? Date.now()),
            versions,
          },
        });
      }
      case 'WriteSecret': {
        if (typeof body.data !== 'object' || body.data === null)
          throw new VaultFailure(400, ['no data provided']);
        const casOption = (body.options as Record<string, unknown> | undefined)?.cas;
        const cas = typeof casOption === 'number' ? casOption : undefined;
        const v = writeVersion(m, name, body.data as VaultSecretData, cas);
        return ok({ data: versionMeta(name, v) });
      }
      case 'WriteMetadata': {
        // Vault answers 204 and changes only the fields given; custom_metadata is replaced whole
        // (no check-and-set: the last writer wins). max_versions and the rest are not modelled.
        if (!('custom_metadata' in body)) return { status: 204 };
        if (legacy) {
          return ok({ warnings: ['Endpoint ignored these unrecognized parameters: [custom_metadata]'] });
        }
        customMetadata.set(name, parseCustomMetadata(body.custom_metadata));
        return { status: 204 };
      }
      case 'DeleteSecret': {
        const stored = secrets.describe(name);
        if (!stored) return { status: 204 };
        const numbers = Array.isArray(body.versions)
          ? (body.versions as unknown[]).map(Number)
          : [stored.versions.at(-1)!.number];
        softDelete(name, numbers);
        return { status: 204 };
      }
      case 'DestroySecret':
        secrets.delete(name);
        customMetadata.delete(name);
        return { status: 204 };
    }
  }

  // --- PKI -------------------------------------------------------------------------------------

  function pkiTarget(method: string, routed: Routed) {
    if (method !== 'POST' && method !== 'PUT') return undefined;
    for (const pki of pkis) {
      if (pki.namespace !== routed.namespace || !routed.path.startsWith(`${pki.path}/`)) continue;
      const [mode, role, ...more] = routed.path.slice(pki.path.length + 1).split('/');
      if ((mode === 'sign' || mode === 'issue') && role !== undefined && more.length === 0)
        return { pki, mode, role };
    }
    return undefined;
  }

  const listOf = (value: unknown): string[] =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean)
      : [];

  async function pkiCall(
    call: EmulatorCall,
    target: NonNullable<ReturnType<typeof pkiTarget>>,
  ): Promise<EmulatorResponse> {
    const role = target.pki.roles.get(target.role);
    if (!role) throw new VaultFailure(400, [`unknown role: ${target.role}`]);
    const body = (typeof call.body === 'object' && call.body !== null ? call.body : {}) as Record<
      string,
      unknown
    >;
    const asked = body.ttl === undefined || body.ttl === '' ? role.ttl : parseVaultDuration(body.ttl);
    if (!(asked > 0))
      throw new VaultFailure(400, [`error parsing ttl: invalid duration ${JSON.stringify(body.ttl)}`]);
    const ttl = Math.min(asked, role.maxTtl);
    const now = Date.now();
    const validity = {
      notBefore: new Date(Math.floor((now - role.notBeforeDuration * 1000) / 1000) * 1000),
      notAfter: new Date(now + ttl * 1000),
    };
    const commonName =
      typeof body.common_name === 'string' && body.common_name !== '' ? body.common_name : undefined;
    const altNames = listOf(body.alt_names);
    const ipSans = listOf(body.ip_sans);
    const names =
      commonName === undefined && altNames.length === 0 && ipSans.length === 0
        ? {}
        : { dnsNames: [...(commonName === undefined ? [] : [commonName]), ...altNames], ipAddresses: ipSans };
    let signed: Awaited<ReturnType<TestCA['signCsr']>>;
    let privateKey: { pem: string; type: string } | undefined;
    if (target.mode === 'sign') {
      if (typeof body.csr !== 'string') throw new VaultFailure(400, ['"csr" is empty']);
      try {
        signed = await target.pki.ca.signCsr(body.csr, {
          ...(commonName && { commonName }),
          ...names,
          ...validity,
        });
      } catch (err) {
        throw new VaultFailure(400, [`certificate request could not be parsed: ${(err as Error).message}`]);
      }
    } else {
      if (commonName === undefined)
        throw new VaultFailure(400, [
          'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
        ]);
      const issued = await target.pki.ca.issueClient({
        commonName,
        ...names,
        ...validity,
        keyType: role.keyType,
      });
      signed = issued;
      privateKey = {
        pem: issued.keyPem,
        type: role.keyType.startsWith('rsa') ? 'rsa' : role.keyType.startsWith('ec') ? 'ec' : 'ed25519',
      };
    }
    const pems = (text: string) =>
      text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const caChain = [...pems(signed.chainPem), ...pems(signed.caPem)];
    const serial = new X509Certificate(signed.certPem).serialNumber.toLowerCase().match(/../g)!.join(':');
    return ok({
      data: {
        certificate: signed.certPem.trim(),
        issuing_ca: caChain[0],
        ca_chain: caChain,
        serial_number: serial,
        expiration: Math.floor(signed.notAfter.getTime() / 1000),
        ...(privateKey && { private_key: privateKey.pem.trim(), private_key_type: privateKey.type }),
      },
    });
  }

  // --- auth ------------------------------------------------------------------------------------

  function authBlock(id: string, extra: Record<string, unknown> = {}) {
    const t = tokens.get(id)!;
    const lease = t.expiresAt === undefined ? 0 : Math.max(0, Math.round((t.expiresAt - Date.now()) / 1000));
    return {
      client_token: id,
      accessor: t.accessor,
      policies: ['default'],
      token_policies: ['default'],
      metadata: extra,
      lease_duration: lease,
      renewable: t.renewable,
      entity_id: '',
      token_type: 'service',
      orphan: true,
    };
  }

  function login(call: EmulatorCall, routed: Routed): EmulatorResponse {
    const body = (typeof call.body === 'object' && call.body !== null ? call.body : {}) as Record<
      string,
      unknown
    >;
    const mountPath = routed.path.slice('auth/'.length, -'/login'.length);
    const candidates = roles.filter((r) => r.mount === mountPath && r.namespace === routed.namespace);
    if (candidates.length === 0) {
      throw new VaultFailure(404, [`no handler for route "${routed.path}". route entry not found.`]);
    }
    let role: Role | undefined;
    if (candidates[0]!.kind === 'approle') {
      role = candidates.find((r) => r.roleId === body.role_id);
      const secretId = typeof body.secret_id === 'string' ? body.secret_id : undefined;
      if (!role || (role.bindSecretId && (secretId === undefined || !role.secretIds.has(secretId)))) {
        throw new VaultFailure(400, ['invalid role or secret ID']);
      }
    } else {
      role = candidates.find((r) => r.name === body.role);
      if (!role) throw new VaultFailure(400, [`invalid role name "${String(body.role)}"`]);
      if (typeof body.jwt !== 'string' || !role.jwts.has(body.jwt)) throw denied('permission denied');
    }
    const id = createToken(
      {
        ttl: role.tokenTtl,
        maxTtl: role.tokenMaxTtl,
        renewable: role.tokenRenewable,
        policy: role.policy,
        namespace: routed.namespace,
      },
      role.kind,
    );
    return ok({ auth: authBlock(id, { role_name: role.name }) });
  }

  function renewSelf(call: EmulatorCall, token: Token): EmulatorResponse {
    if (!token.renewable || token.expiresAt === undefined)
      throw new VaultFailure(400, ['lease is not renewable']);
    const body = (typeof call.body === 'object' && call.body !== null ? call.body : {}) as Record<
      string,
      unknown
    >;
    const increment = typeof body.increment === 'number' && body.increment > 0 ? body.increment : token.ttl;
    const now = Date.now();
    const room = Math.max(0, (token.maxExpiresAt ?? Number.POSITIVE_INFINITY) - now);
    const granted = Math.min(increment * 1000, room);
    token.expiresAt = now + granted;
    const warnings =
      granted < increment * 1000
        ? [
            `TTL of "${increment}s" exceeded the effective max_ttl of "${Math.round(granted / 1000)}s"; TTL value is capped accordingly`,
          ]
        : null;
    return ok({ auth: authBlock(token.id), warnings });
  }

  function lookupSelf(token: Token): EmulatorResponse {
    const now = Date.now();
    return ok({
      data: {
        accessor: token.accessor,
        creation_time: Math.floor(token.issuedAt / 1000),
        creation_ttl: token.ttl,
        display_name: token.via,
        expire_time: token.expiresAt === undefined ? null : rfc3339(token.expiresAt),
        explicit_max_ttl: 0,
        id: token.id,
        issue_time: rfc3339(token.issuedAt),
        meta: null,
        namespace_path: token.namespace === '' ? '' : `${token.namespace}/`,
        num_uses: 0,
        orphan: true,
        path: `auth/${token.via}/login`,
        policies: ['default'],
        renewable: token.renewable,
        ttl: token.expiresAt === undefined ? 0 : Math.max(0, Math.round((token.expiresAt - now) / 1000)),
        type: 'service',
      },
    });
  }

  function detectMount(routed: Routed, token: Token): EmulatorResponse {
    const asked = trimSlashes(routed.path.slice('sys/internal/ui/mounts'.length));
    const explicit = capabilitiesOf(token.policy, routed.path);
    const explicitDeny =
      token.policy !== 'root' &&
      Object.entries(token.policy).some(
        ([p, caps]) => caps.includes('deny') && patternMatches(p, routed.path),
      );
    const m = mountOf(routed.namespace, asked);
    if (!m || explicitDeny || !(explicit.includes('read') || hasMountAccess(token.policy, m.path))) {
      throw new VaultFailure(403, ['permission denied']);
    }
    return ok({
      data: {
        accessor: m.accessor,
        config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
        description: 'key/value secret storage',
        external_entropy_access: false,
        local: false,
        options: m.version === 2 ? { version: '2' } : null,
        path: m.path,
        seal_wrap: false,
        type: 'kv',
        uuid: m.uuid,
      },
    });
  }

  function ok(fields: Record<string, unknown>): EmulatorResponse {
    return {
      status: 200,
      body: {
        request_id: randomUUID(),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: null,
        wrap_info: null,
        warnings: null,
        auth: null,
        ...fields,
      },
    };
  }

  function failure(status: number, errors: string[], extra: Record<string, unknown> = {}): EmulatorResponse {
    return { status, body: { ...extra, errors } };
  }

  async function answer(call: EmulatorCall): Promise<EmulatorResponse> {
    const routed = route(call);
    if (!routed) throw new VaultFailure(404, []);
    if (routed.path === 'sys/health' || routed.path === 'sys/seal-status') {
      return { status: sealed ? 503 : 200, body: { initialized: true, sealed, standby: false } };
    }
    if (!namespaces.has(routed.namespace)) {
      throw new VaultFailure(404, [`no handler for route "${routed.path}". route entry not found.`]);
    }
    if (
      routed.path.startsWith('auth/') &&
      routed.path.endsWith('/login') &&
      routed.path !== 'auth/token/login'
    ) {
      return login(call, routed);
    }
    const token = authenticate(call, routed);
    if (routed.path === 'auth/token/lookup-self') return lookupSelf(token);
    if (routed.path === 'auth/token/renew-self') return renewSelf(call, token);
    if (routed.path.startsWith('sys/internal/ui/mounts')) return detectMount(routed, token);
    const pki = pkiTarget(call.method, routed);
    if (pki) {
      authorize(token, routed.path, ['create', 'update']);
      return pkiCall(call, pki);
    }
    const kv = kvTarget(call.method, routed);
    if (kv) return kvCall(call, routed, token, kv);
    authorize(token, routed.path, ['read', 'create', 'update', 'delete', 'list']);
    throw new VaultFailure(404, [`no handler for route "${routed.path}". route entry not found.`]);
  }

  const protocol: HttpProtocol = {
    contentType: 'application/json',
    identify,
    intercept(request) {
      // A sealed or standby node answers before anything else (and before faults).
      const health =
        request.url.pathname === '/v1/sys/health' || request.url.pathname === '/v1/sys/seal-status';
      if (activeUrl !== undefined && !health) {
        return {
          status: 307,
          headers: { location: `${activeUrl}${request.url.pathname}${request.url.search}` },
        };
      }
      if (sealed && !health) return failure(503, ['Vault is sealed']);
      return undefined;
    },
    accepts(kind, call) {
      if (kind !== 'corrupt' && kind !== 'stale') return true;
      if (call.operation !== 'ReadSecret') return false;
      if (kind === 'corrupt') return true;
      const routed = route(call);
      const kv = routed && kvTarget(call.method, routed);
      if (kv?.mount.version !== 2 || call.url.searchParams.has('version')) return false;
      return (secrets.describe(call.secret ?? '')?.versions.length ?? 0) > 1;
    },
    async handle(call) {
      try {
        return await answer(call);
      } catch (err) {
        if (err instanceof VaultFailure) return failure(err.status, err.errors, err.extra);
        throw err;
      }
    },
    faultResponse(fault: FaultSpec, call: EmulatorCall | undefined) {
      switch (fault.kind) {
        case 'notFound':
          return failure(404, fault.message === undefined ? [] : [fault.message]);
        case 'denied':
          return failure(403, [fault.message ?? PERMISSION_DENIED]);
        case 'throttled':
          return failure(429, [
            fault.message ?? `request path "${call?.url.pathname.slice(4) ?? ''}": rate limit quota exceeded`,
          ]);
        case 'error':
          return failure(fault.status ?? 400, [fault.message ?? `${fault.code ?? 'error'} (injected)`]);
        default:
          return failure(fault.status ?? 500, [fault.message ?? 'internal error']);
      }
    },
  };

  const emulator = await startHttpEmulator(protocol, {
    secrets,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });

  function kvMountFor(path: string, namespace: string): Mount {
    const m = mountOf(trimSlashes(namespace), trimSlashes(path));
    if (!m) throw new Error(`no KV mount holds ${path}`);
    return m;
  }

  function addRole(
    role: Omit<Role, 'tokenTtl' | 'tokenMaxTtl' | 'tokenRenewable' | 'policy'> & {
      tokenTtl?: number;
      tokenMaxTtl?: number;
      tokenRenewable?: boolean;
      policy?: VaultPolicy;
    },
  ): void {
    roles.push({
      ...role,
      tokenTtl: role.tokenTtl ?? defaultLeaseTtl,
      tokenMaxTtl: role.tokenMaxTtl ?? 0,
      tokenRenewable: role.tokenRenewable ?? true,
      policy: role.policy ?? 'root',
    });
  }

  return Object.assign(emulator, {
    rootToken,
    mount,
    addNamespace,
    secretName,
    putSecret(path: string, data: VaultSecretData, put: { namespace?: string } = {}) {
      const ns = put.namespace ?? '';
      return writeVersion(kvMountFor(path, ns), secretName(path, ns), data, undefined);
    },
    deleteSecret(path: string, del: { namespace?: string; versions?: number[] } = {}) {
      const ns = del.namespace ?? '';
      const name = secretName(path, ns);
      if (kvMountFor(path, ns).version === 1) {
        secrets.delete(name);
        return;
      }
      const latest = secrets.latest(name);
      if (latest) softDelete(name, del.versions ?? [latest.number]);
    },
    destroySecret(path: string, del: { namespace?: string } = {}) {
      const name = secretName(path, del.namespace ?? '');
      secrets.delete(name);
      customMetadata.delete(name);
    },
    customMetadata(path: string, at: { namespace?: string } = {}) {
      return customOf(secretName(path, at.namespace ?? ''));
    },
    setCustomMetadata(path: string, custom: Record<string, string>, at: { namespace?: string } = {}) {
      const ns = at.namespace ?? '';
      kvMountFor(path, ns);
      customMetadata.set(secretName(path, ns), parseCustomMetadata(custom));
    },
    createToken: (tokenOptions?: VaultTokenOptions) => createToken(tokenOptions),
    revokeToken(id: string) {
      const t = tokens.get(id);
      if (t) t.revoked = true;
    },
    token(id: string): VaultTokenInfo | undefined {
      const t = tokens.get(id);
      return t && { ...t };
    },
    addAppRole(name: string, role: VaultAppRoleOptions = {}) {
      const roleId = role.roleId ?? randomUUID();
      const bindSecretId = role.bindSecretId ?? true;
      const secretIds = role.secretIds ?? (bindSecretId ? [randomUUID()] : []);
      addRole({
        kind: 'approle',
        name,
        mount: trimSlashes(role.mount ?? 'approle'),
        namespace: trimSlashes(role.namespace ?? ''),
        roleId,
        secretIds: new Set(secretIds),
        bindSecretId,
        jwts: new Set(),
        tokenTtl: role.tokenTtl,
        tokenMaxTtl: role.tokenMaxTtl,
        tokenRenewable: role.tokenRenewable,
        policy: role.policy,
      });
      return { roleId, secretIds };
    },
    addKubernetesRole(name: string, role: VaultKubernetesRoleOptions) {
      addRole({
        kind: 'kubernetes',
        name,
        mount: trimSlashes(role.mount ?? 'kubernetes'),
        namespace: trimSlashes(role.namespace ?? ''),
        roleId: '',
        secretIds: new Set(),
        bindSecretId: false,
        tokenTtl: role.tokenTtl,
        tokenMaxTtl: role.tokenMaxTtl,
        tokenRenewable: role.tokenRenewable,
        policy: role.policy,
        jwts: new Set(role.jwts),
      });
    },
    enablePki(path: string, ca: TestCA, pki: { namespace?: string } = {}) {
      pkis.push({
        path: trimSlashes(path),
        namespace: trimSlashes(pki.namespace ?? ''),
        ca,
        roles: new Map(),
      });
    },
    addPkiRole(path: string, name: string, role: VaultPkiRoleOptions & { namespace?: string } = {}) {
      const pki = pkis.find(
        (p) => p.path === trimSlashes(path) && p.namespace === trimSlashes(role.namespace ?? ''),
      );
      if (!pki) throw new Error(`no PKI mount at ${path}`);
      pki.roles.set(name, {
        ttl: role.ttl ?? 3600,
        maxTtl: role.maxTtl ?? maxLeaseTtl,
        notBeforeDuration: role.notBeforeDuration ?? 30,
        keyType: role.keyType ?? 'ec-p256',
      });
    },
    seal() {
      sealed = true;
    },
    unseal() {
      sealed = false;
    },
    redirectTo(url: string | undefined) {
      activeUrl = url?.replace(/\/+$/, '');
    },
  });
}
