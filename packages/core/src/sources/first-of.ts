// firstOf: explicit precedence between sources — the first that has a credential wins. "Has no
// credential" means SOURCE_NOT_FOUND with nothing configured there (no variable set, no file at the
// path); any other failure (access denied, a vault down) and a broken configuration (a `_FILE`
// variable naming a missing file, a directory where a file belongs, a key without its certificate)
// are reported rather than silently falling through to a weaker source.
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource, SourceContext } from '../types.js';
import { describeSource, isBrokenConfiguration, materialDigest, throwIfAborted } from './shared.js';

/**
 * A source that loads from the first of `sources` that has a credential. Its version is prefixed
 * with the index of that source, so falling back to another source is a change.
 */
export function firstOf(...sources: CredentialSource[]): CredentialSource {
  if (sources.length === 0) {
    throw new MtlsError('INVALID_OPTION', 'firstOf() needs at least one source.');
  }
  const id = `firstOf(${sources.map((s) => s.id).join(', ')})`;
  const kind = sources.some((s) => s.kind === 'issuing') ? 'issuing' : 'static';

  async function first<T>(ctx: SourceContext | undefined, attempt: (s: CredentialSource) => Promise<T>) {
    const misses: MtlsError[] = [];
    for (const [index, s] of sources.entries()) {
      throwIfAborted(ctx?.signal);
      try {
        return { index, value: await attempt(s) };
      } catch (err) {
        // Configured but broken is reported even though its code is SOURCE_NOT_FOUND: falling
        // through would hide the mistake behind a weaker source.
        if (!MtlsError.is(err, 'SOURCE_NOT_FOUND') || isBrokenConfiguration(err)) throw err;
        misses.push(err);
      }
    }
    throw new MtlsError(
      'SOURCE_NOT_FOUND',
      `None of the sources has a credential: ${misses.map((e, i) => `(${i + 1}) ${sources[i]!.id}: ${e.message}`).join(' ')}`,
      { sourceId: id },
    );
  }

  const source: CredentialSource = {
    id,
    kind,
    async load(ctx?: SourceContext): Promise<CredentialMaterial> {
      const { index, value } = await first(ctx, (s) => s.load(ctx));
      return { ...value, version: `${index}:${value.version ?? materialDigest(value)}` };
    },
    async version(ctx?: SourceContext): Promise<string> {
      const { index, value } = await first(ctx, async (s) => {
        if (s.version) return s.version(ctx);
        const material = await s.load(ctx);
        return material.version ?? materialDigest(material);
      });
      return `${index}:${value}`;
    },
    async close(): Promise<void> {
      await Promise.all(sources.map((s) => s.close?.()));
    },
  };
  if (sources.some((s) => s.watch)) {
    source.watch = (onChange) => {
      const stops = sources.map((s) => s.watch?.(onChange));
      return () => {
        for (const stop of stops) stop?.();
      };
    };
  }
  describeSource(source, 'FirstOfSource', id, kind);
  return source;
}
