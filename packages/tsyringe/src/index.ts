// @mtlskit/tsyringe: named TLS resolvers in a tsyringe container — a token per name, a parameter
// decorator, registration per container (child containers per tenant), closed by container.dispose().
// tsyringe (and a Reflect polyfill such as reflect-metadata, loaded first) come from the application.

export { registerTlsResolvers } from './register.js';
export { DEFAULT_TLS_RESOLVER, injectTlsResolver, tlsResolverToken } from './tokens.js';
