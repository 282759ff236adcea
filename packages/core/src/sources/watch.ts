// Watching credential files for replacement, for fileSource's `watch()`: each directory is watched
// with fs.watch while it exists, events are debounced (bounded, so a directory that never goes quiet
// is still read), a replaced or removed directory is found again by its name (the Kubernetes atomic
// writer swaps `..data`; rm -rf and mkdir make a new inode), a missing one is waited for by watching
// its nearest ancestor and polling, and where fs.watch fails the files are polled. A change is what
// the caller's `version()` says changed: an event that leaves the content as it was is not reported.
import { type FSWatcher, watch as fsWatch, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { onePerPath } from './shared.js';

/** How many debounce periods events may keep postponing a read (a log written beside the credential never goes quiet). */
const MAX_DEBOUNCE_PERIODS = 10;

export interface WatchFilesOptions {
  /** A directory, or a file (a bundle: its directory is watched). */
  path?: string | undefined;
  /** Directories to watch as well (those of explicitly named files). */
  directories: Iterable<string>;
  /** Quiet time after the last event before the files are read. */
  debounceMs: number;
  /** Polling period where fs.watch fails, and while a watched directory is missing. */
  pollIntervalMs: number;
  /** The content's version now (it reads the files); a failure counts as no change. */
  version: () => Promise<string | undefined>;
  /** The version the caller last loaded, if any: a change is reported against it. */
  lastSeen: string | undefined;
  /** Called once per change seen; its failure is its own. */
  onChange: () => void;
}

/**
 * Watches the files of a credential; calls `onChange` when their version changes. Returns the
 * function that stops watching (timers, watchers, pending looks at the filesystem).
 */
export function watchFiles(options: WatchFilesOptions): () => void {
  const { debounceMs, pollIntervalMs, onChange } = options;
  let stopped = false;
  // Aborted by stop(): a look at the filesystem still pending then settles.
  const halt = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let firstEventAt: number | undefined;
  let poller: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const version = (): Promise<string | undefined> => options.version().catch(() => undefined);
  // The version the caller last saw: that of its last load, else what is there now.
  let baseline: Promise<string | undefined> =
    options.lastSeen !== undefined ? Promise.resolve(options.lastSeen) : version();

  const check = async (): Promise<void> => {
    const before = await baseline;
    const now = await version();
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
  for (const dir of new Set(options.directories)) targets.push({ path: dir, mayBeFile: false });

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
      const same = t.watcher && found.dir === t.dir && found.stats.dev === t.dev && found.stats.ino === t.ino;
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
  };
  return stop;
}
