// The two schemes built into core, `env:` and `file:`, defined as every adapter defines its own
// (scheme.ts): an option table and a grammar. Their sources are in ../sources.
import {
  checkDefinition,
  REFERENCE_FIELDS,
  type ReferenceCursor,
  type ReferenceField,
  type SchemeDefinition,
  type SchemeOptions,
} from './scheme.js';

/** `env:` — environment variables. */
export interface EnvTarget {
  /** `env:NAME`: one variable (or `NAME_FILE`) holding the whole value, read as a bundle. */
  variable?: string;
  /** Prefix of the default variable names (`MTLS_`). */
  prefix: string;
  /** Inline variable per field (`MTLS_CERT`, or the rename); `<name>_FILE` holds a path instead. */
  names: Readonly<Record<ReferenceField, string>>;
}

/** `file:` — files and directories. */
export interface FileTarget {
  /** `file:PATH`: a directory of well-known names, or one PEM file holding key and certificate. */
  path?: string;
  /** Explicit file per field (`?cert=PATH&key=PATH`); alongside `path`, only `ca` and `passphrase`. */
  files: Readonly<Partial<Record<ReferenceField, string>>>;
}

/**
 * The options that name where each field is held, one by one (`env:`, `file:`, and adapters with
 * one secret per field): `cert`, `key`, `passphrase`, `ca`, `pfx`. `passphrase` and `ca` may also
 * hold another reference, which core loads and merges.
 */
export function fieldOptions(holder: string, note = ''): SchemeOptions {
  const held = (what: string) => ({
    type: 'string' as const,
    description: `${holder} holding ${what}.${note}`,
  });
  return {
    cert: held('the certificate (leaf, optionally followed by intermediates)'),
    key: held('the private key'),
    passphrase: held('the passphrase, or a reference to it such as `file:/run/secrets/pass`'),
    ca: held('the CA certificates to trust for the server, or a reference to them'),
    pfx: held('a PKCS#12 (instead of cert and key)'),
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function buildEnv(c: ReferenceCursor): EnvTarget {
  const prefix = c.options.prefix ?? 'MTLS_';
  for (const name of ['prefix', ...REFERENCE_FIELDS] as const) {
    const v = c.plain(name);
    if (v !== undefined && !ENV_NAME.test(v)) {
      // A passphrase= that is no variable name may be the passphrase itself: not repeated.
      const shown = name === 'passphrase' ? '' : JSON.stringify(v);
      throw c.optionProblem(
        name,
        `${name}=${shown} is not an environment variable name`,
        'Use letters, digits and "_", not starting with a digit.',
      );
    }
  }
  const names = Object.fromEntries(
    REFERENCE_FIELDS.map((f) => [f, c.plain(f) ?? `${prefix}${f.toUpperCase()}`]),
  ) as Record<ReferenceField, string>;
  if (c.path === '') return { prefix, names };
  if (!ENV_NAME.test(c.path)) {
    throw c.pathProblem(
      `"${c.path}" is not an environment variable name`,
      'Use letters, digits and "_", not starting with a digit.',
    );
  }
  c.refuseBesidePath(
    ['prefix', 'cert', 'key', 'ca', 'pfx'],
    (name) => `env:${c.path} reads the whole credential from one variable, so ${name}= does not apply`,
    (name) => `Write env:?${name}=... without a variable name, or drop ${name}=.`,
  );
  return { variable: c.path, prefix, names };
}

function buildFile(c: ReferenceCursor): FileTarget {
  let path = c.path;
  if (c.slashes) {
    // file:///abs/path (a file URL with an empty host) or file://localhost/abs/path.
    if (path.startsWith('localhost/')) path = path.slice('localhost'.length);
    if (!path.startsWith('/')) {
      throw c.pathProblem(
        'a file URL with a host is not supported',
        'Write file:/absolute/path or file:relative/path.',
        0,
        Math.max(1, path.indexOf('/') < 0 ? path.length : path.indexOf('/')),
      );
    }
    if (/^\/[A-Za-z]:[\\/]/.test(path)) path = path.slice(1); // file:///C:/certs on Windows
  }
  const files = c.fields();
  if (path !== '') {
    c.refuseBesidePath(
      ['cert', 'key', 'pfx'],
      (name) => `file:${path} already names the credential, so ${name}= conflicts with it`,
      () => 'Use either file:PATH or file:?cert=PATH&key=PATH (ca= and passphrase= may accompany a PATH).',
    );
    return { path, files };
  }
  c.requireCertOrPfx(files, 'file:', 'file:DIR, file:?cert=PATH&key=PATH or file:?pfx=PATH');
  return { files };
}

export const envScheme: SchemeDefinition<'env', EnvTarget> = checkDefinition({
  scheme: 'env',
  packageName: '@mtlskit/core',
  slashes: false,
  form: 'env:[NAME][?options]',
  summary: 'Environment variables; `*_FILE` variables (a path) take precedence over inline values.',
  options: {
    prefix: { type: 'string', description: 'Prefix of the default variable names.', default: 'MTLS_' },
    ...fieldOptions('Variable', ' Its `_FILE` twin (a path) takes precedence.'),
  },
  build: buildEnv,
});

export const fileScheme: SchemeDefinition<'file', FileTarget> = checkDefinition({
  scheme: 'file',
  packageName: '@mtlskit/core',
  form: 'file:PATH | file:?cert=PATH&key=PATH[&ca=PATH][&pfx=PATH]',
  summary:
    'A directory (`certificate.pem`/`private.key`/`ca.pem` or `tls.crt`/`tls.key`/`ca.crt`), one PEM with key and certificate, or explicit files.',
  options: fieldOptions('File'),
  build: buildFile,
});

/** The built-in definitions, by scheme. */
export const BUILTIN_DEFINITIONS = Object.freeze({ env: envScheme, file: fileScheme });
