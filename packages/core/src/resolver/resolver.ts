// The resolver: one per named credential. It owns caching (single flight), refresh scheduling
// (interval with jitter, sooner near expiry, renewal of issuing sources at a fraction of their
// lifetime, push from watch()), stale-on-error with capped backoff, expiry fail-fast, and rotation;
// and it hands every Node HTTP client the same self-rotating identity: an https.Agent, an undici
// Dispatcher, undici's fetch, a SecureContext, plain TLS options. Clients live in ./tls/.
import { EventEmitter } from 'node:events';
import type https from 'node:https';
import type { SecureContext } from 'node:tls';
import type * as Undici from 'undici';
import { MtlsError } from '../errors.js';
import { sourceFromReference } from '../references/registry.js';
import { checkAgentOptions, RotatingHttpsAgent } from '../tls/agent.js';
import { buildSecureContext, type CaMode, type PlainTlsOptions, plainTlsOptions } from '../tls/context.js';
import {
  createRotatingDispatcher,
  type DispatcherOptions,
  loadUndici,
  type RotatingDispatcher,
} from '../tls/dispatcher.js';
import type { IdentityProvider, TlsIdentity } from '../tls/identity.js';
import { type ProxyOption, type ProxySettings, resolveProxy } from '../tls/proxy.js';
import type { CredentialSource, MtlsCredentials, SourceKind } from '../types.js';
import type { ValidatedCredentials } from '../validation/credentials.js';
import { loadCredentials } from '../validation/load.js';
import type { ValidationPolicy } from '../validation/policy.js';

/** Time as the resolver sees it. Inject one in tests; `setTimeout` drives background refreshes. */
export interface ResolverClock {
  now(): number;
  setTimeout?(fn: () => void, ms: number): unknown;
  clearTimeout?(handle: unknown): void;
}

