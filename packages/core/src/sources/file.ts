// fileSource: a credential in files — explicit paths, a directory of well-known names (mtlskit's
// `certificate.pem`/`private.key`/`ca.pem` or Kubernetes' `tls.crt`/`tls.key`/`ca.crt`), or one PEM
// holding key and certificate — and `watch()`, which notices replacements, including the
// Kubernetes atomic writer swapping the `..data` symlink of a Secret or CSI volume.
//
// Files are always read as one generation: each path is resolved through its symlinks, read, and
// resolved again; if any resolution moved meanwhile (a `..data` swap), the whole set is read again.
// So a certificate of one generation is never paired with the key of another.
import { type FSWatcher, watch as fsWatch, type Stats, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MtlsError } from '../errors.js';
import { formatReference } from '../reference.js';
import type { CredentialMaterial, CredentialSource, FieldValue, Finding, SourceContext } from '../types.js';
import type { WarningSource } from './env.js';
import {
  abortable,
  brokenConfiguration,
  describeSource,
  fileError,
  isNotFound,
  materialDigest,
  permissionFinding,
  readStoredFile,
  throwIfAborted,
  WarningLog,
} from './shared.js';

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
   * `watch()`: polling period where `fs.watch` fails, and while a watched directory is missing
   * (its parent is watched meanwhile; polling is the backstop). Default 5 s.
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

type FileField = 'cert' | 'key' | 'ca' | 'pfx' | 'passphrase' | 'bundle';

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
/** How many debounce periods events may keep postponing a read (a log written beside the credential never goes quiet). */
const MAX_DEBOUNCE_PERIODS = 10;

