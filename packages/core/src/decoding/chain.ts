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

/** The leaf's own chain among a bag of certificates, and what is left over. */
export interface ChainSplit {
  /** The leaf's issuers, each the issuer of the one before (leaf's issuer first). */
  readonly path: X509Certificate[];
  /** Certificates that are not on that path, in the order given. */
  readonly rest: X509Certificate[];
  /**
   * True when the leftovers say the chain is broken rather than padded: the path stops below a
   * certificate that was given under the name of the next issuer but did not sign (a reissued or
   * wrong intermediate), or the leaf's own issuer is missing while CA certificates were given (an
   * intermediate missing between the leaf and what was given). Otherwise the leftovers are unrelated
   * to the leaf (a whole store exported, a CA bundle pasted after the key) and can be dropped.
   */
  readonly broken: boolean;
}

/** Splits `others` into the chain of `leaf` and the certificates that are not on it. */
export function splitChain(leaf: X509Certificate, others: readonly X509Certificate[]): ChainSplit {
  const rest = others.filter((c) => c !== leaf);
  const path: X509Certificate[] = [];
  let current = leaf;
  while (!isSelfIssued(current)) {
    const at = rest.findIndex((c) => issuedBy(current, c));
    if (at < 0) break;
    current = rest.splice(at, 1)[0]!;
    path.push(current);
  }
  const top = current;
  const broken =
    rest.length > 0 &&
    !isSelfIssued(top) &&
    (rest.some((c) => c.subject === top.issuer) || (path.length === 0 && rest.some((c) => c.ca)));
  return { path, rest, broken };
}

/**
 * Orders `others` into the chain of `leaf`: each certificate the issuer of the one before. Returns
 * that path, then whatever did not fit in the order given (validation reports those).
 */
export function orderChain(leaf: X509Certificate, others: readonly X509Certificate[]): X509Certificate[] {
  const { path, rest } = splitChain(leaf, others);
  return [...path, ...rest];
}
