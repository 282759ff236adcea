// The rotating node:https Agent: one object, handed out once (an SDK can keep it for life), whose
// connections always present the resolver's current identity. Sockets are pooled per epoch and
// tagged with the epoch they were opened in; a socket from an older epoch is never reused, free ones
// are destroyed at rotation, busy ones finish their request and close. TLS sessions are cached per
// identity, so no session of an old identity is resumed. The key never appears in the Agent's
// options: connections are built from the identity's prebuilt SecureContext.
import type { ClientRequest } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { MtlsError } from '../errors.js';
import { type IdentityProvider, identityForConnection, type TlsIdentity } from './identity.js';
import { usesProxy } from './proxy.js';

const EPOCH = Symbol('mtlskit.epoch');

// TLS identity is the resolver's business: these Agent options would bypass or contradict it.
const FORBIDDEN_OPTIONS = [
  'cert',
  'key',
  'pfx',
  'passphrase',
  'ca',
  'secureContext',
  'rejectUnauthorized',
] as const;

type ConnectionOptions = Record<string | symbol, unknown> & {
  host?: string;
  port?: number | string;
  _agentKey?: string;
};
type Tagged = { [EPOCH]?: number };
type OnCreate = (err: Error | null, socket?: Duplex) => void;

// The parts of node's Agent that @types/node leaves out or types loosely; stable since Node 12.
interface AgentInternals {
  addRequest(req: ClientRequest, options: ConnectionOptions): void;
  createConnection(options: ConnectionOptions, callback?: OnCreate): Duplex | null | undefined;
  getName(options?: ConnectionOptions): string;
  keepSocketAlive(socket: Duplex): boolean;
  _evictSession?(key: string): void;
  _sessionCache?: { list: string[] };
}
const AgentBase = https.Agent as unknown as new (
  options?: https.AgentOptions,
) => Omit<https.Agent, keyof AgentInternals> & AgentInternals;

/** Rejects Agent options that would carry key material or override the resolver's TLS settings. */
export function checkAgentOptions(options: https.AgentOptions | undefined): void {
  for (const name of FORBIDDEN_OPTIONS) {
    if (options && (options as Record<string, unknown>)[name] !== undefined) {
      throw new MtlsError(
        'INVALID_OPTION',
        `options.agentOptions.${name} is not allowed: the resolver builds TLS from the source's credentials` +
          (name === 'rejectUnauthorized' ? '; use the resolver option rejectUnauthorized instead' : ''),
        { field: `agentOptions.${name}` },
      );
    }
  }
}

/**
 * A node:https Agent that rotates with its resolver. Create through `resolver.agent()`: the resolver
 * has checked `options` with checkAgentOptions when it was created.
 */
export class RotatingHttpsAgent extends AgentBase {
  readonly #provider: IdentityProvider;

  constructor(provider: IdentityProvider, options: https.AgentOptions = {}) {
    super({ keepAlive: true, ...options, rejectUnauthorized: provider.rejectUnauthorized });
    this.#provider = provider;
    provider.onEpoch(() => this.#retire());
  }

  // Requests are pooled per epoch: a request started after a rotation never finds a socket of the
  // old identity. A socket keeps the name of the epoch it was opened in (the tag on its options), so
  // Node files it back, and removes it, under that name rather than the current one.
  override getName(options?: ConnectionOptions): string {
    const epoch = (options as Tagged | undefined)?.[EPOCH] ?? this.#provider.epoch;
    return `${super.getName(options)}:mtls${epoch}`;
  }

  override addRequest(req: ClientRequest, options: ConnectionOptions): void {
    this.#provider.touch();
    super.addRequest(req, options);
  }

  override createConnection(options: ConnectionOptions, callback?: OnCreate): Duplex | null | undefined {
    const epoch = this.#provider.epoch;
    // Non-enumerable: Node copies options with spread when it opens a replacement socket for a queued
    // request, and that socket must belong to the epoch it is opened in.
    Object.defineProperty(options, EPOCH, { value: epoch, configurable: true, enumerable: false });
    const proxy = this.#provider.proxy;
    const host = String(options.host ?? 'localhost');
    const port = Number(options.port ?? 443);
    const tunnelled = proxy !== undefined && usesProxy(proxy, host, port);
    const identity = this.#provider.current();
    if (identity && !tunnelled) return this.#connect(options, identity, epoch);
    if (!callback) {
      throw new MtlsError(
        'INVALID_OPTION',
        'agent.createConnection(options) was called without a callback before the first credentials were ' +
          'loaded or for a proxied host; pass a callback, or await resolver.credentials() first',
      );
    }
    identityForConnection(this.#provider, tunnelled ? { proxy, host, port } : undefined)
      .then(({ identity: id, tunnel }) => callback(null, this.#connect(options, id, epoch, tunnel)))
      .catch((err: Error) => callback(err));
    return undefined;
  }

  override keepSocketAlive(socket: Duplex): boolean {
    if ((socket as Tagged)[EPOCH] !== this.#provider.epoch) return false;
    return super.keepSocketAlive(socket);
  }

  #connect(options: ConnectionOptions, identity: TlsIdentity, epoch: number, tunnel?: Duplex): Duplex {
    const socket = super.createConnection({
      ...options,
      secureContext: identity.secureContext,
      // Sessions are cached per identity: resuming one would present the old certificate again.
      ...(options._agentKey === undefined ? {} : { _agentKey: `${options._agentKey}:id${identity.serial}` }),
      ...(tunnel === undefined ? {} : { socket: tunnel }),
    }) as Duplex;
    (socket as Tagged)[EPOCH] = epoch;
    return socket;
  }

  // Rotation: idle sockets of older epochs close now, busy ones when their response ends
  // (keepSocketAlive refuses them), and cached sessions of older identities are dropped.
  #retire(): void {
    const epoch = this.#provider.epoch;
    for (const list of Object.values(this.freeSockets)) {
      for (const socket of [...(list ?? [])]) if ((socket as Tagged)[EPOCH] !== epoch) socket.destroy();
    }
    // Node leaves an empty list under a pool name whose only socket failed to open (EXPIRED, CLOSED).
    const sockets = this.sockets as Record<string, unknown[] | undefined>;
    for (const name of Object.keys(sockets)) if (sockets[name]?.length === 0) delete sockets[name];
    const cache = this._sessionCache;
    if (cache && typeof this._evictSession === 'function') {
      for (const key of [...cache.list]) this._evictSession(key);
    }
  }
}
