// Writing files that hold secrets: created exclusively with mode 0600, never over an existing file
// unless told (--force), so a key cannot be readable by others for a moment nor silently replaced.
import { constants } from 'node:fs';
import { chmod, open, stat, unlink } from 'node:fs/promises';
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

/** Creates `path` with `mode` (default 0600) and writes `data`; replaces an existing file only when `force`. */
export async function writeNewFile(
  path: string,
  data: string | Uint8Array,
  force: boolean,
  mode = 0o600,
): Promise<void> {
  if (force) await unlink(path).catch(() => {});
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
  await chmod(path, mode); // a umask can only remove bits; this states the intent whatever it is
}
