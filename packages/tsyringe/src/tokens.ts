// The injection side: one token per credential name, and the parameter decorator that asks for it.
// Tokens are registered symbols (Symbol.for), so two copies of this package, or an application's
// own code, name the same credential with the same token.
import { inject } from 'tsyringe';

/** The name `get()`, `@injectTlsResolver()` and `MTLS_SOURCE` use when none is given. */
export const DEFAULT_TLS_RESOLVER = 'default';

/** The injection token of the resolver registered under `name` (default `default`). */
export function tlsResolverToken(name: string = DEFAULT_TLS_RESOLVER): symbol {
  return Symbol.for(`mtlskit.TlsResolver:${name}`);
}

/**
 * Constructor-parameter decorator injecting the resolver registered under `name` (default `default`):
 * `constructor(@injectTlsResolver('eu') tls: TlsResolver)`. Needs `experimentalDecorators` (and, for
 * the class's other parameters, `emitDecoratorMetadata`), like every tsyringe decorator.
 */
export function injectTlsResolver(name: string = DEFAULT_TLS_RESOLVER): ReturnType<typeof inject> {
  return inject(tlsResolverToken(name));
}
