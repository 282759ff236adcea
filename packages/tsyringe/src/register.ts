// Registration and disposal. Each name becomes a factory provider handing out that name's resolver
// from a set owned by the container it was registered on. tsyringe's dispose() only reaches
// instances the container constructed itself (class providers), never factories or values, so each
// registration also has the container construct one small disposer whose dispose() closes the set:
// `await container.dispose()` closes that container's resolvers and no other container's.
import {
  createTlsResolvers,
  MtlsError,
  type MtlsErrorCode,
  type SharedResolverOptions,
  type TlsResolverSet,
  type TlsResolversConfig,
} from '@mtlskit/core';
import type { DependencyContainer } from 'tsyringe';
import { tlsResolverToken } from './tokens.js';

const INVALID_OPTION: MtlsErrorCode = 'INVALID_OPTION';

/** Sets already handed to a container: a set belongs to one container, which closes it. */
const registered = new WeakSet<TlsResolverSet>();

// A config's values are strings or objects, never functions: a function `get` means a set.
function isSet(value: TlsResolversConfig | TlsResolverSet): value is TlsResolverSet {
  return typeof (value as { get?: unknown }).get === 'function';
}

function isContainer(value: unknown): value is DependencyContainer {
  const c = value as Partial<DependencyContainer> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.register === 'function' &&
    typeof c.resolve === 'function' &&
    typeof c.isRegistered === 'function'
  );
}

/**
 * Registers one resolver per name on `container` under {@link tlsResolverToken}(name), from a config
 * object (as `createTlsResolvers` takes, with optional shared options) or a set you made (e.g.
 * `tlsResolversFromEnv()`), which the container then owns. Resolvers are created on first
 * resolution; `await container.dispose()` closes them. A child container registers its own (one per
 * tenant) and closes only those; a name registered only on a parent resolves to the parent's.
 * Returns the set, for `health()`.
 */
export function registerTlsResolvers(
  container: DependencyContainer,
  config: TlsResolversConfig | TlsResolverSet,
  shared?: SharedResolverOptions,
): TlsResolverSet {
  if (!isContainer(container)) {
    throw new MtlsError(
      INVALID_OPTION,
      "registerTlsResolvers needs a tsyringe container first: registerTlsResolvers(container, { eu: 'aws-sm://…' })",
    );
  }
  if (config === null || typeof config !== 'object') {
    throw new MtlsError(
      INVALID_OPTION,
      "registerTlsResolvers needs an object of name → credential ({ eu: 'aws-sm://…' }) or a set from createTlsResolvers or tlsResolversFromEnv",
    );
  }
  const given = isSet(config);
  if (given && shared !== undefined) {
    throw new MtlsError(
      INVALID_OPTION,
      'shared options apply to a config object; pass them to createTlsResolvers or tlsResolversFromEnv with the set',
    );
  }
  if (given && registered.has(config)) {
    throw new MtlsError(
      INVALID_OPTION,
      'this resolver set is already registered on a container, which closes it on dispose(); give each container its own set',
    );
  }
  const taken = (given ? config.names : Object.keys(config)).filter((name) =>
    container.isRegistered(tlsResolverToken(name)),
  );
  if (taken.length > 0) {
    throw new MtlsError(
      INVALID_OPTION,
      `a TLS resolver named ${taken.map((n) => `"${n}"`).join(', ')} is already registered on this container; ` +
        'register each name once per container (a child container can register its own)',
    );
  }
  const set = given ? config : createTlsResolvers(config, shared);
  registered.add(set);
  for (const name of set.names) {
    container.register(tlsResolverToken(name), { useFactory: () => set.get(name) });
  }
  // Constructed here, by this container, so that this container's dispose() — and only its — closes the set.
  class TlsResolversDisposer {
    dispose(): Promise<void> {
      return set.close();
    }
  }
  container.resolve(TlsResolversDisposer);
  return set;
}
