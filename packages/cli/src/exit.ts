// Exit codes, one table, so cron jobs and CI can tell "fix the credential" from "fix the call" from
// "the store is down": 0 healthy, 1 invalid, 2 usage, 3 expiring soon, 4 source unreachable or denied.
import { MtlsError, redactText } from '@mtlskit/core/adapter';
import { UsageError } from './args.js';
import type { CliIo } from './io.js';

export const EXIT = {
  /** Healthy (inspect), accepted (check), done (the others). */
  OK: 0,
  /** The credential is unusable, or the server refused it. */
  INVALID: 1,
  /** The command was called wrongly, or cannot work as configured (unknown scheme, adapter not installed). */
  USAGE: 2,
  /** Usable, but it expires within --warn-days. */
  EXPIRING: 3,
  /** The credential (or the server, for check) could not be reached, or access was refused. */
  UNREACHABLE: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** MtlsError codes that mean "could not read it", not "read it and it is bad". */
const UNREACHABLE_CODES = new Set([
  'SOURCE_UNAVAILABLE',
  'ACCESS_DENIED',
  'THROTTLED',
  'SOURCE_NOT_FOUND',
  'PROXY_FAILED',
]);

/** MtlsError codes that mean the invocation itself is wrong: a reference, an option, a missing package. */
const USAGE_CODES = new Set(['INVALID_REFERENCE', 'INVALID_OPTION', 'ADAPTER_NOT_INSTALLED']);

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT.USAGE;
  if (MtlsError.is(err)) {
    if (UNREACHABLE_CODES.has(err.code)) return EXIT.UNREACHABLE;
    if (USAGE_CODES.has(err.code)) return EXIT.USAGE;
  }
  return EXIT.INVALID;
}

/** What a failure looks like in `--json` output. */
export function errorJson(err: unknown): { code: string; message: string; retryable?: boolean } {
  if (MtlsError.is(err)) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof UsageError) return { code: 'USAGE', message: err.message };
  return { code: 'INTERNAL', message: safeMessage(err) };
}

/**
 * The text of an error that is not an MtlsError (a bug, an I/O failure): its name and message,
 * redacted by core's rules (no PEM, no long Base64), never its properties.
 */
export function safeMessage(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const code = typeof e?.code === 'string' ? ` ${e.code}` : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return redactText(`${name}${code}: ${message}`);
}

/** Prints a failure to stderr in the form every command shares. */
export function printError(io: CliIo, err: unknown, command: string | undefined): void {
  if (err instanceof UsageError) {
    const help = command ? `mtlskit ${command} --help` : 'mtlskit --help';
    io.err(`mtlskit: ${err.message}\nRun \`${help}\` for usage.\n`);
  } else if (MtlsError.is(err)) {
    io.err(`mtlskit: error ${err.code}: ${err.message}\n`);
  } else {
    io.err(`mtlskit: unexpected error: ${safeMessage(err)}\n`);
  }
}
