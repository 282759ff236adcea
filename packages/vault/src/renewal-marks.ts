// Staged renewal on Vault KV v2 keeps three marks in the secret's custom_metadata, each a version
// number: `mtlskit-current` (the version applications read, once a renewal has begun; absent: the
// latest), `mtlskit-pending` (the new version being prepared) and `mtlskit-previous` (the version a
// rollback returns to). Vault returns custom_metadata with every data read (Vault >= 1.9), so
// following the mark costs no call of its own. Metadata writes have no check-and-set: each write of
// the marks is read back, and a difference is reported as a race.
import { MtlsError } from '@mtlskit/core/adapter';

export const CURRENT = 'mtlskit-current';
export const PENDING = 'mtlskit-pending';
export const PREVIOUS = 'mtlskit-previous';
const MARKS = [CURRENT, PENDING, PREVIOUS] as const;

/** A secret's custom_metadata; null when it has none. */
export type CustomMetadata = Record<string, string> | null;

/**
 * The custom_metadata of a Vault answer's `metadata` (data read) or `data` (metadata read);
 * undefined when the answer has no such key (Vault before 1.9, which keeps none).
 */
export function customOf(metadata: Record<string, unknown>): CustomMetadata | undefined {
  if (!('custom_metadata' in metadata)) return undefined;
  const raw = metadata.custom_metadata;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => typeof v === 'string')) as Record<
    string,
    string
  >;
}

/** The version a mark names; undefined when absent. A mark that is not a version number is refused. */
export function markOf(
  custom: CustomMetadata | undefined,
  mark: (typeof MARKS)[number],
  sourceId: string,
): number | undefined {
  const raw = custom?.[mark];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new MtlsError(
      'DECODE_FAILED',
      `the custom_metadata "${mark}" of ${sourceId} is ${JSON.stringify(raw.slice(0, 40))}, not a version number — set it to the version to use (vault kv metadata patch -custom-metadata ${mark}=N PATH) or remove it`,
      { sourceId },
    );
  }
  return n;
}

/** Whether the three marks of `a` and `b` are the same (other keys are not mtlskit's). */
export function sameMarks(a: CustomMetadata | undefined, b: CustomMetadata | undefined): boolean {
  return MARKS.every((m) => a?.[m] === b?.[m]);
}

/** custom_metadata with `changes` applied (undefined removes a mark), other keys kept. */
export function withMarks(
  custom: CustomMetadata | undefined,
  changes: Partial<Record<(typeof MARKS)[number], number | undefined>>,
): Record<string, string> {
  const next: Record<string, string> = { ...(custom ?? {}) };
  for (const [mark, value] of Object.entries(changes)) {
    if (value === undefined) delete next[mark];
    else next[mark] = String(value);
  }
  return next;
}

/**
 * The error for a change of the marks (or of the secret) by someone else while a renewal step ran:
 * Vault has no check-and-set on metadata, so the step reads its write back to find out.
 */
export function racedError(sourceId: string, doing: string, found: string): MtlsError {
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `${doing} ${sourceId} raced with another change: ${found} (Vault has no check-and-set on metadata, so another \`mtlskit renew\` or a write at the same moment can interleave) — look at the marks (vault kv metadata get PATH: ${CURRENT}, ${PENDING}, ${PREVIOUS}), run one renewal step at a time, and run this step again`,
    { sourceId, retryable: false },
  );
}

/** The refusal for a Vault that keeps no custom_metadata. */
export function noCustomMetadataError(sourceId: string): MtlsError {
  return new MtlsError(
    'INVALID_OPTION',
    `staged renewal of ${sourceId} keeps its marks in the secret's custom_metadata, which this Vault does not return: it needs Vault 1.9 or later (KV v2) — upgrade Vault, or renew with \`mtlskit store\` (a new version, current at once)`,
    { sourceId },
  );
}
