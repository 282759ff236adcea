// The resolver's timing policy, apart from the state it drives: how long a credential is trusted
// before the source is asked again (interval with jitter, the first check spread over the interval,
// sooner near expiry), when `expiring` fires (the warning window), when an issuing source mints the
// next certificate (the renew fraction), how long to wait after a failure (capped exponential
// backoff), how long a load may take, and the one timer that wakes the resolver. Every option is
// checked here, once, when the resolver is built.
import { MtlsError } from '../errors.js';
import type { SourceKind } from '../types.js';
import { warnWindowMs } from '../validation/policy.js';

/** Time as the resolver sees it. Inject one in tests; `setTimeout` drives background refreshes. */
export interface ResolverClock {
  now(): number;
  setTimeout?(fn: () => void, ms: number): unknown;
  clearTimeout?(handle: unknown): void;
}

export const SYSTEM_CLOCK: ResolverClock = { now: () => Date.now() };

/** The timing options of `createTlsResolver`, as given. */
export interface ScheduleOptions {
  refreshIntervalMs?: number;
  jitter?: number;
  warnDays?: number;
  issuingRenewFraction?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  loadTimeoutMs?: number;
}

/** The timing policy with its defaults applied. */
export interface Schedule {
  readonly intervalMs: number;
  readonly jitter: number;
  /** Explicit warning window in days; undefined: 30 days or a third of the lifetime, the smaller. */
  readonly warnDays: number | undefined;
  readonly renewFraction: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly loadTimeoutMs: number;
}

const DEFAULTS = {
  refreshIntervalMs: 15 * 60_000,
  jitter: 0.1,
  issuingRenewFraction: 2 / 3,
  backoffInitialMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  loadTimeoutMs: 60_000,
} as const;

// Close to notAfter a static source is polled more often, and an issuing source whose certificate is
// already past its renewal point (a stale cache in front of it, clock skew) is asked again: in both
// cases never more than once a second, so a source is not hammered.
const MIN_POLL_MS = 1_000;
// setTimeout fires at once for longer delays (with a warning): longer waits are re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Node keeps the list of a cleared unref'd timer until the time it was set for, one list per distinct
// delay: a wait longer than this is cut to a power of two (the timer fires early and re-arms for the
// rest), so the long waits armed at each refresh share a few lists instead of leaving one each.
const COARSE_TIMER_MS = 60_000;