export interface TlsResolverOptions {
  /** Where the credential lives: a source, or a reference such as `env:`, `file:DIR`, `aws-sm://...`. */
  source: CredentialSource | string;
  /** Decoding and validation options (expected identity, bundle field names...). */
  policy?: ValidationPolicy;
  /** How often a static source is checked for a new version, in ms. Default 15 minutes. */
  refreshIntervalMs?: number;
  /** Each delay is shortened by up to this fraction, at random, so fleets don't refresh in step. 0..1, default 0.1. */
  jitter?: number;
  /**
   * `background` (default): timers refresh ahead of need. `on-access`: no timers; a refresh that is
   * due starts when the credential is next used (serverless).
   */
  mode?: 'background' | 'on-access';
  /** `expiring` fires, and a static source is checked more often, within this many days of notAfter. Default 30. */
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

type Listener<E extends keyof TlsResolverEvents> = (...args: TlsResolverEvents[E]) => void;

/** What `fetch()` accepts: undici's fetch signature (the same as the global fetch). */
export type ResolverFetch = (
  input: Undici.RequestInfo,
  init?: Undici.RequestInit,
) => Promise<Undici.Response>;

export interface TlsResolver {
  /** The current credentials, loading them on first use. */
  credentials(): Promise<MtlsCredentials>;
  /** The current credentials as a SecureContext (TLS 1.2 minimum, CA per `caMode`). */
  secureContext(): Promise<SecureContext>;
  /** A node:https Agent that rotates with the resolver. Synchronous and always the same object. */
  agent(): https.Agent;
  /** An undici Dispatcher that rotates with the resolver. Always the same object. */
  dispatcher(): Undici.Dispatcher;
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
  /** Stops timers and watchers and closes connections; later calls reject with `CLOSED`. Idempotent. */
  close(): Promise<void>;
  on<E extends keyof TlsResolverEvents>(event: E, listener: Listener<E>): this;
  once<E extends keyof TlsResolverEvents>(event: E, listener: Listener<E>): this;
  off<E extends keyof TlsResolverEvents>(event: E, listener: Listener<E>): this;
}

const DEFAULTS = {
  refreshIntervalMs: 15 * 60_000,
  jitter: 0.1,
  warnDays: 30,
  issuingRenewFraction: 2 / 3,
  backoffInitialMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  loadTimeoutMs: 60_000,
} as const;
const DAY_MS = 86_400_000;
// Close to notAfter a static source is polled more often, and an issuing source whose certificate is
// already past its renewal point (a stale cache in front of it, clock skew) is asked again: in both
// cases never more than once a second, so a source is not hammered.
const MIN_POLL_MS = 1_000;
// setTimeout fires at once for longer delays (with a warning): longer waits are re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;

const SYSTEM_CLOCK: ResolverClock = { now: () => Date.now() };

interface Identity extends TlsIdentity {
  readonly credentials: ValidatedCredentials;
  /** When `expiring` fires (static sources: warnDays before notAfter; issuing: when a renewal fails). */
  warnAt: number;
  /** Issuing sources: when to mint the next certificate. */
  readonly renewAt: number;
  warned: boolean;
  expired: boolean;
}

function invalidOption(name: string, message: string): MtlsError {
  return new MtlsError('INVALID_OPTION', `options.${name} ${message}`, { field: name });
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw invalidOption(name, `must be a positive number of ms (got ${value})`);
  return value;
}

function fraction(name: string, value: number | undefined, fallback: number, open: boolean): number {
  if (value === undefined) return fallback;
  const ok = Number.isFinite(value) && (open ? value > 0 && value < 1 : value >= 0 && value <= 1);
  if (!ok)
    throw invalidOption(
      name,
      `must be a number ${open ? 'between 0 and 1, exclusive' : 'from 0 to 1'} (got ${value})`,
    );
  return value;
}

function asMtlsError(err: unknown, sourceId: string | undefined): MtlsError {
  if (MtlsError.is(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MtlsError(
    'SOURCE_UNAVAILABLE',
    `loading credentials from ${sourceId ?? 'the source'} failed (${message}); the resolver retries with backoff`,
    { sourceId, cause: err },
  );
}

class Resolver extends EventEmitter implements TlsResolver {
  readonly #reference: string | undefined;
  #source: CredentialSource | undefined;
  #sourcePending: Promise<CredentialSource> | undefined;
  readonly #ownsSource: boolean;
  readonly #policy: ValidationPolicy;
  readonly #clock: ResolverClock;
  readonly #mode: 'background' | 'on-access';
  readonly #intervalMs: number;
  readonly #jitter: number;
  readonly #warnMs: number;
  readonly #renewFraction: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #caMode: CaMode;
  readonly #loadTimeoutMs: number;
  readonly #agentOptions: https.AgentOptions;
  readonly #dispatcherOptions: DispatcherOptions;
  readonly #provider: IdentityProvider;

  #current: Identity | undefined;
  #serial = 0;
  #epoch = 0;
  readonly #epochListeners: Array<() => void> = [];
  #inflight: Promise<Identity> | undefined;
  /** A load that starts once the one in flight ends (refresh(), watch() reports during a load). */
  #queued: Promise<Identity> | undefined;
  #nextRefreshAt = 0;
  /** When #touch() must act: the earliest of next refresh, warning and expiry. */
  #deadline = 0;
  #timer: unknown;
  #failures = 0;
  #lastError: MtlsError | undefined;
  #lastRefreshAt: number | undefined;
  #lastProbe: string | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #abort = new AbortController();
  #unwatch: (() => void) | undefined;
  /** watch() threw: reported once through refreshFailed, then the resolver relies on polling. */
  #watchError: MtlsError | undefined;
  #watchFailed = false;
  #agent: RotatingHttpsAgent | undefined;
  #dispatcher: RotatingDispatcher | undefined;

  constructor(options: TlsResolverOptions) {
    super();
    const { source } = options;
    if (typeof source === 'string') {
      this.#reference = source;
      this.#ownsSource = true;
    } else if (source && typeof source === 'object' && typeof source.load === 'function') {
      this.#source = source;
      this.#ownsSource = false;
    } else {
      throw invalidOption(
        'source',
        "must be a CredentialSource or a reference string such as 'env:' or 'file:DIR'",
      );
    }
    if (options.mode !== undefined && options.mode !== 'background' && options.mode !== 'on-access') {
      throw invalidOption('mode', `must be 'background' or 'on-access' (got ${String(options.mode)})`);
    }
    if (options.caMode !== undefined && options.caMode !== 'replace' && options.caMode !== 'append') {
      throw invalidOption('caMode', `must be 'replace' or 'append' (got ${String(options.caMode)})`);
    }
    if (options.clock !== undefined && typeof options.clock.now !== 'function') {
      throw invalidOption('clock', 'must have a now() method returning ms since the epoch');
    }
    checkAgentOptions(options.agentOptions);
    this.#mode = options.mode ?? 'background';
    this.#caMode = options.caMode ?? 'replace';
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#intervalMs = positive('refreshIntervalMs', options.refreshIntervalMs, DEFAULTS.refreshIntervalMs);
    this.#jitter = fraction('jitter', options.jitter, DEFAULTS.jitter, false);
    const warnDays = options.warnDays ?? options.policy?.warnDays ?? DEFAULTS.warnDays;
    if (!Number.isFinite(warnDays) || warnDays < 0)
      throw invalidOption('warnDays', `must be 0 or more (got ${warnDays})`);
    this.#warnMs = warnDays * DAY_MS;
    this.#renewFraction = fraction(
      'issuingRenewFraction',
      options.issuingRenewFraction,
      DEFAULTS.issuingRenewFraction,
      true,
    );
    this.#backoffInitialMs = positive(
      'backoff.initialMs',
      options.backoff?.initialMs,
      DEFAULTS.backoffInitialMs,
    );
    this.#backoffMaxMs = Math.max(
      this.#backoffInitialMs,
      positive('backoff.maxMs', options.backoff?.maxMs, DEFAULTS.backoffMaxMs),
    );
    this.#loadTimeoutMs = positive('loadTimeoutMs', options.loadTimeoutMs, DEFAULTS.loadTimeoutMs);
    const clock = this.#clock;
    this.#policy = { ...options.policy, warnDays, now: options.policy?.now ?? (() => clock.now()) };
    this.#agentOptions = options.agentOptions ?? {};
    this.#dispatcherOptions = options.dispatcherOptions ?? {};
    const proxy = resolveProxy(options.proxy);
    const rejectUnauthorized = options.rejectUnauthorized !== false;
    this.#provider = this.#makeProvider(proxy, rejectUnauthorized);

    // Background mode loads at once, so the first request rarely waits; failures are kept for the
    // first caller (and reported through refreshFailed), never thrown unhandled.
    if (this.#mode === 'background') this.#startRefresh(false).catch(() => {});
  }

  // ---- public API -------------------------------------------------------------------------------

  credentials(): Promise<MtlsCredentials> {
    const usable = this.#fastPath();
    if (usable) return Promise.resolve(usable.credentials);
    return this.#acquire().then((id) => id.credentials);
  }

  secureContext(): Promise<SecureContext> {
    const usable = this.#fastPath();
    if (usable) return Promise.resolve(usable.secureContext);
    return this.#acquire().then((id) => id.secureContext);
  }

  async tlsOptions(): Promise<PlainTlsOptions> {
    const id = this.#fastPath() ?? (await this.#acquire());
    return plainTlsOptions(id.credentials, this.#caMode);
  }

  agent(): https.Agent {
    this.#agent ??= new RotatingHttpsAgent(this.#provider, this.#agentOptions);
    return this.#agent as unknown as https.Agent;
  }

  dispatcher(): Undici.Dispatcher {
    this.#dispatcher ??= createRotatingDispatcher(this.#provider, this.#dispatcherOptions);
    return this.#dispatcher;
  }

  readonly fetch: ResolverFetch = (input, init) => {
    const dispatcher = this.dispatcher();
    return loadUndici().fetch(input, { ...init, dispatcher });
  };

  async refresh(): Promise<MtlsCredentials> {
    if (this.#closed) throw this.#closedError();
    // "Refresh" means a read that starts after this call: a load already running may have read the
    // source before the caller wrote a new credential to it.
    await this.#refreshAfterInflight();
    return (await this.#acquire()).credentials;
  }

  health(): ResolverHealth {
    const now = this.#clock.now();
    const cur = this.#current;
    const usable = this.#closed ? undefined : this.#usable(now);
    return {
      ready: usable !== undefined,
      ...(cur === undefined
        ? {}
        : {
            fingerprint256: cur.fingerprint256,
            notAfter: cur.credentials.notAfter,
            expiresInMs: cur.notAfterMs - now,
          }),
      ...(this.#lastRefreshAt === undefined ? {} : { lastRefreshAt: new Date(this.#lastRefreshAt) }),
      ...(this.#lastError === undefined
        ? {}
        : { lastError: { code: this.#lastError.code, message: this.#lastError.message } }),
      stale: usable !== undefined && this.#lastError !== undefined,
      closed: this.#closed,
    };
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#disarm();
    this.#deadline = Number.POSITIVE_INFINITY;
    this.#abort.abort(this.#closedError());
    try {
      this.#unwatch?.();
    } catch {
      // A source whose unwatch throws has nothing more to stop.
    }
    this.#unwatch = undefined;
    // Pooled connections end with the resolver; requests in flight finish.
    this.#bumpEpoch();
    const dispatcher = this.#dispatcher;
    const source = this.#ownsSource ? this.#source : undefined;
    this.#closing = (async () => {
      await dispatcher?.close();
      await source?.close?.();
    })().catch(() => {
      // Closing is best effort: a source that fails to close has nothing more to give back.
    });
    return this.#closing;
  }

  // ---- identity provider (what the Agent and Dispatcher see) -------------------------------------

  #makeProvider(proxy: ProxySettings | undefined, rejectUnauthorized: boolean): IdentityProvider {
    // The epoch getter runs with the provider as `this`.
    const self = this;
    return {
      get epoch() {
        return self.#epoch;
      },
      touch: () => this.#touch(),
      current: () => (this.#closed ? undefined : this.#usable(this.#clock.now())),
      acquire: () => this.#acquire(),
      onEpoch: (listener) => {
        this.#epochListeners.push(listener);
      },
      rejectUnauthorized,
      proxy,
    };
  }

  /** The hot path of every output: one clock read, and the identity when it is usable. */
  #fastPath(): Identity | undefined {
    if (this.#closed) return undefined;
    return this.#usable(this.#touch());
  }

  /** Acts on a deadline that has come (expiry, warning, due refresh); returns the time it read. */
  #touch(): number {
    const now = this.#clock.now();
    if (now >= this.#deadline) this.#onDeadline(now);
    return now;
  }

  #usable(now: number): Identity | undefined {
    const cur = this.#current;
    return cur !== undefined && !cur.expired && now < cur.notAfterMs ? cur : undefined;
  }

  #acquire(): Promise<Identity> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const now = this.#touch();
    const usable = this.#usable(now);
    if (usable) return Promise.resolve(usable);
    // A credential was loaded and is past notAfter: fail fast. Refreshes go on in the background on
    // their schedule (one is due at expiry); waiting for one here would hold every request for as long
    // as a slow or hung source takes (up to loadTimeoutMs).
    // In on-access mode nothing refreshed while the process sat idle or frozen (a Lambda thawed after
    // its certificate was renewed): the uses that discover the expiry wait for the load it started.
    if (this.#current !== undefined) {
      if (this.#mode === 'on-access' && this.#inflight)
        return this.#inflight.then(
          () => this.#usableOrThrow(),
          () => this.#usableOrThrow(),
        );
      return Promise.reject(this.#unusableError());
    }
    // Nothing loaded yet: join the first load in flight, fail fast while backing off, or load now.
    if (this.#inflight)
      return this.#inflight.then(
        () => this.#usableOrThrow(),
        () => this.#usableOrThrow(),
      );
    if (this.#lastError !== undefined && now < this.#nextRefreshAt)
      return Promise.reject(this.#unusableError());
    return this.#startRefresh(false).then(
      () => this.#usableOrThrow(),
      () => this.#usableOrThrow(),
    );
  }

  #usableOrThrow(): Identity {
    const usable = this.#closed ? undefined : this.#usable(this.#clock.now());
    if (usable) return usable;
    throw this.#unusableError();
  }

  #unusableError(): MtlsError {
    if (this.#closed) return this.#closedError();
    const cur = this.#current;
    const sourceId = this.#source?.id;
    if (cur !== undefined) {
      const why = this.#lastError
        ? ` (last refresh: ${this.#lastError.code})`
        : this.#inflight
          ? ' (a refresh is in progress)'
          : '';
      return new MtlsError(
        'EXPIRED',
        `the client certificate ${cur.fingerprint256} expired at ${cur.credentials.notAfter.toISOString()} and no ` +
          `valid replacement has been loaded${why}; put a renewed certificate in ${sourceId ?? 'the source'}`,
        { sourceId, field: 'cert', ...(this.#lastError ? { cause: this.#lastError } : {}) },
      );
    }
    return (
      this.#lastError ??
      new MtlsError(
        'SOURCE_UNAVAILABLE',
        `no usable credentials have been loaded from ${sourceId ?? 'the source'} yet; ` +
          'see health().lastError and the refreshFailed events for why',
        { sourceId },
      )
    );
  }

  #closedError(): MtlsError {
    const sourceId = this.#source?.id;
    return new MtlsError(
      'CLOSED',
      `the TLS resolver for ${sourceId ?? 'this source'} was closed; create a new one with createTlsResolver() to make more requests`,
      { sourceId },
    );
  }

  // ---- scheduling ------------------------------------------------------------------------------

  #onDeadline(now: number): void {
    if (this.#closed) return;
    const cur = this.#current;
    if (cur !== undefined && !cur.expired && now >= cur.notAfterMs) {
      // Never present an expired certificate: pooled connections go, new ones fail with EXPIRED.
      cur.expired = true;
      this.#bumpEpoch();
      // Look for a replacement now rather than at the next scheduled check (unless backing off, whose
      // retries are already capped at notAfter).
      if (this.#lastError === undefined) this.#nextRefreshAt = Math.min(this.#nextRefreshAt, now);
    }
    if (cur !== undefined && !cur.warned && !cur.expired && now >= cur.warnAt) {
      cur.warned = true;
      this.#emitSafely('expiring', {
        fingerprint256: cur.fingerprint256,
        notAfter: cur.credentials.notAfter,
        expiresInMs: cur.notAfterMs - now,
      });
    }
    if (now >= this.#nextRefreshAt && this.#inflight === undefined) {
      this.#startRefresh(true).catch(() => {});
    }
    this.#reschedule();
  }

  #reschedule(): void {
    if (this.#closed) return;
    const cur = this.#current;
    let deadline = this.#inflight === undefined ? this.#nextRefreshAt : Number.POSITIVE_INFINITY;
    if (cur !== undefined && !cur.expired) {
      deadline = Math.min(deadline, cur.notAfterMs);
      if (!cur.warned) deadline = Math.min(deadline, cur.warnAt);
    }
    this.#deadline = deadline;
    if (this.#mode === 'background') this.#arm(deadline);
  }

  #arm(deadline: number): void {
    this.#disarm();
    if (!Number.isFinite(deadline)) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, deadline - this.#clock.now()));
    const fire = () => {
      this.#timer = undefined;
      this.#touch();
      // A timer can fire a little early; make sure one is armed for what is still ahead.
      if (this.#timer === undefined) this.#reschedule();
    };
    const setTimer = this.#clock.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
    const handle = setTimer.call(this.#clock, fire, delay);
    (handle as { unref?: () => void } | undefined)?.unref?.();
    this.#timer = handle;
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    const clearTimer = this.#clock.clearTimeout ?? ((h: unknown) => clearTimeout(h as NodeJS.Timeout));
    clearTimer.call(this.#clock, this.#timer);
    this.#timer = undefined;
  }

  #jittered(ms: number): number {
    return ms * (1 - this.#jitter * Math.random());
  }

  #nextDelay(id: Identity, now: number): number {
    if (this.#kind() === 'issuing') return this.#jittered(Math.max(MIN_POLL_MS, id.renewAt - now));
    let delay = this.#intervalMs;
    const remaining = id.notAfterMs - now;
    if (remaining <= this.#warnMs) delay = Math.min(delay, Math.max(MIN_POLL_MS, remaining / 4));
    return this.#jittered(delay);
  }

  #backoffDelay(now: number): number {
    const exp = Math.min(this.#backoffMaxMs, this.#backoffInitialMs * 2 ** Math.min(30, this.#failures - 1));
    let delay = this.#jittered(exp);
    // While the served certificate is still valid, retry no later than its expiry.
    const usable = this.#usable(now);
    if (usable) delay = Math.min(delay, Math.max(this.#backoffInitialMs, usable.notAfterMs - now));
    return delay;
  }

  #kind(): SourceKind {
    return this.#source?.kind ?? 'static';
  }

  // ---- loading ---------------------------------------------------------------------------------

  /** Single flight: every caller joins the load in progress. `probe`: ask `version()` first when offered. */
  #startRefresh(probe: boolean): Promise<Identity> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#inflight) return this.#inflight;
    const flight = this.#load(probe).finally(() => {
      if (this.#inflight === flight) this.#inflight = undefined;
      this.#reschedule();
    });
    this.#inflight = flight;
    flight.catch(() => {});
    this.#reschedule();
    return flight;
  }

  /**
   * A load that starts after the one in flight (or now, when none is): for callers that changed the
   * source, or were told it changed, while a load that may have read the old value was running.
   * Callers that arrive during the same load share the one queued after it.
   */
  #refreshAfterInflight(): Promise<Identity> {
    const running = this.#inflight;
    if (running === undefined) return this.#startRefresh(false);
    if (this.#queued === undefined) {
      const queued = running
        .then(
          () => {},
          () => {},
        )
        .then(() => {
          if (this.#queued === queued) this.#queued = undefined;
          return this.#startRefresh(false);
        });
      queued.catch(() => {});
      this.#queued = queued;
    }
    return this.#queued;
  }

  async #resolveSource(): Promise<CredentialSource> {
    if (this.#source) return this.#source;
    this.#sourcePending ??= sourceFromReference(this.#reference).then(
      (source) => {
        this.#source = source;
        return source;
      },
      (err: unknown) => {
        this.#sourcePending = undefined;
        throw err;
      },
    );
    return this.#sourcePending;
  }

  #watch(source: CredentialSource): void {
    if (
      this.#unwatch !== undefined ||
      this.#watchFailed ||
      typeof source.watch !== 'function' ||
      this.#closed
    )
      return;
    try {
      const unwatch = source.watch(() => {
        if (this.#closed) return;
        // A load running now may have read the source before this change: one more follows it.
        this.#refreshAfterInflight().catch(() => {});
      });
      this.#unwatch = typeof unwatch === 'function' ? unwatch : () => {};
    } catch (err) {
      // A third-party watcher that throws must not fail the load (and every retry): report it once
      // and keep polling on the interval.
      this.#watchFailed = true;
      const message = err instanceof Error ? err.message : String(err);
      this.#watchError = new MtlsError(
        MtlsError.is(err) ? err.code : 'SOURCE_UNAVAILABLE',
        `watching ${source.id} for changes failed (${message}); the resolver checks it every ` +
          `${this.#intervalMs} ms instead (options.refreshIntervalMs); fix the source's watch() to get changes promptly`,
        { sourceId: source.id, cause: err },
      );
    }
  }

  /** Reports a failed watch() once, after the load that tried it, when the schedule is known. */
  #reportWatchError(): void {
    const error = this.#watchError;
    if (error === undefined || this.#closed) return;
    this.#watchError = undefined;
    const now = this.#clock.now();
    const usable = this.#usable(now);
    this.#emitSafely('refreshFailed', {
      error,
      stale: usable !== undefined && this.#lastError !== undefined,
      ...(usable === undefined ? {} : { fingerprint256: usable.fingerprint256 }),
      retryInMs: Math.max(0, this.#nextRefreshAt - now),
    });
  }

  async #load(probe: boolean): Promise<Identity> {
    try {
      const outcome = await this.#withTimeout((signal) => this.#read(probe, signal));
      if (this.#closed) throw this.#closedError();
      if (outcome.credentials !== undefined) this.#checkNotExpired(outcome.credentials);
      const cur = this.#current;
      const identity =
        outcome.credentials === undefined && cur !== undefined
          ? cur
          : this.#install(outcome.credentials as ValidatedCredentials);
      // Remember the version of what was actually loaded: a replica that lags its own version()
      // probe served older content, and the next probe must see the difference and load again.
      this.#lastProbe = outcome.credentials?.sourceVersion ?? outcome.version;
      this.#succeeded(identity);
      this.#reportWatchError();
      return identity;
    } catch (err) {
      if (this.#closed) throw this.#closedError();
      const error = asMtlsError(err, this.#source?.id);
      this.#failed(error);
      this.#reportWatchError();
      throw error;
    }
  }

  // Validation accepts a certificate up to and including its notAfter second; the resolver stops
  // serving one at notAfter. Installing it at that instant would expire it again at once.
  #checkNotExpired(credentials: MtlsCredentials): void {
    if (credentials.notAfter.getTime() > this.#clock.now()) return;
    const sourceId = this.#source?.id;
    throw new MtlsError(
      'EXPIRED',
      `the certificate ${credentials.fingerprint256} loaded from ${sourceId ?? 'the source'} expired at ` +
        `${credentials.notAfter.toISOString()}; put a renewed certificate in ${sourceId ?? 'the source'}`,
      { sourceId, field: 'cert' },
    );
  }

  /** Reads the source: no credentials in the result means the `version()` probe found nothing new. */
  async #read(
    probe: boolean,
    signal: AbortSignal,
  ): Promise<{ credentials?: ValidatedCredentials; version?: string }> {
    const source = await this.#resolveSource();
    this.#watch(source);
    const cur = this.#current;
    let version: string | undefined;
    if (probe && cur !== undefined && !cur.expired && this.#kind() === 'static' && source.version) {
      version = await source.version({ signal });
      if (version === (this.#lastProbe ?? cur.credentials.sourceVersion)) return { version };
    }
    return { credentials: await loadCredentials(source, this.#policy, { signal }), version };
  }

  // A source that hangs (a black-holed network, a stuck SDK) must not stall every later refresh:
  // past loadTimeoutMs the attempt is aborted and counts as a failure, whether or not the source
  // honours its signal. Measured in real time, whatever clock drives the schedule.
  async #withTimeout<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const attempt = new AbortController();
    // close() releases everyone waiting on this load at once, even if the source ignores its signal.
    let onClose = () => {};
    const closed = new Promise<never>((_, reject) => {
      onClose = () => {
        attempt.abort(this.#abort.signal.reason);
        reject(this.#abort.signal.reason);
      };
    });
    closed.catch(() => {});
    if (this.#abort.signal.aborted) onClose();
    else this.#abort.signal.addEventListener('abort', onClose, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const sourceId = this.#source?.id;
        const error = new MtlsError(
          'SOURCE_UNAVAILABLE',
          `loading credentials from ${sourceId ?? 'the source'} took longer than ${this.#loadTimeoutMs} ms; ` +
            'check that the source is reachable (options.loadTimeoutMs sets the limit)',
          { sourceId },
        );
        attempt.abort(error);
        reject(error);
      }, this.#loadTimeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([run(attempt.signal), timedOut, closed]);
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener('abort', onClose);
    }
  }

  #install(credentials: ValidatedCredentials): Identity {
    const cur = this.#current;
    if (cur !== undefined && !cur.expired && credentials.version === cur.credentials.version) return cur;
    const secureContext = buildSecureContext(credentials, this.#caMode);
    const notBeforeMs = credentials.notBefore.getTime();
    const notAfterMs = credentials.notAfter.getTime();
    const issuing = this.#kind() === 'issuing';
    const identity: Identity = {
      serial: ++this.#serial,
      credentials,
      secureContext,
      fingerprint256: credentials.fingerprint256,
      notAfterMs,
      renewAt: notBeforeMs + (notAfterMs - notBeforeMs) * this.#renewFraction,
      warnAt: issuing ? Number.POSITIVE_INFINITY : notAfterMs - this.#warnMs,
      warned: false,
      expired: false,
    };
    this.#current = identity;
    if (cur !== undefined) {
      this.#bumpEpoch();
      this.#emitSafely('rotated', {
        previousFingerprint256: cur.fingerprint256,
        fingerprint256: identity.fingerprint256,
        notAfter: credentials.notAfter,
      });
    }
    return identity;
  }

  #succeeded(identity: Identity): void {
    const now = this.#clock.now();
    this.#failures = 0;
    this.#lastError = undefined;
    this.#lastRefreshAt = now;
    this.#nextRefreshAt = now + this.#nextDelay(identity, now);
  }

  #failed(error: MtlsError): void {
    const now = this.#clock.now();
    this.#failures++;
    this.#lastError = error;
    const retryInMs = this.#backoffDelay(now);
    this.#nextRefreshAt = now + retryInMs;
    const usable = this.#usable(now);
    // An issuing source that cannot renew past its renewal point is running out of time: say so.
    if (usable !== undefined && this.#kind() === 'issuing' && now >= usable.renewAt && !usable.warned) {
      usable.warnAt = now;
    }
    this.#emitSafely('refreshFailed', {
      error,
      stale: usable !== undefined,
      ...(usable === undefined ? {} : { fingerprint256: usable.fingerprint256 }),
      retryInMs,
    });
  }

  #bumpEpoch(): void {
    this.#epoch++;
    for (const listener of this.#epochListeners) listener();
  }

  // A throwing listener is the listener's bug: it must not turn a good load into a failed one.
  #emitSafely<E extends keyof TlsResolverEvents>(event: E, ...args: TlsResolverEvents[E]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/**
 * A resolver for one credential: cached, refreshed, validated, and handed to any Node HTTP client as
 * a self-rotating identity. Throws `INVALID_OPTION` for a malformed option; load errors surface on
 * first use.
 */
export function createTlsResolver(options: TlsResolverOptions): TlsResolver {
  if (options === null || typeof options !== 'object') {
    throw invalidOption('source', 'is required: createTlsResolver({ source })');
  }
  return new Resolver(options);
}
