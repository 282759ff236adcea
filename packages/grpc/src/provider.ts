// A grpc-js CertificateProvider fed by a resolver, for `grpc.experimental.createCertificateProviderChannelCredentials`
// (grpc-js 1.12+). grpc-js reads the provider's latest certificate when it opens a connection, so one
// channel picks up a rotation without being rebuilt — but only on its next connection: an open HTTP/2
// connection keeps the certificate it was set up with until it ends (the server's GOAWAY, max connection
// age, a network error). `rotatingClient` moves calls at once instead.
//
// The interface is structural: nothing of grpc-js is loaded here, so the provider works with the
// application's copy of grpc-js, whichever 1.12+ it is.
import { rootCertificates } from 'node:tls';
import type { experimental } from '@grpc/grpc-js';
import { MtlsError, type TlsResolver } from '@mtlskit/core';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaUpdate = experimental.CaCertificateUpdate;
type IdentityUpdate = experimental.IdentityCertificateUpdate;

/** A grpc-js `CertificateProvider` (CA and identity) following a resolver's rotations. */
export interface ResolverCertificateProvider extends experimental.CertificateProvider {
  /** Listeners grpc-js holds now (its channel credentials add them while a channel uses them). */
  listenerCount(): number;
  /**
   * Stops following the resolver and drops every listener. Connections opened afterwards with this
   * provider fail (grpc-js is told no certificate is available). Idempotent.
   */
  close(): void;
}

/**
 * A `CertificateProvider` serving the resolver's certificate and key as identity and its CA (the
 * system roots when the credential carries none) as CA; give it as both to
 * `grpc.experimental.createCertificateProviderChannelCredentials(provider, provider)`. Resolves once
 * the first certificate is loaded, so a channel's first connection has it. After each rotation the
 * listeners get the new certificate: connections opened from then on present it, an open one keeps
 * the old until it ends. `close()` it with the channels that use it.
 */
export async function certificateProvider(resolver: TlsResolver): Promise<ResolverCertificateProvider> {
  const provider = new Provider(resolver);
  try {
    await provider.load();
  } catch (err) {
    provider.close();
    throw err;
  }
  return provider;
}

class Provider implements ResolverCertificateProvider {
  readonly #resolver: TlsResolver;
  readonly #ca = new Set<CaListener>();
  readonly #identity = new Set<IdentityListener>();
  #latest: { ca: CaUpdate; identity: IdentityUpdate } | undefined;
  /** Orders loads: a load that finishes after a later one started is not applied. */
  #loads = 0;
  #closed = false;
  readonly #onRotated = () => {
    this.load().catch(() => {
      // The resolver reports failures itself (health(), refreshFailed); the last certificate stays.
    });
  };

  constructor(resolver: TlsResolver) {
    this.#resolver = resolver;
    // Followed from the start (not only while grpc-js listens), so a listener added later is given
    // the current certificate, never one a rotation replaced.
    resolver.on('rotated', this.#onRotated);
  }

  async load(): Promise<void> {
    const load = ++this.#loads;
    const { cert, key, ca } = await this.#resolver.tlsOptions();
    if (this.#closed || load !== this.#loads) return;
    const caPem = ca === undefined ? rootCertificates.join('\n') : Array.isArray(ca) ? ca.join('\n') : ca;
    this.#latest = {
      ca: { caCertificate: Buffer.from(caPem) },
      identity: { certificate: Buffer.from(cert), privateKey: Buffer.from(key) },
    };
    for (const listener of this.#ca) listener(this.#latest.ca);
    for (const listener of this.#identity) listener(this.#latest.identity);
  }

  // grpc-js reads the update when it connects: it is given at once (synchronously), so the first
  // connection of a channel never waits for it.
  addCaCertificateListener(listener: CaListener): void {
    this.#add(this.#ca, listener, (l) => l(this.#closed ? null : (this.#latest?.ca ?? null)));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#ca.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#add(this.#identity, listener, (l) => l(this.#closed ? null : (this.#latest?.identity ?? null)));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.delete(listener);
  }

  listenerCount(): number {
    return this.#ca.size + this.#identity.size;
  }

  close(): void {
    this.#closed = true;
    this.#latest = undefined;
    this.#ca.clear();
    this.#identity.clear();
    this.#resolver.off('rotated', this.#onRotated);
  }

  #add<L>(set: Set<L>, listener: L, deliver: (listener: L) => void): void {
    if (typeof listener !== 'function') {
      throw new MtlsError('INVALID_OPTION', 'CertificateProvider listeners must be functions');
    }
    if (!this.#closed) set.add(listener);
    deliver(listener);
  }
}
