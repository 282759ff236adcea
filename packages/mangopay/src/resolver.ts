// A resolver that only ever serves the certificate Mangopay expects for one ClientId and environment.
// Core's validation policy has no hook for extra checks, so the check runs in a thin wrapper around
// the source: each load is decoded and validated as core will, then judged by checkMangopayIdentity.
// An error refuses the load (the first request fails with the diagnosis; after a rotation the old
// certificate stays in service, reported through `refreshFailed`), warnings go to `onWarning`.
import {
  assertNoErrors,
  type CredentialMaterial,
  type CredentialSource,
  createTlsResolver,
  type Finding,
  loadCredentials,
  type SourceContext,
  sourceFromReference,
  type TlsResolver,
  type TlsResolverOptions,
} from '@mtlskit/core';
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

/** The source behind a reference or object, resolved once. */
function lazySource(source: CredentialSource | string): {
  id: string;
  current(): CredentialSource | undefined;
  get(): Promise<CredentialSource>;
} {
  let resolved = typeof source === 'string' ? undefined : source;
  let pending: Promise<CredentialSource> | undefined;
  return {
    id: typeof source === 'string' ? source : source.id,
    current: () => resolved,
    get() {
      if (resolved) return Promise.resolve(resolved);
      pending ??= sourceFromReference(source as string).then(
        (s) => {
          resolved = s;
          return s;
        },
        (err: unknown) => {
          pending = undefined;
          throw err;
        },
      );
      return pending;
    },
  };
}

function checkedSource(
  given: CredentialSource | string,
  identity: MangopayIdentity,
  options: MangopayResolverOptions,
): CredentialSource {
  const inner = lazySource(given);
  const warned = new Set<string>();
  const onWarning = options.onWarning ?? emitWarning;
  const policy = options.policy ?? {};
  const now = policy.now ?? (options.clock ? () => (options.clock as { now(): number }).now() : undefined);
  let unversioned = 0;
  return {
    id: inner.id,
    get kind() {
      return inner.current()?.kind ?? 'static';
    },
    // What core puts on the credentials after each load (e.g. a group-readable key file).
    get warnings() {
      return inner.current()?.warnings;
    },
    async load(ctx?: SourceContext): Promise<CredentialMaterial> {
      const source = await inner.get();
      const material = await source.load(ctx);
      // Decoded and validated exactly as the resolver will (same policy), then judged for Mangopay.
      const credentials = await loadCredentials(
        { id: source.id, load: async () => material },
        now === undefined ? policy : { ...policy, now },
        ctx,
      );
      const findings = checkMangopayIdentity(credentials, {
        ...identity,
        warnDays: options.warnDays ?? policy.warnDays ?? 30,
        ...(now === undefined ? {} : { now }),
      });
      for (const warning of assertNoErrors(findings, source.id)) {
        const key = `${credentials.fingerprint256} ${warning.code}`;
        if (warned.has(key)) continue;
        warned.add(key);
        onWarning(warning);
      }
      return material;
    },
    // Always present (the reference may not be resolved yet): without a probe of its own, the inner
    // source reports a new version each time, so every scheduled check loads.
    async version(ctx?: SourceContext): Promise<string> {
      const source = await inner.get();
      return source.version ? source.version(ctx) : `unversioned-${++unversioned}`;
    },
    watch(onChange: () => void): () => void {
      let stop: (() => void) | undefined;
      let stopped = false;
      inner.get().then(
        (source) => {
          if (!stopped && typeof source.watch === 'function') stop = source.watch(onChange);
        },
        () => {
          // The load reports an unresolvable reference.
        },
      );
      return () => {
        stopped = true;
        stop?.();
      };
    },
    // The resolver closes only sources it made from a reference; this one it was given, so the
    // caller (createMangopayResolver) closes it with the resolver.
    async close() {
      if (typeof given === 'string') await inner.current()?.close?.();
    },
  };
}

/**
 * A TLS resolver (core's createTlsResolver) that refuses any certificate that is not the one Mangopay
 * expects for `clientId` in `environment` (checkMangopayIdentity errors), before the first request and
 * at every rotation. The `expiring` event fires `warnDays` (default 30) before notAfter.
 */
export function createMangopayResolver(options: MangopayResolverOptions): TlsResolver {
  const identity = checkIdentity(options, 'createMangopayResolver');
  const { clientId: _clientId, environment: _environment, onWarning: _onWarning, ...core } = options;
  const given = options.source as unknown;
  if (typeof given !== 'string' && typeof (given as CredentialSource | null)?.load !== 'function') {
    return createTlsResolver(core); // throws core's INVALID_OPTION for the source
  }
  const source = checkedSource(options.source, identity, options);
  // Mangopay certificates live 12 months: warn 30 days ahead (core's default for a lifetime this long,
  // said explicitly so that a shorter certificate warns as early).
  const resolver = createTlsResolver({
    ...core,
    warnDays: core.warnDays ?? core.policy?.warnDays ?? 30,
    source,
  });
  const closeResolver = resolver.close.bind(resolver);
  let closing: Promise<void> | undefined;
  resolver.close = () => {
    closing ??= closeResolver().then(() => source.close?.().catch(() => {}));
    return closing;
  };
  identities.set(resolver, identity);
  return resolver;
}
