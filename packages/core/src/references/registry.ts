// The scheme registry at work: which package provides each scheme, how adapter packages register
// their source factories, and sourceFromReference, which turns one string (or MTLS_SOURCE) into a
// CredentialSource — loading the adapter's grammar (`<package>/scheme`) to parse the reference and
// its package to build the source, on demand, or saying how to install it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isPromiseLike, MtlsError, promiseGivenError } from '../errors.js';
import { withCa } from '../sources/ca.js';
import { envSource } from '../sources/env.js';
import { fileSource } from '../sources/file.js';
import { withPassphrase } from '../sources/passphrase.js';
import type { CredentialSource, Finding } from '../types.js';
import type { EnvTarget, FileTarget } from './builtin.js';
import { isCredentialLikeReference, safeEcho, unknownOptionScheme } from './problem.js';
import { definitionOf, notLoadedScheme, type ParsedReference, parseReference } from './reference.js';
import {
  defineScheme,
  KNOWN_SCHEMES,
  REFERENCE_FIELDS,
  type ReferenceField,
  type SchemeDefinition,
  type SchemeOptions,
  SUB_REFERENCE_FIELDS,
  schemeNames,
  schemeOf,
  schemeStore,
} from './scheme.js';

/** What a source factory receives besides the reference: things the application injects. */
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

/** Builds the source of a parsed reference of one scheme. */
export type SourceFactory<S extends string = string, T = unknown> = (
  ref: ParsedReference<S, T>,
  deps: SourceDeps,
) => CredentialSource | Promise<CredentialSource>;

/**
 * Registers the source factory of a defined scheme (and defines the scheme, when its definition
 * is not registered yet). Adapter packages call it from their index module, so that importing the
 * package is enough. Returns a function that removes the factory.
 */
export function registerSourceFactory<S extends string, T>(
  definition: SchemeDefinition<S, T>,
  create: SourceFactory<S, T>,
): () => void {
  if (typeof create !== 'function') {
    throw new MtlsError(
      'INVALID_OPTION',
      `registerSourceFactory(${JSON.stringify(definition?.scheme)}): create(ref, deps) is required.`,
    );
  }
  const store = schemeStore();
  if (store.get(definition?.scheme)?.definition !== definition) defineScheme(definition);
  const entry = store.get(definition.scheme)!;
  entry.create = create as never;
  return () => {
    if (entry.create === (create as never)) delete entry.create;
  };
}

/** What {@link registerScheme} takes: a definition and its factory in one object. */
export interface SchemeAdapter<S extends string = string, T = unknown> extends SchemeDefinition<S, T> {
  /** Builds a source for a parsed reference. */
  create: SourceFactory<S, T>;
}

/**
 * Defines a scheme and registers its factory in one call (for a scheme whose package has no
 * separate grammar module). Registering a scheme again replaces it. Returns a function that removes it.
 */
export function registerScheme<S extends string, T>(adapter: SchemeAdapter<S, T>): () => void {
  const { create, ...definition } = adapter ?? ({} as SchemeAdapter<S, T>);
  if (typeof create !== 'function') {
    throw new MtlsError(
      'INVALID_OPTION',
      `registerScheme(${JSON.stringify(definition.scheme)}): create(ref, deps) is required.`,
    );
  }
  const store = schemeStore();
  const before = store.get(definition.scheme);
  const saved = before === undefined ? undefined : { ...before };
  const defined = defineScheme(definition);
  registerSourceFactory(defined, create);
  // Removing puts back what was there before (a definition its scheme module made, say).
  return () => {
    const entry = store.get(defined.scheme);
    if (entry?.definition !== defined) return;
    if (saved === undefined) store.delete(defined.scheme);
    else store.set(defined.scheme, saved);
  };
}

/** Loads an adapter module by specifier (default: a dynamic `import()`). Injected by tests. */
export type AdapterImporter = (specifier: string) => Promise<unknown>;

export interface SourceFromReferenceOptions extends SourceDeps {
  importer?: AdapterImporter;
}

/** Core's own schemes: built in, never imported, never replaced. */
const CORE_FACTORIES: Record<string, (ref: ParsedReference, deps: SourceDeps) => CredentialSource> = {
  env(ref, deps) {
    const target = ref.target as EnvTarget;
    return envSource({
      ...(target.variable !== undefined && { variable: target.variable }),
      ...(ref.options.prefix !== undefined && { prefix: ref.options.prefix }),
      names: pickNames(ref),
      ...(deps.env !== undefined && { env: deps.env }),
      ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
      id: ref.id,
    });
  },
  file(ref, deps) {
    const target = ref.target as FileTarget;
    return fileSource({
      ...(target.path !== undefined && { path: target.path }),
      ...target.files,
      ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
      id: ref.id,
    });
  },
};

