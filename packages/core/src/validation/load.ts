// The one call most users need: a source (or material in hand) in, validated MtlsCredentials out.
// load -> decode -> validate, with every failure an MtlsError naming the source and the field.

import { type DecodeOptions, decodeWith } from '../decoding/decode.js';
import { LegacyCiphersNeeded, legacyCiphersIfLoaded, loadLegacyCiphers } from '../decoding/legacy-ciphers.js';
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource, SourceContext } from '../types.js';
import { ValidatedCredentials } from './credentials.js';
import { resolvePolicy, type ValidationPolicy } from './policy.js';
import { assertNoErrors, validateResolved } from './validate.js';

function isSource(value: CredentialSource | CredentialMaterial): value is CredentialSource {
  return (
    typeof value === 'object' && value !== null && typeof (value as CredentialSource).load === 'function'
  );
}

async function loadMaterial(
  source: CredentialSource,
  ctx: SourceContext | undefined,
): Promise<CredentialMaterial> {
  try {
    return await source.load(ctx ?? {});
  } catch (err) {
    // An abort is the caller's own doing: it passes through unchanged, as AbortSignal users expect.
    if (err instanceof MtlsError || (ctx?.signal?.aborted && err === ctx.signal.reason)) throw err;
    if ((err as Error | undefined)?.name === 'AbortError' && ctx?.signal?.aborted) throw err;
    // Only the error's name and code go into the message: its text may quote secrets. The cause is redacted.
    const e = err as { name?: unknown; code?: unknown } | null;
    const what = [typeof e?.name === 'string' ? e.name : 'Error', typeof e?.code === 'string' ? e.code : '']
      .filter(Boolean)
      .join(' ');
    throw new MtlsError(
      'SOURCE_UNAVAILABLE',
      `Loading the credential from ${source.id} failed (${what}). Check that the source is reachable and its settings are right, then retry.`,
      { sourceId: source.id, cause: err },
    );
  }
}

/**
 * Loads (when given a source), decodes and validates a credential. Resolves to immutable credentials
 * carrying any warnings (e.g. EXPIRING_SOON); rejects with an MtlsError for anything that would fail a
 * TLS handshake or could not be read. Legacy PKCS#12 files load node-forge's RC2/DES on first need.
 */
export async function loadCredentials(
  sourceOrMaterial: CredentialSource | CredentialMaterial,
  policy?: ValidationPolicy,
  ctx?: SourceContext,
): Promise<ValidatedCredentials> {
  const source = isSource(sourceOrMaterial) ? sourceOrMaterial : undefined;
  const material = source ? await loadMaterial(source, ctx) : (sourceOrMaterial as CredentialMaterial);
  const sourceId = source?.id;
  const resolved = resolvePolicy(policy);
  const opts: DecodeOptions = {
    sourceId,
    legacy: () => {
      const ciphers = legacyCiphersIfLoaded();
      if (!ciphers) throw new LegacyCiphersNeeded();
      return ciphers;
    },
    // Keys derived before a legacy cipher was found are kept for the second run below.
    derivations: new Map(),
  };
  let decoded: ReturnType<typeof decodeWith>;
  try {
    decoded = decodeWith(material, resolved, opts);
  } catch (err) {
    if (!(err instanceof LegacyCiphersNeeded)) throw err;
    // Rare path: an RC2/DES file. Load the ciphers asynchronously, then decode again: the second run
    // reuses the keys the first derived (a MAC key, say), so no derivation is paid for twice.
    await loadLegacyCiphers();
    decoded = decodeWith(material, resolved, opts);
  } finally {
    // Derived keys are secret: they do not outlive this call.
    opts.derivations?.clear();
  }
  const warnings = assertNoErrors(validateResolved(decoded, resolved), sourceId);
  // Sources may report warnings of their own (e.g. a group-readable key file): they ride along too.
  const sourceWarnings = source?.warnings ?? [];
  if (sourceWarnings.length > 0) warnings.push(...sourceWarnings);
  return new ValidatedCredentials(decoded, warnings, { sourceId, sourceVersion: material?.version });
}
