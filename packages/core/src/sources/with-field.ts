// withField: a source with one field read from another source — what `withCa` and `withPassphrase`
// share. Both sources are loaded side by side, their versions joined with `+`; the combined source
// watches and closes both, and forwards the renewal steps of the main one.
import type { CredentialMaterial, CredentialSource, SourceContext } from '../types.js';
import { describeSource } from './shared.js';

/** Which field is read elsewhere, how to take it out of what the other source holds, and the name shown. */
export interface FieldFrom<F extends 'passphrase' | 'ca'> {
  field: F;
  /** The field's value out of what `other` loaded (throws when `other` holds none). */
  read: (material: CredentialMaterial, otherId: string) => NonNullable<CredentialMaterial[F]>;
  /** The name `util.inspect` and `toJSON` show (`SourceWithCa`). */
  name: string;
}

/**
 * `source`, with `spec.field` taken from `other`. `version` exists when both sources have one;
 * `store` writes to `source` without the field (a caller with other write semantics replaces it).
 */
export function withField<F extends 'passphrase' | 'ca'>(
  source: CredentialSource,
  other: CredentialSource,
  spec: FieldFrom<F>,
  id: string,
): CredentialSource {
  const { field, read, name } = spec;
  const kind = source.kind ?? 'static';
  const addField = async (material: CredentialMaterial, ctx?: SourceContext) => ({
    ...material,
    [field]: read(await other.load(ctx), other.id),
  });
  const combined: CredentialSource = {
    id,
    kind,
    async load(ctx?: SourceContext) {
      const [material, extra] = await Promise.all([source.load(ctx), other.load(ctx)]);
      const version =
        material.version !== undefined && extra.version !== undefined
          ? `${material.version}+${extra.version}`
          : undefined;
      return { ...material, [field]: read(extra, other.id), ...(version !== undefined && { version }) };
    },
    async close() {
      await Promise.all([source.close?.(), other.close?.()]);
    },
  };
  if (source.version && other.version) {
    const a = source.version.bind(source);
    const b = other.version.bind(other);
    combined.version = async (ctx) => {
      const [x, y] = await Promise.all([a(ctx), b(ctx)]);
      return `${x}+${y}`;
    };
  }
  if (source.watch || other.watch) {
    combined.watch = (onChange) => {
      const stops = [source.watch?.(onChange), other.watch?.(onChange)];
      return () => {
        for (const stop of stops) stop?.();
      };
    };
  }
  // Writes (a new version, the renewal's pending one) go to `source` without the field: it stays
  // where it lives, and what load() returns keeps coming from `other`. The pending version is read
  // back with it; promote and rollback are `source`'s.
  const without = (material: CredentialMaterial): CredentialMaterial => {
    const { [field]: _elsewhere, ...rest } = material;
    return rest;
  };
  if (source.store) {
    const store = source.store.bind(source);
    combined.store = (material, options) => store(without(material), options);
  }
  if (source.storePending) {
    const storePending = source.storePending.bind(source);
    combined.storePending = (material, ctx) => storePending(without(material), ctx);
  }
  if (source.loadPending) {
    const loadPending = source.loadPending.bind(source);
    combined.loadPending = async (ctx) => addField(await loadPending(ctx), ctx);
  }
  if (source.promote) combined.promote = source.promote.bind(source);
  if (source.rollback) combined.rollback = source.rollback.bind(source);
  describeSource(combined, name, id, kind);
  return combined;
}