function pickNames(ref: ParsedReference): Partial<Record<ReferenceField, string>> {
  const out: Partial<Record<ReferenceField, string>> = {};
  for (const f of REFERENCE_FIELDS) {
    const v = ref.options[f];
    // A field given as a reference is loaded as a source of its own, not by this one.
    if (v !== undefined && ref[f as 'passphrase' | 'ca'] === undefined) out[f] = v;
  }
  return out;
}

/** One row of {@link listSchemes}. */
export interface SchemeInfo {
  scheme: string;
  packageName: string;
  /** Whether a source can be built right now without importing anything. */
  available: boolean;
  /** Whether its grammar is loaded (references of it parse synchronously). */
  defined: boolean;
  form: string | undefined;
  summary: string | undefined;
  options: SchemeOptions;
}

/** Every scheme that exists (built in, known, defined), for help texts and docs. */
export function listSchemes(): SchemeInfo[] {
  const store = schemeStore();
  return schemeNames().map((scheme) => {
    const def = definitionOf(scheme);
    const core = KNOWN_SCHEMES[scheme] === '@mtlskit/core';
    return {
      scheme,
      packageName: def?.packageName ?? KNOWN_SCHEMES[scheme] ?? 'unknown',
      available: core || store.get(scheme)?.create !== undefined,
      defined: def !== undefined,
      form: def?.form,
      summary: def?.summary,
      options: def?.options ?? {},
    };
  });
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** The package a specifier names: `@scope/name` or `name`, without a subpath (`@mtlskit/aws/scheme` → `@mtlskit/aws`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** True when `err` says that the package of `specifier` itself (not one of its dependencies) cannot be found. */
function isMissingPackage(err: unknown, specifier: string): boolean {
  const message = err instanceof Error ? err.message : String(err);
  const code = errorCode(err);
  const notFound =
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'MODULE_NOT_FOUND' ||
    /cannot find (package|module)/i.test(message);
  // Node quotes the package it could not find; a dependency missing inside the package names that dependency.
  const name = packageOf(specifier);
  return notFound && [name, specifier].some((n) => message.includes(`'${n}'`) || message.includes(`"${n}"`));
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

/**
 * Imports the package of `scheme` (with `part` `'/scheme'`, its grammar alone) unless what that
 * import defines (the factory; the grammar) is there already; returns the import error, or undefined.
 */
async function loadAdapter(
  scheme: string,
  part: '' | '/scheme',
  importer: AdapterImporter,
): Promise<unknown> {
  const packageName = KNOWN_SCHEMES[scheme];
  const done =
    part === '' ? schemeStore().get(scheme)?.create !== undefined : definitionOf(scheme) !== undefined;
  if (done || packageName === undefined || packageName === '@mtlskit/core') return undefined;
  try {
    await importer(packageName + part);
    return undefined;
  } catch (err) {
    return err ?? new Error('import failed');
  }
}

/** ADAPTER_NOT_INSTALLED for `scheme`, whose package failed to import (or imported without defining it). */
function adapterMissing(
  scheme: string,
  importFailure: unknown,
  sourceId: string | undefined,
  more = '',
): MtlsError {
  const packageName = KNOWN_SCHEMES[scheme] ?? 'its adapter package';
  if (importFailure === undefined || isMissingPackage(importFailure, packageName)) {
    return new MtlsError(
      'ADAPTER_NOT_INSTALLED',
      (importFailure === undefined
        ? `${packageName} was loaded but did not register it (${scheme}:). Install a version of ${packageName} that matches @mtlskit/core: ${installHint(packageName)}.`
        : `The ${scheme}: scheme needs ${packageName}, which is not installed. Install it: ${installHint(packageName)}.`) +
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
  importer: AdapterImporter,
): Promise<CredentialSource> {
  const core = CORE_FACTORIES[ref.scheme];
  if (core) return core(ref, deps);
  const failure = await loadAdapter(ref.scheme, '', importer);
  const entry = schemeStore().get(ref.scheme);
  if (entry?.create === undefined) throw adapterMissing(ref.scheme, failure, ref.id);
  const create = entry.create as unknown as SourceFactory;
  const source = await create(ref, deps);
  if (
    typeof source !== 'object' ||
    source === null ||
    typeof source.load !== 'function' ||
    typeof source.id !== 'string'
  ) {
    throw new MtlsError(
      'ADAPTER_NOT_INSTALLED',
      `${entry.definition.packageName} returned no valid source for ${ref.scheme}:. Report this to the adapter's authors.`,
      { sourceId: ref.id },
    );
  }
  return source;
}

/** The schemes of the sub-references (`passphrase=`, `ca=`) of a text, found before it is parsed (a guess: parsing decides). */
function subReferenceSchemes(text: string): string[] {
  const out: string[] = [];
  for (const field of SUB_REFERENCE_FIELDS) {
    const value = new RegExp(`[?&]${field}=([^&]*)`).exec(text)?.[1];
    if (value === undefined) continue;
    let scheme: string | undefined;
    try {
      scheme = schemeOf(decodeURIComponent(value));
    } catch {
      scheme = schemeOf(value);
    }
    if (scheme !== undefined) out.push(scheme);
  }
  return out;
}

/**
 * Loads the grammar of every scheme `text` names (its own and its sub-references'), then parses it.
 * Rejects with ADAPTER_NOT_INSTALLED when a scheme's package is missing, INVALID_REFERENCE when the
 * text is malformed.
 */
export async function parseReferenceAsync(
  text: string,
  options: { importer?: AdapterImporter } = {},
): Promise<ParsedReference> {
  const importer = options.importer ?? defaultImporter;
  const failures = new Map<string, unknown>();
  const scheme = typeof text === 'string' ? schemeOf(text) : undefined;
  for (const s of scheme === undefined ? [] : [scheme, ...subReferenceSchemes(text)]) {
    if (!failures.has(s)) failures.set(s, await loadAdapter(s, '/scheme', importer));
  }
  try {
    return parseReference(text);
  } catch (err) {
    // Not loaded: the grammar's import failed (or defined nothing).
    const missing = notLoadedScheme(err);
    if (missing !== undefined) throw adapterMissing(missing, failures.get(missing), safeEcho(text));
    const optionOf = unknownOptionScheme(err);
    const failure = optionOf === undefined ? undefined : failures.get(optionOf);
    if (optionOf !== undefined && failure !== undefined && MtlsError.is(err)) {
      const what = err.message.split('\n')[0]!.replace(/^Invalid reference: /, '');
      throw adapterMissing(
        optionOf,
        failure,
        err.sourceId,
        ` Without it the reference cannot be checked: ${what}`,
      );
    }
    throw err;
  }
}

/**
 * Builds the source a reference names, e.g. `await sourceFromReference('aws-sm://prod/mtls')`.
 * Without a reference, uses `MTLS_SOURCE`, and `env:` when that is unset. The adapter of a known
 * scheme is imported on demand: its grammar (`<package>/scheme`, no vendor SDK) to check the
 * reference, then its package to build the source; when it is missing, rejects with
 * ADAPTER_NOT_INSTALLED and the install command. `passphrase=<reference>` and `ca=<reference>` are
 * loaded as sources of their own and merged.
 */
export async function sourceFromReference(
  reference?: string,
  options: SourceFromReferenceOptions = {},
): Promise<CredentialSource> {
  const { importer = defaultImporter, ...deps } = options;
  if (isPromiseLike(reference)) throw promiseGivenError('sourceFromReference()');
  const env = deps.env ?? process.env;
  let text = reference;
  const fromEnv = text === undefined;
  if (fromEnv) text = env.MTLS_SOURCE === undefined || env.MTLS_SOURCE === '' ? 'env:' : env.MTLS_SOURCE;

  let ref: ParsedReference;
  try {
    ref = await parseReferenceAsync(text as string, { importer });
  } catch (err) {
    if (fromEnv && MtlsError.is(err, 'INVALID_REFERENCE')) {
      const message = isCredentialLikeReference(err)
        ? `MTLS_SOURCE looks like a credential itself; it must name where the credential is (e.g. env:, which reads MTLS_CERT and MTLS_KEY, file:/etc/mtls, aws-sm://SECRET_ID). Move the credential where a reference can name it (MTLS_CERT and MTLS_KEY, a file, a vault) and set MTLS_SOURCE to that, or unset MTLS_SOURCE to read MTLS_CERT and MTLS_KEY.${err.message.slice(err.message.indexOf('\n'))}`
        : `MTLS_SOURCE: ${err.message}`;
      throw new MtlsError('INVALID_REFERENCE', message, { sourceId: err.sourceId });
    }
    throw err;
  }

  let source = await createSource(ref, deps, importer);
  // Sub-references get the environment and warnings, not the main reference's client.
  const subDeps: SourceDeps = {
    ...(deps.env !== undefined && { env: deps.env }),
    ...(deps.onWarning !== undefined && { onWarning: deps.onWarning }),
  };
  if (ref.ca !== undefined) source = withCa(source, await createSource(ref.ca, subDeps, importer));
  if (ref.passphrase !== undefined) {
    source = withPassphrase(source, await createSource(ref.passphrase, subDeps, importer));
  }
  return source;
}
