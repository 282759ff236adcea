// Certificates that many credentials hold alike — the CA of the API they all call, a provider's
// intermediates — parsed once per process rather than once per credential: ten thousand tenants'
// credentials then share one X509Certificate for their common CA (its parse, its memory, and what
// validation learns about it). Keyed by a digest of the DER; held weakly, so an entry lives only as
// long as some credential still uses the certificate. An X509Certificate is immutable, so sharing one
// changes nothing a user can see.
import { createHash, type X509Certificate } from 'node:crypto';

const shared = new Map<string, WeakRef<X509Certificate>>();
const forget = new FinalizationRegistry<string>((key) => {
  // The key may since have been taken by a new parse of the same DER: only a dead entry goes.
  if (shared.get(key)?.deref() === undefined) shared.delete(key);
});

/** The certificate of `der`: the one already parsed when some credential still holds it, else `parse(der)`. */
export function sharedCertificate(der: Buffer, parse: (der: Buffer) => X509Certificate): X509Certificate {
  const key = createHash('sha256').update(der).digest('base64');
  const known = shared.get(key)?.deref();
  if (known !== undefined) return known;
  const cert = parse(der);
  shared.set(key, new WeakRef(cert));
  forget.register(cert, key);
  return cert;
}

/** How many certificates are shared now (for tests). */
export function sharedCertificateCount(): number {
  return shared.size;
}
