// The resolver: one per named credential. It owns the credential's state — caching with single
// flight, stale-on-error, expiry fail-fast, rotation, push from watch() — and its events. When to act
// is decided by the timing policy in ./schedule.ts; what it hands to HTTP clients (agent, dispatcher,
// fetch, TLS options) is built in ./outputs.ts over the clients of ../tls/, on first need, as is its
// telemetry (./telemetry.ts) once something listens. Public types: ./api.ts.
import { EventEmitter } from 'node:events';
import type https from 'node:https';
import type { SecureContext } from 'node:tls';
import type * as Undici from 'undici';
import { isPromiseLike, MtlsError, promiseGivenError } from '../errors.js';
import { sourceFromReference } from '../references/registry.js';
import { sourceUnavailable } from '../sources/load-material.js';
import { checkAgentOptions } from '../tls/agent.js';
import { buildSecureContext, type CaMode, type ContextPem, type PlainTlsOptions } from '../tls/context.js';
import type { TlsIdentity } from '../tls/identity.js';
import { type ProxySettings, resolveProxy } from '../tls/proxy.js';
import type { CredentialSource, MtlsCredentials, SourceContext, SourceKind } from '../types.js';
import type { ValidatedCredentials } from '../validation/credentials.js';
import { loadForContext } from '../validation/load.js';
import { type ResolvedPolicy, resolvePolicy, type ValidationPolicy } from '../validation/policy.js';
import type { ResolverHealth, TlsResolver, TlsResolverEvents, TlsResolverOptions } from './api.js';
import type { Http2ClientOptions, RotatingHttp2Client } from './http2.js';
import { type DispatcherVariant, type ResolverFetch, ResolverOutputs } from './outputs.js';
import {
  backoffDelay,
  type CredentialTimes,
  credentialTimes,
  invalidOption,
  type ResolverClock,
  refreshDelay,
  resolveSchedule,
  type Schedule,
  SYSTEM_CLOCK,
  WakeUp,
} from './schedule.js';
import { type LoadEnd, ResolverTelemetry, telemetryWanted } from './telemetry.js';

export type {
  ExpiringEvent,
  RefreshFailedEvent,
  ResolverHealth,
  RotatedEvent,
  TlsResolver,
  TlsResolverEvents,
  TlsResolverListener,
  TlsResolverOptions,
} from './api.js';
export type { DispatcherVariant, ResolverFetch } from './outputs.js';
export type { ResolverClock } from './schedule.js';

interface Identity extends TlsIdentity, CredentialTimes {
  readonly credentials: ValidatedCredentials;
  /** When `expiring` fires; moved to now when an issuing source fails to renew past renewAt. */
  warnAt: number;
  warned: boolean;
  expired: boolean;
}

function checkProvider(option: string, provider: unknown, method: string): void {
  if (provider === undefined) return;
  if (provider === null || typeof (provider as Record<string, unknown>)[method] !== 'function') {
    throw invalidOption(option, `must be an OpenTelemetry provider with a ${method}() method`);
  }
}

/**
 * A promise handed to a caller who may never await it (`resolver.credentials()` to warm up, then
 * `close()`): its rejection is the caller's to see, never an unhandled rejection that ends the
 * process. The error is also reported through `health()` and `refreshFailed` (or was caused by close()).
 */
function handedOut<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** What an uninstrumented load is told when it settles. */
const NO_LOAD_END: LoadEnd = () => {};

/**
 * Resolved validation policies by the policy object given (or, with none, by the clock), with what
 * they were resolved from: a policy object changed since is resolved again.
 */
const resolvedPolicies = new WeakMap<
  object,
  {
    given: ValidationPolicy | undefined;
    clock: ResolverClock;
    warnDays: number | undefined;
    resolved: ResolvedPolicy;
  }
>();

/** Whether two policies have the same entries, compared shallowly. */
function sameEntries(a: ValidationPolicy | undefined, b: ValidationPolicy | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const keys = Object.keys(a) as (keyof ValidationPolicy)[];
  return keys.length === Object.keys(b).length && keys.every((k) => Object.is(a[k], b[k]));
}

/** The system clock's time for validation: one function for every resolver on it. */
const systemNow = (): number => Date.now();

