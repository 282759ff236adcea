// How a scheme is defined: its option table, its grammar (a `build` function reading a cursor) and
// the package that provides it. Core defines `env:` and `file:` this way (builtin.ts); each adapter
// package defines its own scheme in a module that does not load its vendor SDK (`@mtlskit/aws/scheme`),
// so parsing, "did you mean" and error carets never load an SDK. Core keeps only the table of which
// package provides each known scheme, for ADAPTER_NOT_INSTALLED.
import { MtlsError } from '../errors.js';

/** How an option's value is checked. `reference` values are themselves references (`env:VAR`). */
export type SchemeOptionType = 'string' | 'integer' | 'boolean' | 'url' | 'enum' | 'reference';

/** One option of a scheme: what `?name=value` accepts. */
export interface SchemeOption {
  type: SchemeOptionType;
  /** One sentence for documentation and error messages. */
  description: string;
  /** The reference is invalid without it. */
  required?: boolean;
  /** The value used when absent (documentation only: the source applies it). */
  default?: string | number | boolean;
  /** Allowed values of an `enum` option. */
  values?: readonly string[];
  /** Bounds of an `integer` option. */
  min?: number;
  max?: number;
  /** Its value is a secret (a token, a password): errors never echo it. */
  secret?: boolean;
}

/** Option name → description, for one scheme. */
export type SchemeOptions = Readonly<Record<string, SchemeOption>>;

/** The credential fields a reference can name one by one. */
export type ReferenceField = 'cert' | 'key' | 'passphrase' | 'ca' | 'pfx';

/** The per-field options (`?cert=…&key=…`), in reference order. */
export const REFERENCE_FIELDS: readonly ReferenceField[] = ['cert', 'key', 'passphrase', 'ca', 'pfx'];

/**
 * The fields whose option may hold another reference instead of a value (`passphrase=env:PASS`,
 * `ca=file:/etc/ssl/api-ca.pem`): core loads that reference as a second source and merges it.
 */
export const SUB_REFERENCE_FIELDS = ['passphrase', 'ca'] as const;
export type SubReferenceField = (typeof SUB_REFERENCE_FIELDS)[number];

/** A problem found while parsing: where (offsets in the raw text) and what to do. */
export class ReferenceProblem extends Error {
  constructor(
    readonly start: number,
    readonly length: number,
    readonly problem: string,
    readonly fix: string,
    /** For an unknown option: the scheme it was given to. */
    readonly unknownOptionOf?: string,
  ) {
    super(problem);
  }
}

/** What a scheme's `build` reads: the reference's parts, and ways to point at a wrong one. */
export interface ReferenceCursor {
  /** The whole reference as written. */
  readonly text: string;
  readonly scheme: string;
  /** Whether `//` follows the colon. */
  readonly slashes: boolean;
  /** Everything between the scheme (and `//`) and `?`, percent-decoded. */
  readonly path: string;
  /** Options as written, percent-decoded. */
  readonly options: Readonly<Record<string, string>>;
  /** An option's value typed by its spec (integer → number, boolean → boolean); undefined when absent. */
  value<V extends string | number | boolean = string | number | boolean>(name: string): V | undefined;
  /** The option's value, except a sub-reference (`passphrase=env:P`), which core loads itself. */
  plain(name: string): string | undefined;
  /** The per-field options given as plain values (`cert=`, `key=`, …). */
  fields(names?: readonly ReferenceField[]): Partial<Record<ReferenceField, string>>;
  /** The path split on `/`; refuses empty, `.` and `..` segments, calling the path `what`. */
  segments(what: string): string[];
  /** Refuses `scheme:PATH` without `//`; `form` is how to write it. */
  requireSlashes(form: string): void;
  /** Refuses `scheme://`. */
  refuseSlashes(form: string): void;
  /** Refuses the first of `names` that is given (options that conflict with the path). */
  refuseBesidePath(
    names: readonly string[],
    problem: (name: string) => string,
    fix: (name: string) => string,
  ): void;
  /** Field mode: `cert=` (with `key=`) or `pfx=`, not both; `what`/`form` name the scheme in messages. */
  requireCertOrPfx(fields: Partial<Record<ReferenceField, string>>, what: string, form: string): void;
  /** A problem with `length` characters of the path from `start` (the whole path by default). Throw it. */
  pathProblem(problem: string, fix: string, start?: number, length?: number): Error;
  /** A problem with option `name` (its name and value). Throw it. */
  optionProblem(name: string, problem: string, fix: string): Error;
}

/** A scheme: everything core needs to parse its references and say where it comes from. */
export interface SchemeDefinition<S extends string = string, T = unknown> {
  /** Lower-case scheme name without the colon, e.g. `aws-sm`. */
  readonly scheme: S;
  /** The npm package that provides it, e.g. `@mtlskit/aws` (install hints). */
  readonly packageName: string;
  /** `true`: `scheme://…` required; `false`: refused; absent: either. */
  readonly slashes?: boolean;
  /** How it is written, for help and errors: `aws-sm://SECRET_ID[?options]`. */
  readonly form?: string;
  /** One sentence for docs and help. */
  readonly summary?: string;
  /** Every option it accepts. */
  readonly options: SchemeOptions;
  /** Reads the path and the options into the scheme's typed target; throws `c.pathProblem(…)`/`c.optionProblem(…)`. */
  build?(c: ReferenceCursor): T;
}

