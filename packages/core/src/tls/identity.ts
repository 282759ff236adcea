// The contract between the resolver and the clients it feeds (the rotating https.Agent and undici
// Dispatcher): what one loaded identity is, how a client asks for the current one, and the slow path
// both share when a connection cannot be opened at once (first load, CONNECT tunnel).
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { MtlsCredentials } from '../types.js';
import { openTunnel, type ProxySettings } from './proxy.js';

/** One loaded credential, ready for TLS. Replaced, never mutated, on rotation. */
export interface TlsIdentity {
  /** Increments with each distinct credential a resolver loads: a secret-free tag for pools and session caches. */
  readonly serial: number;
  readonly credentials: MtlsCredentials;
  /** Built once per identity and shared by every client of the resolver. */
  readonly secureContext: SecureContext;
  readonly fingerprint256: string;
  readonly notAfterMs: number;
}

/** What the rotating clients need from a resolver. */
export interface IdentityProvider {
  /**
   * Changes whenever pooled connections must stop being reused: on rotation, on expiry, on close.
   * A connection belongs to the epoch it was opened in.
   */
  readonly epoch: number;
  /** Hot-path check of the resolver's deadlines (expiry, on-access refresh): one clock read when nothing is due. */
  touch(): void;
  /** The identity to open a connection with right now, or undefined when none is usable yet. */
  current(): TlsIdentity | undefined;
  /** Waits for a usable identity; rejects with the load error, `EXPIRED` or `CLOSED`. */
  acquire(): Promise<TlsIdentity>;
  /** Calls `listener` synchronously after each change of `epoch`, until the function returned is called. */
  onEpoch(listener: () => void): () => void;
  readonly rejectUnauthorized: boolean;
  readonly proxy: ProxySettings | undefined;
}

/**
 * The slow path of opening a connection: waits for the first load when nothing is loaded yet, opens
 * the CONNECT tunnel to `tunnelTo` when given, then returns the identity current *after* that wait —
 * a rotation can land while a tunnel opens, and the handshake must present the new certificate.
 */
export async function identityForConnection(
  provider: IdentityProvider,
  tunnelTo?: { proxy: ProxySettings; host: string; port: number },
): Promise<{ identity: TlsIdentity; tunnel?: Socket }> {
  if (provider.current() === undefined) await provider.acquire();
  const tunnel = tunnelTo && (await openTunnel(tunnelTo.proxy, tunnelTo.host, tunnelTo.port));
  try {
    const identity = provider.current() ?? (await provider.acquire());
    return tunnel === undefined ? { identity } : { identity, tunnel };
  } catch (err) {
    tunnel?.destroy();
    throw err;
  }
}
