// Named credentials: one process holding several mTLS identities (two clouds, sandbox and production,
// one per tenant), each behind its own resolver. The set owns nothing but a name → resolver table:
// resolvers share no cache, source or agent (their wake-ups wait on the one timer of every resolver
// on the system clock, schedule.ts). A resolver is created on its first `get`, so a set of ten
// thousand names loads nothing, and arms nothing, until a name is used.
import { MtlsError, type MtlsErrorCode } from '../errors.js';
import { type SourceDeps, sourceFromReference } from '../references/registry.js';
import type { CredentialMaterial, CredentialSource, Finding, SourceContext, SourceKind } from '../types.js';
import {
  createNamedTlsResolver,
  createTlsResolver,
  type ResolverHealth,
  type TlsResolver,
  type TlsResolverOptions,
} from './resolver.js';

/** One credential: a reference string, a source, or the full options of its resolver. */
export type NamedTlsResolverConfig = string | CredentialSource | TlsResolverOptions;

/** Name → credential, e.g. `{ eu: 'aws-sm://prod/mtls?region=eu-west-1', test: { source: 'file:/etc/mtls' } }`. */
export type TlsResolversConfig = Readonly<Record<string, NamedTlsResolverConfig>>;

/** Resolver options every name shares; a name's own options win. */
export type SharedResolverOptions = Omit<TlsResolverOptions, 'source'>;

/** A set of named resolvers. */
export interface TlsResolverSet {
  /** The names, in the order they were given. */
  readonly names: readonly string[];
  /** Whether `name` is in the set. */
  has(name: string): boolean;
  /**
   * The resolver of `name` (default `default`), created on first use and the same object afterwards.
   * An unknown name throws an MtlsError listing the known ones; after `close()`, `CLOSED`.
   */
  get(name?: string): TlsResolver;
  /**
   * Health by name. A name not used yet has loaded nothing: `{ ready: false, stale: false }` with no
   * `lastRefreshAt`, and asking does not load it.
   */
  health(): Record<string, ResolverHealth>;
  /**
   * Loads and validates every credential now, for an application that would rather fail at start-up
   * than on a first request: creates the resolvers not used yet, at most `concurrency` loading at a
   * time (default 16) so that thousands of names do not all call their vault at once. Resolves once
   * all are ready. Otherwise, after every one was tried, rejects with an MtlsError that names each
   * credential that failed and its code (the error's own code is the first failure's; `health()` has
   * each one's message). Each resolver keeps refreshing, and retrying, on its own schedule.
   */
  ready(options?: ReadyOptions): Promise<void>;
  /** Closes every resolver created so far (and the sources the set made); idempotent. */
  close(): Promise<void>;
}

/** Options of `TlsResolverSet.ready()`. */
export interface ReadyOptions {
  /** How many credentials load at the same time. Default 16. */
  concurrency?: number;
}

const DEFAULT_READY_CONCURRENCY = 16;
/** How many failed credentials the error of ready() names before it only counts the rest. */
const NAMED_FAILURES = 10;

/** A bad argument in code, not a reference. */
const INVALID_OPTION: MtlsErrorCode = 'INVALID_OPTION';

/** A name's prefix in `tlsResolversFromEnv`: `MTLS_SOURCE_EU_WEST` is `eu_west`. */
const ENV_PREFIX = 'MTLS_SOURCE_';
const DEFAULT_NAME = 'default';

function isSource(value: object): value is CredentialSource {
  return typeof (value as { load?: unknown }).load === 'function';
}

/**
 * A config entry as resolver options, and whether it brings options of its own (beyond a source);
 * throws naming the entry when it is none of the three forms.
 */
function optionsOf(
  name: string,
  entry: NamedTlsResolverConfig,
  shared: SharedResolverOptions,
): { options: TlsResolverOptions; own: boolean } {
  const source = typeof entry === 'object' && entry !== null && !isSource(entry) ? entry.source : entry;
  if (typeof source === 'string' && source.trim() === '') {
    throw new MtlsError(
      INVALID_OPTION,
      `credential "${name}" is an empty reference: name where it lives ('env:', 'file:DIR', 'aws-sm://…')`,
    );
  }
  if (typeof source === 'string' || (typeof source === 'object' && source !== null && isSource(source))) {
    const own = source !== entry;
    return { options: own ? { ...shared, ...(entry as TlsResolverOptions) } : { ...shared, source }, own };
  }
  throw new MtlsError(
    INVALID_OPTION,
    `credential "${name}" must be a reference string ('aws-sm://…', 'file:DIR'), a CredentialSource, ` +
      `or resolver options with a source ({ source: 'env:' }); got ${describeValue(entry)}`,
  );
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object' && 'source' in value)
    return `a source of type ${describeValue(value.source)}`;
  return typeof value;
}

