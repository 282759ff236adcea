// fileSource.watch() over a directory whose (hard-mounted network) filesystem stops answering:
// every look the watcher takes at the filesystem is asynchronous, and one at a time per path, so
// events there never freeze the event loop nor pile up blocked calls. The hang is simulated for
// the watched directory alone: from then on, a stat of it through the promise API does not settle
// until the mount "recovers", and a synchronous one blocks the calling thread for a second, as a
// stat on a hung NFS mount does.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestCA } from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadCredentials } from '../validation/load.js';
import { until, watchedByThisProcess } from './__tests__/watching.js';
import { fileSource } from './file.js';

const mount = vi.hoisted(() => {
  const state = {
    /** The directory whose filesystem hangs, while it does. */
    hung: undefined as string | undefined,
    /** How many stat calls on it began while it hung. */
    stats: 0,
    recovered: Promise.resolve(),
    recover: () => {},
    hang(dir: string): void {
      state.hung = dir;
      state.stats = 0;
      state.recovered = new Promise<void>((resolve) => {
        state.recover = () => {
          state.hung = undefined;
          resolve();
        };
      });
    },
  };
  return state;
});

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const statSync = ((path: Parameters<typeof fs.statSync>[0], ...rest: unknown[]) => {
    if (mount.hung !== undefined && String(path) === mount.hung) {
      mount.stats++;
      const until = Date.now() + 1000;
      while (Date.now() < until) {} // the thread blocks in the kernel
    }
    return (fs.statSync as (...args: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.statSync;
  return { ...fs, default: { ...fs, statSync }, statSync };
});

vi.mock('node:fs/promises', async (importOriginal) => {
  const fsp = await importOriginal<typeof import('node:fs/promises')>();
  const stat = (async (path: Parameters<typeof fsp.stat>[0], ...rest: unknown[]) => {
    if (mount.hung !== undefined && String(path) === mount.hung) {
      mount.stats++;
      await mount.recovered;
    }
    return (fsp.stat as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
  }) as typeof fsp.stat;
  return { ...fsp, default: { ...fsp, stat }, stat };
});

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mtlskit-hung-'));
});
afterAll(async () => {
  mount.recover();
  await rm(root, { recursive: true, force: true });
});

describe('fileSource watch() on a hung mount', () => {
  it('keeps the event loop running through events in a directory that hangs, with one look at it pending, and goes on once it answers', async () => {
    const ca = await TestCA.create();
    const one = await ca.issueClient({ commonName: 'hung one' });
    const two = await ca.issueClient({ commonName: 'hung two' });
    const cert = join(root, 'cert.pem');
    const key = join(root, 'key.pem');
    await writeFile(cert, one.fullChainPem, { mode: 0o600 });
    await writeFile(key, one.keyPem, { mode: 0o600 });
    const source = fileSource({ cert, key, debounceMs: 20 });
    await source.load();
    let calls = 0;
    const stop = source.watch(() => calls++);
    try {
      await until(() => watchedByThisProcess(root) !== false, 'the directory is watched');
      await sleep(100); // the read that follows the watch is done

      mount.hang(root);
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      // Files come and go in the hung directory (the kernel still reports them: a client's cache).
      for (let i = 0; i < 3; i++) {
        await writeFile(join(root, `noise-${i}.txt`), `${i}`);
        await sleep(20);
      }
      await sleep(300); // several debounce periods: every event and read has been handled
      delay.disable();
      expect(delay.max / 1e6, 'longest event-loop stall (ms)').toBeLessThan(500);
      expect(mount.stats, 'stat calls on the hung directory').toBe(1);
      expect(calls, 'nothing changed').toBe(0);

      // The mount answers again: watching goes on.
      mount.recover();
      await writeFile(join(root, 'key.tmp'), two.keyPem, { mode: 0o600 });
      await writeFile(join(root, 'cert.tmp'), two.fullChainPem, { mode: 0o600 });
      await rename(join(root, 'key.tmp'), key);
      await rename(join(root, 'cert.tmp'), cert);
      await until(() => calls > 0, 'the change reported');
      expect((await loadCredentials(await source.load())).fingerprint256).toBe(two.fingerprint256);
    } finally {
      stop();
      mount.recover();
    }
  });
});
