// fileSource: a credential in files — explicit paths, a directory of well-known names (mtlskit's
// `certificate.pem`/`private.key`/`ca.pem` or Kubernetes' `tls.crt`/`tls.key`/`ca.crt`), or one PEM
// holding key and certificate — and `watch()` (./watch.ts), which notices replacements, including
// the Kubernetes atomic writer swapping the `..data` symlink of a Secret or CSI volume.
//
// Files are always read as one generation: each path is resolved through its symlinks, read, and
// resolved again; if any resolution moved meanwhile (a `..data` swap), the whole set is read again.
// So a certificate of one generation is never paired with the key of another.
import { realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MtlsError } from '../errors.js';
import { formatReference } from '../references/reference.js';
import type { CredentialMaterial, CredentialSource, FieldValue, Finding, SourceContext } from '../types.js';
import type { WarningSource } from './env.js';
import {
  brokenConfiguration,
  describeSource,
  fileError,
  isNotFound,
  materialDigest,
  onePerPath,
  permissionFinding,
  readStoredFile,
  throwIfAborted,
  WarningLog,
} from './shared.js';
import { watchFiles } from './watch.js';

export interface FileSourceOptions {
  /** A directory of well-known names, or one PEM file holding key and certificate. */
  path?: string;
  /** Certificate file (leaf, optionally followed by intermediates). Not with `path`. */
  cert?: string;
  /** Private key file. Not with `path`. */
  key?: string;
  /** CA certificates to trust for the server; beside `path`, overrides `ca.pem`/`ca.crt`. */
  ca?: string;
  /** PKCS#12 file, instead of cert and key. Not with `path`. */
  pfx?: string;
  /** File holding the passphrase. */
  passphrase?: string;
  /** Default: the equivalent reference, e.g. `file:/etc/mtls`. */
  id?: string;
  /** Called once per distinct warning, e.g. a key file readable by others (default `process.emitWarning`). */
  onWarning?: (finding: Finding) => void;
  /**
   * `watch()`: quiet time after the last filesystem event before the files are read (default 100 ms).
   * A directory that never goes quiet delays the read by at most ten times this.
   */
  debounceMs?: number;
  /**
   * `watch()`: polling period where `fs.watch` fails (the files are read at each poll), and while
   * a watched directory is missing (it is looked for at each poll, as a backstop: its parent is
   * watched meanwhile). Default 5 s.
   */
  pollIntervalMs?: number;
}

export type FileCredentialSource = CredentialSource &
  WarningSource & {
    readonly kind: 'static';
    version(ctx?: SourceContext): Promise<string>;
    watch(onChange: () => void): () => void;
    close(): Promise<void>;
  };

/** The options naming one file each, in the order they are planned (and shown in the id). */
const EXPLICIT_FIELDS = ['cert', 'key', 'ca', 'pfx', 'passphrase'] as const;

type FileField = (typeof EXPLICIT_FIELDS)[number] | 'bundle';

interface PlannedFile {
  field: FileField;
  path: string;
}

/** Directory layouts, tried in order: the first whose certificate exists is used. */
const LAYOUTS = [
  { cert: 'certificate.pem', key: 'private.key', ca: ['ca.pem', 'ca.crt'] },
  { cert: 'tls.crt', key: 'tls.key', ca: ['ca.crt', 'ca.pem'] },
] as const;

const MAX_GENERATION_RETRIES = 5;

async function exists(path: string, sourceId: string, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await onePerPath(path, signal, () => stat(path));
    return true;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (isNotFound(err)) return false;
    throw fileError(err, path, sourceId);
  }
}

/** A `watch()` period in milliseconds, checked when the source is built rather than when a timer misbehaves. */
function duration(value: number | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new MtlsError(
      'INVALID_OPTION',
      `fileSource: ${name} must be a number of milliseconds of at least ${min}, not ${String(value)}. Leave it out for ${fallback}.`,
    );
  }
  return value;
}

/**
 * Reads credentials from files at each load. `fileSource('/etc/mtls')` takes a directory (or one PEM
 * file); `fileSource({ cert, key, ca })` takes explicit paths.
 */