/** The same error with `label` in front (`credential "eu"`), so a startup failure says which one. */
function withPrefix(label: string, err: unknown): unknown {
  if (!MtlsError.is(err)) return err;
  return new MtlsError(err.code, `${label}: ${err.message}`, {
    sourceId: err.sourceId,
    field: err.field,
    cause: err,
    retryable: err.retryable,
  });
}

interface Entry {
  readonly options: TlsResolverOptions;
  /** A source the set made itself (from the environment): closed after its resolver. */
  readonly owned?: CredentialSource;
  resolver?: TlsResolver;
}

function notUsedHealth(closed: boolean): ResolverHealth {
  return { ready: false, stale: false, closed };
}

function createSet(entries: Map<string, Entry>, describe: (name: string) => string): TlsResolverSet {
  const names = Object.freeze([...entries.keys()]);
  let closing: Promise<void> | undefined;

  function entryOf(name: string): Entry {
    const entry = entries.get(name);
    if (entry !== undefined) return entry;
    const known = names.length === 0 ? 'none' : names.map((n) => `"${n}"`).join(', ');
    throw new MtlsError(
      INVALID_OPTION,
      `no credential named "${String(name)}" (known: ${known}); ${describe(String(name))}`,
    );
  }

  const set: TlsResolverSet = {
    names,
    has: (name) => entries.has(name),
    get(name = DEFAULT_NAME) {
      const entry = entryOf(name);
      if (entry.resolver !== undefined) return entry.resolver;
      if (closing !== undefined) {
        throw new MtlsError('CLOSED', `the resolver set was closed; credential "${name}" cannot be used`);
      }
      try {
        entry.resolver = createNamedTlsResolver(entry.options, name);
      } catch (err) {
        throw withPrefix(`credential "${name}"`, err);
      }
      return entry.resolver;
    },
    health() {
      const closed = closing !== undefined;
      return Object.fromEntries(
        names.map((name) => [name, entries.get(name)?.resolver?.health() ?? notUsedHealth(closed)]),
      );
    },
    async ready(options = {}) {
      const concurrency = options.concurrency ?? DEFAULT_READY_CONCURRENCY;
      if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
        throw new MtlsError(
          INVALID_OPTION,
          `ready({ concurrency }) must be a whole number of 1 or more (got ${String(concurrency)})`,
          { field: 'concurrency' },
        );
      }
      if (closing !== undefined) {
        throw new MtlsError('CLOSED', 'the resolver set was closed; its credentials cannot be made ready');
      }
      const failed = new Map<string, MtlsError>();
      let next = 0;
      // Each worker takes the next name in turn: a resolver is created (and starts loading) only then.
      const worker = async (): Promise<void> => {
        while (next < names.length) {
          const name = names[next++]!;
          try {
            await set.get(name).credentials();
          } catch (err) {
            failed.set(name, asMtlsError(err));
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
      if (failed.size > 0) throw notReadyError(names, failed);
    },
    close() {
      closing ??= Promise.all(
        [...entries.values()].map(async ({ resolver, owned }) => {
          await resolver?.close();
          await owned?.close?.();
        }),
      ).then(() => {});
      return closing;
    },
  };
  return set;
}

function asMtlsError(err: unknown): MtlsError {
  if (MtlsError.is(err)) return err;
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `loading failed (${err instanceof Error ? err.name : typeof err})`,
    {
      cause: err,
    },
  );
}

/**
 * The error of ready(): which credentials failed and why, in the order of the names. The messages it
 * quotes are MtlsError messages, which never hold secret material.
 */
function notReadyError(names: readonly string[], failed: ReadonlyMap<string, MtlsError>): MtlsError {
  const inOrder = names.filter((n) => failed.has(n));
  const listed = inOrder
    .slice(0, NAMED_FAILURES)
    .map((n) => `"${n}" (${failed.get(n)!.code})`)
    .join(', ');
  const more = inOrder.length > NAMED_FAILURES ? ` and ${inOrder.length - NAMED_FAILURES} more` : '';
  const first = failed.get(inOrder[0]!)!;
  return new MtlsError(
    first.code,
    `${inOrder.length} of ${names.length} credential${names.length === 1 ? '' : 's'} could not be loaded: ` +
      `${listed}${more}. The first: credential "${inOrder[0]}": ${first.message} ` +
      "(set.health() has each one's error; each keeps retrying on its own schedule)",
    {
      sourceId: first.sourceId,
      field: first.field,
      cause: first,
      retryable: [...failed.values()].every((e) => e.retryable),
    },
  );
}

// Stands in for the source while options are checked: never loaded, never closed.
const UNUSED_SOURCE: CredentialSource = {
  id: 'options check',
  load: () => Promise.reject(new Error('not loaded: options check only')),
};

/**
 * Checks resolver options as `createTlsResolver` would, without starting anything: an on-access
 * resolver over a source it does not own reads nothing and holds no timer. Options shared by many
 * names are checked once, so a set of thousands of references is cheap to make.
 */
function checkOptions(options: SharedResolverOptions, label: string): void {
  // A background resolver starts loading once built; any other mode (an invalid one too) is checked as given.
  const mode = options.mode === undefined || options.mode === 'background' ? 'on-access' : options.mode;
  try {
    void createTlsResolver({ ...options, mode, source: UNUSED_SOURCE }).close();
  } catch (err) {
    throw withPrefix(label, err);
  }
}

/**
 * Named resolvers from a config object: each name maps to a reference, a `CredentialSource`, or full
 * resolver options; `shared` options apply to every name (a name's own win). Options are checked now
 * (a bad one throws naming the credential); nothing is loaded until a name's resolver is first used.
 */
export function createTlsResolvers(
  config: TlsResolversConfig,
  shared: SharedResolverOptions = {},
): TlsResolverSet {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new MtlsError(
      INVALID_OPTION,
      "createTlsResolvers needs an object of name → credential, e.g. { eu: 'aws-sm://prod/mtls', test: 'file:/etc/mtls' }",
    );
  }
  checkOptions(shared, 'shared options');
  const entries = new Map<string, Entry>();
  for (const [name, entry] of Object.entries(config)) {
    if (name === '') throw new MtlsError(INVALID_OPTION, 'a credential name must not be empty');
    const { options, own } = optionsOf(name, entry, shared);
    if (own) checkOptions(options, `credential "${name}"`);
    entries.set(name, { options });
  }
  return createSet(entries, () => `add it to the object given to createTlsResolvers`);
}

