// The HashiCorp Vault KV CredentialSource: finds the secret's mount and KV version (or takes them as
// given), reads the fields of one secret (KV v1 or v2, a pinned version or the current one), probes
// for rotation with KV v2 metadata (no secret read), and writes renewals as a new version with
// check-and-set. Staged renewal (KV v2) keeps its marks in the secret's custom_metadata: the current
// version is the one `mtlskit-current` names, else the latest (see ./renewal-marks.ts). It fetches
// and never decodes: core does.
import { createHash } from 'node:crypto';
import {
  type CredentialMaterial,
  type CredentialSource,
  MtlsError,
  type SourceContext,
  type StageChange,
  type StoreOptions,
  type StoreResult,
} from '@mtlskit/core/adapter';
import { objectBody } from './client.js';
import { invalidOption, type VaultCallContext } from './errors.js';
import { dataFor, type FieldMapping, materialOf } from './fields.js';
import {
  CURRENT,
  type CustomMetadata,
  customOf,
  markOf,
  noCustomMetadataError,
  PENDING,
  PREVIOUS,
  racedError,
  sameMarks,
  withMarks,
} from './renewal-marks.js';
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
  /**
   * Staged renewal (KV v2, no fixed version): writes a new version and names it in the secret's
   * custom_metadata `mtlskit-pending`; `mtlskit-current` names the version load() keeps reading.
   */
  storePending(material: CredentialMaterial, ctx?: SourceContext): Promise<StoreResult>;
  /** The version `mtlskit-pending` names, as stored (a key alone after `renew start`). */
  loadPending(ctx?: SourceContext): Promise<CredentialMaterial>;
  /** `mtlskit-current` → `version` (the pending one), `mtlskit-previous` → the one it replaces. */
  promote(version: string, ctx?: SourceContext): Promise<StageChange>;
  /** `mtlskit-current` ↔ `mtlskit-previous`. */
  rollback(ctx?: SourceContext): Promise<StageChange>;
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
 * KV v2 metadata (current_version, or the version custom_metadata `mtlskit-current` names once a
 * staged renewal marked it), never the secret; on KV v1, which keeps no versions, it reads the
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

  /**
   * The secret's fields and version; `number` a KV v2 version to read instead of the latest one.
   * `custom`: the secret's custom_metadata as the answer carries it (Vault >= 1.9; undefined before).
   */
  async function readData(
    loc: Location,
    number: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ data: Record<string, unknown>; version: string; custom?: CustomMetadata | undefined }> {
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
    return {
      data: inner.data as Record<string, unknown>,
      version: String(metadata.version ?? number ?? ''),
      custom: customOf(metadata),
    };
  }

  // The version `mtlskit-current` named at the last read: the next load asks for it directly, so a
  // renewed secret costs one call per load as one never renewed does (Vault answers every data
  // read with the secret's custom_metadata, whichever version is asked).
  let currentHint: number | undefined;

  /**
   * The current version of a KV v2 secret: the one `mtlskit-current` names, else the latest. One
   * call when the secret was never renewed or the hint is right; two when the mark moved (or a
   * pending version is the latest and the hint is not known yet).
   */
  async function readCurrent(
    loc: Location,
    signal: AbortSignal | undefined,
  ): Promise<{ data: Record<string, unknown>; version: string }> {
    if (loc.kv === 1) return readData(loc, undefined, signal);
    const asked = currentHint;
    let first: Awaited<ReturnType<typeof readData>>;
    try {
      first = await readData(loc, asked, signal);
    } catch (err) {
      if (!MtlsError.is(err, 'SOURCE_NOT_FOUND')) throw err;
      if (asked !== undefined) {
        // The version hinted at is gone (deleted, or the secret replaced): ask the latest again.
        currentHint = undefined;
        return readCurrent(loc, signal);
      }
      // The latest version is deleted (a pending one, say): the mark may name a readable version.
      const meta = await readMetadata(loc, signal).catch(() => undefined);
      const mark = meta === undefined ? undefined : markOf(customOf(meta), CURRENT, id);
      if (mark === undefined || mark === Number(meta?.current_version)) throw err;
      currentHint = mark;
      return readData(loc, mark, signal);
    }
    const mark = markOf(first.custom, CURRENT, id);
    currentHint = mark;
    if (mark === undefined) return asked === undefined ? first : readData(loc, undefined, signal);
    return String(mark) === first.version ? first : readData(loc, mark, signal);
  }

  /** The secret's KV v2 metadata; undefined when Vault has none (404). */
  async function readMetadata(
    loc: Location,
    signal: AbortSignal | undefined,
    action = `read the metadata of ${describe(loc)}`,
  ): Promise<Record<string, unknown> | undefined> {
    const ctx = ctxOf(action, notFoundHint(loc));
    try {
      const body = objectBody(
        await send({ method: 'GET', path: `${loc.mount}/metadata/${encodePath(loc.path)}` }, ctx, signal),
        ctx,
      );
      return objectBody(body.data, ctx);
    } catch (err) {
      if (MtlsError.is(err, 'SOURCE_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  /** Whether `number` is a readable version in `metadata` (not deleted, not destroyed). */
  function readable(metadata: Record<string, unknown>, number: number): boolean {
    const entry = ((metadata.versions ?? {}) as Record<string, Record<string, unknown> | undefined>)[
      String(number)
    ];
    return entry !== undefined && (entry.deletion_time ?? '') === '' && entry.destroyed !== true;
  }

  // Metadata denied by the policy: versions are then read from the secret itself (warned once).
  let metadataDenied = false;

  async function probe(loc: Location, signal: AbortSignal | undefined): Promise<string> {
    if (loc.kv === 1 || metadataDenied) return (await readCurrent(loc, signal)).version;
    const ctx = ctxOf(`read the metadata of ${describe(loc)}`, notFoundHint(loc));
    let body: Record<string, unknown>;
    try {
      body = objectBody(
        await send({ method: 'GET', path: `${loc.mount}/metadata/${encodePath(loc.path)}` }, ctx, signal),
        ctx,
      );
    } catch (err) {
      if (!MtlsError.is(err, 'ACCESS_DENIED')) throw err;
      const read = await readCurrent(loc, signal).catch(() => {
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
    const current = markOf(customOf(data), CURRENT, id) ?? Number(data.current_version ?? 0);
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

  /**
   * The secret's current fields and version before a write (none: `{}` and 0); `latest` the KV v2
   * version check-and-set needs, and `custom` its custom_metadata when a renewal marked it.
   */
  async function current(
    loc: Location,
    signal: AbortSignal | undefined,
  ): Promise<{ data: Record<string, unknown>; version: number; latest: number; custom?: CustomMetadata }> {
    let read: Awaited<ReturnType<typeof readData>>;
    try {
      read = await readData(loc, undefined, signal);
    } catch (err) {
      if (!MtlsError.is(err, 'SOURCE_NOT_FOUND')) throw err;
      if (loc.kv === 1) return { data: {}, version: 0, latest: 0 };
      // Absent, or its latest version deleted: check-and-set then needs that version's number.
      const meta = await readMetadata(loc, signal);
      const latest = Number(meta?.current_version ?? 0);
      const custom = meta === undefined ? undefined : customOf(meta);
      const mark = markOf(custom, CURRENT, id);
      if (mark === undefined || mark === latest) return { data: {}, version: latest, latest };
      const marked = await readData(loc, mark, signal);
      return { data: marked.data, version: mark, latest, custom: custom ?? null };
    }
    if (loc.kv === 1) return { data: read.data, version: 0, latest: 0 };
    const latest = Number(read.version);
    const mark = markOf(read.custom, CURRENT, id);
    if (mark === undefined) return { data: read.data, version: latest, latest };
    const marked = mark === latest ? read : await readData(loc, mark, signal);
    return { data: marked.data, version: mark, latest, custom: read.custom ?? null };
  }

  // --- staged renewal (KV v2) ---------------------------------------------------------------------

  async function renewalLocation(operation: string, signal: AbortSignal | undefined): Promise<Location> {
    signal?.throwIfAborted();
    if (options.version !== undefined) {
      throw invalidOption(
        `${operation} needs ${id} to follow the secret's current version, not the fixed version ${options.version}: use the reference without version=`,
        id,
      );
    }
    const loc = await locate(signal);
    if (loc.kv === 1) {
      throw invalidOption(
        `${operation} needs a KV v2 mount: "${loc.mount}" is KV v1, which keeps no versions — move the secret to a KV v2 mount (vault kv enable-versioning ${loc.mount})`,
        id,
      );
    }
    return loc;
  }

  /** The secret's metadata for a renewal step: SOURCE_NOT_FOUND when absent, refused on Vault < 1.9. */
  async function renewalMetadata(
    loc: Location,
    signal: AbortSignal | undefined,
    missing: string,
  ): Promise<{ meta: Record<string, unknown>; custom: CustomMetadata; latest: number }> {
    const meta = await readMetadata(loc, signal);
    const latest = Number(meta?.current_version ?? 0);
    if (meta === undefined || !(latest >= 1)) {
      throw new MtlsError('SOURCE_NOT_FOUND', `${describe(loc)} does not exist in Vault — ${missing}`, {
        sourceId: id,
      });
    }
    const custom = customOf(meta);
    if (custom === undefined) throw noCustomMetadataError(id);
    return { meta, custom, latest };
  }

  /** Replaces the secret's custom_metadata (no check-and-set in Vault), then reads it back. */
  async function writeMarks(
    loc: Location,
    custom: Record<string, string>,
    doing: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const ctx = ctxOf(`write the custom_metadata of ${describe(loc)} (${doing})`);
    await send(
      {
        method: 'POST',
        path: `${loc.mount}/metadata/${encodePath(loc.path)}`,
        body: { custom_metadata: custom },
      },
      ctx,
      signal,
    );
    const back = await readMetadata(loc, signal);
    const got = back === undefined ? undefined : customOf(back);
    if (back !== undefined && got === undefined) throw noCustomMetadataError(id);
    if (!sameMarks(got, custom)) {
      throw racedError(
        id,
        doing,
        `the marks read back are ${describeMarks(got)}, not the ${describeMarks(custom)} just written`,
      );
    }
  }

  function describeMarks(custom: CustomMetadata | undefined): string {
    const marks = [CURRENT, PENDING, PREVIOUS]
      .filter((m) => custom?.[m] !== undefined)
      .map((m) => `${m}=${custom?.[m]}`);
    return marks.length === 0 ? '(no marks)' : marks.join(', ');
  }

  function noPending(loc: Location, what: string, fix: string): MtlsError {
    return new MtlsError('SOURCE_NOT_FOUND', `${describe(loc)} has ${what} — ${fix}`, { sourceId: id });
  }

  return {
    id,
    kind: 'static',

    async load(ctx: SourceContext = {}) {
      const loc = await locate(ctx.signal);
      const read =
        options.version === undefined
          ? await readCurrent(loc, ctx.signal)
          : await readData(loc, options.version, ctx.signal);
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
      if (before.custom !== undefined) {
        // Renewed before: the caller's cas is the version it loaded (the marked one); Vault's is the latest.
        if (cas !== undefined && cas !== before.version) {
          throw new MtlsError(
            'SOURCE_UNAVAILABLE',
            `could not write ${describe(loc)}: its current version is ${before.version}, not ${cas} given for check-and-set — load it again and store against the version read`,
            { sourceId: id, retryable: false },
          );
        }
        cas = before.latest;
      }
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
      const version = String(written.version ?? '');
      if (before.custom !== undefined) {
        // A renewal marked the current version: the new one becomes current by moving the mark.
        const { custom } = await renewalMetadata(loc, signal, 'it was removed while being written');
        if (markOf(custom, CURRENT, id) !== before.version) {
          throw racedError(
            id,
            `storing version ${version} of`,
            `${CURRENT} moved from ${before.version} meanwhile, so version ${version} was written but is not current`,
          );
        }
        await writeMarks(
          loc,
          withMarks(custom, { [CURRENT]: Number(version), [PREVIOUS]: before.version }),
          `making version ${version} current`,
          signal,
        );
      }
      return { version };
    },

    async storePending(material: CredentialMaterial, ctx: SourceContext = {}) {
      const { signal } = ctx;
      const loc = await renewalLocation('storing a pending version', signal);
      const first = await renewalMetadata(
        loc,
        signal,
        `store the current credential first (mtlskit store --source ${id}), then renew it`,
      );
      let custom = first.custom;
      const marked = markOf(custom, CURRENT, id);
      const current = marked ?? first.latest;
      if (!readable(first.meta, current)) {
        throw noPending(
          loc,
          `its current version ${current} deleted`,
          `undelete it (vault kv undelete -versions=${current} ${loc.mount}/${loc.path}) or store a new one before renewing`,
        );
      }
      const base = await readData(loc, current, signal);
      if (marked === undefined) {
        // Name the current version before a newer one exists, so no reader takes the pending one for it.
        custom = withMarks(custom, { [CURRENT]: current });
        await writeMarks(loc, custom, `marking version ${current} current before renewing`, signal);
      }
      const ctxWrite = ctxOf(`write the pending version of ${describe(loc)}`);
      let body: Record<string, unknown>;
      try {
        body = objectBody(
          await send(
            {
              method: 'POST',
              path: `${loc.mount}/data/${encodePath(loc.path)}`,
              body: { data: dataFor(material, base.data, mapping), options: { cas: first.latest } },
            },
            ctxWrite,
            signal,
          ),
          ctxWrite,
        );
      } catch (err) {
        if (MtlsError.is(err, 'SOURCE_UNAVAILABLE') && /check-and-set/.test(err.message)) {
          // The mark set just now would hide the other writer's version from applications: undo it.
          if (marked === undefined) {
            await writeMarks(loc, first.custom ?? {}, 'unmarking the current version', signal).catch(
              () => {},
            );
          }
          throw racedError(
            id,
            'storing the pending version of',
            `a new version was written since version ${first.latest}${marked === undefined ? `, so ${CURRENT} was removed again` : ''}`,
          );
        }
        throw err;
      }
      const version = Number((body.data as Record<string, unknown> | undefined)?.version ?? 0);
      const now = await renewalMetadata(loc, signal, 'it was removed while being renewed');
      if (markOf(now.custom, CURRENT, id) !== current) {
        throw racedError(
          id,
          'storing the pending version of',
          `${CURRENT} moved from ${current} meanwhile (a promote or rollback?), so version ${version} was written but not marked pending`,
        );
      }
      await writeMarks(
        loc,
        withMarks(now.custom, { [PENDING]: version }),
        `marking version ${version} pending`,
        signal,
      );
      return { version: String(version) };
    },

    async loadPending(ctx: SourceContext = {}) {
      const { signal } = ctx;
      const loc = await renewalLocation('reading the pending version', signal);
      const { meta, custom } = await renewalMetadata(
        loc,
        signal,
        'start a renewal first (mtlskit renew start)',
      );
      const pending = markOf(custom, PENDING, id);
      if (pending === undefined) {
        throw noPending(
          loc,
          `no pending version (custom_metadata ${PENDING})`,
          'start a renewal first (mtlskit renew start)',
        );
      }
      if (!readable(meta, pending)) {
        throw noPending(
          loc,
          `its pending version ${pending} deleted`,
          'start the renewal again (mtlskit renew start)',
        );
      }
      const read = await readData(loc, pending, signal);
      return materialOf(read.data, mapping, id, read.version, { partial: true });
    },

    async promote(version: string, ctx: SourceContext = {}) {
      const { signal } = ctx;
      const loc = await renewalLocation('promoting the pending version', signal);
      const { meta, custom } = await renewalMetadata(loc, signal, 'there is nothing to promote');
      const pending = markOf(custom, PENDING, id);
      if (pending === undefined || String(pending) !== version) {
        throw noPending(
          loc,
          pending === undefined
            ? `no pending version (custom_metadata ${PENDING}), so version ${version} cannot be promoted`
            : `version ${pending} pending, not ${version} (another renewal replaced it)`,
          'check the pending version again (mtlskit check --pending) and promote that one',
        );
      }
      if (!readable(meta, pending)) {
        throw noPending(
          loc,
          `its pending version ${pending} deleted`,
          'start the renewal again (mtlskit renew start)',
        );
      }
      const previous = markOf(custom, CURRENT, id);
      const next = withMarks(custom, {
        [CURRENT]: pending,
        [PENDING]: undefined,
        ...(previous !== undefined && previous !== pending && { [PREVIOUS]: previous }),
      });
      await writeMarks(loc, next, `promoting version ${pending} of`, signal);
      return { current: String(pending), ...(previous !== undefined && { previous: String(previous) }) };
    },

    async rollback(ctx: SourceContext = {}) {
      const { signal } = ctx;
      const loc = await renewalLocation('rolling back', signal);
      const { meta, custom, latest } = await renewalMetadata(loc, signal, 'there is nothing to roll back');
      const back = markOf(custom, PREVIOUS, id);
      const current = markOf(custom, CURRENT, id) ?? latest;
      if (back === undefined || back === current) {
        throw noPending(
          loc,
          `no previous version (custom_metadata ${PREVIOUS}) to return to`,
          'a rollback follows a promotion (mtlskit renew promote)',
        );
      }
      if (!readable(meta, back)) {
        throw noPending(
          loc,
          `its previous version ${back} deleted or destroyed`,
          `undelete it (vault kv undelete -versions=${back} ${loc.mount}/${loc.path}) and roll back again`,
        );
      }
      await writeMarks(
        loc,
        withMarks(custom, { [CURRENT]: back, [PREVIOUS]: current }),
        `rolling back to version ${back} of`,
        signal,
      );
      return { current: String(back), previous: String(current) };
    },

    async close() {
      if (closed) return;
      closed = true;
      session.close();
    },
  };
}