export function fileSource(pathOrOptions: string | FileSourceOptions): FileCredentialSource {
  const options: FileSourceOptions =
    typeof pathOrOptions === 'string' ? { path: pathOrOptions } : pathOrOptions;
  const refOptions: Record<string, string> = {};
  for (const f of EXPLICIT_FIELDS) {
    const v = options[f];
    if (v !== undefined) refOptions[f] = v;
  }
  // Formatting also checks the combination (a path and cert= conflict; key= needs cert=; ...).
  const reference = formatReference({ scheme: 'file', path: options.path ?? '', options: refOptions });
  const id = options.id ?? reference;
  const debounceMs = duration(options.debounceMs, 'debounceMs', 100, 0);
  const pollIntervalMs = duration(options.pollIntervalMs, 'pollIntervalMs', 5000, 1);
  const log = new WarningLog(options.onWarning);
  const stops = new Set<() => void>();
  let lastLoaded: string | undefined;

  /** Which files make up the credential right now. */
  async function plan(signal: AbortSignal | undefined): Promise<PlannedFile[]> {
    const files: PlannedFile[] = [];
    const explicit = (f: (typeof EXPLICIT_FIELDS)[number]) => {
      const p = options[f];
      if (p !== undefined) files.push({ field: f, path: p });
    };
    if (options.path === undefined) {
      for (const f of EXPLICIT_FIELDS) explicit(f);
      return files;
    }
    const path = options.path;
    let isDir: boolean;
    try {
      isDir = (await onePerPath(path, signal, () => stat(path))).isDirectory();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw fileError(err, path, id);
    }
    if (!isDir) {
      files.push({ field: 'bundle', path });
    } else {
      let chosen: (typeof LAYOUTS)[number] | undefined;
      for (const layout of LAYOUTS) {
        if (await exists(join(path, layout.cert), id, signal)) {
          chosen = layout;
          break;
        }
      }
      if (chosen === undefined) {
        throw new MtlsError(
          'SOURCE_NOT_FOUND',
          `${path} holds neither certificate.pem + private.key nor tls.crt + tls.key. Put the credential there, or name the files with file:?cert=PATH&key=PATH.`,
          { sourceId: id, field: 'cert' },
        );
      }
      const keyPath = join(path, chosen.key);
      if (!(await exists(keyPath, id, signal))) {
        // Half a credential is a broken configuration, not "nothing here": firstOf must not skip it.
        throw brokenConfiguration(
          new MtlsError(
            'SOURCE_NOT_FOUND',
            `${path} has ${chosen.cert} but no ${chosen.key}. Put the private key next to the certificate.`,
            { sourceId: id, field: 'key' },
          ),
        );
      }
      files.push({ field: 'cert', path: join(path, chosen.cert) }, { field: 'key', path: keyPath });
      if (options.ca === undefined) {
        for (const name of chosen.ca) {
          if (await exists(join(path, name), id, signal)) {
            files.push({ field: 'ca', path: join(path, name) });
            break;
          }
        }
      }
    }
    explicit('ca');
    explicit('passphrase');
    return files;
  }

  /** One consistent generation of every planned file. */
  async function readGeneration(signal: AbortSignal | undefined): Promise<CredentialMaterial> {
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal);
      const files = await plan(signal);
      const resolve = async () => {
        const resolved = await Promise.all(
          files.map((f) =>
            onePerPath(f.path, signal, () => realpath(f.path)).catch((err) =>
              signal?.aborted ? undefined : fileError(err, f.path, id, f.field),
            ),
          ),
        );
        throwIfAborted(signal);
        return resolved as Array<string | MtlsError>;
      };
      const real = await resolve();
      const failed = real.filter((r): r is MtlsError => r instanceof MtlsError);
      if (failed.length > 0) {
        if (attempt < MAX_GENERATION_RETRIES && failed[0]!.code === 'SOURCE_NOT_FOUND') continue;
        // Some of the files are there and others not: a broken configuration, not "nothing here".
        if (failed.length < files.length && failed[0]!.code === 'SOURCE_NOT_FOUND') {
          throw brokenConfiguration(failed[0]!);
        }
        throw failed[0]!;
      }
      let read: Array<{ value: FieldValue; finding: Finding | undefined }>;
      try {
        read = await Promise.all(
          files.map(async (f, i) => {
            const { value, stats } = await readStoredFile(real[i] as string, f.path, f.field, id, signal);
            return { value, finding: permissionFinding(f.path, stats, f.field) };
          }),
        );
      } catch (err) {
        // The generation we resolved was deleted under us (the atomic writer cleans up old ones).
        if (attempt < MAX_GENERATION_RETRIES && MtlsError.is(err, 'SOURCE_NOT_FOUND') && !signal?.aborted)
          continue;
        throw err;
      }
      const again = await resolve();
      if (again.every((r, i) => r === real[i])) {
        const material: CredentialMaterial = {};
        files.forEach((f, i) => {
          material[f.field] = read[i]!.value;
        });
        log.commit(read.map((r) => r.finding).filter((f): f is Finding => f !== undefined));
        material.version = materialDigest(material);
        material.fetchedAt = new Date();
        return material;
      }
      if (attempt >= MAX_GENERATION_RETRIES) {
        throw new MtlsError(
          'SOURCE_UNAVAILABLE',
          `The files of ${id} kept changing while being read (${MAX_GENERATION_RETRIES} attempts). Retry once the writer is done.`,
          { sourceId: id },
        );
      }
    }
  }

  function watch(onChange: () => void): () => void {
    const directories = EXPLICIT_FIELDS.flatMap((f) =>
      options[f] === undefined ? [] : [dirname(options[f])],
    );
    const stopWatching = watchFiles({
      path: options.path,
      directories,
      debounceMs,
      pollIntervalMs,
      version: () => source.version(),
      lastSeen: lastLoaded,
      onChange,
    });
    const stop = (): void => {
      stopWatching();
      stops.delete(stop);
    };
    stops.add(stop);
    return stop;
  }

  const source: FileCredentialSource = {
    id,
    kind: 'static',
    get warnings() {
      return log.current;
    },
    async load(ctx?: SourceContext) {
      const material = await readGeneration(ctx?.signal);
      lastLoaded = material.version;
      return material;
    },
    async version(ctx?: SourceContext) {
      return (await readGeneration(ctx?.signal)).version!;
    },
    watch,
    async close() {
      for (const stop of [...stops]) stop();
    },
  };
  describeSource(source, 'FileSource', id, 'static');
  return source;
}