/**
 * A source for a reference read from the given environment: the reference is turned into a source
 * (importing its adapter) on first load, with `env` in place of `process.env` for the source's own
 * variables. Until then its id is the variable that named it.
 */
class EnvReferenceSource implements CredentialSource {
  readonly #variable: string;
  readonly #reference: string;
  readonly #deps: SourceDeps;
  #inner: CredentialSource | undefined;
  #pending: Promise<CredentialSource> | undefined;
  #closed = false;

  constructor(variable: string, reference: string, env: SourceDeps['env']) {
    this.#variable = variable;
    this.#reference = reference;
    this.#deps = { env };
  }

  get id(): string {
    return this.#inner?.id ?? this.#variable;
  }

  get kind(): SourceKind | undefined {
    return this.#inner?.kind;
  }

  // What loadCredentials reads after each load (e.g. a group-readable key file).
  get warnings(): readonly Finding[] | undefined {
    return this.#inner?.warnings;
  }

  // The resolver probes version() only once a load succeeded, so the inner source is known by then.
  get version(): CredentialSource['version'] {
    const inner = this.#inner;
    return inner?.version === undefined ? undefined : (ctx?: SourceContext) => inner.version!(ctx);
  }

  get store(): CredentialSource['store'] {
    const inner = this.#inner;
    return inner?.store === undefined ? undefined : (material, options) => inner.store!(material, options);
  }

