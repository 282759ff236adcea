// Writing files that hold secrets: created exclusively with mode 0600, never over an existing file
// unless told (--force), so a key cannot be readable by others for a moment nor silently replaced.

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from './args.js';

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Throws a UsageError naming the first of `paths` that exists, unless `force`. */
export async function refuseOverwrite(
  paths: string[],
  force: boolean,
  why = 'It may be in use',
): Promise<void> {
  if (force) return;
  for (const path of paths) {
    if (await exists(path)) {
      throw new UsageError(
        `${path} already exists. ${why}: move it away, choose another --out, or pass --force to replace it.`,
      );
    }
  }
}

/**
 * Creates `path` with `mode` (default 0600) and writes `data`. Without `force` an existing file is an
 * error (O_EXCL, which also refuses a symlink planted there); with `force` the data goes to a new
 * file beside it that then replaces it in one rename, so the old file survives a failed write.
 */
export async function writeNewFile(
  path: string,
  data: string | Uint8Array,
  force: boolean,
  mode = 0o600,
): Promise<void> {
  const target = force
    ? join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
    : path;
  const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // a umask can only remove bits; this states the intent whatever it is
  } catch (err) {
    await handle.close();
    if (force) await unlink(target).catch(() => {});
    throw err;
  }
  await handle.close();
  if (force) await rename(target, path);
}
