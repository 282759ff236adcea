// How a KV secret's fields become CredentialMaterial and back: the credential fields under their own
// names, a common alias (core's FIELD_ALIASES: `certificate`, `private_key`, `tls.crt`…) or names the
// user gives, or one field holding a whole bundle. Errors name the fields present, never a value.
import { type CredentialMaterial, type FieldValue, MtlsError } from '@mtlskit/core/adapter';
import { type CredentialField, FIELD_ALIASES } from '@mtlskit/core/decode';

export const CREDENTIAL_FIELDS = [
  'cert',
  'key',
  'passphrase',
  'ca',
  'pfx',
] as const satisfies readonly CredentialField[];

/** Which field of the secret holds what. */
export interface FieldMapping {
  /** Names of the secret's fields for each credential field (default: the name itself or an alias). */
  fields?: Partial<Record<CredentialField, string>> | undefined;
  /** One field holding the whole credential (a JSON bundle, a PEM with key and certificate, a Base64 PKCS#12). */
  bundleField?: string | undefined;
}

const normalise = (name: string) => name.toLowerCase().replace(/[-_.]/g, '');

/** The key of `data` that holds `field`: the configured name, else the first alias present. */
function keyFor(
  data: Record<string, unknown>,
  field: CredentialField,
  mapping: FieldMapping,
): string | undefined {
  const named = mapping.fields?.[field];
  if (named !== undefined) return named in data ? named : undefined;
  const byNorm = new Map(Object.keys(data).map((k) => [normalise(k), k]));
  for (const alias of FIELD_ALIASES[field]) {
    const key = byNorm.get(normalise(alias));
    if (key !== undefined) return key;
  }
  return undefined;
}

function describeKeys(data: Record<string, unknown>): string {
  const keys = Object.keys(data);
  if (keys.length === 0) return 'it holds no fields';
  const shown = keys.slice(0, 20).map((k) => JSON.stringify(k));
  return `it holds ${keys.length === 1 ? 'the field' : 'the fields'} ${shown.join(', ')}${keys.length > 20 ? ` and ${keys.length - 20} more` : ''}`;
}

function textOf(value: unknown, key: string, sourceId: string, field: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  throw new MtlsError(
    'DECODE_FAILED',
    `the field "${key}" of ${sourceId} holds ${value === null ? 'null' : `a ${typeof value}`}, not text — store the ${field} as PEM or Base64 text`,
    { sourceId, field },
  );
}

/** The material a secret's fields hold. */
export function materialOf(
  data: Record<string, unknown>,
  mapping: FieldMapping,
  sourceId: string,
  version: string,
  { partial = false }: { partial?: boolean } = {},
): CredentialMaterial {
  const base: CredentialMaterial = { version, fetchedAt: new Date() };
  if (mapping.bundleField !== undefined) {
    if (!(mapping.bundleField in data)) {
      throw new MtlsError(
        'MISSING_FIELD',
        `the secret of ${sourceId} has no field "${mapping.bundleField}" (the bundle field): ${describeKeys(data)} — store the bundle there, or name the right field`,
        { sourceId },
      );
    }
    return { ...base, bundle: textOf(data[mapping.bundleField], mapping.bundleField, sourceId, 'bundle') };
  }
  const found: Partial<Record<CredentialField, string>> = {};
  for (const field of CREDENTIAL_FIELDS) {
    const key = keyFor(data, field, mapping);
    if (key !== undefined) found[field] = textOf(data[key], key, sourceId, field);
  }
  if (found.pfx !== undefined || (found.cert !== undefined && found.key !== undefined))
    return { ...base, ...found };
  // No credential fields: a field named `bundle` holds the whole credential.
  if (found.cert === undefined && found.key === undefined && 'bundle' in data) {
    return { ...base, bundle: textOf(data.bundle, 'bundle', sourceId, 'bundle') };
  }
  // A renewal's pending version holds the new key alone until its certificate comes.
  if (partial && (found.cert !== undefined || found.key !== undefined)) return { ...base, ...found };
  const missing = found.cert === undefined ? 'cert' : 'key';
  const named = mapping.fields?.[missing];
  throw new MtlsError(
    'MISSING_FIELD',
    `the secret of ${sourceId} has no ${missing === 'cert' ? 'certificate' : 'private key'} field${
      named === undefined
        ? ` ("${missing}" or an alias such as "${FIELD_ALIASES[missing][1]}")`
        : ` "${named}"`
    }: ${describeKeys(data)} — store it, or say which field holds it (fields: { ${missing}: '…' }, or bundleField for one field holding everything)`,
    { sourceId, field: missing },
  );
}

function pemOf(value: FieldValue): string {
  if (typeof value === 'string') return value;
  const body = Buffer.from(value).toString('base64').replace(/.{64}/g, '$&\n').trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

function storedText(value: FieldValue | FieldValue[]): string {
  if (Array.isArray(value)) return value.map(pemOf).join('\n');
  return typeof value === 'string' ? value : Buffer.from(value).toString('base64');
}

/**
 * The fields to write for `material` over the secret's current `data`: the credential goes where the
 * secret keeps it (its current names, else the configured or own names), credential fields the
 * material no longer has are dropped, and every other field of the secret is kept.
 */
export function dataFor(
  material: CredentialMaterial,
  current: Record<string, unknown>,
  mapping: FieldMapping,
): Record<string, unknown> {
  const data = { ...current };
  if (material.bundle !== undefined || mapping.bundleField !== undefined) {
    const key = mapping.bundleField ?? 'bundle';
    for (const field of CREDENTIAL_FIELDS) {
      const old = keyFor(current, field, mapping);
      if (old !== undefined && old !== key) delete data[old];
    }
    const fields = CREDENTIAL_FIELDS.filter((f) => material[f] !== undefined);
    data[key] =
      material.bundle !== undefined
        ? storedText(material.bundle)
        : JSON.stringify(Object.fromEntries(fields.map((f) => [f, storedText(material[f]!)])));
    return data;
  }
  delete data.bundle; // a bundle the fields replace
  for (const field of CREDENTIAL_FIELDS) {
    const key = keyFor(current, field, mapping) ?? mapping.fields?.[field] ?? field;
    const value = material[field];
    if (value === undefined) delete data[key];
    else data[key] = storedText(value);
  }
  return data;
}