  async load(ctx?: SourceContext): Promise<CredentialMaterial> {
    return (await this.#source()).load(ctx);
  }

  // The resolver asks to watch before its first load: the watch starts once the source exists.
  watch(onChange: () => void): () => void {
    let stop: (() => void) | undefined;
    let stopped = false;
    this.#source().then(
      (inner) => {
        if (stopped || typeof inner.watch !== 'function') return;
        try {
          stop = inner.watch(onChange);
        } catch {
          // Too late for the resolver to hear of it: it keeps polling at its interval, as it does
          // for a source whose watch() fails.
        }
      },
      () => {
        // The load reports the failure.
      },
    );
    return () => {
      stopped = true;
      stop?.();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const inner = this.#inner ?? (await this.#pending?.catch(() => undefined));
    await inner?.close?.();
  }

  #source(): Promise<CredentialSource> {
    if (this.#inner !== undefined) return Promise.resolve(this.#inner);
    this.#pending ??= sourceFromReference(this.#reference, this.#deps).then(
      async (inner) => {
        if (this.#closed) {
          await inner.close?.();
          throw new MtlsError('CLOSED', `${this.#variable}: the resolver set was closed`);
        }
        this.#inner = inner;
        return inner;
      },
      (err: unknown) => {
        this.#pending = undefined;
        throw withPrefix(this.#variable, err);
      },
    );
    return this.#pending;
  }
}

/** `MTLS_SOURCE` → `default`; `MTLS_SOURCE_EU_WEST` → `eu_west`; anything else is not a credential. */
function nameOfVariable(variable: string): string | undefined {
  if (variable === 'MTLS_SOURCE') return DEFAULT_NAME;
  if (!variable.startsWith(ENV_PREFIX)) return undefined;
  return variable.slice(ENV_PREFIX.length).toLowerCase();
}

/**
 * Named resolvers from `MTLS_SOURCE_<NAME>` variables (`MTLS_SOURCE_EU_WEST=aws-sm://…` is `eu_west`),
 * `MTLS_SOURCE` being `default`. `env` replaces `process.env`, for these variables and for those the
 * sources read themselves (`env:` reads `MTLS_CERT`… from it). An empty value, a variable with no
 * name after the prefix, or two variables for one name throw naming the variables; so does an
 * environment with none of them. References are checked on first use, when their adapter is loaded.
 */
export function tlsResolversFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  shared: SharedResolverOptions = {},
): TlsResolverSet {
  const variables = new Map<string, string>();
  for (const variable of Object.keys(env).sort()) {
    const name = nameOfVariable(variable);
    const value = env[variable];
    if (name === undefined || value === undefined) continue;
    if (name === '') {
      throw new MtlsError(
        INVALID_OPTION,
        `${variable} names no credential: use MTLS_SOURCE_<NAME>, e.g. MTLS_SOURCE_EU`,
      );
    }
    if (value.trim() === '') {
      throw new MtlsError(
        INVALID_OPTION,
        `${variable} is set but empty: give it a reference (env:, file:DIR, aws-sm://SECRET_ID…) or unset it`,
      );
    }
    const other = variables.get(name);
    if (other !== undefined) {
      throw new MtlsError(
        INVALID_OPTION,
        `${other} and ${variable} both name the credential "${name}": keep one of them`,
      );
    }
    variables.set(name, variable);
  }
  if (variables.size === 0) {
    throw new MtlsError(
      'SOURCE_NOT_FOUND',
      'no credential in the environment: set MTLS_SOURCE (the default credential) or MTLS_SOURCE_<NAME> ' +
        '(e.g. MTLS_SOURCE_EU=aws-sm://prod/mtls?region=eu-west-1); MTLS_SOURCE=env: reads MTLS_CERT and MTLS_KEY',
    );
  }
  checkOptions(shared, 'shared options');
  const entries = new Map<string, Entry>();
  // Names in the order of their variables, sorted: MTLS_SOURCE (`default`) comes first.
  for (const [name, variable] of variables) {
    const owned = new EnvReferenceSource(variable, env[variable]!.trim(), env);
    entries.set(name, { options: { ...shared, source: owned }, owned });
  }
  return createSet(entries, (name) => `set ${ENV_PREFIX}${name.toUpperCase()} to add it`);
}
