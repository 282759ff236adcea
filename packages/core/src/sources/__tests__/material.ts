// Test helpers shared by the source tests: a field as text, and a file written with a given mode.
import { chmod, writeFile } from 'node:fs/promises';
import type { FieldValue } from '../../types.js';

/** A field of loaded material as UTF-8 text, whether it came back as a string or as bytes. */
export const text = (v: FieldValue | undefined): string =>
  typeof v === 'string' ? v : Buffer.from(v ?? []).toString('utf8');

/** Writes `content` to `path` with exactly `mode` (chmod as well: the umask narrows writeFile's mode). */
export async function put(path: string, content: string | Uint8Array, mode = 0o600): Promise<string> {
  await writeFile(path, content, { mode });
  await chmod(path, mode);
  return path;
}
