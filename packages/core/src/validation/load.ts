// The one call most users need: a source, a reference string (`env:`, `file:DIR`, `aws-sm://…`)
// or material in hand in, validated MtlsCredentials out. load -> decode -> validate, with every
// failure an MtlsError naming the source and the field.

import type { X509Certificate } from 'node:crypto';
import { type DecodeOptions, decodeLoading } from '../decoding/decode.js';
import type { KeyDer } from '../decoding/keys.js';
import { legacyCiphersOrNeeded } from '../decoding/legacy-ciphers.js';
import { forgetLastMatch, toPem } from '../decoding/pem.js';
import { isPromiseLike, promiseGivenError } from '../errors.js';
import { sourceFromReference } from '../references/registry.js';
import { loadMaterial } from '../sources/load-material.js';
import type { ContextPem } from '../tls/context.js';
import type { CredentialMaterial, CredentialSource, SourceContext } from '../types.js';
import { ValidatedCredentials } from './credentials.js';
import { type ResolvedPolicy, resolvePolicy, type ValidationPolicy } from './policy.js';
import { assertNoErrors, validateResolved } from './validate.js';

function isSource(value: CredentialSource | CredentialMaterial): value is CredentialSource {
  return (
    typeof value === 'object' && value !== null && typeof (value as CredentialSource).load === 'function'
  );
}

/**
 * Loads (when given a source, or a reference string such as `env:` or `file:/etc/mtls`), decodes and
 * validates a credential. Resolves to immutable credentials carrying any warnings (e.g.
 * EXPIRING_SOON); rejects with an MtlsError for anything that would fail a TLS handshake or could not
 * be read. A source built from a reference here is closed once read. Legacy PKCS#12 files load
 * node-forge's RC2/DES on first need.
 */
export async function loadCredentials(
  from: CredentialSource | CredentialMaterial | string,
  policy?: ValidationPolicy,
  ctx?: SourceContext,
): Promise<ValidatedCredentials> {
  return loadWith(from, () => resolvePolicy(policy), ctx);
}

/** PEM labels of the key forms decoding opens keys from. */
const KEY_PEM_LABELS = { pkcs8: 'PRIVATE KEY', pkcs1: 'RSA PRIVATE KEY', sec1: 'EC PRIVATE KEY' } as const;

/**
 * {@link loadCredentials}, also handing `pem` the key, and the leaf with its chain, as PEM written
 * from the DER decoding read them from: the resolver builds its SecureContext from those at once,
 * rather than have OpenSSL export the key again (OpenSSL 3's encoder costs a tenth of building the
 * context) or the leaf's X509Certificate write (and keep, ~1.3 KiB a credential) a PEM of its own.
 * Called only for credentials that passed validation; the PEM is kept nowhere. The policy comes
 * resolved: a caller that loads again and again (the resolver) resolves it once.
 */
export function loadForContext(
  from: CredentialSource | CredentialMaterial | string,
  policy: ResolvedPolicy,
  ctx: SourceContext | undefined,
  pem: (pem: ContextPem) => void,
): Promise<ValidatedCredentials> {
  return loadWith(from, () => policy, ctx, pem);
}

/** The certificates' PEM: written from the DER decoding read, for those it told of. */
function certificatesPem(
  certs: readonly X509Certificate[],
  ders: ReadonlyMap<X509Certificate, Buffer>,
): string {
  let pem = '';
  for (const cert of certs) {
    const der = ders.get(cert);
    pem += der === undefined ? cert.toString() : toPem('CERTIFICATE', der);
  }
  return pem;
}

async function loadWith(
  from: CredentialSource | CredentialMaterial | string,
  policy: () => ResolvedPolicy,
  ctx: SourceContext | undefined,
  contextPem?: (pem: ContextPem) => void,
): Promise<ValidatedCredentials> {
  try {
    return await loadOnce(from, policy, ctx, contextPem);
  } finally {
    // A source or the decoder may have matched secret text last (see forgetLastMatch).
    forgetLastMatch();
  }
}

async function loadOnce(
  from: CredentialSource | CredentialMaterial | string,
  policy: () => ResolvedPolicy,
  ctx: SourceContext | undefined,
  contextPem?: (pem: ContextPem) => void,
): Promise<ValidatedCredentials> {
  if (isPromiseLike(from)) throw promiseGivenError('loadCredentials()');
  if (typeof from === 'string') {
    const source = await sourceFromReference(from);
    try {
      return await loadWith(source, policy, ctx, contextPem);
    } finally {
      try {
        await source.close?.();
      } catch {
        // Closing is best effort: what was read is what the caller asked for.
      }
    }
  }
  const source = isSource(from) ? from : undefined;
  const material = source ? await loadMaterial(source, ctx) : (from as CredentialMaterial);
  const sourceId = source?.id;
  const resolved = policy();
  const opts: DecodeOptions = {
    sourceId,
    legacy: legacyCiphersOrNeeded,
    // Keys derived before a legacy cipher was found are kept for the second run below.
    derivations: new Map(),
  };
  let keyDer: KeyDer | undefined;
  const certDers = new Map<X509Certificate, Buffer>();
  if (contextPem !== undefined) {
    opts.keyDer = (source) => {
      keyDer = source;
    };
    opts.certDer = (cert, der) => certDers.set(cert, der);
  }
  let decoded: Awaited<ReturnType<typeof decodeLoading>>;
  try {
    // Rare paths (a PKCS#12 or an encrypted key; an RC2/DES file) load their code asynchronously and
    // decode again, reusing the keys the first run derived (a MAC key, say).
    decoded = await decodeLoading(material, resolved, opts);
  } finally {
    // Derived keys are secret: they do not outlive this call.
    opts.derivations?.clear();
  }
  const warnings = assertNoErrors(validateResolved(decoded, resolved), sourceId);
  // Sources may report warnings of their own (e.g. a group-readable key file): they ride along too.
  const sourceWarnings = source?.warnings ?? [];
  if (sourceWarnings.length > 0) warnings.push(...sourceWarnings);
  const credentials = new ValidatedCredentials(decoded, warnings, {
    sourceId,
    sourceVersion: material?.version,
  });
  if (contextPem !== undefined) {
    contextPem({
      key: keyDer === undefined ? undefined : toPem(KEY_PEM_LABELS[keyDer.type], keyDer.der),
      cert: certificatesPem([credentials.leaf, ...credentials.chain], certDers),
    });
  }
  return credentials;
}
