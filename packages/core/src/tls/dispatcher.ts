// The rotating undici Dispatcher: one object, handed out once, that forwards every request to the
// undici Agent of the current epoch. At rotation a fresh Agent takes new requests and the old one is
// closed gracefully (in-flight requests finish, idle connections close). Connections are opened
// with the identity current at connect time, through a connector built per identity (so its TLS
// session cache never resumes an old identity's session). With `allowH2`, a connection may carry one
// HTTP/2 session for many requests: retiring the old Agent is what moves it to the new certificate
// (its streams in flight finish, then the session closes with GOAWAY). undici is loaded on first use, so users of
// the https.Agent alone never pay for it.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { type IdentityProvider, identityForConnection, type TlsIdentity } from './identity.js';
import { usesProxy } from './proxy.js';

type UndiciModule = typeof Undici;
type Connector = Undici.buildConnector.connector;
type ConnectOptions = Undici.buildConnector.Options;
type ConnectCallback = Undici.buildConnector.Callback;

/** undici Agent options a resolver passes through (connections, keep-alive timeouts...). */
export type DispatcherOptions = Omit<Undici.Agent.Options, 'connect' | 'factory'> & {
  /** Timeout of the TCP + TLS connect, in ms (undici's default: 10 s). */
  connectTimeout?: number;
};

let undici: UndiciModule | undefined;

/** The undici package this package depends on (7.x), loaded once, synchronously. */
export function loadUndici(): UndiciModule {
  undici ??= createRequire(import.meta.url)('undici') as UndiciModule;
  return undici;
}

const FORWARDED_EVENTS = ['connect', 'disconnect', 'connectionError', 'drain'] as const;

type RotatingDispatcherClass = new (
  provider: IdentityProvider,
  options: DispatcherOptions,
) => RotatingDispatcher;

/** The resolver's Dispatcher, plus what the resolver itself needs of it. */
export interface RotatingDispatcher extends Undici.Dispatcher {
  /** undici Agents not yet closed (the current one and those still draining): for tests and benchmarks. */
  liveAgents(): number;
}

let RotatingDispatcherImpl: RotatingDispatcherClass | undefined;

function defineClass(u: UndiciModule): RotatingDispatcherClass {
  class Impl extends u.Dispatcher {
    readonly #provider: IdentityProvider;
    readonly #agentOptions: Omit<DispatcherOptions, 'connectTimeout'>;
    readonly #connectTimeout: number | undefined;
    #agent: Undici.Agent | undefined;
    #epoch = -1;
    readonly #draining = new Set<Undici.Agent>();
    #connectorSerial = -1;
    #connector: Connector | undefined;

    constructor(provider: IdentityProvider, options: DispatcherOptions) {
      super();
      this.#provider = provider;
      const { connectTimeout, ...agentOptions } = options;
      this.#agentOptions = agentOptions;
      this.#connectTimeout = connectTimeout;
      provider.onEpoch(() => {
        if (this.#agent !== undefined) this.#rotate();
      });
    }

    override dispatch(
      options: Undici.Dispatcher.DispatchOptions,
      handler: Undici.Dispatcher.DispatchHandler,
    ): boolean {
      this.#provider.touch();
      if (this.#agent === undefined || this.#epoch !== this.#provider.epoch) this.#rotate();
      return (this.#agent as Undici.Agent).dispatch(options, handler);
    }

    // Closing the dispatcher closes its connections; it stays usable (a later request opens new ones),
    // because the resolver, not a client that was handed the dispatcher, decides when it ends.
    override close(): Promise<void>;
    override close(callback: () => void): void;
    override close(callback?: () => void): Promise<void> | void {
      const done = this.#retireAll((agent) => agent.close());
      if (callback) done.then(callback, callback);
      else return done;
    }

    override destroy(): Promise<void>;
    override destroy(err: Error | null): Promise<void>;
    override destroy(callback: () => void): void;
    override destroy(err: Error | null, callback: () => void): void;
    override destroy(
      errOrCallback?: Error | null | (() => void),
      callback?: () => void,
    ): Promise<void> | void {
      const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
      const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
      const done = this.#retireAll((agent) => agent.destroy(err));
      if (cb) done.then(cb, cb);
      else return done;
    }

    liveAgents(): number {
      return this.#draining.size + (this.#agent === undefined ? 0 : 1);
    }

    #rotate(): void {
      const old = this.#agent;
      const agent = new u.Agent({
        ...this.#agentOptions,
        connect: (opts: ConnectOptions, cb: ConnectCallback) => this.#connect(opts, cb),
      });
      // Observers of the dispatcher (connection metrics, `drain` for back-pressure) see every Agent's events.
      const events = agent as unknown as NodeJS.EventEmitter;
      for (const event of FORWARDED_EVENTS) {
        events.on(event, (...args: unknown[]) =>
          (this as unknown as NodeJS.EventEmitter).emit(event, ...args),
        );
      }
      this.#agent = agent;
      this.#epoch = this.#provider.epoch;
      if (old !== undefined) this.#drain(old, (a) => a.close());
    }

    #drain(agent: Undici.Agent, how: (agent: Undici.Agent) => Promise<void>): Promise<void> {
      this.#draining.add(agent);
      return how(agent)
        .catch(() => {
          // A closing Agent that fails has nothing left to give back.
        })
        .finally(() => this.#draining.delete(agent));
    }

    #retireAll(how: (agent: Undici.Agent) => Promise<void>): Promise<void> {
      const current = this.#agent;
      this.#agent = undefined;
      const closing = [...this.#draining].map((agent) => how(agent).catch(() => {}));
      if (current !== undefined) closing.push(this.#drain(current, how));
      return Promise.all(closing).then(() => undefined);
    }

    #connectorFor(identity: TlsIdentity): Connector {
      if (this.#connector === undefined || this.#connectorSerial !== identity.serial) {
        this.#connector = u.buildConnector({
          secureContext: identity.secureContext,
          rejectUnauthorized: this.#provider.rejectUnauthorized,
          // A custom connector decides ALPN itself: without this, `allowH2` on the Agent offers only
          // http/1.1. A connector per identity also means a TLS session cache per identity.
          ...(this.#agentOptions.allowH2 === true ? { allowH2: true } : {}),
          ...(this.#connectTimeout === undefined ? {} : { timeout: this.#connectTimeout }),
        });
        this.#connectorSerial = identity.serial;
      }
      return this.#connector;
    }

    #connect(opts: ConnectOptions, cb: ConnectCallback): void {
      const proxy = this.#provider.proxy;
      const port = Number(opts.port || (opts.protocol === 'https:' ? 443 : 80));
      const tunnelled =
        proxy !== undefined && opts.protocol === 'https:' && usesProxy(proxy, opts.hostname, port);
      const identity = this.#provider.current();
      if (identity && !tunnelled) {
        this.#connectorFor(identity)(opts, cb);
        return;
      }
      identityForConnection(this.#provider, tunnelled ? { proxy, host: opts.hostname, port } : undefined)
        .then(({ identity: id, tunnel }) =>
          this.#connectorFor(id)(tunnel === undefined ? opts : { ...opts, httpSocket: tunnel }, cb),
        )
        .catch((err: Error) => cb(err, null));
    }
  }
  return Impl as unknown as RotatingDispatcherClass;
}

/** The rotating Dispatcher of one resolver. */
export function createRotatingDispatcher(
  provider: IdentityProvider,
  options: DispatcherOptions = {},
): RotatingDispatcher {
  const u = loadUndici();
  RotatingDispatcherImpl ??= defineClass(u);
  return new RotatingDispatcherImpl(provider, options);
}
