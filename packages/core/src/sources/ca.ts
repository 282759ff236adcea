// withCa: a credential whose CA (the trust for the server) lives elsewhere
// (`azure-kv://vault/mtls?ca=file:/etc/ssl/api-ca.pem`): a certificate-backed secret carries no trust
// for the server. The CA source is loaded beside the main one; what it holds becomes `material.ca`.
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource, FieldValue } from '../types.js';
import { withField } from './with-field.js';

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
 * `env:VAR`, `file:PATH`). The id stays that of `source` unless `id` is given. Writes (`store`, the renewal's
 * pending version) go to `source` without the CA, which stays in `caSource`: write a new CA there.
 */
export function withCa(
  source: CredentialSource,
  caSource: CredentialSource,
  id = source.id,
): CredentialSource {
  return withField(source, caSource, { field: 'ca', read: caOf, name: 'SourceWithCa' }, id);
}