async function exists(path: string, sourceId: string, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await abortable(stat(path), signal);
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
      'INVALID_REFERENCE',
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
  for (const f of ['cert', 'key', 'ca', 'pfx', 'passphrase'] as const) {
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
    const explicit = (f: 'cert' | 'key' | 'ca' | 'pfx' | 'passphrase') => {
      const p = options[f];
      if (p !== undefined) files.push({ field: f, path: p });
    };
    if (options.path === undefined) {
      for (const f of ['cert', 'key', 'ca', 'pfx', 'passphrase'] as const) explicit(f);
      return files;
    }
    const path = options.path;
    let isDir: boolean;
    try {
      isDir = (await abortable(stat(path), signal)).isDirectory();
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
            abortable(realpath(f.path), signal).catch((err) =>
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

  /** The directories whose events may mean the credential changed. */
  function watchedDirectories(): string[] {
    const dirs: string[] = [];
    if (options.path !== undefined) {
      let isFile = false;
      try {
        isFile = !statSync(options.path).isDirectory();
      } catch {
        // Not there yet: watched as a directory, which watch() waits for (a file appearing
        // instead is seen from its parent, which is what is watched while waiting).
      }
      dirs.push(isFile ? dirname(options.path) : options.path);
    }
    for (const f of ['cert', 'key', 'ca', 'pfx', 'passphrase'] as const) {
      const p = options[f];
      if (p !== undefined) dirs.push(dirname(p));
    }
    return [...new Set(dirs)];
  }

  function watch(onChange: () => void): () => void {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let firstEventAt: number | undefined;
    let poller: NodeJS.Timeout | undefined;
    let running: Promise<void> | undefined;
    let again = false;
    // The version the caller last saw: that of its last load, else what is there now.
    let baseline: Promise<string | undefined> =
      lastLoaded !== undefined ? Promise.resolve(lastLoaded) : source.version().catch(() => undefined);

    const check = async (): Promise<void> => {
      const before = await baseline;
      const now = await source.version().catch(() => undefined);
      // A failed read (a file missing mid-rotation) is not a change: the next event checks again.
      if (stopped || now === undefined || now === before) return;
      baseline = Promise.resolve(now);
      try {
        onChange();
      } catch {
        // The listener's failure is its own; watching goes on.
      }
    };
    const run = (): void => {
      timer = undefined;
      firstEventAt = undefined;
      if (stopped) return;
      for (const t of targets) verify(t);
      if (running) {
        again = true;
        return;
      }
      running = check().finally(() => {
        running = undefined;
        if (again) {
          again = false;
          schedule();
        }
      });
    };
    const schedule = (): void => {
      if (stopped) return;
      if (timer) clearTimeout(timer);
      const now = Date.now();
      firstEventAt ??= now;
      const deadline = firstEventAt + debounceMs * MAX_DEBOUNCE_PERIODS;
      timer = setTimeout(run, Math.max(0, Math.min(debounceMs, deadline - now)));
      timer.unref();
    };

    // Each directory is watched itself while it exists. An inotify watch follows the inode, not
    // the name: once the directory is removed or replaced (rm -rf and mkdir, a rename over it), its
    // watch hears nothing more. So each event (and each check) looks whether the name still leads
    // to the watched directory; if not, the watch is dropped and the directory watched anew, or,
    // while it is missing, its nearest existing ancestor is watched (and polled, as a backstop)
    // until it is back.
    interface Target {
      dir: string;
      watcher?: FSWatcher;
      dev?: number;
      ino?: number;
      /** While `dir` is missing: the ancestor watched instead. */
      waiting?: FSWatcher;
      waitingOn?: string;
      /** fs.watch failed on `dir` although it exists: polled only. */
      unwatchable?: boolean;
    }
    const targets: Target[] = watchedDirectories().map((dir) => ({ dir }));

    const statDir = (path: string): Stats | undefined => {
      try {
        const st = statSync(path);
        return st.isDirectory() ? st : undefined;
      } catch {
        return undefined;
      }
    };
    const release = (t: Target): void => {
      t.watcher?.close();
      t.waiting?.close();
      t.watcher = undefined;
      t.waiting = undefined;
      t.waitingOn = undefined;
    };
    const nearestAncestor = (dir: string): string | undefined => {
      for (let p = dirname(dir); ; p = dirname(p)) {
        if (statDir(p)) return p;
        if (dirname(p) === p) return undefined;
      }
    };
    const arm = (t: Target): void => {
      if (stopped) return;
      release(t);
      t.unwatchable = false;
      const st = statDir(t.dir);
      if (st) {
        try {
          const w = fsWatch(t.dir, { persistent: false }, (event, name) => {
            // The directory itself removed or moved away (Node names it by its own base name):
            // re-watch whatever is at the path now, even a new directory that reuses the inode number.
            if (event === 'rename' && name === basename(t.dir)) arm(t);
            else verify(t);
            schedule();
          });
          w.on('error', () => {
            if (t.watcher !== w) return;
            release(t);
            wait(t);
            schedule();
          });
          t.watcher = w;
          t.dev = st.dev;
          t.ino = st.ino;
          return;
        } catch {
          // fs.watch cannot watch it (no inotify left, a filesystem without events): poll.
          t.unwatchable = true;
          poll();
          return;
        }
      }
      wait(t);
    };
    const wait = (t: Target): void => {
      poll();
      const ancestor = nearestAncestor(t.dir);
      if (ancestor === undefined) return;
      try {
        const w = fsWatch(ancestor, { persistent: false }, () => {
          if (t.waiting !== w) return;
          // The directory is back, or a nearer ancestor now exists: watch that instead.
          if (statDir(t.dir) || nearestAncestor(t.dir) !== ancestor) arm(t);
          schedule();
        });
        w.on('error', () => {
          if (t.waiting !== w) return;
          w.close();
          t.waiting = undefined;
          t.waitingOn = undefined;
        });
        t.waiting = w;
        t.waitingOn = ancestor;
      } catch {
        return; // polling alone
      }
      // It may have appeared between the look above and the watch.
      if (statDir(t.dir) || nearestAncestor(t.dir) !== ancestor) arm(t);
    };
    /** Re-watches `t` when its name no longer leads to the watched directory (or it came back). */
    const verify = (t: Target): void => {
      if (stopped) return;
      if (t.watcher) {
        const st = statDir(t.dir);
        if (st && st.ino === t.ino && st.dev === t.dev) return;
        arm(t);
        schedule();
      } else if (t.unwatchable || statDir(t.dir) || nearestAncestor(t.dir) !== t.waitingOn) {
        arm(t);
        if (t.watcher) schedule();
      }
    };
    const poll = (): void => {
      if (poller || stopped) return;
      poller = setInterval(() => {
        run();
        // Every directory watched again: events suffice.
        if (poller && targets.every((t) => t.watcher)) {
          clearInterval(poller);
          poller = undefined;
        }
      }, pollIntervalMs);
      poller.unref();
    };
    for (const t of targets) arm(t);

    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      if (poller) clearInterval(poller);
      for (const t of targets) release(t);
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
