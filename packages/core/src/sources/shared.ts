// What the built-in sources share: reading one stored file with errors that say what went wrong
// (missing, a directory, unreadable, empty), the key-file permission warning, and the content
// digest used as `version`. Internal to core.
import { createHmac, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { inspect } from 'node:util';
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, FieldValue, Finding } from '../types.js';
import { withDeadline } from './deadline.js';

/** Far above any real credential (a PKCS#12 with a long chain is a few KiB); stops a wrong path at /dev/zero. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Fields whose file gives away the private key when others can read it. */
const SECRET_FIELDS = new Set(['key', 'pfx', 'passphrase', 'bundle']);

/** Throws the signal's reason (an AbortError unless the caller gave another) when it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

/** True for the error codes that mean "not there" (as opposed to "there but unreadable"). */
export function isNotFound(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

// Marks a SOURCE_NOT_FOUND that means "configured, but what it names is wrong" (a `_FILE` variable
// naming a missing file, a directory where a file belongs, a certificate without its key), as
// opposed to "nothing is configured here". firstOf falls through only on the latter. Shared through
// Symbol.for, so that two copies of core agree; not enumerable, so it shows nowhere.
const BROKEN = Symbol.for('mtlskit.configuredButBroken');

/** Marks `err` as a broken configuration (see {@link isBrokenConfiguration}); returns it. */
export function brokenConfiguration<E>(err: E): E {
  if (typeof err === 'object' && err !== null && !Object.hasOwn(err, BROKEN)) {
    Object.defineProperty(err, BROKEN, { value: true });
  }
  return err;
}

/** True when a source said "configured, but broken" rather than "nothing here". */
export function isBrokenConfiguration(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BROKEN] === true;
}

/** Turns a filesystem error about `label` into the MtlsError a user can act on. */
export function fileError(err: unknown, label: string, sourceId: string, field?: string): MtlsError {
  if (err instanceof MtlsError) return err;
  const opts = { sourceId, cause: err, ...(field !== undefined && { field }) };
  switch (errnoCode(err)) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new MtlsError('SOURCE_NOT_FOUND', `${label}: no such file. Check the path.`, opts);
    case 'EACCES':
    case 'EPERM':
      return new MtlsError(
        'ACCESS_DENIED',
        `${label}: permission denied. Give the user this process runs as read access to it (and to its directories).`,
        opts,
      );
    case 'ELOOP':
      return brokenConfiguration(
        new MtlsError('SOURCE_NOT_FOUND', `${label}: symbolic link loop. Fix the link.`, opts),
      );
    case 'EISDIR':
      return isDirectoryError(label, sourceId, field);
    default:
      return new MtlsError(
        'SOURCE_UNAVAILABLE',
        `${label}: could not be read (${errnoCode(err) ?? 'I/O error'}).`,
        opts,
      );
  }
}

function isDirectoryError(label: string, sourceId: string, field?: string): MtlsError {
  return brokenConfiguration(
    new MtlsError(
      'SOURCE_NOT_FOUND',
      `${label} is a directory, where a file was expected. Name the file inside it, or use file:DIRECTORY for a directory of well-known names.`,
      { sourceId, ...(field !== undefined && { field }) },
    ),
  );
}

/** Text when the bytes are UTF-8 text (PEM, Base64, JSON); the bytes themselves otherwise (DER, PKCS#12). */
function asStored(bytes: Buffer, field: string): FieldValue {
  if (field === 'pfx' || bytes.includes(0)) return bytes;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes;
  }
}

export interface StoredFile {
  value: FieldValue;
  stats: Stats;
}

/**
 * `op`, or the signal's reason as soon as the signal is aborted, whichever comes first: a blocked
 * filesystem call (a FIFO without a writer, a hung network mount) must not hold up an abort. What
 * `op` yields after the abort is handed to `late` (to close a handle that opened too late), and its
 * failure is swallowed, so nothing is left unhandled. The race is {@link withDeadline}'s, without a
 * timeout: the signal carries the caller's deadline.
 */
export function abortable<T>(
  op: Promise<T>,
  signal: AbortSignal | undefined,
  late?: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return op;
  const raced = withDeadline(() => op, { signal, onTimeout: () => signal.reason });
  raced.catch(() => {
    if (!signal.aborted) return;
    op.then(
      (value) => {
        try {
          late?.(value);
        } catch {}
      },
      () => {},
    );
  });
  return raced;
}

// The filesystem call pending on each path: at most one at a time (see onePerPath).
const pendingCalls = new Map<string, Promise<void>>();

/**
 * Starts the filesystem call `start` on `path` once no other call on that path is pending, and
 * races it against `signal` (see {@link abortable}). A call blocked on a FIFO or a hung network
 * mount holds one of libuv's threadpool threads (4 unless `UV_THREADPOOL_SIZE` says otherwise,
 * shared with every file read, DNS lookup and async crypto call of the process) until the kernel
 * lets it go, abort or not. So a later attempt on that path waits for the pending call, abortably,
 * instead of taking another thread: a hung path holds one thread however many loads time out on it.
 */
export async function onePerPath<T>(
  path: string,
  signal: AbortSignal | undefined,
  start: () => Promise<T>,
  late?: (value: T) => void,
): Promise<T> {
  for (let busy = pendingCalls.get(path); busy !== undefined; busy = pendingCalls.get(path)) {
    await abortable(busy, signal);
  }
  throwIfAborted(signal);
  let op: Promise<T>;
  try {
    op = start();
  } catch (err) {
    op = Promise.reject(err);
  }
  const settled = op.then(
    () => {},
    () => {},
  );
  pendingCalls.set(path, settled);
  // Registered before anyone awaits `settled`: the path is free by the time a waiter wakes.
  const free = (): void => {
    if (pendingCalls.get(path) === settled) pendingCalls.delete(path);
  };
  op.then(free, free);
  return abortable(op, signal, late);
}