/** A bad option of `createTlsResolver`. */
export function invalidOption(name: string, message: string): MtlsError {
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

/** Checks the timing options and applies their defaults; `policyWarnDays` is the validation policy's. */
export function resolveSchedule(options: ScheduleOptions, policyWarnDays: number | undefined): Schedule {
  const warnDays = options.warnDays ?? policyWarnDays;
  if (warnDays !== undefined && (!Number.isFinite(warnDays) || warnDays < 0))
    throw invalidOption('warnDays', `must be 0 or more (got ${warnDays})`);
  const backoffInitialMs = positive(
    'backoff.initialMs',
    options.backoff?.initialMs,
    DEFAULTS.backoffInitialMs,
  );
  return {
    intervalMs: positive('refreshIntervalMs', options.refreshIntervalMs, DEFAULTS.refreshIntervalMs),
    jitter: fraction('jitter', options.jitter, DEFAULTS.jitter, false),
    warnDays,
    renewFraction: fraction(
      'issuingRenewFraction',
      options.issuingRenewFraction,
      DEFAULTS.issuingRenewFraction,
      true,
    ),
    backoffInitialMs,
    backoffMaxMs: Math.max(
      backoffInitialMs,
      positive('backoff.maxMs', options.backoff?.maxMs, DEFAULTS.backoffMaxMs),
    ),
    loadTimeoutMs: positive('loadTimeoutMs', options.loadTimeoutMs, DEFAULTS.loadTimeoutMs),
  };
}

/** The moments that matter for one installed certificate, in ms since the epoch. */
export interface CredentialTimes {
  readonly notAfterMs: number;
  /** Issuing sources: when to mint the next certificate. */
  readonly renewAt: number;
  /** Static sources: from here on `expiring` fires and the source is polled more often. */
  readonly warnWindowMs: number;
  /** When `expiring` fires (static: the warning window before notAfter; issuing: never by time). */
  readonly warnAt: number;
}

/** notBefore this little before arrival is a backdate for clock skew, not an aged certificate. */
const BACKDATE_MS = 5 * 60_000;

/**
 * `receivedMs` is when the certificate was installed. An issuing source's certificate already due for
 * renewal on arrival because its notBefore was backdated (Vault PKI backdates 30 s, so a certificate of
 * under 15 s is due the moment it arrives) has its lifetime counted from arrival instead, so it is not
 * minted again and again. One whose notBefore is older than a backdate (a stale cache handing out an
 * aged certificate) stays due.
 */
export function credentialTimes(
  s: Schedule,
  kind: SourceKind,
  notBeforeMs: number,
  notAfterMs: number,
  receivedMs: number = notBeforeMs,
): CredentialTimes {
  const window = warnWindowMs(s.warnDays, notBeforeMs, notAfterMs);
  let renewAt = notBeforeMs + (notAfterMs - notBeforeMs) * s.renewFraction;
  if (kind === 'issuing' && renewAt <= receivedMs && receivedMs - notBeforeMs <= BACKDATE_MS) {
    const start = Math.min(notAfterMs, receivedMs);
    renewAt = start + (notAfterMs - start) * s.renewFraction;
  }
  return {
    notAfterMs,
    renewAt,
    warnWindowMs: window,
    warnAt: kind === 'issuing' ? Number.POSITIVE_INFINITY : notAfterMs - window,
  };
}

/** `ms` shortened by up to the jitter fraction, at random, so fleets don't refresh in step. */
export function jittered(s: Schedule, ms: number): number {
  return ms * (1 - s.jitter * Math.random());
}

/** The earliest point of the interval the first refresh is spread from (see refreshDelay). */
const FIRST_REFRESH_FROM = 0.1;

/**
 * `ms` at a random point between a tenth of it and the whole of it (all of `ms` when jitter is 0).
 * Credentials loaded together — a set of thousands made ready at start-up, a fleet deployed at once —
 * would otherwise refresh together for ever after: shortening each delay by up to `jitter` only keeps
 * them within that fraction of one another. Spread once, they stay spread, and N credentials cost
 * N / interval source calls a second, evenly.
 */
export function spread(s: Schedule, ms: number): number {
  if (s.jitter === 0) return ms;
  return ms * (1 - (1 - FIRST_REFRESH_FROM) * Math.random());
}

/**
 * How long after a successful load the source is asked again. `first`: the resolver's first load —
 * its first check of a static source is spread over the interval (see {@link spread}).
 */
export function refreshDelay(
  s: Schedule,
  kind: SourceKind,
  t: CredentialTimes,
  now: number,
  first = false,
): number {
  if (kind === 'issuing') return jittered(s, Math.max(MIN_POLL_MS, t.renewAt - now));
  const remaining = t.notAfterMs - now;
  if (remaining <= t.warnWindowMs)
    return jittered(s, Math.min(s.intervalMs, Math.max(MIN_POLL_MS, remaining / 4)));
  return first ? spread(s, s.intervalMs) : jittered(s, s.intervalMs);
}

/**
 * How long after the `failures`-th failure in a row the source is asked again: doubling from the
 * initial delay up to the cap; while a served certificate is still valid (`usableUntil`), no later
 * than its expiry.
 */
export function backoffDelay(
  s: Schedule,
  failures: number,
  usableUntil: number | undefined,
  now: number,
): number {
  const exp = Math.min(s.backoffMaxMs, s.backoffInitialMs * 2 ** Math.min(30, failures - 1));
  const delay = jittered(s, exp);
  if (usableUntil === undefined) return delay;
  return Math.min(delay, Math.max(s.backoffInitialMs, usableUntil - now));
}

/** The one timer of a resolver, on its clock, unref'd; re-armed for waits longer than setTimeout takes. */
export class WakeUp {
  readonly #clock: ResolverClock;
  #timer: unknown;

  constructor(clock: ResolverClock) {
    this.#clock = clock;
  }

  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Calls `fire` at `deadline` (at once when past, never when infinite), replacing any earlier wake-up. */
  arm(deadline: number, fire: () => void): void {
    this.disarm();
    if (!Number.isFinite(deadline)) return;
    let delay = Math.min(MAX_TIMER_MS, Math.max(0, deadline - this.#clock.now()));
    if (this.#clock.setTimeout === undefined && delay > COARSE_TIMER_MS)
      delay = 2 ** Math.floor(Math.log2(delay));
    const setTimer = this.#clock.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
    const handle = setTimer.call(
      this.#clock,
      () => {
        this.#timer = undefined;
        fire();
      },
      delay,
    );
    (handle as { unref?: () => void } | undefined)?.unref?.();
    this.#timer = handle;
  }

  disarm(): void {
    if (this.#timer === undefined) return;
    const clearTimer = this.#clock.clearTimeout ?? ((h: unknown) => clearTimeout(h as NodeJS.Timeout));
    clearTimer.call(this.#clock, this.#timer);
    this.#timer = undefined;
  }
}
