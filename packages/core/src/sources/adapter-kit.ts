// Small pieces every vault adapter needs alike, so that each does not spell them again: the error of
// a closed source, the check of a `timeoutMs` option, how much of a vendor's message an error may
// quote, and which Node/undici codes mean "the request got no answer".
import { MtlsError } from '../errors.js';

/** CLOSED for a source used after its `close()`. */
export function closedSourceError(sourceId: string): MtlsError {
  return new MtlsError('CLOSED', `the source ${sourceId} was closed: create a new one`, { sourceId });
}

/** `timeoutMs` as given, or `fallback` when absent; INVALID_OPTION unless a positive finite number. */
export function timeoutOption(value: number | undefined, fallback: number, sourceId: string): number {
  const timeoutMs = value ?? fallback;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new MtlsError('INVALID_OPTION', `timeoutMs must be a positive number, got ${timeoutMs}`, {
      sourceId,
    });
  }
  return timeoutMs;
}

/**
 * What of a vendor's error message an MtlsError may quote: its first line (surrounding whitespace
 * trimmed), cut to `max` characters with "…"; '' when it is not a string. The MtlsError redacts it too.
 */
export function quoteVendorMessage(message: unknown, max = 300): string {
  if (typeof message !== 'string') return '';
  const line = message.split(/\r?\n/)[0]?.trim() ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** Node and undici error codes of a request that got no answer (retryable: SOURCE_UNAVAILABLE). */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EPROTO',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Whether `code` (an error's `code`) says the request got no answer. */
export function isNetworkErrorCode(code: unknown): boolean {
  return typeof code === 'string' && NETWORK_ERROR_CODES.has(code);
}
