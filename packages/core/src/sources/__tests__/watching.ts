// Test helpers for watch(): whether this process watches a directory, and waiting for a condition.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Whether this process holds an inotify watch on `dir`: /proc/self/fdinfo lists every watch with
 * its inode. Undefined where there is no such file (not Linux).
 */
export function watchedByThisProcess(dir: string): boolean | undefined {
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fdinfo');
  } catch {
    return undefined;
  }
  const ino = ` ino:${statSync(dir).ino.toString(16)} `;
  return fds.some((fd) => {
    try {
      return readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .some((line) => line.startsWith('inotify ') && line.includes(ino));
    } catch {
      return false; // closed meanwhile
    }
  });
}

/** Resolves once `condition()` holds, looking every 10 ms; fails after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}
