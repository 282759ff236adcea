// What applications see of a resolver: its options, the object it returns, its health report and
// its events. The implementation is in resolver.ts; timing policy in schedule.ts; the clients it
// hands out in outputs.ts.
import type https from 'node:https';
import type { SecureContext } from 'node:tls';
import type * as Undici from 'undici';
import type { MtlsError } from '../errors.js';
import type { CaMode, PlainTlsOptions } from '../tls/context.js';
import type { DispatcherOptions } from '../tls/dispatcher.js';
import type { ProxyOption } from '../tls/proxy.js';
import type { CredentialSource, MtlsCredentials } from '../types.js';
import type { ValidationPolicy } from '../validation/policy.js';
import type { Http2ClientOptions, RotatingHttp2Client } from './http2.js';
import type { DispatcherVariant, ResolverFetch } from './outputs.js';
import type { ResolverClock } from './schedule.js';
import type { TelemetryMeterProvider, TelemetryTracerProvider } from './telemetry.js';

export type { Http2ClientOptions, Http2SessionOptions, RotatingHttp2Client } from './http2.js';
export type { DispatcherVariant, ResolverFetch } from './outputs.js';
export type { ResolverClock } from './schedule.js';

export interface TlsResolverOptions {
  /**
   * Where the credential lives: a source, or a reference such as `env:`, `file:DIR`, `aws-sm://...`.
   * Not a Promise of one: `source: await sourceFromReference(ref)`, or pass the reference itself.
   */
  source: CredentialSource | string;
  /** Decoding and validation options (expected identity, bundle field names...). */
  policy?: ValidationPolicy;
  /** How often a static source is checked for a new version, in ms. Default 15 minutes. */
  refreshIntervalMs?: number;
  /**
   * Each delay is shortened by up to this fraction, at random, so fleets don't refresh in step; and the
   * first check after the first load comes at a random point between a tenth of the interval and the
   * whole of it, so credentials loaded together (a set made ready at start-up) are checked spread out.
   * 0 turns both off. 0..1, default 0.1.
   */
  jitter?: number;
  /**
   * `background` (default): timers refresh ahead of need. `on-access`: no timers; a refresh that is
   * due starts when the credential is next used (serverless).
   */
  mode?: 'background' | 'on-access';
  /**
   * `expiring` fires, and a static source is checked more often, within this many days of notAfter.
   * Default: `policy.warnDays` when set, else the smaller of 30 days and a third of the certificate's lifetime.
   */
  warnDays?: number;
  /** An issuing source mints a new certificate at this fraction of the current one's lifetime. Default 2/3. */
  issuingRenewFraction?: number;
  /** Retry delays after a failed refresh: doubling from `initialMs` (1 s) up to `maxMs` (5 min). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** The credential's CA `replace`s the system roots (default) or is `append`ed to them. */
  caMode?: CaMode;
  /** Tunnel through an HTTPS proxy (CONNECT). `true`: HTTPS_PROXY / NO_PROXY. Off by default. */
  proxy?: ProxyOption;
  clock?: ResolverClock;
  /** Options of the https.Agent (keep-alive is on by default). TLS options are not accepted here. */
  agentOptions?: https.AgentOptions;
  /** Options of the undici Agents behind `dispatcher()` and `fetch()`. */
  dispatcherOptions?: DispatcherOptions;
  /** Verify the server's certificate. Default true; turn off only for a test server you trust by other means. */
  rejectUnauthorized?: boolean;
  /** A load (or version probe) taking longer than this many ms is abandoned as `SOURCE_UNAVAILABLE`. Default 60 s. */
  loadTimeoutMs?: number;
  /**
   * The credential's name in metrics, spans and diagnostics channels (`mtlskit.credential.name`).
   * Default `default`; `createTlsResolvers` gives each resolver its name in the set.
   */
  name?: string;
  /**
   * The OpenTelemetry MeterProvider for the resolver's metrics. Default: the global one (when
   * `@opentelemetry/api` is installed; without it nothing is recorded).
   */
  meterProvider?: TelemetryMeterProvider;
  /** The OpenTelemetry TracerProvider for the span of each load. Default: the global one. */
  tracerProvider?: TelemetryTracerProvider;
}

