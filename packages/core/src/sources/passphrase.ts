// withPassphrase: a credential whose passphrase lives elsewhere (`aws-sm://prod/mtls?passphrase=env:PASS`).
// The passphrase source is loaded beside the main one; what it holds becomes `material.passphrase`.

import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource, FieldValue, SourceContext } from '../types.js';
import { describeSource } from './shared.js';

function passphraseOf(material: CredentialMaterial, sourceId: string): FieldValue {
  const value = material.passphrase ?? material.bundle;
  if (value === undefined) {
    throw new MtlsError('MISSING_FIELD', `The passphrase source ${sourceId} holds no passphrase.`, {
      sourceId,
      field: 'passphrase',
    });
  }
  return value;
}

/**
 * `source`, with the passphrase taken from `passphraseSource` (its `passphrase` field, or the whole
 * value it holds: `env:VAR`, `file:PATH`). The id stays that of `source` unless `id` is given.
 */
export function withPassphrase(
  source: CredentialSource,
  passphraseSource: CredentialSource,
  id = source.id,
): CredentialSource {
  const kind = source.kind ?? 'static';
  const combined: CredentialSource = {
    id,
    kind,
    async load(ctx?: SourceContext) {
      const [material, pass] = await Promise.all([source.load(ctx), passphraseSource.load(ctx)]);
      const version =
        material.version !== undefined && pass.version !== undefined
          ? `${material.version}+${pass.version}`
          : undefined;
      return {
        ...material,
        passphrase: passphraseOf(pass, passphraseSource.id),
        ...(version !== undefined && { version }),
      };
    },
    async close() {
      await Promise.all([source.close?.(), passphraseSource.close?.()]);
    },
  };
  if (source.version && passphraseSource.version) {
    const a = source.version.bind(source);
    const b = passphraseSource.version.bind(passphraseSource);
    combined.version = async (ctx) => {
      const [x, y] = await Promise.all([a(ctx), b(ctx)]);
      return `${x}+${y}`;
    };
  }
  if (source.watch || passphraseSource.watch) {
    combined.watch = (onChange) => {
      const stops = [source.watch?.(onChange), passphraseSource.watch?.(onChange)];
      return () => {
        for (const stop of stops) stop?.();
      };
    };
  }
  if (source.store) {
    const store = source.store.bind(source);
    combined.store = (material, options) => store(material, options);
  }
  describeSource(combined, 'SourceWithPassphrase', id, kind);
  return combined;
}
