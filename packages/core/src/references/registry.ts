// The scheme registry: which package provides each scheme, how adapter packages register
// themselves, and sourceFromReference, which turns one string (or MTLS_SOURCE) into a
// CredentialSource — loading the adapter package on demand, or saying how to install it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MtlsError } from '../errors.js';
import { envSource } from '../sources/env.js';
import { fileSource } from '../sources/file.js';
import { withPassphrase } from '../sources/passphrase.js';
import type { CredentialSource, Finding } from '../types.js';
import {
  BUILTIN_SCHEMES,
  type EnvTarget,
  type FileTarget,
  formatReference,
  isCredentialLikeReference,
  isSchemeName,
  type ParsedReference,
  parseReference,
  REFERENCE_FIELDS,
  type ReferenceField,
  type RegisteredScheme,
  type SchemeOptions,
  schemeNames,
  schemeOf,
  schemeOptions,
  schemeStore,
  unknownOptionScheme,
} from './reference.js';

/** What `create` receives besides the reference: things the application injects. */
export interface SourceDeps {
  /** The environment to read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where sources report warnings such as KEY_FILE_PERMISSIONS (default `process.emitWarning`). */
  onWarning?: (finding: Finding) => void;
  /** A vendor SDK client the adapter should use instead of building one (main reference only). */
  client?: unknown;
  /** Further adapter-specific dependencies (a token credential, ...), main reference only. */
  [name: string]: unknown;
}

/** What an adapter package registers for its scheme. */
export interface SchemeAdapter<S extends string = string> {
  /** Lower-case scheme name without the colon, e.g. `aws-sm`. */
  scheme: S;
  /** The npm package that provides it, e.g. `@mtlskit/aws` (used in install hints). */
  packageName: string;
  /** Option name → description. For a built-in scheme, adds to core's table (see docs/references.md). */
  options: SchemeOptions;
  /** Builds a source for a parsed reference. */
  create(ref: ParsedReference<S>, deps: SourceDeps): CredentialSource | Promise<CredentialSource>;
}

/** Each known scheme and the package that provides it. */
export const KNOWN_SCHEMES: Readonly<Record<string, string>> = Object.freeze({
  env: '@mtlskit/core',
  file: '@mtlskit/core',
  'aws-sm': '@mtlskit/aws',
  'azure-kv': '@mtlskit/azure',
  'gcp-sm': '@mtlskit/gcp',
  vault: '@mtlskit/vault',
  'vault-pki': '@mtlskit/vault',
});

/** Loads an adapter package by name (default: a dynamic `import()`). Injected by tests. */
export type AdapterImporter = (packageName: string) => Promise<unknown>;

export interface SourceFromReferenceOptions extends SourceDeps {
  importer?: AdapterImporter;
}

type StoredAdapter = RegisteredScheme & SchemeAdapter;

const OPTION_TYPES = new Set(['string', 'integer', 'boolean', 'url', 'enum', 'reference']);

function pickNames(ref: ParsedReference): Partial<Record<ReferenceField, string>> {
  const out: Partial<Record<ReferenceField, string>> = {};
  for (const f of REFERENCE_FIELDS) {
    const v = ref.options[f];
    // A passphrase given as a reference is handled by withPassphrase, not by the source.
    if (v !== undefined && !(f === 'passphrase' && ref.passphrase !== undefined)) out[f] = v;
  }
  return out;
}

/** Core's own schemes: built in, never imported, never replaced. */
const CORE_ADAPTERS: Record<string, (ref: ParsedReference, deps: SourceDeps) => CredentialSource> = {
  env(ref, deps) {
    const target = ref.target as EnvTarget;
    return envSource({
      ...(target.variable !== undefined && { variable: target.variable }),
      ...(ref.options.prefix !== undefined && { prefix: ref.options.prefix }),
      names: pickNames(ref),
      ...(deps.env !== undefined && { env: deps.env }),
      ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
      id: formatReference(ref),
    });
  },
  file(ref, deps) {
    const target = ref.target as FileTarget;
    return fileSource({
      ...(target.path !== undefined && { path: target.path }),
      ...target.files,
      ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
      id: formatReference(ref),
    });
  },
};

