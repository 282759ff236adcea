// Certificate chains: who issued whom, picking the leaf among a bag of certificates, and putting
// intermediates given in any order into the order TLS sends them (leaf's issuer first).
import type { KeyObject, X509Certificate } from 'node:crypto';

/** True when `parent` issued `child`: names and key identifiers match and the signature verifies. */
export function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** True for a self-issued certificate (a root, or a self-signed leaf). */
function isSelfIssued(cert: X509Certificate): boolean {
  return issuedBy(cert, cert);
}

/** True when `key` is the private key of `cert` (also false across key types: EC key, RSA certificate). */
export function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/** Drops repeated certificates (same DER), keeping the first. */
export function dedupe(certs: readonly X509Certificate[]): X509Certificate[] {
  const seen = new Set<string>();
  return certs.filter((c) => {
    const id = c.fingerprint256;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * The leaf among `certs`: the one `key` belongs to; failing that (validation will report the
 * mismatch), the first that issued none of the others.
 */
export function pickLeaf(
  certs: readonly X509Certificate[],
  key: KeyObject | undefined,
): X509Certificate | undefined {
  if (key) {
    const owner = certs.find((c) => keyMatches(c, key));
    if (owner) return owner;
  }
  return (
    certs.find((c) => !certs.some((other) => other !== c && other.checkIssued(c) && !isSelfIssued(other))) ??
    certs[0]
  );
}

/**
 * Orders `others` into the chain of `leaf`: each certificate the issuer of the one before. Returns
 * that path, then whatever did not fit in the order given (validation reports those).
 */
export function orderChain(leaf: X509Certificate, others: readonly X509Certificate[]): X509Certificate[] {
  const rest = others.filter((c) => c !== leaf);
  const path: X509Certificate[] = [];
  let current = leaf;
  while (!isSelfIssued(current)) {
    const at = rest.findIndex((c) => issuedBy(current, c));
    if (at < 0) break;
    current = rest.splice(at, 1)[0]!;
    path.push(current);
  }
  return [...path, ...rest];
}
