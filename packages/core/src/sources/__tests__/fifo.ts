// Test helper: named pipes (FIFOs), the simplest file whose open() blocks — until a writer opens
// it — as a hung network mount does. Each blocked open() holds one of libuv's four threadpool
// threads, so every FIFO is released (a writer opened and closed) before it is removed.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Creates a FIFO at `path`; returns why it cannot where it cannot (no mkfifo, Windows). */
export function makeFifo(path: string): string | undefined {
  if (process.platform === 'win32') return 'no FIFOs on Windows';
  try {
    execFileSync('mkfifo', ['-m', '600', path], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    return `mkfifo failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

/**
 * Lets every open() blocked on the FIFO at `path` through (each then reads end-of-file): opens it
 * for writing without blocking, as long as someone has it open for reading. Returns how many times
 * a reader was there; once it returns, no one has the FIFO open for reading any more.
 */
export async function releaseFifo(path: string): Promise<number> {
  for (let round = 0; round < 400; round++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENXIO' || code === 'ENOENT') return round; // no reader left, or no FIFO
      throw err;
    }
    closeSync(fd);
    await sleep(5); // the reader reads its end-of-file and closes
  }
  throw new Error(`${path}: still open for reading after 2 s`);
}

/**
 * Removes the FIFO at `path`, releasing every open() blocked on it: moved aside first, so that an
 * open() still on its way finds no FIFO at the path, then released, then deleted.
 */
export async function removeFifo(path: string): Promise<void> {
  const aside = `${path}.removed-${process.hrtime.bigint()}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await releaseFifo(aside);
  await rm(aside, { force: true });
}

let support: string | undefined | null = null;

/** Why FIFOs cannot be made here, or undefined when they can (probed once). */
export function fifoUnsupported(dir: string): string | undefined {
  if (support !== null) return support;
  const probe = `${dir}/.fifo-probe-${process.pid}`;
  support = makeFifo(probe);
  if (support === undefined) rmSync(probe, { force: true });
  return support;
}

/**
 * How many threads of this process are blocked opening a FIFO (Linux shows them as
 * `wait_for_partner` in /proc/self/task/TID/wchan), or undefined where that cannot be seen: no
 * /proc, or a kernel that shows no wait channels (every wchan reads `0`: restricted kernels, gVisor).
 * `tasksDir` is where the threads are listed (for the helper's own test).
 */
export function fifoOpensBlocked(tasksDir = '/proc/self/task'): number | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(tasksDir);
  } catch {
    return undefined;
  }
  let blocked = 0;
  let visible = false;
  for (const tid of tasks) {
    let wchan: string;
    try {
      wchan = readFileSync(`${tasksDir}/${tid}/wchan`, 'utf8').trim();
    } catch {
      continue; // the thread ended meanwhile, or wchan is hidden
    }
    // A thread that is running shows 0; an idle one (the event loop, the threadpool) a name.
    if (wchan !== '' && wchan !== '0') visible = true;
    if (wchan.includes('wait_for_partner')) blocked++;
  }
  return visible ? blocked : undefined;
}

/**
 * Resolves once a thread of this process is blocked opening a FIFO (see {@link fifoOpensBlocked}).
 * Where that cannot be seen, waits 200 ms instead.
 */
export async function fifoOpenBlocked(timeoutMs = 5000, tasksDir?: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    const blocked = fifoOpensBlocked(tasksDir);
    if (blocked === undefined) {
      await sleep(200);
      return;
    }
    if (blocked > 0) return;
    if (Date.now() - started > timeoutMs)
      throw new Error(`no open() blocked on a FIFO within ${timeoutMs} ms`);
    await sleep(10);
  }
}