/**
 * Registers the adapter of a scheme. Adapter packages call it from their index module, so that
 * importing the package is enough. Registering a scheme again replaces the earlier adapter.
 * Returns a function that removes this registration.
 */
export function registerScheme<S extends string>(adapter: SchemeAdapter<S>): () => void {
  const fail = (problem: string) =>
    new MtlsError('INVALID_REFERENCE', `registerScheme(${JSON.stringify(adapter?.scheme)}): ${problem}`);
  if (typeof adapter !== 'object' || adapter === null) throw fail('expects an adapter object.');
  if (typeof adapter.scheme !== 'string' || !isSchemeName(adapter.scheme)) {
    throw fail(
      'the scheme must be lower-case letters, digits, "+", "." or "-", starting with a letter, without ":".',
    );
  }
  if (KNOWN_SCHEMES[adapter.scheme] === '@mtlskit/core')
    throw fail(`${adapter.scheme}: is built into @mtlskit/core.`);
  if (typeof adapter.packageName !== 'string' || adapter.packageName === '')
    throw fail('packageName is required.');
  if (typeof adapter.create !== 'function') throw fail('create(ref, deps) is required.');
  if (typeof adapter.options !== 'object' || adapter.options === null)
    throw fail('options (a table) is required.');
  for (const [name, spec] of Object.entries(adapter.options)) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name))
      throw fail(`option name ${JSON.stringify(name)} is not valid.`);
    if (!OPTION_TYPES.has(spec?.type))
      throw fail(`option ${name} has unknown type ${JSON.stringify(spec?.type)}.`);
    if (spec.type === 'enum' && !(Array.isArray(spec.values) && spec.values.length > 0)) {
      throw fail(`enum option ${name} needs values.`);
    }
  }
  const stored: StoredAdapter = Object.freeze({
    scheme: adapter.scheme,
    packageName: adapter.packageName,
    options: Object.freeze({ ...adapter.options }),
    create: adapter.create as unknown as SchemeAdapter['create'],
  });
  const store = schemeStore<StoredAdapter>();
  store.set(adapter.scheme, stored);
  return () => {
    if (store.get(adapter.scheme) === stored) store.delete(adapter.scheme);
  };
}

/** One row of {@link listSchemes}. */
export interface SchemeInfo {
  scheme: string;
  packageName: string;
  /** Whether a source can be built right now without importing anything. */
  available: boolean;
  form: string | undefined;
  summary: string | undefined;
  options: SchemeOptions;
}

