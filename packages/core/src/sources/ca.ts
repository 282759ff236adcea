// withCa: a credential whose CA (the trust for the server) lives elsewhere
// (`azure-kv://vault/mtls?ca=file:/etc/ssl/api-ca.pem`): a certificate-backed secret carries no trust
// for the server. The CA source is loaded beside the main one; what it holds becomes `material.ca`.
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource, FieldValue, SourceContext } from '../types.js';
import { describeSource, forwardRenewal } from './shared.js';

function caOf(material: CredentialMaterial, sourceId: string): FieldValue | FieldValue[] {
  const value = material.ca ?? material.bundle ?? material.cert;
  if (value === undefined) {
    throw new MtlsError('MISSING_FIELD', `The CA source ${sourceId} holds no CA certificate.`, {
      sourceId,
      field: 'ca',
    });
  }
  return value;
}

/**
 * `source`, with the CA taken from `caSource` (its `ca` field, or the whole value it holds:
 * `env:VAR`, `file:PATH`). The id stays that of `source` unless `id` is given. Writes go to `source`
 * alone: the CA is not part of a renewal.
 */
export function withCa(
  source: CredentialSource,
  caSource: CredentialSource,
  id = source.id,
): CredentialSource {
  const kind = source.kind ?? 'static';
  const combined: CredentialSource = {
    id,
    kind,
    async load(ctx?: SourceContext) {
      const [material, ca] = await Promise.all([source.load(ctx), caSource.load(ctx)]);
      const version =
        material.version !== undefined && ca.version !== undefined
          ? `${material.version}+${ca.version}`
          : undefined;
      return { ...material, ca: caOf(ca, caSource.id), ...(version !== undefined && { version }) };
    },
    async close() {
      await Promise.all([source.close?.(), caSource.close?.()]);
    },
  };
  if (source.version && caSource.version) {
    const a = source.version.bind(source);
    const b = caSource.version.bind(caSource);
    combined.version = async (ctx) => {
      const [x, y] = await Promise.all([a(ctx), b(ctx)]);
      return `${x}+${y}`;
    };
  }
  if (source.watch || caSource.watch) {
    combined.watch = (onChange) => {
      const stops = [source.watch?.(onChange), caSource.watch?.(onChange)];
      return () => {
        for (const stop of stops) stop?.();
      };
    };
  }
  if (source.store) combined.store = source.store.bind(source);
  forwardRenewal(combined, source, 'ca', async (material, ctx) => ({
    ...material,
    ca: caOf(await caSource.load(ctx), caSource.id),
  }));
  describeSource(combined, 'SourceWithCa', id, kind);
  return combined;
}