export interface ResolverHealth {
  /** A usable (loaded, unexpired) credential is in hand. */
  ready: boolean;
  fingerprint256?: string;
  notAfter?: Date;
  expiresInMs?: number;
  /** Last time the source was read successfully (or confirmed unchanged). */
  lastRefreshAt?: Date;
  /** The error of the last refresh, when it failed. */
  lastError?: { code: string; message: string };
  /** The last refresh failed and an older credential is being served. */
  stale: boolean;
  closed: boolean;
}

export interface RotatedEvent {
  previousFingerprint256: string;
  fingerprint256: string;
  notAfter: Date;
}

export interface ExpiringEvent {
  fingerprint256: string;
  notAfter: Date;
  expiresInMs: number;
}

export interface RefreshFailedEvent {
  error: MtlsError;
  /** An older credential is still being served. */
  stale: boolean;
  /** The credential being served, if any. */
  fingerprint256?: string;
  retryInMs: number;
}

export interface TlsResolverEvents {
  rotated: [RotatedEvent];
  expiring: [ExpiringEvent];
  refreshFailed: [RefreshFailedEvent];
}

/** A listener of one TlsResolver event. */
export type TlsResolverListener<E extends keyof TlsResolverEvents> = (...args: TlsResolverEvents[E]) => void;

export interface TlsResolver {
  /** The current credentials, loading them on first use. */
  credentials(): Promise<MtlsCredentials>;
  /** The current credentials as a SecureContext (TLS 1.2 minimum, CA per `caMode`). */
  secureContext(): Promise<SecureContext>;
  /** A node:https Agent that rotates with the resolver. Synchronous and always the same object. */
  agent(): https.Agent;
  /**
   * An undici Dispatcher that rotates with the resolver. Always the same object for the same options.
   * `{ allowH2: true }` offers HTTP/2; a rotation moves new requests to a new session (new
   * certificate) while the old session's streams finish.
   */
  dispatcher(options?: DispatcherVariant): Undici.Dispatcher;
  /**
   * A node:http2 client of `authority` (`https://host:port`) that rotates: `request(headers, options)`
   * returns the ClientHttp2Stream; after a rotation new streams go on a new session with the new
   * certificate while the old session finishes its streams and closes. Closed with the resolver.
   */
  http2(authority: string | URL, options?: Http2ClientOptions): RotatingHttp2Client;
  /** undici's fetch through `dispatcher()`. */
  fetch: ResolverFetch;
  /** Plain `cert`/`key`/`ca`/`minVersion` for clients that only take options. Holds the key: never log it. */
  tlsOptions(): Promise<PlainTlsOptions>;
  /**
   * Reads the source now and resolves with what is served afterwards. A refresh already in flight may
   * have read the source before the caller changed it: a new read is chained after it, never skipped.
   */
  refresh(): Promise<MtlsCredentials>;
  health(): ResolverHealth;
  /**
   * Stops timers and watchers and closes connections; later calls reject with `CLOSED`. Idempotent.
   * A promise this resolver handed out and nobody awaits (a `credentials()` before a failed first
   * load, one that close() ends) never ends the process as an unhandled rejection: the error also
   * shows in `health()` and `refreshFailed`.
   */
  close(): Promise<void>;
  on<E extends keyof TlsResolverEvents>(event: E, listener: TlsResolverListener<E>): this;
  once<E extends keyof TlsResolverEvents>(event: E, listener: TlsResolverListener<E>): this;
  off<E extends keyof TlsResolverEvents>(event: E, listener: TlsResolverListener<E>): this;
}