/** Every scheme that exists (built in, known, registered), for help texts and docs. */
export function listSchemes(): SchemeInfo[] {
  const store = schemeStore<StoredAdapter>();
  return schemeNames().map((scheme) => {
    const builtin = (BUILTIN_SCHEMES as Record<string, { form: string; summary: string } | undefined>)[
      scheme
    ];
    return {
      scheme,
      packageName: store.get(scheme)?.packageName ?? KNOWN_SCHEMES[scheme] ?? 'unknown',
      available: KNOWN_SCHEMES[scheme] === '@mtlskit/core' || store.has(scheme),
      form: builtin?.form,
      summary: builtin?.summary,
      options: schemeOptions(scheme) ?? {},
    };
  });
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** True when `err` says that `packageName` itself (not one of its dependencies) cannot be found. */
function isMissingPackage(err: unknown, packageName: string): boolean {
  const message = err instanceof Error ? err.message : String(err);
  const code = errorCode(err);
  const notFound =
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'MODULE_NOT_FOUND' ||
    /cannot find (package|module)/i.test(message);
  // Node quotes the specifier it could not find; a dependency missing inside the package names that dependency.
  return notFound && (message.includes(`'${packageName}'`) || message.includes(`"${packageName}"`));
}

/**
 * An importer that resolves packages as a file in `fromDirectory` would (its node_modules and
 * those above it), for applications whose adapters live elsewhere than core.
 */
export function createImporter(fromDirectory: string): AdapterImporter {
  return async (packageName) => {
    const resolved = createRequire(join(fromDirectory, 'package.json')).resolve(packageName);
    return import(pathToFileURL(resolved).href);
  };
}

/**
 * `import(packageName)`, resolved from core's own location first (where package managers put
 * siblings), then from the working directory (the application's own dependencies).
 */
export const defaultImporter: AdapterImporter = async (packageName) => {
  try {
    return await import(packageName);
  } catch (err) {
    if (!isMissingPackage(err, packageName)) throw err;
    try {
      return await createImporter(process.cwd())(packageName);
    } catch (second) {
      throw isMissingPackage(second, packageName) ? err : second;
    }
  }
};

function installHint(packageName: string): string {
  return `npm install ${packageName} (pnpm add ${packageName}, yarn add ${packageName})`;
}

/** Imports the package of `scheme` unless its adapter is already registered; returns the import error. */
async function importAdapter(scheme: string, importer: AdapterImporter): Promise<unknown> {
  const packageName = KNOWN_SCHEMES[scheme];
  if (packageName === undefined || packageName === '@mtlskit/core' || schemeStore().has(scheme))
    return undefined;
  try {
    await importer(packageName);
    return undefined;
  } catch (err) {
    return err ?? new Error('import failed');
  }
}

/** ADAPTER_NOT_INSTALLED for `scheme`, whose package failed to import (or imported without registering it). */
function adapterMissing(
  scheme: string,
  importFailure: unknown,
  sourceId: string | undefined,
  more = '',
): MtlsError {
  const packageName = KNOWN_SCHEMES[scheme] ?? 'its adapter package';
  if (importFailure === undefined || isMissingPackage(importFailure, packageName)) {
    const why = importFailure === undefined ? 'did not register it' : 'is not installed';
    return new MtlsError(
      'ADAPTER_NOT_INSTALLED',
      (importFailure === undefined
        ? `${packageName} was loaded but ${why} (${scheme}:). Install a version of ${packageName} that matches @mtlskit/core: ${installHint(packageName)}.`
        : `The ${scheme}: scheme needs ${packageName}, which ${why}. Install it: ${installHint(packageName)}.`) +
        more,
      { sourceId },
    );
  }
  return new MtlsError(
    'ADAPTER_NOT_INSTALLED',
    `${packageName} (for ${scheme}:) is installed but failed to load. Reinstall it: ${installHint(packageName)}.${more}`,
    { sourceId, cause: importFailure },
  );
}

async function createSource(
  ref: ParsedReference,
  deps: SourceDeps,
  importFailure: unknown,
): Promise<CredentialSource> {
  const core = CORE_ADAPTERS[ref.scheme];
  if (core) return core(ref, deps);
  const adapter = schemeStore<StoredAdapter>().get(ref.scheme);
  if (adapter === undefined) throw adapterMissing(ref.scheme, importFailure, formatReference(ref));
  const source = await adapter.create(ref, deps);
  if (
    typeof source !== 'object' ||
    source === null ||
    typeof source.load !== 'function' ||
    typeof source.id !== 'string'
  ) {
    throw new MtlsError(
      'ADAPTER_NOT_INSTALLED',
      `${adapter.packageName} returned no valid source for ${ref.scheme}:. Report this to the adapter's authors.`,
      { sourceId: formatReference(ref) },
    );
  }
  return source;
}

/** The scheme of a `passphrase=` reference, found before the reference is parsed (a guess: parsing decides). */
function passphraseSchemeOf(text: string): string | undefined {
  const value = /[?&]passphrase=([^&]*)/.exec(text)?.[1];
  if (value === undefined) return undefined;
  try {
    return schemeOf(decodeURIComponent(value));
  } catch {
    return schemeOf(value);
  }
}

/**
 * Builds the source a reference names, e.g. `await sourceFromReference('aws-sm://prod/mtls')`.
 * Without a reference, uses `MTLS_SOURCE`, and `env:` when that is unset. The adapter package of a
 * known scheme is imported on demand; when it is missing, rejects with ADAPTER_NOT_INSTALLED and
 * the install command. A malformed reference rejects with INVALID_REFERENCE whether or not the
 * adapter is installed — except an option in none of core's tables while the scheme's package is
 * missing (it may be one that package adds): ADAPTER_NOT_INSTALLED, naming the option too.
 * `passphrase=<reference>` is resolved as a second source.
 */
export async function sourceFromReference(
  reference?: string,
  options: SourceFromReferenceOptions = {},
): Promise<CredentialSource> {
  const { importer = defaultImporter, ...deps } = options;
  const env = deps.env ?? process.env;
  let text = reference;
  const fromEnv = text === undefined;
  if (fromEnv) text = env.MTLS_SOURCE === undefined || env.MTLS_SOURCE === '' ? 'env:' : env.MTLS_SOURCE;
  const t = text as string;

  // Importing first lets the adapters' own extra options be known when the reference is checked,
  // those of a `passphrase=` reference's scheme included.
  const scheme = typeof t === 'string' ? schemeOf(t) : undefined;
  const importFailure = scheme === undefined ? undefined : await importAdapter(scheme, importer);
  const passScheme = typeof t === 'string' ? passphraseSchemeOf(t) : undefined;
  const passFailure = passScheme === undefined ? undefined : await importAdapter(passScheme, importer);
  let ref: ParsedReference;
  try {
    ref = parseReference(t);
  } catch (err) {
    // An option core does not know may be one the scheme's package adds: when that package could
    // not be imported, installing it is the first thing to do (the option is named too).
    const optionOf = unknownOptionScheme(err);
    const failure =
      optionOf === undefined
        ? undefined
        : optionOf === scheme
          ? importFailure
          : optionOf === passScheme
            ? passFailure
            : undefined;
    if (optionOf !== undefined && failure !== undefined && MtlsError.is(err)) {
      const what = err.message.split('\n')[0]!.replace(/^Invalid reference: /, '');
      throw adapterMissing(
        optionOf,
        failure,
        err.sourceId,
        ` Without it the reference cannot be checked: ${what}`,
      );
    }
    if (fromEnv && MtlsError.is(err, 'INVALID_REFERENCE')) {
      const message = isCredentialLikeReference(err)
        ? `MTLS_SOURCE looks like a credential itself; it must name where the credential is (e.g. env:, which reads MTLS_CERT and MTLS_KEY, file:/etc/mtls, aws-sm://SECRET_ID). Move the credential where a reference can name it (MTLS_CERT and MTLS_KEY, a file, a vault) and set MTLS_SOURCE to that, or unset MTLS_SOURCE to read MTLS_CERT and MTLS_KEY.${err.message.slice(err.message.indexOf('\n'))}`
        : `MTLS_SOURCE: ${err.message}`;
      throw new MtlsError('INVALID_REFERENCE', message, { sourceId: err.sourceId });
    }
    throw err;
  }

  const main = await createSource(ref, deps, importFailure);
  if (ref.passphrase === undefined) return main;
  const nested = ref.passphrase;
  const nestedFailure =
    nested.scheme === passScheme ? passFailure : await importAdapter(nested.scheme, importer);
  const passDeps: SourceDeps = {
    ...(deps.env !== undefined && { env: deps.env }),
    ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
  };
  const pass = await createSource(nested, passDeps, nestedFailure);
  return withPassphrase(main, pass);
}
