// gRPC for mtlskit. grpc-js checks `instanceof ChannelCredentials`, so credentials are built with the
// application's own @grpc/grpc-js (a peer dependency, resolved from the application). An open channel
// keeps presenting the certificate it connected with, for as long as its HTTP/2 connection lives:
// rotation is a new client (a new channel, a new connection, the new certificate) for new calls, and
// `close()` of the old one, whose calls in flight finish before its connection ends.
import { type ChannelCredentials, type Client, credentials } from '@grpc/grpc-js';
import { MtlsError, type TlsResolver } from '@mtlskit/core';

export { certificateProvider, type ResolverCertificateProvider } from './provider.js';

/**
 * Channel credentials with the resolver's current certificate (TLS 1.2 minimum, the credential's CA).
 * A snapshot: a channel built with them keeps this certificate. Use {@link rotatingClient} to follow rotations.
 */
export async function channelCredentials(resolver: TlsResolver): Promise<ChannelCredentials> {
  return credentials.createFromSecureContext(await resolver.secureContext());
}

/** A generated grpc-js client whose calls go to the client of the current certificate. */
export type RotatingClient<T extends Client> = T;

/**
 * A client that rotates: `create(credentials)` builds a grpc-js client (`new EchoClient(target, credentials)`);
 * after each rotation of `resolver` a new one is built for the new certificate, new calls go to it, and
 * the previous one is closed (calls in flight finish on it). `close()` closes them all and stops following
 * the resolver. Resolves once the first certificate is loaded.
 */
export async function rotatingClient<T extends Client>(
  resolver: TlsResolver,
  create: (credentials: ChannelCredentials) => T,
): Promise<RotatingClient<T>> {
  if (typeof create !== 'function') {
    throw new MtlsError(
      'INVALID_OPTION',
      'rotatingClient(resolver, create): create must be a function (credentials) => new YourClient(target, credentials)',
    );
  }
  // The client of the current certificate; each one before it was closed when it was replaced.
  let current = create(await channelCredentials(resolver));
  let closed = false;
  const onRotated = () => {
    // The new identity is current when `rotated` fires: its SecureContext comes back at once.
    channelCredentials(resolver).then(
      (creds) => {
        if (closed) return;
        const previous = current;
        current = create(creds);
        // grpc-js closes a channel once its calls in flight end: new calls on it fail, old ones finish.
        previous.close();
      },
      () => {
        // The resolver reports failures itself (health(), refreshFailed); the old client keeps serving.
      },
    );
  };
  resolver.on('rotated', onRotated);
  const close = () => {
    closed = true;
    resolver.off('rotated', onRotated);
    current.close();
  };
  return new Proxy(current, {
    get(_target, prop) {
      if (prop === 'close') return close;
      const value = Reflect.get(current, prop, current) as unknown;
      return typeof value === 'function' ? value.bind(current) : value;
    },
  }) as RotatingClient<T>;
}
