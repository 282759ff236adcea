// fileSource: a credential in files — explicit paths, a directory of well-known names (mtlskit's
// `certificate.pem`/`private.key`/`ca.pem` or Kubernetes' `tls.crt`/`tls.key`/`ca.crt`), or one PEM
// holding key and certificate — and `watch()`, which notices replacements, including the
// Kubernetes atomic writer swapping the `..data` symlink of a Secret or CSI volume.
//
// Files are always read as one generation: each path is resolved through its symlinks, read, and
// resolved again; if any resolution moved meanwhile (a `..data` swap), the whole set is read again.
// So a certificate of one generation is never paired with the key of another.
import { type FSWatcher, watch as fsWatch, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
/** How many debounce periods events may keep postponing a read (a log written beside the credential never goes quiet). */
const MAX_DEBOUNCE_PERIODS = 10;

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
    let stopped = false;
    // Aborted by stop(): a look at the filesystem still pending then settles.
    const halt = new AbortController();
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
    // watch hears nothing more. So each event of a watch looks (asynchronously: a hung mount must
    // not freeze the event loop) whether the name still leads to the watched directory; if not,
    // the directory at the name is watched anew, or, while it is missing, its nearest existing
    // ancestor is watched (and polled, as a backstop) until it is back. Only a directory watched
    // anew, never an event of the ancestor, leads to a read.
    interface Target {
      /** A directory; or, for the `path` option, a directory or a file (a bundle). */
      path: string;
      /** `path` may be a file, whose directory is then the one watched. */
      mayBeFile: boolean;
      /** The directory watched now: `path`, or its directory when `path` is a file. */
      dir?: string;
      watcher?: FSWatcher;
      dev?: number;
      ino?: number;
      /** While `path` is missing: the ancestor watched instead. */
      waiting?: FSWatcher;
      waitingOn?: string;
      /** fs.watch failed on `dir` although it exists: polled only. */
      unwatchable?: boolean;
      /** A look at the filesystem is under way; `lookAgain` once it is done; `forced`: watch anew even if unchanged. */
      looking?: boolean;
      lookAgain?: boolean;
      forced?: boolean;
    }
    const targets: Target[] = [];
    if (options.path !== undefined) targets.push({ path: options.path, mayBeFile: true });
    const dirs = new Set<string>();
    for (const f of EXPLICIT_FIELDS) {
      const p = options[f];
      if (p !== undefined) dirs.add(dirname(p));
    }
    for (const dir of dirs) targets.push({ path: dir, mayBeFile: false });

    /** The stats of `path`, or undefined when it cannot be seen (missing, or watching stopped). */
    const statOf = (path: string): Promise<Stats | undefined> =>
      onePerPath(path, halt.signal, () => stat(path)).catch(() => undefined);
    /** The directory to watch for `t`, or undefined while there is none. */
    const directoryFor = async (t: Target): Promise<{ dir: string; stats: Stats } | undefined> => {
      const st = await statOf(t.path);
      if (st?.isDirectory()) return { dir: t.path, stats: st };
      if (st === undefined || !t.mayBeFile) return undefined;
      const dir = dirname(t.path);
      const parent = await statOf(dir);
      return parent?.isDirectory() ? { dir, stats: parent } : undefined;
    };
    const nearestAncestor = async (path: string): Promise<string | undefined> => {
      for (let p = dirname(path); ; p = dirname(p)) {
        if ((await statOf(p))?.isDirectory()) return p;
        if (stopped || dirname(p) === p) return undefined;
      }
    };
    const release = (t: Target): void => {
      t.watcher?.close();
      t.waiting?.close();
      t.watcher = undefined;
      t.waiting = undefined;
      t.waitingOn = undefined;
      t.unwatchable = false;
    };
    const watchDirectory = (t: Target, dir: string, stats: Stats): void => {
      release(t);
      t.dir = dir;
      try {
        const w = fsWatch(dir, { persistent: false }, (event, name) => {
          if (t.watcher !== w) return;
          // The directory itself removed or moved away (Node names it by its own base name):
          // watch whatever is at the name now, even a new directory that reuses the inode number.
          if (event === 'rename' && name === basename(dir)) {
            refresh(t, true);
            return;
          }
          refresh(t);
          schedule();
        });
        w.on('error', () => {
          if (t.watcher !== w) return;
          release(t);
          poll();
        });
        t.watcher = w;
        t.dev = stats.dev;
        t.ino = stats.ino;
      } catch {
        // fs.watch cannot watch it (no inotify left, a filesystem without events): poll.
        t.unwatchable = true;
        poll();
        return;
      }
      // Watched anew: what changed before the watch began is read now. And the directory may have
      // been replaced between the look and the watch: look again.
      schedule();
      t.lookAgain = true;
    };
    const waitFor = (t: Target, ancestor: string | undefined): void => {
      release(t);
      t.dir = undefined;
      poll();
      if (ancestor === undefined) return;
      try {
        const w = fsWatch(ancestor, { persistent: false }, () => {
          // Something changed in the ancestor: perhaps the directory is back, or a nearer ancestor exists.
          if (t.waiting === w) refresh(t);
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
      // It may have appeared between the look and the watch.
      t.lookAgain = true;
    };
    /** Looks where `t` is now and watches that, unless it is what is watched already. */
    const reconcile = async (t: Target): Promise<void> => {
      const forced = t.forced === true;
      t.forced = false;
      const found = await directoryFor(t);
      const ancestor = found === undefined ? await nearestAncestor(t.path) : undefined;
      if (stopped) return;
      if (found !== undefined) {
        const same =
          t.watcher && found.dir === t.dir && found.stats.dev === t.dev && found.stats.ino === t.ino;
        if (same && !forced) return;
        // (An unwatchable directory is tried again here at each poll; the poll reads it.)
        watchDirectory(t, found.dir, found.stats);
        return;
      }
      if (t.waiting && ancestor === t.waitingOn) return;
      waitFor(t, ancestor);
    };
    /** Runs {@link reconcile} for `t`, one at a time: a call meanwhile makes it run once more after. */
    const refresh = (t: Target, force = false): void => {
      if (stopped) return;
      if (force) t.forced = true;
      if (t.looking) {
        t.lookAgain = true;
        return;
      }
      t.looking = true;
      t.lookAgain = false;
      void reconcile(t)
        .catch(() => {})
        .finally(() => {
          t.looking = false;
          if (t.lookAgain) refresh(t);
        });
    };
    const poll = (): void => {
      if (poller || stopped) return;
      poller = setInterval(() => {
        // Every directory watched again: events suffice.
        if (targets.every((t) => t.watcher)) {
          clearInterval(poller);
          poller = undefined;
          return;
        }
        for (const t of targets) if (!t.watcher) refresh(t);
        // Where fs.watch cannot watch, reading is the only way to see a change.
        if (targets.some((t) => t.unwatchable)) run();
      }, pollIntervalMs);
      poller.unref();
    };
    for (const t of targets) refresh(t);

    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      halt.abort();
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
