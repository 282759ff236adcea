// What a resolver hands out, apart from how it loads and schedules: the identity provider the
// rotating clients read (with the epoch that retires pooled connections), the https.Agent, the undici
// Dispatcher, undici's fetch through it, and plain TLS options. Each object is built on first use and
// is the same object for the resolver's life, so a client that captured it rotates too.
import type https from 'node:https';
import type * as Undici from 'undici';
import { RotatingHttpsAgent } from '../tls/agent.js';
import { type CaMode, type PlainTlsOptions, plainTlsOptions } from '../tls/context.js';
import {
  createRotatingDispatcher,
  type DispatcherOptions,
  loadUndici,
  type RotatingDispatcher,
} from '../tls/dispatcher.js';
import type { IdentityProvider, TlsIdentity } from '../tls/identity.js';
import type { ProxySettings } from '../tls/proxy.js';
import type { ValidatedCredentials } from '../validation/credentials.js';
import { Http2Client, type Http2ClientOptions, type RotatingHttp2Client } from './http2.js';

/** What `fetch()` accepts: undici's fetch signature (the same as the global fetch). */
export type ResolverFetch = (
  input: Undici.RequestInfo,
  init?: Undici.RequestInit,
) => Promise<Undici.Response>;

/** Options of `dispatcher(options)`. */
export interface DispatcherVariant {
  /** Offer h2 by ALPN (undici's `allowH2`); the server picks. Default: the resolver's `dispatcherOptions.allowH2`. */
  allowH2?: boolean;
}

/** What the outputs need from the resolver that owns them. */
export interface IdentitySource {
  /** Acts on a deadline that has come (expiry, due refresh). */
  touch(): void;
  /** The identity usable right now, if any. */
  current(): TlsIdentity | undefined;
  /** Waits for a usable identity. */
  acquire(): Promise<TlsIdentity>;
}

export interface OutputOptions {
  agentOptions: https.AgentOptions;
  dispatcherOptions: DispatcherOptions;
  caMode: CaMode;
  proxy: ProxySettings | undefined;
  rejectUnauthorized: boolean;
}

export class ResolverOutputs {
  readonly provider: IdentityProvider;
  readonly #options: OutputOptions;
  #epoch = 0;
  readonly #epochListeners = new Set<() => void>();
  #agent: RotatingHttpsAgent | undefined;
  #dispatcher: RotatingDispatcher | undefined;
  /** Dispatchers asked for with other options than the resolver's (`dispatcher({ allowH2: true })`). */
  readonly #variants = new Map<string, RotatingDispatcher>();
  readonly #http2Clients = new Set<Http2Client>();

  constructor(source: IdentitySource, options: OutputOptions) {
    this.#options = options;
    // The epoch getter runs with the provider as `this`.
    const self = this;
    this.provider = {
      get epoch() {
        return self.#epoch;
      },
      touch: () => source.touch(),
      current: () => source.current(),
      acquire: () => source.acquire(),
      onEpoch: (listener) => {
        // A wrapper per call: the same function registered twice is removed once per registration.
        const entry = () => listener();
        this.#epochListeners.add(entry);
        return () => this.#epochListeners.delete(entry);
      },
      rejectUnauthorized: options.rejectUnauthorized,
      proxy: options.proxy,
    };
  }

  get caMode(): CaMode {
    return this.#options.caMode;
  }

  /** Pooled connections stop being reused: after a rotation, at expiry, on close. */
  retireConnections(): void {
    this.#epoch++;
    for (const listener of this.#epochListeners) listener();
  }

  agent(): https.Agent {
    this.#agent ??= new RotatingHttpsAgent(this.provider, this.#options.agentOptions);
    return this.#agent as unknown as https.Agent;
  }

  /**
   * The rotating dispatcher; with `allowH2` different from the resolver's `dispatcherOptions`, a
   * second one (built once, then the same object) that offers h2 (or only http/1.1).
   */
  dispatcher(options?: DispatcherVariant): Undici.Dispatcher {
    const base = this.#options.dispatcherOptions;
    const allowH2 = options?.allowH2;
    if (allowH2 === undefined || allowH2 === (base.allowH2 === true)) {
      this.#dispatcher ??= createRotatingDispatcher(this.provider, base);
      return this.#dispatcher;
    }
    const key = `allowH2=${allowH2}`;
    let variant = this.#variants.get(key);
    if (variant === undefined) {
      variant = createRotatingDispatcher(this.provider, { ...base, allowH2 });
      this.#variants.set(key, variant);
    }
    return variant;
  }

  /** A new rotating HTTP/2 client of `authority`; closed with the resolver. */
  http2(authority: string | URL, options?: Http2ClientOptions): RotatingHttp2Client {
    const client = new Http2Client(this.provider, authority, options, () =>
      this.#http2Clients.delete(client),
    );
    this.#http2Clients.add(client);
    return client;
  }

  readonly fetch: ResolverFetch = (input, init) => {
    const dispatcher = this.dispatcher();
    return loadUndici().fetch(input, { ...init, dispatcher });
  };

  tlsOptions(credentials: ValidatedCredentials): PlainTlsOptions {
    return plainTlsOptions(credentials, this.#options.caMode);
  }

  /** Closes the dispatcher gracefully (requests in flight finish); the agent's pool went with the epoch. */
  async close(): Promise<void> {
    await Promise.all([
      this.#dispatcher?.close(),
      ...[...this.#variants.values()].map((d) => d.close()),
      ...[...this.#http2Clients].map((c) => c.close()),
    ]);
  }
}
