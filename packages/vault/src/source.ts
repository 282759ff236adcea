// The HashiCorp Vault KV CredentialSource: finds the secret's mount and KV version (or takes them as
// given), reads the fields of one secret (KV v1 or v2, a pinned version or the current one), probes
// for rotation with KV v2 metadata (no secret read), and writes renewals as a new version with
// check-and-set. It fetches and never decodes: core does.
import { createHash } from 'node:crypto';
import {
  type CredentialMaterial,
  type CredentialSource,
  MtlsError,
  type SourceContext,
  type StoreOptions,
  type StoreResult,
} from '@mtlskit/core/adapter';
import { objectBody } from './client.js';
import { invalidOption, type VaultCallContext } from './errors.js';
import { dataFor, type FieldMapping, materialOf } from './fields.js';
import { openSession, type VaultSessionOptions } from './session.js';

/** Options of {@link vaultSource}. */
export interface VaultSourceOptions extends VaultSessionOptions, FieldMapping {
  /**
   * The secret's path: inside `mount` when given; otherwise the whole path, whose mount Vault is asked
   * for (`sys/internal/ui/mounts/PATH`; nested mounts such as `team-a/kv` work), or — with `kv`
   * given — whose first segment is the mount.
   */
  path: string;
  /** The KV mount (`secret`, `team-a/kv`). */
  mount?: string;
  /** The KV version; default: asked of Vault (the token then needs to read the mount's description). */
  kv?: 1 | 2;
  /** Always read this KV v2 version (no rotation then). */
  version?: number;
  /** The source id used in errors and logs. Default: the `vault://` reference of these options. */
  id?: string;
}

/** {@link StoreOptions} plus Vault's check-and-set. */
export interface VaultStoreOptions extends StoreOptions {
  /**
   * The version the caller read (`material.version` of its load): the write succeeds only if the
   * secret is still at that version (KV v2 check-and-set). Default: the version the store itself
   * reads just before writing, so no concurrent write is overwritten unseen.
   */
  cas?: number | string;
}

/** A CredentialSource over Vault KV. The client and the token stay private. */
export interface VaultSource extends CredentialSource {
  readonly kind: 'static';
  version(ctx?: SourceContext): Promise<string>;
  store(material: CredentialMaterial, options?: VaultStoreOptions): Promise<StoreResult>;
  close(): Promise<void>;
}

interface Location {
  mount: string;
  path: string;
  kv: 1 | 2;
}

const _DEFAULT_TIMEOUT_MS = 10_000;

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');
const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

function segmentsOf(value: string, what: string, id: string): string[] {
  const segs = trimSlashes(value).split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) {
    throw invalidOption(`the ${what} "${value}" has an empty, "." or ".." segment — write it as a/b/c`, id);
  }
  return segs;
}

/** The `vault://` reference these options stand for (secret-free: a path, a mount, numbers). */
export function vaultReferenceOf(
  options: Pick<VaultSourceOptions, 'path' | 'mount' | 'kv' | 'version' | 'namespace'>,
): string {
  const mount = options.mount === undefined ? undefined : trimSlashes(options.mount);
  const path = trimSlashes(options.path);
  const query: string[] = [];
  let where = path;
  if (mount?.includes('/')) query.push(`mount=${mount}`);
  else if (mount !== undefined) where = `${mount}/${path}`;
  if (options.kv !== undefined) query.push(`kv=${options.kv}`);
  if (options.version !== undefined) query.push(`version=${options.version}`);
  if (options.namespace !== undefined) query.push(`namespace=${options.namespace}`);
  return `vault://${where}${query.length > 0 ? `?${query.join('&')}` : ''}`;
}

/** A KV v1 secret has no version: its content's digest stands for one. */
function digestOf(data: Record<string, unknown>): string {
  const canonical = JSON.stringify(
    Object.keys(data)
      .sort()
      .map((k) => [k, data[k]]),
  );
  return `sha256:${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}`;
}

/**
 * A `static` CredentialSource reading one HashiCorp Vault KV secret with node-vault. version() reads
 * KV v2 metadata (current_version), never the secret; on KV v1, which keeps no versions, it reads the
 * secret and reports a digest of it.
 */