/** Each known scheme and the package that provides it (for ADAPTER_NOT_INSTALLED). */
export const KNOWN_SCHEMES: Readonly<Record<string, string>> = Object.freeze({
  env: '@mtlskit/core',
  file: '@mtlskit/core',
  'aws-sm': '@mtlskit/aws',
  'azure-kv': '@mtlskit/azure',
  'gcp-sm': '@mtlskit/gcp',
  vault: '@mtlskit/vault',
  'vault-pki': '@mtlskit/vault',
});

const SCHEME_SYNTAX = /^[a-z][a-z0-9+.-]*$/;
const SCHEME_PREFIX = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const OPTION_TYPES = new Set<string>(['string', 'integer', 'boolean', 'url', 'enum', 'reference']);

/** The scheme a text starts with (`AWS-SM://x` → `aws-sm`), whether or not it exists; undefined without one. */
export function schemeOf(text: string): string | undefined {
  return SCHEME_PREFIX.exec(text)?.[1]?.toLowerCase();
}

/** Whether `scheme` has the syntax of a scheme name (lower case letters, digits, `+`, `.`, `-`). */
export function isSchemeName(scheme: string): boolean {
  return SCHEME_SYNTAX.test(scheme);
}

/**
 * Checks a definition and returns it frozen. Throws INVALID_OPTION naming what is wrong (this is
 * code an adapter author wrote, not a reference).
 */
export function checkDefinition<S extends string, T>(def: SchemeDefinition<S, T>): SchemeDefinition<S, T> {
  const fail = (problem: string) =>
    new MtlsError('INVALID_OPTION', `scheme ${JSON.stringify(def?.scheme)}: ${problem}`);
  if (typeof def !== 'object' || def === null) throw fail('expects a definition object.');
  if (typeof def.scheme !== 'string' || !isSchemeName(def.scheme)) {
    throw fail(
      'the scheme must be lower-case letters, digits, "+", "." or "-", starting with a letter, without ":".',
    );
  }
  if (typeof def.packageName !== 'string' || def.packageName === '') throw fail('packageName is required.');
  if (def.build !== undefined && typeof def.build !== 'function') throw fail('build must be a function.');
  if (typeof def.options !== 'object' || def.options === null) throw fail('options (a table) is required.');
  for (const [name, spec] of Object.entries(def.options)) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name))
      throw fail(`option name ${JSON.stringify(name)} is not valid.`);
    if (!OPTION_TYPES.has(spec?.type))
      throw fail(`option ${name} has unknown type ${JSON.stringify(spec?.type)}.`);
    if (spec.type === 'enum' && !(Array.isArray(spec.values) && spec.values.length > 0)) {
      throw fail(`enum option ${name} needs values.`);
    }
  }
  const options = Object.freeze(
    Object.fromEntries(Object.entries(def.options).map(([k, v]) => [k, Object.freeze({ ...v })])),
  );
  return Object.freeze({ ...def, options });
}

// ---------------------------------------------------------------------------------------------
// The registry of defined schemes and their source factories. Kept on globalThis so that two copies
// of core (ESM and require(esm), or a duplicated install) share one registry: an adapter registering
// with its own copy of core must still be found by the application's copy.

/** What the registry holds per scheme: its definition and, once the full package is loaded, its factory. */
export interface SchemeEntry {
  definition: SchemeDefinition;
  create?: (ref: never, deps: never) => unknown;
}

const STORE = Symbol.for('mtlskit.schemes.v2');

/** The shared store of defined schemes (internal). */
export function schemeStore(): Map<string, SchemeEntry> {
  const g = globalThis as Record<symbol, unknown>;
  let store = g[STORE] as Map<string, SchemeEntry> | undefined;
  if (store === undefined) {
    store = new Map<string, SchemeEntry>();
    Object.defineProperty(g, STORE, { value: store, enumerable: false });
  }
  return store;
}

/**
 * Defines (registers) a scheme: its grammar and option table become known to `parseReference`.
 * Adapter packages call it from their `scheme` module. Defining a scheme again replaces the earlier
 * definition (its factory is kept). `env:` and `file:` are built in and cannot be redefined.
 */
export function defineScheme<S extends string, T>(def: SchemeDefinition<S, T>): SchemeDefinition<S, T> {
  const checked = checkDefinition(def);
  if (KNOWN_SCHEMES[checked.scheme] === '@mtlskit/core') {
    throw new MtlsError('INVALID_OPTION', `scheme ${checked.scheme}: is built into @mtlskit/core.`);
  }
  const store = schemeStore();
  const entry = store.get(checked.scheme);
  if (entry === undefined) store.set(checked.scheme, { definition: checked as SchemeDefinition });
  else entry.definition = checked as SchemeDefinition;
  return checked;
}

/** Every scheme a reference may name right now: the known ones (loaded or not), then those defined by others. */
export function schemeNames(): string[] {
  return [...new Set([...Object.keys(KNOWN_SCHEMES), ...schemeStore().keys()])];
}

/** True when `value` starts with a scheme that exists (`env:`, `vault://`, ...). */
export function looksLikeReference(value: string): boolean {
  const scheme = schemeOf(value);
  return scheme !== undefined && schemeNames().includes(scheme);
}
