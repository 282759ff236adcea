// A resolver that only ever serves the certificate Mangopay expects for one ClientId and environment:
// checkMangopayIdentity runs as core's validation policy `check`, on every load. An error refuses the
// load (the first request fails with the diagnosis; after a rotation the old certificate stays in
// service, reported through `refreshFailed`), warnings go to `onWarning`.
import { createTlsResolver, type Finding, type TlsResolver, type TlsResolverOptions } from '@mtlskit/core';
import { emitWarning } from './base-url.js';
import { checkIdentity, type MangopayIdentity } from './environment.js';
import { checkMangopayIdentity } from './identity.js';

/** Options of {@link createMangopayResolver}: core's resolver options plus the identity to enforce. */
export interface MangopayResolverOptions extends TlsResolverOptions, MangopayIdentity {
  /** Mangopay warnings (no SAN, subject order, key type, expiring soon): default a process warning, once per certificate. */
  onWarning?: (finding: Finding) => void;
}

const identities = new WeakMap<TlsResolver, MangopayIdentity>();

/** The identity a resolver made by createMangopayResolver enforces. */
export function identityOf(resolver: TlsResolver): MangopayIdentity | undefined {
  return identities.get(resolver);
}

/**
 * A TLS resolver (core's createTlsResolver) that refuses any certificate that is not the one Mangopay
 * expects for `clientId` in `environment` (checkMangopayIdentity errors), before the first request and
 * at every rotation. The `expiring` event fires `warnDays` (default 30) before notAfter.
 */
export function createMangopayResolver(options: MangopayResolverOptions): TlsResolver {
  const identity = checkIdentity(options, 'createMangopayResolver');
  const { clientId: _clientId, environment: _environment, onWarning: _onWarning, ...core } = options;
  const onWarning = options.onWarning ?? emitWarning;
  const warnDays = core.warnDays ?? core.policy?.warnDays ?? 30;
  const warned = new Set<string>();
  const resolver = createTlsResolver({
    ...core,
    // Mangopay certificates live 12 months: warn 30 days ahead (core's default for a lifetime this
    // long, said explicitly so that a shorter certificate warns as early).
    warnDays,
    policy: {
      ...core.policy,
      // Run by core after its own validation, on every load: errors refuse the certificate (the old
      // one stays in service after a rotation), warnings ride on the credentials and go to onWarning
      // once per certificate.
      check(parts, { now }) {
        const own = core.policy?.check?.(parts, { now }) ?? [];
        const findings = checkMangopayIdentity(parts, { ...identity, warnDays, now: () => now });
        for (const warning of findings) {
          if (warning.severity !== 'warning') continue;
          const key = `${parts.leaf.fingerprint256} ${warning.code}`;
          if (warned.has(key)) continue;
          warned.add(key);
          onWarning(warning);
        }
        return [...own, ...findings];
      },
    },
  });
  identities.set(resolver, identity);
  return resolver;
}