/**
 * One load's cancellation, and the context the source is called with. Its AbortSignal is made when
 * the source first reads `ctx.signal` (an SDK that takes one): a source that never looks at it (one
 * in memory, one that answers at once) costs no AbortController. Cancelled — at the deadline, or by
 * close() — the signal aborts and the load is abandoned whether or not the source honours it (what
 * it yields too late is dropped).
 */
class LoadContext implements SourceContext {
  #controller: AbortController | undefined;
  #reject: ((reason: unknown) => void) | undefined;
  #cancelled = false;
  #reason: unknown;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  cancel(reason: unknown): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#reject?.(reason);
  }

  /** `promise`, or the reason of a cancel that comes first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#cancelled) reject(this.#reason);
      this.#reject = reject;
      promise.then(resolve, reject);
    });
  }
}

class Resolver extends EventEmitter implements TlsResolver {
  readonly #reference: string | undefined;
  #source: CredentialSource | undefined;
  #sourcePending: Promise<CredentialSource> | undefined;
  readonly #ownsSource: boolean;
  /** The options as given: what the outputs and telemetry are built from when first needed. */
  readonly #options: TlsResolverOptions;
  readonly #name: string;
  /** Resolved once (an invalid policy: its error, thrown at each load). */
  readonly #policy: ResolvedPolicy | MtlsError;
  readonly #clock: ResolverClock;
  readonly #mode: 'background' | 'on-access';
  readonly #schedule: Schedule;
  readonly #caMode: CaMode;
  readonly #proxy: ProxySettings | undefined;
  readonly #wakeUp: WakeUp;
  // Made on first need: most resolvers of a large set hand out only their SecureContext (no agent,
  // no dispatcher) and report to no telemetry.
  #outputs: ResolverOutputs | undefined;
  #telemetry: ResolverTelemetry | undefined;
  #fetch: ResolverFetch | undefined;

  #current: Identity | undefined;
  #serial = 0;
  #inflight: Promise<Identity> | undefined;
  /** A load that starts once the one in flight ends (refresh(), watch() reports during a load). */
  #queued: Promise<Identity> | undefined;
  #nextRefreshAt = 0;
  /** When #touch() must act: the earliest of next refresh, warning and expiry. */
  #deadline = 0;
  #failures = 0;
  #lastError: MtlsError | undefined;
  #lastRefreshAt: number | undefined;
  #lastProbe: string | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Cancels the load in flight, if any (close()); made per load, not kept by an idle resolver. */
  #loadAbort: LoadContext | undefined;
  #unwatch: (() => void) | undefined;
  /** watch() threw: reported once through refreshFailed, then the resolver relies on polling. */
  #watchError: MtlsError | undefined;
  #watchFailed = false;

  /** `name`: a set's name for it, in place of options.name (the set's options are not copied). */
  constructor(options: TlsResolverOptions, name?: string) {
    super();
    const { source } = options;
    if (typeof source === 'string') {
      this.#reference = source;
      this.#ownsSource = true;
    } else if (source && typeof source === 'object' && typeof source.load === 'function') {
      this.#source = source;
      this.#ownsSource = false;
    } else if (isPromiseLike(source)) {
      throw promiseGivenError('createTlsResolver({ source })');
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
    if (
      name === undefined &&
      options.name !== undefined &&
      (typeof options.name !== 'string' || options.name === '')
    ) {
      throw invalidOption('name', `must be a non-empty string (got ${JSON.stringify(options.name)})`);
    }
    checkProvider('meterProvider', options.meterProvider, 'getMeter');
    checkProvider('tracerProvider', options.tracerProvider, 'getTracer');
    checkAgentOptions(options.agentOptions);
    this.#options = options;
    this.#name = name ?? options.name ?? 'default';
    this.#mode = options.mode ?? 'background';
    const clock = options.clock ?? SYSTEM_CLOCK;
    this.#clock = clock;
    this.#wakeUp = new WakeUp(clock, () => this.#onWakeUp());
    this.#schedule = resolveSchedule(options, options.policy?.warnDays);
    this.#policy = this.#resolvePolicy();
    this.#caMode = options.caMode ?? 'replace';
    this.#proxy = resolveProxy(options.proxy);
    // A provider given (or registered) reports gauges from now on; otherwise telemetry waits.
    if (telemetryWanted(options)) this.#instrumented();

    // Background mode loads at once, so the first request rarely waits; failures are kept for the
    // first caller (and reported through refreshFailed), never thrown unhandled.
    if (this.#mode === 'background') this.#startRefresh(false).catch(() => {});
  }

  // ---- public API -------------------------------------------------------------------------------

  credentials(): Promise<MtlsCredentials> {
    const usable = this.#fastPath();
    if (usable) return Promise.resolve(usable.credentials);
    return handedOut(this.#acquire().then((id) => id.credentials));
  }

  secureContext(): Promise<SecureContext> {
    const usable = this.#fastPath();
    if (usable) return Promise.resolve(usable.secureContext);
    return handedOut(this.#acquire().then((id) => id.secureContext));
  }

  tlsOptions(): Promise<PlainTlsOptions> {
    return handedOut(
      (async () => {
        const id = this.#fastPath() ?? (await this.#acquire());
        return this.#outputsNow().tlsOptions(id.credentials);
      })(),
    );
  }

  agent(): https.Agent {
    return this.#outputsNow().agent();
  }

  dispatcher(options?: DispatcherVariant): Undici.Dispatcher {
    return this.#outputsNow().dispatcher(options);
  }

  /** Undici's fetch through the dispatcher; the same function at every read, usable detached. */
  get fetch(): ResolverFetch {
    this.#fetch ??= (input, init) => this.#outputsNow().fetch(input, init);
    return this.#fetch;
  }

  http2(authority: string | URL, options?: Http2ClientOptions): RotatingHttp2Client {
    if (this.#closed) throw this.#closedError();
    return this.#outputsNow().http2(authority, options);
  }

  refresh(): Promise<MtlsCredentials> {
    return handedOut(
      (async () => {
        if (this.#closed) throw this.#closedError();
        // "Refresh" means a read that starts after this call: a load already running may have read
        // the source before the caller wrote a new credential to it.
        await this.#refreshAfterInflight();
        return (await this.#acquire()).credentials;
      })(),
    );
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
    this.#wakeUp.disarm();
    this.#deadline = Number.POSITIVE_INFINITY;
    this.#loadAbort?.cancel(this.#closedError());
    try {
      this.#unwatch?.();
    } catch {
      // A source whose unwatch throws has nothing more to stop.
    }
    this.#unwatch = undefined;
    this.#telemetry?.close();
    // Pooled connections end with the resolver; requests in flight finish.
    const outputs = this.#outputs;
    outputs?.retireConnections();
    const source = this.#ownsSource ? this.#source : undefined;
    this.#closing = (async () => {
      await outputs?.close();
      await source?.close?.();
    })().catch(() => {
      // Closing is best effort: a source that fails to close has nothing more to give back.
    });
    return this.#closing;
  }

  // ---- what is built on first need --------------------------------------------------------------

  #outputsNow(): ResolverOutputs {
    if (this.#outputs !== undefined) return this.#outputs;
    const options = this.#options;
    this.#outputs = new ResolverOutputs(
      {
        touch: () => this.#touch(),
        current: () => (this.#closed ? undefined : this.#usable(this.#clock.now())),
        acquire: () => this.#acquire(),
      },
      {
        agentOptions: options.agentOptions ?? {},
        dispatcherOptions: options.dispatcherOptions ?? {},
        caMode: this.#caMode,
        proxy: this.#proxy,
        rejectUnauthorized: options.rejectUnauthorized !== false,
      },
    );
    return this.#outputs;
  }

  /** The telemetry, built once something listens: see telemetryWanted. */
  #instrumented(): ResolverTelemetry | undefined {
    if (this.#telemetry !== undefined || this.#closed) return this.#telemetry;
    const options = this.#options;
    if (!telemetryWanted(options)) return undefined;
    this.#telemetry = new ResolverTelemetry(
      {
        name: this.#name,
        meterProvider: options.meterProvider,
        tracerProvider: options.tracerProvider,
      },
      {
        notAfterMs: () => this.#current?.notAfterMs,
        lastSuccessMs: () => this.#lastRefreshAt,
        stale: () => this.#lastError !== undefined && this.#usable(this.#clock.now()) !== undefined,
        sourceId: () => this.#source?.id ?? this.#reference,
      },
    );
    return this.#telemetry;
  }

  /**
   * The validation policy, with the schedule's warning window and the resolver's clock: the one
   * already resolved for the same policy, window and clock when there is one (a set's resolvers
   * share theirs).
   */
  #resolvePolicy(): ResolvedPolicy | MtlsError {
    const given = this.#options.policy;
    const clock = this.#clock;
    const warnDays = this.#schedule.warnDays;
    // Not a policy object (a malformed option): resolved on its own, and refused at each load.
    const key: object | undefined =
      given === undefined || (typeof given === 'object' && given !== null) ? (given ?? clock) : undefined;
    const known = key === undefined ? undefined : resolvedPolicies.get(key);
    if (
      known !== undefined &&
      known.clock === clock &&
      known.warnDays === warnDays &&
      sameEntries(known.given, given)
    )
      return known.resolved;
    let resolved: ResolvedPolicy;
    try {
      resolved = resolvePolicy({
        ...given,
        warnDays,
        now: given?.now ?? (clock === SYSTEM_CLOCK ? systemNow : () => clock.now()),
      });
    } catch (err) {
      if (MtlsError.is(err)) return err;
      throw err;
    }
    if (key !== undefined)
      resolvedPolicies.set(key, { given: given && { ...given }, clock, warnDays, resolved });
    return resolved;
  }

  // ---- what the outputs see --------------------------------------------------------------------

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

  // ---- acting on the schedule ------------------------------------------------------------------

  #onDeadline(now: number): void {
    if (this.#closed) return;
    const cur = this.#current;
    if (cur !== undefined && !cur.expired && now >= cur.notAfterMs) {
      // Never present an expired certificate: pooled connections go, new ones fail with EXPIRED.
      cur.expired = true;
      this.#outputs?.retireConnections();
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
    if (this.#mode !== 'background') return;
    this.#wakeUp.arm(deadline);
  }

  #onWakeUp(): void {
    this.#touch();
    // A timer can fire a little early; make sure one is armed for what is still ahead.
    if (!this.#wakeUp.armed) this.#reschedule();
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
          `${this.#schedule.intervalMs} ms instead (options.refreshIntervalMs); fix the source's watch() to get changes promptly`,
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

  #load(probe: boolean): Promise<Identity> {
    const telemetry = this.#instrumented();
    if (telemetry === undefined) return this.#loadOnce(probe, NO_LOAD_END);
    return telemetry.load(probe, (end) => this.#loadOnce(probe, end));
  }

  async #loadOnce(probe: boolean, end: LoadEnd): Promise<Identity> {
    // The context the source is called with: the deadline and close() cancel it.
    const abort = new LoadContext();
    this.#loadAbort = abort;
    // A source that hangs (a black-holed network, a stuck SDK) must not stall every later refresh:
    // past loadTimeoutMs the attempt is abandoned as a failure, whether or not the source honours
    // its signal (measured in real time, whatever clock drives the schedule); close() releases
    // everyone waiting on it at once.
    const timer = setTimeout(() => abort.cancel(this.#timeoutError()), this.#schedule.loadTimeoutMs);
    timer.unref?.();
    try {
      const outcome = await abort.race(this.#read(probe, abort));
      if (this.#closed) throw this.#closedError();
      if (outcome.credentials !== undefined) this.#checkNotExpired(outcome.credentials);
      const cur = this.#current;
      const identity =
        outcome.credentials === undefined && cur !== undefined
          ? cur
          : this.#install(outcome.credentials as ValidatedCredentials, outcome.pem);
      // Remember the version of what was actually loaded: a replica that lags its own version()
      // probe served older content, and the next probe must see the difference and load again.
      this.#lastProbe = outcome.credentials?.sourceVersion ?? outcome.version;
      this.#succeeded(identity);
      end({ changed: identity !== cur });
      this.#reportWatchError();
      return identity;
    } catch (err) {
      if (this.#closed) {
        const closed = this.#closedError();
        end({ error: closed });
        throw closed;
      }
      const error = sourceUnavailable(err, this.#source?.id);
      this.#failed(error);
      end({ error });
      this.#reportWatchError();
      throw error;
    } finally {
      clearTimeout(timer);
      if (this.#loadAbort === abort) this.#loadAbort = undefined;
    }
  }

  #timeoutError(): MtlsError {
    const sourceId = this.#source?.id;
    return new MtlsError(
      'SOURCE_UNAVAILABLE',
      `loading credentials from ${sourceId ?? 'the source'} took longer than ${this.#schedule.loadTimeoutMs} ms; ` +
        'check that the source is reachable (options.loadTimeoutMs sets the limit)',
      { sourceId },
    );
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
    ctx: SourceContext,
  ): Promise<{ credentials?: ValidatedCredentials; version?: string; pem?: ContextPem }> {
    const policy = this.#policy;
    if (policy instanceof MtlsError) throw policy;
    const source = await this.#resolveSource();
    this.#watch(source);
    const cur = this.#current;
    let version: string | undefined;
    if (probe && cur !== undefined && !cur.expired && this.#kind() === 'static' && source.version) {
      version = await source.version(ctx);
      if (version === (this.#lastProbe ?? cur.credentials.sourceVersion)) return { version };
    }
    let pem: ContextPem | undefined;
    const credentials = await loadForContext(source, policy, ctx, (written) => {
      pem = written;
    });
    return { credentials, version, pem };
  }

  /** `pem`: the key and certificates as the load wrote them: no export of the key, no PEM kept by the leaf. */
  #install(credentials: ValidatedCredentials, pem?: ContextPem): Identity {
    const cur = this.#current;
    if (cur !== undefined && !cur.expired && credentials.version === cur.credentials.version) return cur;
    const secureContext = buildSecureContext(credentials, this.#caMode, pem);
    const times = credentialTimes(
      this.#schedule,
      this.#kind(),
      credentials.notBefore.getTime(),
      credentials.notAfter.getTime(),
      this.#clock.now(),
    );
    const identity: Identity = {
      serial: ++this.#serial,
      credentials,
      secureContext,
      fingerprint256: credentials.fingerprint256,
      notAfterMs: times.notAfterMs,
      renewAt: times.renewAt,
      warnWindowMs: times.warnWindowMs,
      warnAt: times.warnAt,
      warned: false,
      expired: false,
    };
    this.#current = identity;
    if (cur !== undefined) {
      this.#outputs?.retireConnections();
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
    const first = this.#lastRefreshAt === undefined;
    this.#failures = 0;
    this.#lastError = undefined;
    this.#lastRefreshAt = now;
    this.#nextRefreshAt = now + refreshDelay(this.#schedule, this.#kind(), identity, now, first);
  }

  #failed(error: MtlsError): void {
    const now = this.#clock.now();
    this.#failures++;
    this.#lastError = error;
    const usable = this.#usable(now);
    const retryInMs = backoffDelay(this.#schedule, this.#failures, usable?.notAfterMs, now);
    this.#nextRefreshAt = now + retryInMs;
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

  // A throwing listener is the listener's bug: it must not turn a good load into a failed one.
  #emitSafely<E extends keyof TlsResolverEvents>(event: E, ...args: TlsResolverEvents[E]): void {
    this.#instrumented()?.[event](args[0] as never);
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
 * a self-rotating identity. Throws `INVALID_OPTION` for a malformed option (and for a Promise
 * where the source belongs: a forgotten `await`); load errors surface on
 * first use.
 */
export function createTlsResolver(options: TlsResolverOptions): TlsResolver {
  if (options === null || typeof options !== 'object') {
    throw invalidOption('source', 'is required: createTlsResolver({ source })');
  }
  if (isPromiseLike(options)) throw promiseGivenError('createTlsResolver(options)');
  return new Resolver(options);
}

/** A resolver of a set: `createTlsResolver({ ...options, name })`, without the copy of the options. */
export function createNamedTlsResolver(options: TlsResolverOptions, name: string): TlsResolver {
  return new Resolver(options, name);
}