export function vaultSource(options: VaultSourceOptions): VaultSource {
  const id = options.id ?? vaultReferenceOf(options);
  if (typeof options.path !== 'string' || trimSlashes(options.path) === '') {
    throw invalidOption('path is empty: give the secret’s path, e.g. "secret/app/mtls"', id);
  }
  const pathSegs = segmentsOf(options.path, 'path', id);
  const givenMount =
    options.mount === undefined ? undefined : segmentsOf(options.mount, 'mount', id).join('/');
  if (options.kv !== undefined && options.kv !== 1 && options.kv !== 2) {
    throw invalidOption(`kv must be 1 or 2, got ${String(options.kv)}`, id);
  }
  if (options.version !== undefined && !(Number.isSafeInteger(options.version) && options.version >= 1)) {
    throw invalidOption(`version must be a whole number of at least 1, got ${options.version}`, id);
  }
  if (options.version !== undefined && options.kv === 1) {
    throw invalidOption('KV v1 keeps no versions: drop version, or use a KV v2 mount', id);
  }
  if (givenMount === undefined && options.kv !== undefined && pathSegs.length < 2) {
    throw invalidOption(`"${options.path}" names a mount but no secret inside it — write MOUNT/PATH`, id);
  }
  if (options.fields !== undefined && options.bundleField !== undefined) {
    throw invalidOption('give fields (one secret field per credential field) or bundleField, not both', id);
  }
  const session = openSession(options, id);
  const { endpoint, onWarning } = session;
  const mapping: FieldMapping = { fields: options.fields, bundleField: options.bundleField };
  let closed = false;

  const ctxOf = (action: string, notFoundHint?: string): VaultCallContext => ({
    sourceId: id,
    action,
    endpoint,
    notFoundHint,
  });
  const send = session.send;

  // --- where the secret is -----------------------------------------------------------------------

  let located: Promise<Location> | undefined;
  function locate(signal: AbortSignal | undefined): Promise<Location> {
    if (givenMount !== undefined && options.kv !== undefined) {
      return Promise.resolve({ mount: givenMount, path: pathSegs.join('/'), kv: options.kv });
    }
    if (givenMount === undefined && options.kv !== undefined) {
      return Promise.resolve({ mount: pathSegs[0]!, path: pathSegs.slice(1).join('/'), kv: options.kv });
    }
    // Shared by concurrent callers; forgotten on failure so the next call asks again.
    located ??= detect(signal).catch((err: unknown) => {
      located = undefined;
      throw err;
    });
    return located;
  }

  async function detect(signal: AbortSignal | undefined): Promise<Location> {
    const asked = givenMount === undefined ? pathSegs.join('/') : `${givenMount}/${pathSegs.join('/')}`;
    const ctx = ctxOf(`find the mount of "${asked}" (sys/internal/ui/mounts)`);
    let body: Record<string, unknown>;
    try {
      body = objectBody(
        await send({ method: 'GET', path: `sys/internal/ui/mounts/${encodePath(asked)}` }, ctx, signal),
        ctx,
      );
    } catch (err) {
      if (!MtlsError.is(err, 'ACCESS_DENIED', 'SOURCE_NOT_FOUND')) throw err;
      throw new MtlsError(
        err.code,
        `Vault did not tell which mount holds "${asked}" and its KV version (sys/internal/ui/mounts: ${err.code === 'ACCESS_DENIED' ? 'denied' : 'not found'}) — give kv (kv=1|2 in a reference) and the mount, or grant the token access to the path (Vault answers the mount description to a token with any capability under the mount)`,
        { sourceId: id, cause: err },
      );
    }
    const data = (body.data ?? {}) as Record<string, unknown>;
    const mountPath = typeof data.path === 'string' ? trimSlashes(data.path) : '';
    const type = String(data.type ?? '');
    if (type !== 'kv' && type !== 'generic') {
      throw invalidOption(
        `"${asked}" is under a ${type || 'unknown'} mount ("${mountPath}"), not a KV secrets engine — check the path`,
        id,
      );
    }
    if (givenMount !== undefined && mountPath !== givenMount) {
      throw invalidOption(
        `mount "${givenMount}" is not a mount: Vault says "${asked}" is under the mount "${mountPath}" — fix the mount`,
        id,
      );
    }
    const full = pathSegs.join('/');
    const inside =
      givenMount !== undefined
        ? full
        : full.startsWith(`${mountPath}/`)
          ? full.slice(mountPath.length + 1)
          : '';
    if (inside === '') {
      throw invalidOption(`"${options.path}" names the mount "${mountPath}" but no secret inside it`, id);
    }
    const detected =
      String((data.options as Record<string, unknown> | null | undefined)?.version ?? '1') === '2' ? 2 : 1;
    const kv = options.kv ?? detected;
    if (options.version !== undefined && kv === 1) {
      throw invalidOption(`"${mountPath}" is a KV v1 mount, which keeps no versions: drop version`, id);
    }
    return { mount: mountPath, path: inside, kv };
  }

  function describe(loc: Location, version?: number | string): string {
    return `secret "${loc.mount}/${loc.path}"${version === undefined ? '' : ` version ${version}`}`;
  }

  function notFoundHint(loc: Location): string | undefined {
    if (loc.kv === 2 && loc.path.startsWith('data/')) {
      return 'the path should not contain "data/": it is added for KV v2 (write secret/app, not secret/data/app)';
    }
    if (options.kv !== undefined) return `kv=${options.kv} was given: check the mount is KV v${options.kv}`;
    return undefined;
  }

  /** The secret's fields and version; `number` a KV v2 version to read instead of the current one. */
  async function readData(
    loc: Location,
    number: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ data: Record<string, unknown>; version: string }> {
    const ctx = ctxOf(`read ${describe(loc, number)}`, notFoundHint(loc));
    if (loc.kv === 1) {
      const body = objectBody(
        await send({ method: 'GET', path: `${loc.mount}/${encodePath(loc.path)}` }, ctx, signal),
        ctx,
      );
      const data = objectBody(body.data, ctx);
      return { data, version: digestOf(data) };
    }
    const query = number === undefined ? '' : `?version=${number}`;
    const body = objectBody(
      await send({ method: 'GET', path: `${loc.mount}/data/${encodePath(loc.path)}${query}` }, ctx, signal),
      ctx,
    );
    const inner = objectBody(body.data, ctx);
    const metadata = (inner.metadata ?? {}) as Record<string, unknown>;
    if (typeof inner.data !== 'object' || inner.data === null) {
      throw new MtlsError(
        'SOURCE_NOT_FOUND',
        `${describe(loc, number)} is deleted in Vault — undelete it or store a new version`,
        {
          sourceId: id,
        },
      );
    }
    return { data: inner.data as Record<string, unknown>, version: String(metadata.version ?? number ?? '') };
  }

  // Metadata denied by the policy: versions are then read from the secret itself (warned once).
  let metadataDenied = false;

  async function probe(loc: Location, signal: AbortSignal | undefined): Promise<string> {
    if (loc.kv === 1 || metadataDenied) return (await readData(loc, undefined, signal)).version;
    const ctx = ctxOf(`read the metadata of ${describe(loc)}`, notFoundHint(loc));
    let body: Record<string, unknown>;
    try {
      body = objectBody(
        await send({ method: 'GET', path: `${loc.mount}/metadata/${encodePath(loc.path)}` }, ctx, signal),
        ctx,
      );
    } catch (err) {
      if (!MtlsError.is(err, 'ACCESS_DENIED')) throw err;
      const read = await readData(loc, undefined, signal).catch(() => {
        throw err;
      });
      metadataDenied = true;
      try {
        onWarning({
          code: 'VAULT_METADATA_DENIED',
          severity: 'warning',
          message: `Vault denied reading ${loc.mount}/metadata/${loc.path}, so ${id} now notices rotations by reading the secret itself on every refresh.`,
          fix: `Allow read on ${loc.mount}/metadata/${loc.path} (the policy in the @mtlskit/vault README) and restart the process.`,
        });
      } catch {
        // A throwing warning handler must not fail the probe.
      }
      return read.version;
    }
    const data = objectBody(body.data, ctx);
    const current = Number(data.current_version ?? 0);
    const entry = ((data.versions ?? {}) as Record<string, Record<string, unknown> | undefined>)[
      String(current)
    ];
    if (
      !(current >= 1) ||
      (entry !== undefined && ((entry.deletion_time ?? '') !== '' || entry.destroyed === true))
    ) {
      throw new MtlsError(
        'SOURCE_NOT_FOUND',
        `${describe(loc)} has no readable current version (version ${current} is ${current >= 1 ? 'deleted' : 'absent'}) — store a new version or undelete it`,
        { sourceId: id },
      );
    }
    return String(current);
  }

  function casOf(raw: number | string | undefined): number | undefined {
    if (raw === undefined) return undefined;
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!(Number.isSafeInteger(n) && n >= 0)) {
      throw invalidOption(
        `cas must be the KV v2 version read (a whole number), got ${JSON.stringify(raw)}`,
        id,
      );
    }
    return n;
  }

  /** The secret's current fields and version before a write (none: `{}` and 0). */
  async function current(
    loc: Location,
    signal: AbortSignal | undefined,
  ): Promise<{ data: Record<string, unknown>; version: number }> {
    try {
      const read = await readData(loc, undefined, signal);
      return { data: read.data, version: loc.kv === 2 ? Number(read.version) : 0 };
    } catch (err) {
      if (!MtlsError.is(err, 'SOURCE_NOT_FOUND')) throw err;
      if (loc.kv === 1) return { data: {}, version: 0 };
      // Absent, or its current version deleted: check-and-set then needs that version's number.
      const version = await probe(loc, signal).then(Number, (e: unknown) => {
        if (!MtlsError.is(e, 'SOURCE_NOT_FOUND')) throw e;
        return Number(/version (\d+) is deleted/.exec(e.message)?.[1] ?? 0);
      });
      return { data: {}, version };
    }
  }

  return {
    id,
    kind: 'static',

    async load(ctx: SourceContext = {}) {
      const loc = await locate(ctx.signal);
      const read = await readData(loc, options.version, ctx.signal);
      return materialOf(read.data, mapping, id, read.version);
    },

    async version(ctx: SourceContext = {}) {
      ctx.signal?.throwIfAborted();
      if (options.version !== undefined) return String(options.version);
      return probe(await locate(ctx.signal), ctx.signal);
    },

    async store(material: CredentialMaterial, storeOptions: VaultStoreOptions = {}) {
      const { signal } = storeOptions;
      signal?.throwIfAborted();
      if (options.version !== undefined) {
        throw invalidOption(
          `${id} reads the fixed version ${options.version}: drop version to store new versions`,
          id,
        );
      }
      if (storeOptions.stage !== undefined) {
        throw invalidOption('Vault KV has no staging labels: store without stage', id);
      }
      let cas = casOf(storeOptions.cas);
      const loc = await locate(signal);
      if (loc.kv === 1 && cas !== undefined) {
        throw invalidOption(
          `"${loc.mount}" is a KV v1 mount, which has no check-and-set: store without cas`,
          id,
        );
      }
      const before = await current(loc, signal);
      cas ??= before.version;
      const data = dataFor(material, before.data, mapping);
      const ctx = ctxOf(`write ${describe(loc)}`);
      if (loc.kv === 1) {
        await send({ method: 'POST', path: `${loc.mount}/${encodePath(loc.path)}`, body: data }, ctx, signal);
        return { version: digestOf(data) };
      }
      const body = objectBody(
        await send(
          {
            method: 'POST',
            path: `${loc.mount}/data/${encodePath(loc.path)}`,
            body: { data, options: { cas } },
          },
          ctx,
          signal,
        ),
        ctx,
      );
      const written = (body.data ?? {}) as Record<string, unknown>;
      return { version: String(written.version ?? '') };
    },

    async close() {
      if (closed) return;
      closed = true;
      session.close();
    },
  };
}
