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

/**
 * The provider the rotating clients read. A class rather than an object of closures: a process with
 * thousands of resolvers pays for its two fields, not for a closure per method.
 */
class OutputsProvider implements IdentityProvider {
  readonly #outputs: ResolverOutputs;
  readonly #source: IdentitySource;
  readonly rejectUnauthorized: boolean;
  readonly proxy: ProxySettings | undefined;

  constructor(outputs: ResolverOutputs, source: IdentitySource, options: OutputOptions) {
    this.#outputs = outputs;
    this.#source = source;
    this.rejectUnauthorized = options.rejectUnauthorized;
    this.proxy = options.proxy;
  }

  get epoch(): number {
    return this.#outputs.epoch;
  }

  touch(): void {
    this.#source.touch();
  }

  current(): TlsIdentity | undefined {
    return this.#source.current();
  }

  acquire(): Promise<TlsIdentity> {
    return this.#source.acquire();
  }

  onEpoch(listener: () => void): () => void {
    return this.#outputs.onEpoch(listener);
  }
}

export class ResolverOutputs {
  readonly provider: IdentityProvider;
  readonly #options: OutputOptions;
  #epoch = 0;
  // Made on first need: most of a large set's resolvers never have a listener, a variant or an h2 client.
  #epochListeners: Set<() => void> | undefined;
  #agent: RotatingHttpsAgent | undefined;
  #dispatcher: RotatingDispatcher | undefined;
  /** Dispatchers asked for with other options than the resolver's (`dispatcher({ allowH2: true })`). */
  #variants: Map<string, RotatingDispatcher> | undefined;
  #http2Clients: Set<Http2Client> | undefined;

  constructor(source: IdentitySource, options: OutputOptions) {
    this.#options = options;
    this.provider = new OutputsProvider(this, source, options);
  }

  /** Changes whenever pooled connections must stop being reused (see IdentityProvider.epoch). */
  get epoch(): number {
    return this.#epoch;
  }

  /** Calls `listener` after each change of the epoch, until the function returned is called. */
  onEpoch(listener: () => void): () => void {
    // A wrapper per call: the same function registered twice is removed once per registration.
    const entry = () => listener();
    this.#epochListeners ??= new Set();
    const listeners = this.#epochListeners;
    listeners.add(entry);
    return () => listeners.delete(entry);
  }

  /** Pooled connections stop being reused: after a rotation, at expiry, on close. */
  retireConnections(): void {
    this.#epoch++;
    for (const listener of this.#epochListeners ?? []) listener();
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
    this.#variants ??= new Map();
    let variant = this.#variants.get(key);
    if (variant === undefined) {
      variant = createRotatingDispatcher(this.provider, { ...base, allowH2 });
      this.#variants.set(key, variant);
    }
    return variant;
  }

  /** A new rotating HTTP/2 client of `authority`; closed with the resolver. */
  http2(authority: string | URL, options?: Http2ClientOptions): RotatingHttp2Client {
    this.#http2Clients ??= new Set();
    const clients = this.#http2Clients;
    const client = new Http2Client(this.provider, authority, options, () => clients.delete(client));
    clients.add(client);
    return client;
  }

  fetch(input: Undici.RequestInfo, init?: Undici.RequestInit): Promise<Undici.Response> {
    const dispatcher = this.dispatcher();
    return loadUndici().fetch(input, { ...init, dispatcher });
  }

  tlsOptions(credentials: ValidatedCredentials): PlainTlsOptions {
    return plainTlsOptions(credentials, this.#options.caMode);
  }

  /** Closes the dispatcher gracefully (requests in flight finish); the agent's pool went with the epoch. */
  async close(): Promise<void> {
    await Promise.all([
      this.#dispatcher?.close(),
      ...[...(this.#variants?.values() ?? [])].map((d) => d.close()),
      ...[...(this.#http2Clients ?? [])].map((c) => c.close()),
    ]);
  }
}
