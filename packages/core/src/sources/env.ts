// envSource: a credential held in environment variables — `MTLS_CERT`, `MTLS_KEY`, ... inline, or
// `MTLS_CERT_FILE`, `MTLS_KEY_FILE`, ... naming files. A `_FILE` variable wins over its inline
// twin (as Mangopay's documentation specifies for file paths). Values are returned as stored.
import { MtlsError } from '../errors.js';
import { formatReference } from '../references/reference.js';
import { REFERENCE_FIELDS as FIELDS, type ReferenceField } from '../references/scheme.js';
import type { CredentialMaterial, CredentialSource, FieldValue, Finding, SourceContext } from '../types.js';
import {
  brokenConfiguration,
  describeSource,
  materialDigest,
  permissionFinding,
  readStoredFile,
  throwIfAborted,
  WarningLog,
} from './shared.js';

export interface EnvSourceOptions {
  /** One variable (or `NAME_FILE`) holding the whole credential as a bundle: `env:NAME`. */
  variable?: string;
  /** Prefix of the default names: `MTLS_` gives `MTLS_CERT`, `MTLS_KEY`, `MTLS_PASSPHRASE`, `MTLS_CA`, `MTLS_PFX`. */
  prefix?: string;
  /** Exact variable name per field, e.g. `{ cert: 'CERTIFICATE_PEM_B64' }`; its `_FILE` twin is `CERTIFICATE_PEM_B64_FILE`. */
  names?: Partial<Record<ReferenceField, string>>;
  /** The environment to read, at every load (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default: the equivalent reference, e.g. `env:?prefix=MANGOPAY_`. */
  id?: string;
  /** Called once per distinct warning, e.g. a `_FILE` key readable by others (default `process.emitWarning`). */
  onWarning?: (finding: Finding) => void;
}

/** A source that can report warnings found while reading (e.g. KEY_FILE_PERMISSIONS). */
export interface WarningSource {
  /** Warnings of the last successful load; each is also given once to `onWarning`. */
  readonly warnings: readonly Finding[];
}

export type EnvCredentialSource = CredentialSource &
  WarningSource & { readonly kind: 'static'; version(ctx?: SourceContext): Promise<string> };

interface Read {
  value?: FieldValue;
  /** Set but empty (`MTLS_CERT=`). */
  empty?: boolean;
}

/**
 * Reads the credential from environment variables at each load. `*_FILE` variables take
 * precedence over inline ones; an empty `_FILE` variable counts as unset.
 */
