// withPassphrase: a credential whose passphrase lives elsewhere (`aws-sm://prod/mtls?passphrase=env:PASS`).
// The passphrase source is loaded beside the main one; what it holds becomes `material.passphrase`.

import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource, FieldValue } from '../types.js';
import { withField } from './with-field.js';

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

function sameValue(a: FieldValue, b: FieldValue): boolean {
  return Buffer.from(a as Uint8Array | string).equals(Buffer.from(b as Uint8Array | string));
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
  const combined = withField(
    source,
    passphraseSource,
    { field: 'passphrase', read: passphraseOf, name: 'SourceWithPassphrase' },
    id,
  );
  if (source.store) {
    const store = source.store.bind(source);
    // The passphrase stays where it lives: written to its own source when that source can be
    // written, never copied into the main one (where the separate passphrase would shadow it).
    combined.store = async (material, options) => {
      const { passphrase, ...rest } = material;
      if (passphrase !== undefined) {
        if (passphraseSource.store) {
          await passphraseSource.store({ passphrase }, options);
        } else if (
          !sameValue(passphraseOf(await passphraseSource.load(options), passphraseSource.id), passphrase)
        ) {
          throw new MtlsError(
            'INVALID_OPTION',
            `The passphrase of ${id} is read from ${passphraseSource.id}, which mtlskit cannot write. ` +
              `Set the new passphrase there first, or store the new key under the current passphrase.`,
            { sourceId: id, field: 'passphrase' },
          );
        }
      }
      const written = await store(rest, options);
      const passVersion = await passphraseSource.version?.(options);
      return { version: passVersion === undefined ? written.version : `${written.version}+${passVersion}` };
    };
  }
  return combined;
}