type Handle = Awaited<ReturnType<typeof open>>;

/** Closes a handle that opened after its read was abandoned. */
function closeLate(handle: Handle): void {
  handle.close().catch(() => {});
}

/**
 * Reads one stored credential file as it is. `label` is what the user wrote (`MTLS_KEY_FILE (/run/key.pem)`),
 * `path` what is opened (it may be the resolved target of a symlink). Every filesystem call is
 * raced against `signal`: an abort rejects at once even while `open()` blocks (a FIFO, a hung mount),
 * and goes through {@link onePerPath}, so an abandoned call is not repeated while it still blocks.
 */
export async function readStoredFile(
  path: string,
  label: string,
  field: string,
  sourceId: string,
  signal?: AbortSignal,
): Promise<StoredFile> {
  throwIfAborted(signal);
  let handle: Handle | undefined;
  try {
    const opened = await onePerPath(path, signal, () => open(path, 'r'), closeLate);
    handle = opened;
    const stats = await onePerPath(path, signal, () => opened.stat());
    if (stats.isDirectory()) throw isDirectoryError(label, sourceId, field);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      throwIfAborted(signal);
      const { bytesRead, buffer } = await onePerPath(path, signal, () =>
        opened.read({ buffer: Buffer.alloc(64 * 1024) }),
      );
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_FILE_BYTES) {
        throw new MtlsError(
          'DECODE_FAILED',
          `${label} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB, which no credential is. Check the path.`,
          { sourceId, field },
        );
      }
      chunks.push(buffer.subarray(0, bytesRead));
    }
    if (total === 0) {
      throw new MtlsError(
        'MISSING_FIELD',
        `${label} is empty. Write the ${field} into it, or fix the path.`,
        {
          sourceId,
          field,
        },
      );
    }
    return { value: asStored(Buffer.concat(chunks, total), field), stats };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw fileError(err, label, sourceId, field);
  } finally {
    // After an abort a read may still be pending, and close() waits for it: close in the background.
    const closing = handle?.close().catch(() => {});
    if (!signal?.aborted) await closing;
  }
}

/** A warning when a file holding key material is readable by group or others (POSIX only). */
export function permissionFinding(path: string, stats: Stats, field: string): Finding | undefined {
  if (process.platform === 'win32' || !SECRET_FIELDS.has(field)) return undefined;
  const mode = stats.mode & 0o777;
  if ((mode & 0o044) === 0) return undefined;
  const who = [mode & 0o040 && 'its group', mode & 0o004 && 'all users'].filter(Boolean).join(' and ');
  return {
    code: 'KEY_FILE_PERMISSIONS',
    severity: 'warning',
    field,
    message: `${path} (the ${field}) is readable by ${who} (mode ${mode.toString(8).padStart(4, '0')}).`,
    fix: `Run chmod 600 ${path} (or 400); on Kubernetes set defaultMode: 0400 on the Secret volume.`,
  };
}

/**
 * Collects the warnings of each load and reports each distinct one once per source, through
 * `onWarning` (default: `process.emitWarning`, code `MTLSKIT_KEY_FILE_PERMISSIONS`).
 */
export class WarningLog {
  #reported = new Set<string>();
  #current: readonly Finding[] = [];
  readonly #onWarning: (finding: Finding) => void;

  constructor(onWarning: ((finding: Finding) => void) | undefined) {
    this.#onWarning =
      onWarning ??
      ((f) =>
        process.emitWarning(`${f.message} ${f.fix}`, { type: 'MtlskitWarning', code: `MTLSKIT_${f.code}` }));
  }

  /** The warnings of the last successful read. */
  get current(): readonly Finding[] {
    return this.#current;
  }

  commit(findings: readonly Finding[]): void {
    this.#current = Object.freeze([...findings]);
    for (const f of findings) {
      const key = `${f.code}\0${f.message}`;
      if (this.#reported.has(key)) continue;
      this.#reported.add(key);
      try {
        this.#onWarning(f);
      } catch {
        // A throwing warning handler must not turn a good load into a failed one.
      }
    }
  }
}

// Keyed per process, so a version id says nothing about the content to anyone who sees it
// (a bare hash of a short passphrase could be brute-forced).
const DIGEST_KEY = randomBytes(32);
const MATERIAL_FIELDS = ['cert', 'key', 'passphrase', 'ca', 'pfx', 'bundle', 'contentType'] as const;

/** A version id that changes exactly when any stored field changes. */
export function materialDigest(material: CredentialMaterial): string {
  const h = createHmac('sha256', DIGEST_KEY);
  for (const name of MATERIAL_FIELDS) {
    const value = material[name];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values as FieldValue[]) {
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      h.update(`${name}:${typeof v === 'string' ? 's' : 'b'}:${bytes.length}:`);
      h.update(bytes);
    }
  }
  return h.digest('hex').slice(0, 32);
}

/** What `util.inspect` and `JSON.stringify` show of a source: its id and kind, never what it holds. */
export function describeSource(target: object, name: string, id: string, kind: string): void {
  Object.defineProperties(target, {
    [inspect.custom]: { value: () => `${name} { id: ${JSON.stringify(id)}, kind: '${kind}' }` },
    toJSON: { value: () => ({ type: name, id, kind }) },
  });
}
