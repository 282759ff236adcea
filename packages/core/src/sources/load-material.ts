// source.load() with the one error rule every caller of a source keeps: an MtlsError or the caller's
// own abort passes through; anything else becomes SOURCE_UNAVAILABLE naming only the error's name and
// code (its text may quote secrets), the cause redacted.
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource, SourceContext } from '../types.js';

/**
 * Loads `source`. Rejects with the source's MtlsError as it is, with the signal's reason when
 * `ctx.signal` aborted the load, and with SOURCE_UNAVAILABLE (retryable, the source id, the cause
 * redacted) for any other failure.
 */
export async function loadMaterial(
  source: CredentialSource,
  ctx?: SourceContext,
): Promise<CredentialMaterial> {
  try {
    return await source.load(ctx ?? {});
  } catch (err) {
    // An abort is the caller's own doing: it passes through unchanged, as AbortSignal users expect.
    if (err instanceof MtlsError || (ctx?.signal?.aborted && err === ctx.signal.reason)) throw err;
    if ((err as Error | undefined)?.name === 'AbortError' && ctx?.signal?.aborted) throw err;
    throw sourceUnavailable(err, source.id);
  }
}

/**
 * `err` when it is an MtlsError; else SOURCE_UNAVAILABLE naming only its name and code (its text may
 * quote secrets: a token in a URL, a header), the cause redacted.
 */
export function sourceUnavailable(err: unknown, sourceId: string | undefined): MtlsError {
  if (MtlsError.is(err)) return err;
  const e = err as { name?: unknown; code?: unknown } | null;
  const what = [typeof e?.name === 'string' ? e.name : 'Error', typeof e?.code === 'string' ? e.code : '']
    .filter(Boolean)
    .join(' ');
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `Loading the credential from ${sourceId ?? 'the source'} failed (${what}). Check that the source is reachable and its settings are right, then retry.`,
    { sourceId, cause: err },
  );
}