export function envSource(options: EnvSourceOptions = {}): EnvCredentialSource {
  const prefix = options.prefix ?? 'MTLS_';
  const names = Object.fromEntries(
    FIELDS.map((f) => [f, options.names?.[f] ?? `${prefix}${f.toUpperCase()}`]),
  ) as Record<ReferenceField, string>;
  const refOptions: Record<string, string> = {};
  if (options.variable === undefined && options.prefix !== undefined) refOptions.prefix = options.prefix;
  for (const f of FIELDS) {
    const n = options.names?.[f];
    if (n !== undefined && (options.variable === undefined || f === 'passphrase')) refOptions[f] = n;
  }
  // Formatting also validates the names (INVALID_REFERENCE pointing at the bad one). The default
  // source has none to check: its reference is written as is, sparing a cold start the grammar's first run.
  const reference =
    options.variable === undefined && Object.keys(refOptions).length === 0
      ? 'env:'
      : formatReference({ scheme: 'env', path: options.variable ?? '', options: refOptions });
  const id = options.id ?? reference;
  const log = new WarningLog(options.onWarning);

  async function readVar(
    name: string,
    field: string,
    signal: AbortSignal | undefined,
    found: Finding[],
  ): Promise<Read> {
    const env = options.env ?? process.env;
    const fileVar = `${name}_FILE`;
    const path = env[fileVar];
    if (path !== undefined && path !== '') {
      // The variable is set: a file missing behind it is a broken configuration, not "nothing here".
      const { value, stats } = await readStoredFile(path, `${fileVar} (${path})`, field, id, signal).catch(
        (err: unknown) => {
          throw MtlsError.is(err, 'SOURCE_NOT_FOUND') ? brokenConfiguration(err) : err;
        },
      );
      const finding = permissionFinding(path, stats, field);
      if (finding) found.push(finding);
      return { value };
    }
    const inline = env[name];
    if (inline === undefined) return {};
    return inline === '' ? { empty: true } : { value: inline };
  }

  function empty(name: string, field: string): MtlsError {
    return new MtlsError('MISSING_FIELD', `${name} is set but empty. Put the ${field} in it, or unset it.`, {
      sourceId: id,
      field,
    });
  }

  /** The variable holding `field`, as set: `MTLS_KEY`, `MTLS_KEY_FILE`, or undefined when neither is. */
  function setName(field: ReferenceField): string | undefined {
    const env = options.env ?? process.env;
    const name = names[field];
    if (env[`${name}_FILE`] !== undefined && env[`${name}_FILE`] !== '') return `${name}_FILE`;
    // An empty inline value counts as unset (templates render unset values as '').
    return env[name] !== undefined && env[name] !== '' ? name : undefined;
  }

  /** Neither a certificate nor a PKCS#12: says what was looked for, and what is set. */
  function noCredential(read: Record<ReferenceField, Read>): MtlsError {
    const wanted =
      `${names.cert} or ${names.cert}_FILE (with ${names.key} or ${names.key}_FILE), ` +
      `or ${names.pfx} or ${names.pfx}_FILE`;
    const set = FIELDS.map(setName).filter((n): n is string => n !== undefined);
    if (set.length === 0) {
      return new MtlsError(
        'SOURCE_NOT_FOUND',
        `No credential in the environment: looked for ${wanted}, and none is set. Set them, or point MTLS_SOURCE at another source.`,
        { sourceId: id, field: 'cert' },
      );
    }
    const hasKey = read.key.value !== undefined;
    const todo = hasKey
      ? `Set ${names.cert} (or ${names.cert}_FILE) to the certificate of that key`
      : `Set ${names.cert} and ${names.key} (or their _FILE twins), or ${names.pfx}`;
    const err = new MtlsError(
      'SOURCE_NOT_FOUND',
      `No certificate in the environment: ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set, ` +
        `but neither ${names.cert} nor ${names.cert}_FILE (nor ${names.pfx} or ${names.pfx}_FILE) is. ` +
        `${todo}; or unset ${set.join(', ')} to use another source.`,
      { sourceId: id, field: 'cert' },
    );
    // A key without its certificate is half a configuration: firstOf must not skip it.
    return hasKey ? brokenConfiguration(err) : err;
  }

  async function readOne(ctx: SourceContext | undefined): Promise<CredentialMaterial> {
    const signal = ctx?.signal;
    throwIfAborted(signal);
    const found: Finding[] = [];
    const material: CredentialMaterial = {};
    if (options.variable !== undefined) {
      const name = options.variable;
      const whole = await readVar(name, 'bundle', signal, found);
      if (whole.empty) throw empty(name, 'bundle');
      if (whole.value === undefined) {
        throw new MtlsError('SOURCE_NOT_FOUND', `Neither ${name} nor ${name}_FILE is set. Set one of them.`, {
          sourceId: id,
        });
      }
      material.bundle = whole.value;
      if (options.names?.passphrase !== undefined) {
        const pass = await readVar(names.passphrase, 'passphrase', signal, found);
        if (pass.value !== undefined) material.passphrase = pass.value;
      }
    } else {
      const read = {} as Record<ReferenceField, Read>;
      for (const f of FIELDS) read[f] = await readVar(names[f], f, signal, found);
      if (read.cert.value === undefined && read.pfx.value === undefined) {
        if (read.cert.empty) throw empty(names.cert, 'cert');
        if (read.pfx.empty) throw empty(names.pfx, 'pfx');
        throw noCredential(read);
      }
      if (read.key.empty) throw empty(names.key, 'key');
      // Empty optional values are left out: deployment templates often render unset values as ''.
      for (const f of FIELDS) {
        const v = read[f].value;
        if (v !== undefined) material[f] = v;
      }
    }
    throwIfAborted(signal);
    log.commit(found);
    material.version = materialDigest(material);
    material.fetchedAt = new Date();
    return material;
  }

  const source: EnvCredentialSource = {
    id,
    kind: 'static',
    get warnings() {
      return log.current;
    },
    load: readOne,
    async version(ctx) {
      return (await readOne(ctx)).version!;
    },
  };
  describeSource(source, 'EnvSource', id, 'static');
  return source;
}
